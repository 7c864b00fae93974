"""Fault injection: mechanism that applies faults, and the policy that decides them.

- `chaos.faults`: the fault model as plain data and pure functions. Link faults (drop, delay,
  duplicate, reorder) per directed link, the `FaultTable` that decides each message's fate from
  a seeded `random.Random`, and partitions as grudges (node -> the nodes it cannot hear from)
  in the usual Jepsen shapes. No zmq, no trio, no files: tested with literal maps.
- `chaos.proxy`: the proxy process (`python -m chaos.proxy`). Every message of a run passes
  through it; it applies the fault table and the grudge and logs each message's fate to
  `messages.jsonl`. Mechanism only: it decides nothing by itself.
- `chaos.control`: the orchestrator's trio client of the proxy's control socket, and the helper
  that starts the proxy process and waits until it is ready.
- The nemesis (policy: which fault, when, on whom) and the command line live beside them.

The contract between these processes is docs/internals.md.
"""
