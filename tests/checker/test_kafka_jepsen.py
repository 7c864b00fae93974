"""Maelstrom's kafka histories (checker.kafka_jepsen): golden EDN, good and bad.

Every history is in the shape Maelstrom's `history.edn` has (one op map a line, micro-operation
vectors, string keys). `data/maelstrom/kafka-valid.edn` is a whole run: sends, polls, assigns,
a client crash, an indefinite send a poll recovered, a failed send, a partition, and Jepsen's
final phase (each thread crashes, assigns every key seeking to the beginning, and polls). `BAD`
is the manifest: one small history per anomaly, each rejected with exactly the anomalies listed
and the operations (history indexes) its case quotes. The assign cases show Jepsen's rule: an
assign ends a process's offset tracking for the keys it does not name (and, seeking to the
beginning, for all), but not for a key it assigns again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checker.formats import parse_edn
from checker.history import HistoryError, Op
from checker.kafka import ANOMALIES
from checker.kafka_jepsen import kafka_jepsen, translate
from checker.results_schema import counterexamples

DATA = Path(__file__).resolve().parent / "data" / "maelstrom"


def edn(text: str) -> list[Op]:
    return parse_edn(text, Path("history.edn"))


def judge(text: str) -> dict[str, Any]:
    return kafka_jepsen(edn(text))


def quoted(case: dict[str, Any]) -> list[int]:
    """The history indexes a case quotes, in order (as results.json's counterexamples)."""
    return counterexamples({"kafka": {"valid": False, "case": case}})[0]["operations"]


# Two sends to "6" acknowledged at offsets 0 and 1, and process 1 assigned "6" reading both.
TWO_SENT_AND_READ = """
{:type :invoke, :f :send, :value [[:send "6" 1]], :time 10, :process 0, :index 0}
{:type :ok, :f :send, :value [[:send "6" [0 1]]], :time 20, :process 0, :index 1}
{:type :invoke, :f :send, :value [[:send "6" 2]], :time 30, :process 0, :index 2}
{:type :ok, :f :send, :value [[:send "6" [1 2]]], :time 40, :process 0, :index 3}
{:type :invoke, :f :assign, :value ["6"], :time 50, :process 1, :index 4}
{:type :ok, :f :assign, :value ["6"], :time 60, :process 1, :index 5}
{:type :invoke, :f :poll, :value [[:poll]], :time 70, :process 1, :index 6}
{:type :ok, :f :poll, :value [[:poll {"6" [[0 1] [1 2]]}]], :time 80, :process 1, :index 7}
"""

# Process 1 polls "6" again and the reply begins at offset 1, which it has read already.
POLL_AGAIN = """
{:type :invoke, :f :poll, :value [[:poll]], :time 110, :process 1, :index 10}
{:type :ok, :f :poll, :value [[:poll {"6" [[1 2]]}]], :time 120, :process 1, :index 11}
"""


def assigned(*keys: str, seek: bool = False, index: int = 8) -> str:
    """Process 1's assign of `keys` (invocation and completion), as Maelstrom records it."""
    value = "[" + " ".join(f'"{k}"' for k in keys) + "]"
    flag = " :seek-to-beginning? true," if seek else ""
    return (
        f"{{:type :invoke, :f :assign, :value {value},{flag} :time 90, :process 1, "
        f":index {index}}}\n"
        f"{{:type :ok, :f :assign, :value {value},{flag} :time 100, :process 1, "
        f":index {index + 1}}}\n"
    )


# (name, history, the anomalies it shows, the operations the first case of the last of them
# quotes)
BAD = [
    # Offset 1 (message 3) was acknowledged; process 0 read offset 0, process 2 (a fresh
    # consumer, starting from the committed offset) read offset 2: both read past it.
    ("lost-write", """
{:type :invoke, :f :send, :value [[:send "6" 1]], :time 10, :process 1, :index 0}
{:type :ok, :f :send, :value [[:send "6" [0 1]]], :time 20, :process 1, :index 1}
{:type :invoke, :f :send, :value [[:send "6" 3]], :time 30, :process 1, :index 2}
{:type :ok, :f :send, :value [[:send "6" [1 3]]], :time 40, :process 1, :index 3}
{:type :invoke, :f :send, :value [[:send "6" 4]], :time 50, :process 1, :index 4}
{:type :ok, :f :send, :value [[:send "6" [2 4]]], :time 60, :process 1, :index 5}
{:type :invoke, :f :assign, :value ["6"], :time 70, :process 0, :index 6}
{:type :ok, :f :assign, :value ["6"], :time 80, :process 0, :index 7}
{:type :invoke, :f :poll, :value [[:poll]], :time 90, :process 0, :index 8}
{:type :ok, :f :poll, :value [[:poll {"6" [[0 1]]}]], :time 100, :process 0, :index 9}
{:type :invoke, :f :assign, :value ["6"], :time 110, :process 2, :index 10}
{:type :ok, :f :assign, :value ["6"], :time 120, :process 2, :index 11}
{:type :invoke, :f :poll, :value [[:poll]], :time 130, :process 2, :index 12}
{:type :ok, :f :poll, :value [[:poll {"6" [[2 4]]}]], :time 140, :process 2, :index 13}
""", ["lost-write"], [2, 3, 12, 13]),
    # Message 1 at offsets 0 (its acknowledgement) and 1 (a poll).
    ("duplicate", """
{:type :invoke, :f :send, :value [[:send "6" 1]], :time 10, :process 0, :index 0}
{:type :ok, :f :send, :value [[:send "6" [0 1]]], :time 20, :process 0, :index 1}
{:type :invoke, :f :assign, :value ["6"], :time 30, :process 1, :index 2}
{:type :ok, :f :assign, :value ["6"], :time 40, :process 1, :index 3}
{:type :invoke, :f :poll, :value [[:poll]], :time 50, :process 1, :index 4}
{:type :ok, :f :poll, :value [[:poll {"6" [[0 1] [1 1]]}]], :time 60, :process 1, :index 5}
""", ["duplicate"], [0, 1, 4, 5]),
    # Two concurrent sends both acknowledged at offset 0; the poll of offset 0 shows one, so
    # the other is lost too (Jepsen says both).
    ("inconsistent-offsets", """
{:type :invoke, :f :send, :value [[:send "6" 1]], :time 10, :process 0, :index 0}
{:type :invoke, :f :send, :value [[:send "6" 2]], :time 11, :process 1, :index 1}
{:type :ok, :f :send, :value [[:send "6" [0 1]]], :time 20, :process 0, :index 2}
{:type :ok, :f :send, :value [[:send "6" [0 2]]], :time 21, :process 1, :index 3}
{:type :invoke, :f :assign, :value ["6"], :time 30, :process 2, :index 4}
{:type :ok, :f :assign, :value ["6"], :time 40, :process 2, :index 5}
{:type :invoke, :f :poll, :value [[:poll]], :time 50, :process 2, :index 6}
{:type :ok, :f :poll, :value [[:poll {"6" [[0 1]]}]], :time 60, :process 2, :index 7}
""", ["lost-write", "inconsistent-offsets"], [0, 2, 1, 3]),
    # Process 1 read offsets 0 and 1, then was given offset 1 again: no assign between.
    ("nonmonotonic-poll", TWO_SENT_AND_READ + POLL_AGAIN, ["nonmonotonic-poll"], [6, 7, 10, 11]),
    # An assign that names "6" again keeps its offset (Maelstrom's client keeps `(offsets k)`;
    # Jepsen's check keeps the key): still nonmonotonic.
    ("nonmonotonic-poll-across-a-reassign", TWO_SENT_AND_READ + assigned("6", "7") + POLL_AGAIN,
     ["nonmonotonic-poll"], [6, 7, 10, 11]),
    # Process 1 read offset 0, then offset 2: offset 1 is known (acknowledged, and read by 2).
    ("poll-skip", """
{:type :invoke, :f :send, :value [[:send "6" 1]], :time 10, :process 0, :index 0}
{:type :ok, :f :send, :value [[:send "6" [0 1]]], :time 20, :process 0, :index 1}
{:type :invoke, :f :send, :value [[:send "6" 2]], :time 30, :process 0, :index 2}
{:type :ok, :f :send, :value [[:send "6" [1 2]]], :time 40, :process 0, :index 3}
{:type :invoke, :f :send, :value [[:send "6" 3]], :time 50, :process 0, :index 4}
{:type :ok, :f :send, :value [[:send "6" [2 3]]], :time 60, :process 0, :index 5}
{:type :invoke, :f :assign, :value ["6"], :time 70, :process 1, :index 6}
{:type :ok, :f :assign, :value ["6"], :time 80, :process 1, :index 7}
{:type :invoke, :f :poll, :value [[:poll]], :time 90, :process 1, :index 8}
{:type :ok, :f :poll, :value [[:poll {"6" [[0 1]]}]], :time 100, :process 1, :index 9}
{:type :invoke, :f :poll, :value [[:poll]], :time 110, :process 1, :index 10}
{:type :ok, :f :poll, :value [[:poll {"6" [[2 3]]}]], :time 120, :process 1, :index 11}
{:type :invoke, :f :assign, :value ["6"], :time 130, :process 2, :index 12}
{:type :ok, :f :assign, :value ["6"], :time 140, :process 2, :index 13}
{:type :invoke, :f :poll, :value [[:poll]], :time 150, :process 2, :index 14}
{:type :ok, :f :poll, :value [[:poll {"6" [[0 1] [1 2] [2 3]]}]], :time 160, :process 2, :index 15}
""", ["poll-skip"], [8, 9, 10, 11]),
    # Within one poll, offset 0 after offset 1.
    ("int-nonmonotonic-poll", TWO_SENT_AND_READ.replace("[[0 1] [1 2]]", "[[1 2] [0 1]]"),
     ["int-nonmonotonic-poll"], [6, 7]),
    # Process 0's second send was given a lower offset than its first.
    ("nonmonotonic-send", TWO_SENT_AND_READ.replace('"6" [0 1]]]', '"6" [5 1]]]').replace(
        "[[0 1] [1 2]]", "[[1 2] [5 1]]"), ["nonmonotonic-send"], [0, 1, 2, 3]),
    # Acknowledged, never polled by anyone (Jepsen's :unseen, an error after final polls).
    ("unseen", TWO_SENT_AND_READ.replace("[[0 1] [1 2]]", "[[0 1]]"), ["unseen"], [2, 3]),
    # A send that definitely failed, yet a poll returned its message (G1a, aborted read).
    ("aborted-read", TWO_SENT_AND_READ.replace(":type :ok, :f :send, :value [[:send \"6\" [1 2]]]",
                                               ":type :fail, :f :send, :value [[:send \"6\" 2]]"),
     ["G1a"], [2, 3, 6, 7]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "text", "anomalies", "indexes"), BAD, ids=[b[0] for b in BAD])
def test_each_anomaly_is_rejected_with_the_operations_that_show_it(
    name: str, text: str, anomalies: list[str], indexes: list[int]
) -> None:
    res = judge(text)
    assert res["valid"] is False
    assert res["error_types"] == anomalies
    (case, *_) = res[ANOMALIES[anomalies[-1]]]
    assert quoted(case) == indexes, case


def test_the_lost_write_names_the_send_and_the_poll_that_read_past_it() -> None:
    lost = judge(BAD[0][1])["lost"][0]
    assert (lost["key"], lost["offset"], lost["message"]) == ("6", 1, 3)
    assert (lost["send"]["index"], lost["send"]["process"]) == (2, 1)
    assert (lost["read_past"]["index"], lost["read_past"]["process"]) == (12, 2)


def test_a_duplicate_lists_its_offsets() -> None:
    (dup,) = judge(BAD[1][1])["duplicate"]
    assert (dup["key"], dup["message"], dup["offsets"]) == ("6", 1, [0, 1])


@pytest.mark.parametrize(
    "between",
    [
        # "6" dropped, then assigned anew: its offset starts from the committed one (here 1).
        assigned("7") + assigned("6", "7", index=10),
        # Seeking to the beginning rewinds every key.
        assigned("6", seek=True),
    ],
    ids=["dropped-and-assigned-anew", "seek-to-beginning"],
)
def test_an_assign_ends_the_offset_tracking_of_the_keys_it_resets(between: str) -> None:
    text = TWO_SENT_AND_READ + between + POLL_AGAIN.replace(":index 10}", ":index 12}").replace(
        ":index 11}", ":index 13}")
    res = judge(text)
    assert res["valid"] is True, res["error_types"]
    assert res["nonmonotonic_poll_count"] == 0


def test_a_failed_assign_changes_nothing() -> None:
    failed = assigned("7").replace(":type :ok, :f :assign", ":type :fail, :f :assign")
    res = judge(TWO_SENT_AND_READ + failed + POLL_AGAIN)
    assert res["error_types"] == ["nonmonotonic-poll"]


def test_a_whole_maelstrom_run_is_valid_and_counted() -> None:
    res = kafka_jepsen(parse_edn((DATA / "kafka-valid.edn").read_text(), DATA))
    assert res["valid"] is True, res["error_types"]
    assert (res["send_count"], res["acknowledged_count"]) == (6, 4)
    assert (res["info_send_count"], res["recovered_count"], res["failed_send_count"]) == (1, 1, 1)
    assert (res["poll_count"], res["final_poll_count"]) == (6, 4)
    assert res["final_only_count"] == 1  # message 6 was first polled in the final phase
    assert res["key_count"] == 2


def test_the_same_run_losing_a_message_is_invalid() -> None:
    # Message 3 (key "6", offset 2) is never returned again: every poll goes past it.
    text = (DATA / "kafka-valid.edn").read_text()
    text = text.replace('{"6" [[0 1] [2 3]], "7" [[1 2]]}', '{"6" [[0 1]], "7" [[1 2]]}')
    text = text.replace('[[0 1] [2 3] [3 4]]', '[[0 1] [3 4]]')
    text = text.replace('"6" [[0 1] [2 3]], "7" [[1 2] [4 6]]', '"6" [[0 1]], "7" [[1 2] [4 6]]')
    res = kafka_jepsen(parse_edn(text, DATA))
    assert res["valid"] is False
    assert "lost-write" in res["error_types"]
    (lost,) = res["lost"]
    assert (lost["key"], lost["offset"], lost["message"]) == ("6", 2, 3)
    assert lost["send"]["index"] == 6


def test_final_polls_are_recognised_but_have_no_rule_of_their_own() -> None:
    # Jepsen's checker has none: a final poll (after a seek) that returns nothing for a key
    # proves nothing lost, when a poll during the run returned everything.
    seek = assigned("6", seek=True).replace(":process 1", ":process 3")
    final = """
{:type :invoke, :f :poll, :value [[:poll]], :poll-ms 1000, :time 110, :process 3, :index 10}
{:type :ok, :f :poll, :value [[:poll {}]], :poll-ms 1000, :time 120, :process 3, :index 11}
{:type :invoke, :f :poll, :final? true, :value [[:poll]], :time 130, :process 4, :index 12}
{:type :ok, :f :poll, :final? true, :value [[:poll {}]], :time 140, :process 4, :index 13}
"""
    res = judge(TWO_SENT_AND_READ + seek + final)
    assert res["valid"] is True
    assert res["final_poll_count"] == 2
    assert res["consumed_count"] == 2


def test_the_translation_unwraps_micro_operations() -> None:
    ops = translate(edn(BAD[0][1] + assigned("6", seek=True, index=14).replace(
        ":process 1", ":process 2") + """
{:type :invoke, :f :poll, :value [[:poll]], :time 170, :process 2, :index 16}
{:type :info, :f :poll, :value [[:poll]], :time 180, :process 2, :index 17}
"""))
    assert [op.value for op in ops[:2]] == [["6", 1], ["6", [0, 1]]]
    assert ops[6].value == ops[7].value == ["6"]
    assert (ops[8].value, ops[9].value) == (None, {"6": [[0, 1]]})
    assert not ops[12].extra.get("final")
    assert ops[16].extra["final"] is True and ops[16].value is None
    assert ops[14].extra["seek-to-beginning?"] is True
    assert [op.index for op in ops] == list(range(18))


def test_a_failed_or_indefinite_send_keeps_what_was_attempted() -> None:
    ops = translate(edn("""
{:type :invoke, :f :send, :value [[:send "6" 1]], :time 10, :process 0, :index 0}
{:type :info, :f :send, :value [[:send "6" 1]], :time 20, :process 0, :index 1, :error :net-timeout}
{:type :invoke, :f :send, :value [[:send "6" 2]], :time 30, :process 1, :index 2}
{:type :fail, :f :send, :value [[:send "6" 2]], :time 40, :process 1, :index 3}
"""))
    assert [op.value for op in ops] == [["6", 1], ["6", 1], ["6", 2], ["6", 2]]


def test_integer_keys_are_read_as_their_decimal_strings() -> None:
    text = TWO_SENT_AND_READ.replace('"6"', "6")
    assert '{6 [[0 1] [1 2]]}' in text
    res = judge(text)
    assert res["valid"] is True
    assert res["key_count"] == 1 and res["consumed_count"] == 2


def test_a_history_without_acknowledged_sends_is_unknown() -> None:
    assert kafka_jepsen([])["valid"] == "unknown"
    res = judge(TWO_SENT_AND_READ.split("\n{:type :invoke, :f :assign")[0].replace(
        ":type :ok, :f :send", ":type :info, :f :send"))
    assert res["valid"] == "unknown"


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ('{:type :invoke, :f :send, :value [:send "6" 1], :process 0, :index 0}',
         "a send's value must be [[:send key msg]]"),
        ('{:type :invoke, :f :send, :value [[:send "6"]], :process 0, :index 0}',
         "a send's micro-operation must be [:send key msg]"),
        ('{:type :invoke, :f :send, :value [[:send "6" 1]], :process 0, :index 0}\n'
         '{:type :ok, :f :send, :value [[:send "6" 1]], :process 0, :index 1}',
         "an ok send's micro-operation must be [:send key [offset msg]]"),
        ('{:type :invoke, :f :poll, :value [[:send "6" 1]], :process 0, :index 0}',
         "a poll's value must be [[:poll]]"),
        ('{:type :invoke, :f :poll, :value [[:poll]], :process 0, :index 0}\n'
         '{:type :ok, :f :poll, :value [[:poll [[0 1]]]], :process 0, :index 1}',
         "an ok poll's value must be a map"),
        ('{:type :invoke, :f :assign, :value "6", :process 0, :index 0}',
         "an assign's value must be the list of keys"),
    ],
    ids=["send-not-a-vector-of-mops", "send-short", "ok-send-no-offset", "poll-not-poll",
         "ok-poll-not-a-map", "assign-not-a-list"],
)
def test_malformed_operations_are_history_errors_naming_the_operation(
    line: str, says: str
) -> None:
    with pytest.raises(HistoryError, match=r"^operation [01]: ") as e:
        judge(line)
    assert says in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "line",
    [
        '{:type :invoke, :f :txn, :value [[:send "6" 1] [:poll]], :process 0, :index 3}',
        '{:type :invoke, :f :send, :value [[:send "6" 1] [:send "7" 2]], :process 0, :index 3}',
    ],
    ids=["txn", "two-micro-operations"],
)
def test_transactional_histories_are_refused(line: str) -> None:
    # Refused wherever it is, even after an operation that is malformed in another way.
    text = '{:type :invoke, :f :send, :value 5, :process 1, :index 0}\n' + line
    with pytest.raises(HistoryError, match=r"^operation 3: .*transactional kafka histories "
                       r"\(jepsen.tests.kafka with :txn\? true\) are not supported"):
        judge(text)


def test_subscribe_is_refused() -> None:
    with pytest.raises(HistoryError, match="consumer-group histories"):
        judge('{:type :invoke, :f :subscribe, :value ["6"], :process 0, :index 0}')
