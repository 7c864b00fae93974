"""Fault injection: mechanism that applies faults, and the policy that decides them.

- `chaos.faults`: the fault model as plain data and pure functions. Link faults (drop, delay,
  duplicate, reorder) per directed link, the `FaultTable` that decides each message's fate from
  a seeded `random.Random`, and partitions as grudges (node -> the nodes it cannot hear from)
  in the usual Jepsen shapes. No zmq, no trio, no files: tested with literal maps.
- `chaos.proxy`: the proxy process (`python -m chaos.proxy`). Every message of a run passes
  through it; it applies the fault table and the grudge and logs each message's fate to
  `messages.jsonl`. Mechanism only: it decides nothing by itself.
- `chaos.control`: the orchestrator's trio client of the proxy's control socket.
- `chaos.supervisor`: the processes of a run (the proxy and the nodes): start, readiness,
  kill/stop/pause/resume/restart, and nothing left behind.
- `chaos.nemesis`: policy (which fault, when, on whom), planned from the seed before the run
  and applied to any `FaultTarget`: the real cluster, or the simulated one.
- `chaos.simulation` (with `simloop`, `simnet`, `simnode`, `simclients`): the same service
  machines, workload, schedule and checkers in one process over a seeded simulated network,
  disk and clock (`chaos run --simulate`).
- `chaos.clients`: Jepsen-style clients and the history recorder; `chaos.cli`: the command line.

The contract between these processes is docs/internals.md.
"""
