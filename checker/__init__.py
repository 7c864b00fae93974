"""Pure history analysis: no trio, no zmq, no processes.

A checker reads a history (a list of operations, see `checker.history`) and answers a
`checker.result.result` dict: valid, invalid or unknown, with the fields it declares as its
headline. Everything here can run on its own, on histories recorded by this project, by Jepsen,
or by Porcupine, and imports nothing of node/, chaos/ or scenarios/.

- the history: `history` (our format), `formats` and `edn` (importers), `fault_kinds` (the
  nemesis operations a history records: what each breaks and heals);
- linearizability: `models` (one module per sequential model, and their registry), `search`
  (the Wing-Gong-Lowe search), `explain` (why a history is not linearizable),
  `linearizability` (the checker composing them);
- the other checkers, one module per property judged: `setfull`, `echo`, `unique_ids`,
  `availability`, `final_reads`, `replies`, `fault_guard`, `stalls`, `elections`; for CRDTs
  `counter`, `orset`, `lww` (over `intset`'s compact sets); for logs and queues `kafka`,
  `total_queue`; for transactions `elle` (list-append, rw-register: anomalies, cycles,
  consistency models), `bank`, `long_fork`;
- other tools' histories: `kafka_jepsen` (Jepsen's and Maelstrom's kafka form, for `kafka`),
  `maelstrom` (Maelstrom's broadcast and unique-ids);
- output: `result` (three-valued results, composition, `brief`), `results_schema`
  (results.json), `report` (report.html), `sections` and `views` (each checker's part of the
  report), `cli` (`chaos check`, `python -m checker`).
"""
