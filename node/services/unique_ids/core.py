"""The unique-ids machine: `generate` -> `"<node>-<boot>-<counter>"`, never twice.

The boot number is what `Boot.durable["boot"]` held when the process started, plus one. At the
first `Init` of a process life the machine persists it with `sync=True`, so the driver makes it
durable before `init_ok` goes out and before any `generate` is answered (requests wait for
init). A repeated `Init` in the same life changes nothing. `IdGenerator` is the counter.

    m = UniqueIds(Boot("n1", random.Random(1), durable={"boot": 2}))
    fx = m.step(Init(("n1", "n2")), now_s=0.0)
    fx.persist == {"boot": 3} and fx.sync
"""

from __future__ import annotations

from dataclasses import dataclass

from node.machine import Boot, Machine, Message

UNSYNCED_BOOT_COUNTER = "unsynced-boot-counter"
BUGS = {
    UNSYNCED_BOOT_COUNTER: "the boot counter is written but not fsynced, so a node killed and "
    "restarted hands out ids again",
}


@dataclass
class IdGenerator:
    node_id: str
    boot: int
    counter: int = 0

    def next_id(self) -> str:
        self.counter += 1
        return f"{self.node_id}-{self.boot}-{self.counter}"


class UniqueIds(Machine):
    def __init__(self, boot: Boot) -> None:
        assert boot.bug is None or boot.bug in BUGS, boot.bug
        super().__init__(boot)
        last_boot = boot.durable.get("boot", 0)
        assert isinstance(last_boot, int) and last_boot >= 0, f"a bad boot counter {last_boot!r}"
        self.last_boot = last_boot
        self.ids: IdGenerator | None = None  # set at the first Init

    def on_init(self) -> None:
        if self.ids is not None:
            return  # a repeated init in the same life: this life's boot is already durable
        boot = self.last_boot + 1
        # The bug: the increment reaches memory only, so a SIGKILL loses it.
        self.persist("boot", boot, sync=self.bug != UNSYNCED_BOOT_COUNTER)
        self.ids = IdGenerator(self.node_id, boot)
        self.log("info", "boot", boot=boot)

    def on_generate(self, msg: Message) -> None:
        assert self.ids is not None, "the driver delivers requests only after Init"
        self.reply(msg, {"type": "generate_ok", "id": self.ids.next_id()})
