"""The echo machine (`node.services.echo.core`) fed literal events; and the dispatch every
`node.machine.Machine` shares: msg ids, error 10 for an unknown request, error 12 for a
malformed one, unmatched replies dropped."""

from __future__ import annotations

import random
from typing import Any

import pytest

from node.machine import Boot, Effects, Init, Receive
from node.services.echo.core import Echo


def request(body: dict[str, Any], *, src: str = "c1") -> Receive:
    return Receive({"src": src, "dest": "n1", "body": body})


@pytest.fixture
def echo() -> Echo:
    machine = Echo(Boot("n1", random.Random(1)))
    assert machine.step(Init(("n1", "n2")), now_s=0.0) == Effects()
    return machine


@pytest.mark.parametrize("value", [5, "x", True, None, {"hello": [1, 2]}])
def test_echo_answers_the_same_value(echo: Echo, value: Any) -> None:
    fx = echo.step(request({"type": "echo", "echo": value, "msg_id": 7}), now_s=1.0)
    assert fx == Effects(
        messages=[("c1", {"type": "echo_ok", "echo": value, "in_reply_to": 7, "msg_id": 1})]
    )


def test_msg_ids_count_from_one_across_replies(echo: Echo) -> None:
    ids = []
    for n in range(3):
        fx = echo.step(request({"type": "echo", "echo": n, "msg_id": 10 + n}), now_s=0.0)
        ids.append(fx.messages[0][1]["msg_id"])
    assert ids == [1, 2, 3]


def test_unknown_type_is_error_10(echo: Echo) -> None:
    fx = echo.step(request({"type": "frobnicate", "msg_id": 3}), now_s=0.0)
    assert fx.messages == [
        ("c1", {"type": "error", "code": 10, "text": "this node does not support 'frobnicate'",
                "in_reply_to": 3, "msg_id": 1}),
    ]


def test_missing_echo_is_error_12(echo: Echo) -> None:
    fx = echo.step(request({"type": "echo", "msg_id": 4}), now_s=0.0)
    assert fx.messages == [
        ("c1", {"type": "error", "code": 12, "text": "echo: missing field 'echo'",
                "in_reply_to": 4, "msg_id": 1}),
    ]
    assert fx.logs == [("info", "malformed_request", {"type": "echo",
                                                      "why": "missing field 'echo'"})]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "whatever_ok", "in_reply_to": 999},
        {"type": "error", "code": 11, "in_reply_to": 5},
        {"type": "echo_ok", "echo": 1},
    ],
)
def test_unmatched_replies_are_dropped_not_answered(echo: Echo, body: dict[str, Any]) -> None:
    assert echo.step(request(body, src="n2"), now_s=0.0) == Effects()
    assert echo.unmatched_replies == 1


def test_echo_has_no_bugs() -> None:
    with pytest.raises(AssertionError, match="no bug"):
        Echo(Boot("n1", random.Random(1), bug="no-retry"))
