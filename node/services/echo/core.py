"""The echo machine: answers `echo{echo}` with `echo_ok{echo}`; it keeps no state.

    m = Echo(Boot("n1", random.Random(1)))
    m.step(Init(("n1",)), now_s=0.0)
    fx = m.step(Receive({"src": "c1", "dest": "n1",
                         "body": {"type": "echo", "echo": 5, "msg_id": 1}}), now_s=0.0)
    fx.messages == [("c1", {"type": "echo_ok", "echo": 5, "in_reply_to": 1, "msg_id": 1})]
"""

from __future__ import annotations

from node.machine import Boot, Machine, Message, field_of

BUGS: dict[str, str] = {}  # nothing to plant in a smoke test


class Echo(Machine):
    def __init__(self, boot: Boot) -> None:
        assert boot.bug is None, f"echo has no bug {boot.bug!r}"
        super().__init__(boot)

    def on_echo(self, msg: Message) -> None:
        value = field_of(msg, "echo", object)
        self.reply(msg, {"type": "echo_ok", "echo": value})
