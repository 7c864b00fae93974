"""Election safety from node logs: one leader per term, no term regression, leaderless time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checker.elections import ELECTIONS_MAX, WHERE, elections, load_node_logs
from checker.result import brief

MS = 1_000_000


def role(at_ms: int, node: str, role: str, term: int, leader: str | None = None) -> dict:
    return {"time": at_ms * MS, "node": node, "level": "info", "event": "raft_role",
            "role": role, "term": term, "leader": leader}


def init(at_ms: int, node: str, *, again: bool = False) -> dict:
    return {"time": at_ms * MS, "node": node, "level": "info", "event": "init",
            "node_ids": ["n1", "n2", "n3"], "again": again}


def other(at_ms: int, node: str, **fields: Any) -> dict:
    return {"time": at_ms * MS, "node": node, "level": "info", "event": "send", **fields}


# Three elections: leaderless [0, 110], [500, 530] and [900, 950] ms; no two records of one node
# at the same time, so that any order of these records sorts back to this one.
THREE_ELECTIONS = [
    init(0, "n1"), init(1, "n2"), init(2, "n3"),
    role(3, "n1", "follower", 0), role(4, "n2", "follower", 0), role(5, "n3", "follower", 0),
    role(100, "n1", "candidate", 1),
    role(105, "n2", "follower", 1), role(106, "n3", "follower", 1),
    role(110, "n1", "leader", 1, "n1"),
    other(200, "n1", dest="n2"),  # ignored, as every other event is
    role(500, "n2", "candidate", 2),  # n1 is superseded here, before it logs anything
    role(510, "n3", "follower", 2),
    role(530, "n2", "leader", 2, "n2"),
    role(540, "n1", "follower", 2, "n2"),
    role(900, "n3", "candidate", 3),
    role(905, "n1", "follower", 3), role(906, "n2", "follower", 3),
    role(950, "n3", "leader", 3, "n3"),
]


def test_a_valid_history_reports_every_election_and_the_leaderless_time() -> None:
    res = elections(THREE_ELECTIONS, end_ns=1000 * MS)
    assert res["checker"] == "election-safety"
    assert res["valid"] is True
    # n1 led until n2 logged term 2; n2 until n3 logged term 3; n3 until the end.
    assert res["elections"] == [
        {"term": 1, "leader": "n1", "at_ms": 110.0, "after_leaderless_ms": 110.0, "stale": False,
         "until_ms": 500.0},
        {"term": 2, "leader": "n2", "at_ms": 530.0, "after_leaderless_ms": 30.0, "stale": False,
         "until_ms": 900.0},
        {"term": 3, "leader": "n3", "at_ms": 950.0, "after_leaderless_ms": 50.0, "stale": False,
         "until_ms": 1000.0},
    ]
    assert (res["elections_count"], res["terms_reached"], res["leader_count"]) == (3, 3, 3)
    assert res["leaderless_ms"] == 190.0
    assert res["leaderless_interval_count"] == 3
    assert res["leaderless_intervals"] == [
        {"start_ms": 0.0, "end_ms": 110.0}, {"start_ms": 500.0, "end_ms": 530.0},
        {"start_ms": 900.0, "end_ms": 950.0},
    ]
    assert res["leaderless_longest"] == {"start_ms": 0.0, "end_ms": 110.0, "duration_ms": 110.0}
    assert (res["two_leader_terms_count"], res["term_regressions_count"]) == (0, 0)
    assert res["malformed_records"] == 0
    assert brief(res) == "elections_count=3 terms_reached=3 leaderless_ms=190.0"


def test_the_last_leaderless_interval_closes_at_end_ns_or_at_the_last_record() -> None:
    history = [*THREE_ELECTIONS[:-1], other(980, "n1")]  # n3 is never elected
    assert elections(history)["leaderless_ms"] == 110 + 30 + 80  # [900, 980]: the last record
    assert elections(history, end_ns=1200 * MS)["leaderless_ms"] == 110 + 30 + 300
    assert elections(history, end_ns=1200 * MS)["leaderless_longest"]["end_ms"] == 1200.0
    early = elections(history, end_ns=50 * MS)  # the run ended before the first election
    assert (early["leaderless_ms"], early["leaderless_interval_count"]) == (50.0, 1)


def test_a_leader_lost_and_replaced_in_the_same_instant_leaves_no_leaderless_interval() -> None:
    history = [role(100, "n1", "leader", 1, "n1"),
               role(200, "n2", "candidate", 2), role(200, "n2", "leader", 2, "n2")]
    res = elections(history, end_ns=300 * MS)
    assert res["leaderless_interval_count"] == 1  # [0, 100] only
    assert res["elections"][1]["after_leaderless_ms"] == 0.0


@pytest.mark.parametrize(
    ("second", "term", "until_ms"),
    [
        # both lead term 1 at once, until n1 logs term 2
        (role(130, "n2", "leader", 1, "n2"), 1, 500.0),
        # n3 leads term 1 long after n1 lost it: superseded at once
        (role(900, "n3", "leader", 1, "n3"), 1, 900.0),
    ],
    ids=["at-once", "later"],
)
def test_two_leaders_in_one_term_is_invalid_and_names_them(
    second: dict, term: int, until_ms: float
) -> None:
    history = [role(100, "n1", "candidate", 1), role(110, "n1", "leader", 1, "n1"),
               role(500, "n1", "follower", 2), second]
    res = elections(history)
    assert res["valid"] is False
    assert res["two_leader_terms_count"] == 1
    (found,) = res["two_leader_terms"]
    assert found["term"] == term
    assert found["leaders"] == [
        {"node": "n1", "at_ms": 110.0, "until_ms": 500.0},
        {"node": second["node"], "at_ms": second["time"] / MS, "until_ms": until_ms},
    ]
    assert "two_leader_terms_count=1" in brief(res)


def test_one_node_leading_the_same_term_twice_is_not_two_leaders() -> None:
    history = [role(110, "n1", "leader", 1), role(200, "n1", "leader", 1),  # logged twice
               role(300, "n2", "leader", 2)]
    res = elections(history)
    assert res["valid"] is True
    assert res["elections_count"] == 2  # a repeated record is not a new election


def test_a_restarted_leader_leaves_the_cluster_leaderless_until_the_next_election() -> None:
    history = [
        role(100, "n1", "leader", 1, "n1"), role(101, "n2", "follower", 1, "n1"),
        init(300, "n1"), role(301, "n1", "follower", 1),  # killed (silently), then restarted
        role(400, "n2", "candidate", 2), role(450, "n2", "leader", 2, "n2"),
    ]
    res = elections(history, end_ns=500 * MS)
    assert res["valid"] is True
    assert res["leaderless_ms"] == 100 + 150  # [0, 100] and [300, 450]
    assert res["leaderless_longest"] == {"start_ms": 300.0, "end_ms": 450.0, "duration_ms": 150.0}
    assert [e["after_leaderless_ms"] for e in res["elections"]] == [100.0, 150.0]
    assert [e["until_ms"] for e in res["elections"]] == [300.0, 500.0]  # its restart; the end


def test_a_repeated_init_to_a_running_process_keeps_its_leader() -> None:
    history = [role(100, "n1", "leader", 1, "n1"), init(300, "n1", again=True)]
    res = elections(history, end_ns=500 * MS)
    assert res["leaderless_ms"] == 100.0
    assert res["malformed_records"] == 0


def test_a_term_regression_within_a_life_is_invalid() -> None:
    history = [init(0, "n1"), role(1, "n1", "follower", 0), role(100, "n1", "candidate", 5),
               role(200, "n1", "follower", 3), role(300, "n1", "candidate", 4)]
    res = elections(history)
    assert res["valid"] is False
    assert res["term_regressions_count"] == 1  # one drop, 5 to 3; 3 to 4 goes forwards
    assert res["term_regressions"] == [{"node": "n1", "at_ms": 200.0, "from_term": 5,
                                        "to_term": 3, "where": "record 3"}]
    assert res["two_leader_terms_count"] == 0


def test_a_lower_term_after_a_restart_is_a_reset_not_a_regression() -> None:
    history = [init(0, "n1"), role(100, "n1", "candidate", 5), init(200, "n1"),
               role(201, "n1", "follower", 3)]
    res = elections(history)
    assert res["valid"] is True
    assert res["term_regressions_count"] == 0
    assert res["term_resets_count"] == 1
    assert res["term_resets"] == [{"node": "n1", "at_ms": 201.0, "from_term": 5, "to_term": 3,
                                   "where": "record 3"}]


def test_a_leader_that_never_steps_down_is_superseded_by_a_higher_term() -> None:
    history = [
        role(100, "n1", "leader", 1, "n1"),  # then partitioned away: it never logs again
        role(400, "n2", "candidate", 2),
        role(420, "n2", "leader", 2, "n2"),
    ]
    res = elections(history, end_ns=500 * MS)
    assert res["valid"] is True
    assert res["leaderless_ms"] == 100 + 20  # [0, 100] and [400, 420]
    assert res["leaderless_interval_count"] == 2
    assert res["elections"][1]["after_leaderless_ms"] == 20.0


def test_a_leader_of_a_superseded_term_does_not_end_leaderless_time() -> None:
    history = [
        role(100, "n1", "leader", 1, "n1"),
        role(400, "n2", "candidate", 2), role(405, "n3", "candidate", 3),
        role(410, "n2", "leader", 2, "n2"),  # elected, but term 3 was logged already
        role(430, "n3", "leader", 3, "n3"),
    ]
    res = elections(history, end_ns=500 * MS)
    assert res["valid"] is True
    assert res["leaderless_ms"] == 100 + 30  # [0, 100] and [400, 430]
    assert res["elections"][1] == {"term": 2, "leader": "n2", "at_ms": 410.0,
                                   "after_leaderless_ms": 10.0, "stale": True,
                                   "until_ms": 410.0}  # superseded as soon as elected
    assert res["elections"][2]["stale"] is False


@pytest.mark.parametrize(
    "records",
    [
        [],
        [other(1, "n1"), init(2, "n1"), {"event": "start", "time": 3}],
        [{"event": "raft_role", "time": 1, "node": "n1", "role": "leader", "term": "1"}],
    ],
    ids=["empty", "not-raft", "only-malformed"],
)
def test_no_raft_role_record_is_unknown(records: list[dict]) -> None:
    res = elections(records)
    assert res["valid"] == "unknown"
    assert "no well-formed raft_role record" in res["reason"]
    assert res["elections_count"] == 0


def test_malformed_records_are_counted_and_listed_and_the_rest_judged() -> None:
    bad: list[Any] = [
        [1, 2],  # a JSON line that is not an object
        "Traceback (most recent call last):",
        {"event": "raft_role", "node": "n1", "role": "leader", "term": 1},  # no time
        {**role(1, "n1", "leader", 1), "time": 1.5},
        {**role(1, "n1", "leader", 1), "node": None},
        {**role(1, "n1", "leader", 1), "role": "king"},
        {**role(1, "n1", "leader", 1), "term": True},
        {**role(1, "n1", "leader", 1), "term": -1},
        {**role(1, "n1", "leader", 1), "leader": 7, WHERE: "nodes/n1.log:9"},
        {"event": "init", "time": "soon", "node": "n1"},
        {"event": "send", "time": "soon"},  # another event: ignored however it looks
    ]
    res = elections([*THREE_ELECTIONS, *bad], end_ns=1000 * MS)
    assert res["malformed_records"] == len(bad) - 1
    assert res["malformed_examples"][0]["where"] == f"record {len(THREE_ELECTIONS)}"
    assert {"where": "nodes/n1.log:9",
            "problem": "raft_role: leader must be a node id or null, not 7"} in \
        res["malformed_examples"]
    assert res["valid"] is True
    assert res["leaderless_ms"] == 190.0  # the good records were judged as before


@settings(max_examples=50, deadline=None)
@given(st.permutations(THREE_ELECTIONS))
def test_records_in_any_order_give_the_same_result(shuffled: list[dict]) -> None:
    res = elections(shuffled, end_ns=1000 * MS)
    assert res == elections(THREE_ELECTIONS, end_ns=1000 * MS)
    assert res["leaderless_ms"] == 190.0


def test_lists_are_bounded_and_counts_exact() -> None:
    count = ELECTIONS_MAX + 50
    history = [role(10 * t + 5, f"n{t % 3}", "leader", t) for t in range(1, count + 1)]
    res = elections(history)
    assert res["elections_count"] == count
    assert len(res["elections"]) == ELECTIONS_MAX
    assert res["terms_reached"] == count
    assert res["leader_count"] == 3


def _write_log(path: Path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def _line(record: dict) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


def test_load_node_logs_keeps_raft_records_and_warns_of_torn_lines(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes"
    (nodes / "n1").mkdir(parents=True)  # a node's data directory, not a log
    torn = _line(role(120, "n2", "candidate", 2))[:30]
    _write_log(nodes / "n1.log", [
        _line(init(0, "n1")), _line(role(1, "n1", "follower", 0)),
        _line(other(50, "n1")),
        "Traceback (most recent call last):\n",
        '  File "node/driver.py", line 3, in <module>\n',
        "{'a': 1}\n",  # a Python repr in a traceback: not one of our records
        _line(role(110, "n1", "leader", 1, "n1")),
        _line(role(115, "n1", "leader", 1, "n1"))[:25],  # the last line, cut short
    ])
    _write_log(nodes / "n2.log", [
        _line(role(2, "n2", "follower", 0)),
        torn + _line(init(300, "n2")),  # killed mid-write; the next life wrote after it
        _line(role(301, "n2", "follower", 1)),
    ])
    records, warnings = load_node_logs(tmp_path)
    assert [(r["node"], r["event"], r[WHERE]) for r in records] == [
        ("n1", "init", "nodes/n1.log:1"), ("n1", "raft_role", "nodes/n1.log:2"),
        ("n1", "raft_role", "nodes/n1.log:7"),
        ("n2", "raft_role", "nodes/n2.log:1"), ("n2", "init", "nodes/n2.log:2"),
        ("n2", "raft_role", "nodes/n2.log:3"),
    ]
    assert len(warnings) == 2
    assert warnings[0].startswith("nodes/n1.log:8: a log record cut short")
    assert warnings[1].startswith("nodes/n2.log:2: a log record cut short")
    assert "read the whole record written after it" in warnings[1]
    res = elections(records, end_ns=400 * MS)
    assert res["valid"] is True
    assert res["elections_count"] == 1


def test_load_node_logs_without_a_log_directory_is_empty(tmp_path: Path) -> None:
    assert load_node_logs(tmp_path) == ([], [])
