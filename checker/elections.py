"""Election safety: at most one leader per term, judged from the nodes' own logs.

    records, warnings = load_node_logs(run_dir)     # raft_role and init records of nodes/*.log
    res = elections(records, end_ns=run_end_ns)     # {"checker": "election-safety", ...}

Raft's Election Safety property (Ongaro's thesis, §3.6.3 and figure 3.2): at most one leader
can be elected in a given term. A Raft-like service logs `raft_role` on every role or term
change and once at each (re)start: `{"event": "raft_role", "role": "follower" | "candidate" |
"leader", "term": int, "leader": str | null}`. This checker reads those records, from every
node, interleaved in any order (it sorts them by time, node, then position), and answers:

- **invalid** when two different nodes logged `leader` in the same term (`two_leader_terms`:
  the term, each leader and when it became leader), or when one node's term went backwards
  within one life (`term_regressions`): a node's current term never decreases, and a lower term
  later in the same process means it lost the term it had adopted (and may vote twice in it).
- **unknown** when there is no well-formed `raft_role` record at all: nothing to judge (the
  service is not Raft, or its logs were not collected).
- **valid** otherwise. A run that never elected anyone is valid here: its election safety holds
  trivially; `elections_count=0` and `leaderless_ms` say what happened, and liveness is for
  other checkers to judge.

A life is one process: it begins with the driver's `init` record (`node.driver`), unless that
record says `again: true` (a repeated `init` to a running process, which keeps its state). A
killed node logs nothing when it dies. A node that comes back in a lower term than it reached
in an earlier life is reported as a `term_reset` (its persisted term was lost, or its storage
wiped on purpose) but is not held against the run: Raft's safety only needs a term persisted
before the node acts on it, and the log line may come before that.

## Leaderless time: what the nodes believe, not what the network allows
The cluster is leaderless from `start_ns` (the run's start) until the first leader, and then
whenever no node is known to lead the highest term logged so far. A node stops leading term T
when it logs another role or a higher term, when it begins a new life (an `init` record), or
when any node logs a term above T (the old leader may never log stepping down: it may be
partitioned away, paused or dead). This is an approximation from logs alone: a leader that was
killed, or cut off from a majority, counts as leader until someone logs a higher term, and a
leader that clients cannot reach still counts. `end_ns` closes the last interval (by default
the time of the last record). Zero-length intervals (a leader lost and another elected in the
same nanosecond) are not counted.

Each listed election says until when its leader led (`until_ms`: when it logged another role
or a higher term, began a new life, or any node logged a higher term, as above; the end of
the run if none did), and so does each leader of a two-leader term; `leaderless_intervals`
lists when the cluster was leaderless (`start_ms`, `end_ms`), so a report can draw a lane per
node with its terms as leader and the leaderless time shaded.

Lists in the result are bounded (`ELECTIONS_MAX` elections, `LIST_LIMIT` of anything else);
every count is exact. Records that cannot be judged (not a JSON object, a `raft_role` or
`init` without an integer `time` or a node, a `raft_role` with a bad role, term or leader)
are counted as `malformed_records`, the first few listed with their file and line when
`load_node_logs` read them. All other events are ignored. A line of a log that began as a
record but was cut short (a write interrupted by a kill) cannot be judged either: it is in
`load_node_logs`'s warnings, for the caller to show beside the result as `chaos check` shows
a history's.

`elections` is pure; `load_node_logs` is its thin shell, reading a run directory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, TypeGuard

from checker.result import LIST_LIMIT, UNKNOWN, Validity, result

CHECKER = "election-safety"
HEADLINE = ("two_leader_terms_count", "term_regressions_count", "elections_count",
            "terms_reached", "leaderless_ms", "malformed_records")
RAFT_ROLE = "raft_role"
INIT = "init"
EVENTS = (RAFT_ROLE, INIT)  # every other event is ignored
ROLES = ("follower", "candidate", "leader")
LEADER = "leader"
ELECTIONS_MAX = 100  # elections listed in a result; `elections_count` is exact
MALFORMED_MAX = 10  # malformed records listed
WARNINGS_MAX = LIST_LIMIT  # lines of `load_node_logs` warnings, then one that counts the rest
WHERE = "_where"  # added by `load_node_logs` to each record: "nodes/n1.log:12"
RECORD_START = '{"time":'  # how a node's log record begins (`node.log.Logger`)


class _Event(NamedTuple):
    time_ns: int
    node: str
    position: int  # in the input: keeps one node's same-time records in their logged order
    kind: str  # RAFT_ROLE or INIT
    role: str | None
    term: int
    where: str


@dataclass
class _Node:
    term: int | None = None  # the last term logged in this life
    term_max: int = -1  # the highest term logged in any life
    leading: int | None = None  # the term this node believes it leads


@dataclass
class _Judge:
    """One pass over the sorted events: safety findings and leaderless intervals."""

    start_ns: int
    end_ns: int
    nodes: dict[str, _Node] = field(default_factory=dict)
    term_max: int = -1
    leaders_by_term: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    two_leader_terms: list[int] = field(default_factory=list)  # in the order found
    regressions: list[dict[str, Any]] = field(default_factory=list)
    regressions_count: int = 0
    resets: list[dict[str, Any]] = field(default_factory=list)
    resets_count: int = 0
    elections: list[dict[str, Any]] = field(default_factory=list)
    elections_count: int = 0
    leaders: set[str] = field(default_factory=set)
    leaderless_since_ns: int | None = None
    leaderless_ns: int = 0
    leaderless_intervals: int = 0
    leaderless_listed: list[dict[str, float]] = field(default_factory=list)
    longest: tuple[int, int] | None = None
    # node -> (term, index in `elections` or -1): the leadership it holds now, until it ends
    leading_now: dict[str, tuple[int, int]] = field(default_factory=dict)
    # (node, term) -> when that node's first leadership of that term ended
    until_ns: dict[tuple[str, int], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.leaderless_since_ns = self.start_ns

    def step(self, e: _Event) -> None:
        node = self.nodes.setdefault(e.node, _Node())
        if e.kind == INIT:
            node.leading = None
            node.term = None
            self._end_leaderships(e.time_ns)
            self._sync(e.time_ns)
            return
        self._check_term(node, e)
        # First what ends: this node's old leadership, and any leader of a lower term.
        if node.leading is not None and (e.role != LEADER or e.term != node.leading):
            node.leading = None
        self.term_max = max(self.term_max, e.term)
        self._end_leaderships(e.time_ns)
        self._sync(e.time_ns)
        # Then what begins.
        if e.role == LEADER and node.leading != e.term:
            node.leading = e.term
            self._elected(e)
            self._end_leaderships(e.time_ns)  # elected in a superseded term: over at once
            self._sync(e.time_ns)

    def _check_term(self, node: _Node, e: _Event) -> None:
        if node.term is not None and e.term < node.term:
            self.regressions_count += 1
            if len(self.regressions) < LIST_LIMIT:
                self.regressions.append(_term_change(e, node.term))
        elif node.term is None and e.term < node.term_max:  # the first record of a new life
            self.resets_count += 1
            if len(self.resets) < LIST_LIMIT:
                self.resets.append(_term_change(e, node.term_max))
        node.term = e.term
        node.term_max = max(node.term_max, e.term)

    def _end_leaderships(self, time_ns: int) -> None:
        """End the leaderships that stopped: the node no longer leads that term, or a higher
        term was logged (module docstring)."""
        for name, (term, listed) in list(self.leading_now.items()):
            if self.nodes[name].leading == term and term >= self.term_max:
                continue
            del self.leading_now[name]
            self._until(name, term, listed, time_ns)

    def _until(self, name: str, term: int, listed: int, time_ns: int) -> None:
        self.until_ns.setdefault((name, term), time_ns)
        if listed >= 0:
            self.elections[listed]["until_ms"] = _ms(time_ns)

    def _elected(self, e: _Event) -> None:
        self.elections_count += 1
        self.leaders.add(e.node)
        listed = len(self.elections) if len(self.elections) < ELECTIONS_MAX else -1
        self.leading_now[e.node] = (e.term, listed)
        if listed >= 0:
            since = self.leaderless_since_ns
            self.elections.append({
                "term": e.term, "leader": e.node, "at_ms": _ms(e.time_ns),
                # None: the cluster already had a leader (of this term: see two_leader_terms).
                "after_leaderless_ms": None if since is None else _ms(e.time_ns - since),
                # A higher term was logged before this node became leader of its term.
                "stale": e.term < self.term_max,
                "until_ms": None,  # set when the leadership ends (at the latest, by finish)
            })
        term_leaders = self.leaders_by_term.setdefault(e.term, [])
        if all(n != e.node for n, _ in term_leaders):
            term_leaders.append((e.node, e.time_ns))
            if len(term_leaders) == 2:
                self.two_leader_terms.append(e.term)

    def _has_leader(self) -> bool:
        return any(n.leading == self.term_max for n in self.nodes.values())

    def _sync(self, time_ns: int) -> None:
        """Open or close a leaderless interval at `time_ns` if leadership changed."""
        has_leader = self._has_leader()
        if has_leader and self.leaderless_since_ns is not None:
            self._close(self.leaderless_since_ns, time_ns)
            self.leaderless_since_ns = None
        elif not has_leader and self.leaderless_since_ns is None:
            self.leaderless_since_ns = time_ns

    def finish(self) -> None:
        """Close the last leaderless interval, and every leadership still held, at `end_ns`."""
        if self.leaderless_since_ns is not None:
            self._close(self.leaderless_since_ns, self.end_ns)
        for name, (term, listed) in self.leading_now.items():
            self._until(name, term, listed, self.end_ns)
        self.leading_now.clear()

    def _close(self, start_ns: int, end_ns: int) -> None:
        end_ns = min(end_ns, self.end_ns)
        if end_ns <= start_ns:
            return
        self.leaderless_ns += end_ns - start_ns
        self.leaderless_intervals += 1
        if len(self.leaderless_listed) < ELECTIONS_MAX:
            self.leaderless_listed.append({"start_ms": _ms(start_ns), "end_ms": _ms(end_ns)})
        if self.longest is None or end_ns - start_ns > self.longest[1] - self.longest[0]:
            self.longest = (start_ns, end_ns)


def elections(
    records: Iterable[Mapping[str, Any]], *, end_ns: int | None = None, start_ns: int = 0
) -> dict[str, Any]:
    """Judge election safety from node log records (module docstring).

    `start_ns` is when the cluster started without a leader (the run's start: node log times
    count from it); `end_ns` closes the last leaderless interval (default: the last record's
    time). Intervals are clipped to [start_ns, end_ns].
    """
    events: list[_Event] = []
    malformed: list[dict[str, Any]] = []
    malformed_count = 0
    last_ns: int | None = None
    for position, record in enumerate(records):
        problem: str | None
        if not isinstance(record, Mapping):
            event, problem = None, f"not a JSON object: {_clip(record)}"
        else:
            time_ns = record.get("time")
            if _is_int(time_ns):
                last_ns = time_ns if last_ns is None else max(last_ns, time_ns)
            if record.get("event") not in EVENTS:
                continue
            event, problem = _event(record, position)
        if event is not None:
            events.append(event)
        if problem is None:
            continue
        malformed_count += 1
        if len(malformed) < MALFORMED_MAX:
            where = record.get(WHERE) if isinstance(record, Mapping) else None
            malformed.append({"where": where or f"record {position}", "problem": problem})
    events.sort()
    end = end_ns if end_ns is not None else last_ns if last_ns is not None else start_ns
    judge = _Judge(start_ns=min(start_ns, events[0].time_ns) if events else start_ns,
                   end_ns=end)
    for e in events:
        judge.step(e)
    judge.finish()
    role_count = sum(1 for e in events if e.kind == RAFT_ROLE)
    details = _details(judge, end_ns=end, role_count=role_count)
    details.update(malformed_records=malformed_count, malformed_examples=malformed)
    if role_count == 0:
        why = f", {malformed_count} malformed record(s)" if malformed_count else ""
        return result(CHECKER, UNKNOWN, headline=HEADLINE, **details,
                      reason=f"no well-formed raft_role record in the node logs{why}: "
                             "nothing to judge (is the service Raft-like, and does it log "
                             "raft_role on every role or term change?)")
    valid: Validity = not judge.two_leader_terms and not judge.regressions_count
    return result(CHECKER, valid, headline=HEADLINE, **details)


def _details(judge: _Judge, *, end_ns: int, role_count: int) -> dict[str, Any]:
    longest = judge.longest
    return {
        "two_leader_terms_count": len(judge.two_leader_terms),
        "two_leader_terms": [
            {"term": term, "leaders": [{"node": n, "at_ms": _ms(t),
                                        "until_ms": _until_ms(judge, n, term)}
                                       for n, t in judge.leaders_by_term[term][:LIST_LIMIT]]}
            for term in judge.two_leader_terms[:LIST_LIMIT]
        ],
        "term_regressions_count": judge.regressions_count,
        "term_regressions": judge.regressions,
        "term_resets_count": judge.resets_count,
        "term_resets": judge.resets,
        "elections_count": judge.elections_count,
        "elections": judge.elections,
        "terms_reached": judge.term_max if judge.term_max >= 0 else None,
        "leader_count": len(judge.leaders),
        "leaders": sorted(judge.leaders)[:LIST_LIMIT],
        "leaderless_ms": _ms(judge.leaderless_ns),
        "leaderless_interval_count": judge.leaderless_intervals,
        "leaderless_intervals": judge.leaderless_listed,  # the first ELECTIONS_MAX
        "leaderless_longest": None if longest is None else {
            "start_ms": _ms(longest[0]), "end_ms": _ms(longest[1]),
            "duration_ms": _ms(longest[1] - longest[0])},
        "raft_role_count": role_count,
        "node_count": len(judge.nodes),
        "nodes": sorted(judge.nodes)[:LIST_LIMIT],  # every node that logged a role or an init
        "start_ms": _ms(judge.start_ns),
        "end_ms": _ms(end_ns),
    }


def _until_ms(judge: _Judge, node: str, term: int) -> float | None:
    until = judge.until_ns.get((node, term))
    return None if until is None else _ms(until)


def _event(record: Mapping[str, Any], position: int) -> tuple[_Event | None, str | None]:
    """The record as an event; or None and what is wrong with it; or None, None for a record
    that changes nothing (a repeated `init`)."""
    time_ns, node, kind = record.get("time"), record.get("node"), record["event"]
    where = str(record.get(WHERE) or f"record {position}")
    if not _is_int(time_ns):
        return None, f"{kind}: time must be an integer of nanoseconds, not {_clip(time_ns)}"
    if not isinstance(node, str) or not node:
        return None, f"{kind}: node must be a node id, not {_clip(node)}"
    if kind == INIT:
        if record.get("again") is True:  # the same process initialised again: same life
            return None, None
        return _Event(time_ns, node, position, INIT, None, 0, where), None
    role, term, leader = record.get("role"), record.get("term"), record.get("leader")
    if role not in ROLES:
        return None, f"raft_role: role must be one of {', '.join(ROLES)}, not {_clip(role)}"
    if not _is_int(term) or term < 0:
        return None, f"raft_role: term must be an integer >= 0, not {_clip(term)}"
    if leader is not None and not isinstance(leader, str):
        return None, f"raft_role: leader must be a node id or null, not {_clip(leader)}"
    return _Event(time_ns, node, position, RAFT_ROLE, role, term, where), None


def _term_change(e: _Event, from_term: int) -> dict[str, Any]:
    return {"node": e.node, "at_ms": _ms(e.time_ns), "from_term": from_term,
            "to_term": e.term, "where": e.where}


def load_node_logs(run_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The `raft_role` and `init` records of `run_dir/nodes/*.log`, and warnings.

    Read line by line, keeping only those records (a long run logs much else). Each record
    gets `WHERE` ("nodes/n1.log:12"). A node's stderr also holds lines that are not records
    (a Python traceback): they are skipped silently. A line that begins as a record but does
    not parse was cut short (a write interrupted by a kill, or a full disk) and is reported in
    the warnings; a record the next life wrote on the same line after it is still read. No
    `nodes` directory gives no records and no warnings.
    """
    records: list[dict[str, Any]] = []
    warnings: list[str] = []
    log_dir = run_dir / "nodes"
    if not log_dir.is_dir():
        return records, warnings
    for path in sorted(log_dir.glob("*.log")):
        if not path.is_file():
            continue
        name = f"nodes/{path.name}"
        try:
            # A crashing process may write any bytes to stderr: never refuse a file for them.
            with open(path, encoding="utf-8", errors="replace") as fh:
                for lineno, line in enumerate(fh, 1):
                    problem = _read_line(line, f"{name}:{lineno}", records)
                    if problem is not None:
                        warnings.append(problem)
        except OSError as e:
            warnings.append(f"{name}: could not be read ({e.strerror or e}); the elections of "
                            "its node are not judged: check the file's permissions")
    if len(warnings) > WARNINGS_MAX:
        more = len(warnings) - WARNINGS_MAX
        warnings[WARNINGS_MAX:] = [f"... and {more} more warning(s) like these"]
    return records, warnings


def _read_line(line: str, where: str, records: list[dict[str, Any]]) -> str | None:
    """Append the line's record to `records` if it is one we judge; say what is wrong with a
    line that began as a record but is not one."""
    text = line.strip()
    if not text.startswith('{"'):
        return None  # not written by our logger: a traceback, a print
    if text.endswith("}") and RAFT_ROLE not in text and INIT not in text:
        return None  # a whole record of an event we ignore: not worth decoding
    record = _loads(text)
    if record is not None:
        if record.get("event") in EVENTS:
            records.append({**record, WHERE: where})
        return None
    # A record cut short, perhaps followed by the first record of the node's next life.
    start = text.rfind(RECORD_START, 1)
    after = _loads(text[start:]) if start > 0 else None
    if after is not None and after.get("event") in EVENTS:
        records.append({**after, WHERE: where})
    tail = " (read the whole record written after it on the same line)" if after else ""
    return (f"{where}: a log record cut short (the node was killed mid-write?); skipped "
            f"it{tail}: a role change it logged would be missing from election-safety")


def _loads(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _ms(time_ns: int) -> float:
    return round(time_ns / 1e6, 3)


def _clip(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
