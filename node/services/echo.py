"""echo: the smallest service, a smoke test of the harness.

Messages (PROTOCOL.md):
    echo{echo}  ->  echo_ok{echo}    the same `echo` value, whatever JSON it is

Bugs: none. A missing `echo` field answers error 12 (malformed-request).
"""

from __future__ import annotations

from node.runtime import Node, field
from node.wire import Message

BUGS: dict[str, str] = {}


def install(node: Node, *, bug: str | None) -> None:
    assert bug is None, bug

    async def echo(msg: Message) -> None:
        field(msg, "echo", object)
        await node.reply(msg, {"type": "echo_ok", "echo": msg["body"]["echo"]})

    node.on("echo", echo)
