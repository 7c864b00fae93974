"""Transactional checkers in the manner of Elle (Kingsbury and Alvaro, VLDB 2020).

    from checker.elle import list_append, rw_register
    list_append.check(ops, consistency_models=["snapshot-isolation"])

- `list_append`: appends and whole-list reads, from which version orders are read directly;
- `rw_register`: writes and reads of registers, from which less can be inferred;
- `txns`: pairing a history into transactions; `graph`: the dependency graph, its strongly
  connected components, real-time and process orders; `cycles`: shortest cycles of each
  anomaly's shape; `models`: consistency models and the anomalies they forbid; `explain`:
  anomalies in words; `verdict`: from an inference to a result.

Jepsen's `bank` and `long-fork` checkers live beside this package (`checker.bank`,
`checker.long_fork`): they read transactions too, but judge no dependency graph.
"""
