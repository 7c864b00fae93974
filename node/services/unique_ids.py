"""unique-ids: ids unique across all nodes and across restarts, with no coordination.

Messages (PROTOCOL.md):
    generate{}  ->  generate_ok{id}    id = "<node>-<boot>-<counter>", e.g. "n1-3-17"

How: the node id separates nodes; a boot counter in durable storage, incremented and fsynced
before the first id is handed out, separates the lives of one node; an in-memory counter
separates the ids of one life. So a node killed at any instant and restarted never repeats
an id: its next life has a larger boot number. `IdGenerator` is the pure core.

Bugs:
    unsynced-boot-counter   the boot counter is written but never fsynced: a SIGKILL loses the
                            increment, the restarted node reuses the last boot number and hands
                            out the same ids again (the unique-ids checker sees duplicates)
"""

from __future__ import annotations

from dataclasses import dataclass

from node.runtime import Node
from node.wire import Message

BUGS = {
    "unsynced-boot-counter": "the boot counter is written but not fsynced, so a node killed and "
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


def install(node: Node, *, bug: str | None) -> None:
    assert bug is None or bug in BUGS, bug
    assert node.storage is not None, "unique-ids needs durable storage (--data)"
    boot = int(node.storage.get("boot", 0)) + 1
    node.storage.set("boot", boot)
    if bug != "unsynced-boot-counter":
        node.storage.sync()  # durable before any id of this life is handed out
    ids = IdGenerator(node.node_id, boot)
    node.log.info("boot", boot=boot)

    async def generate(msg: Message) -> None:
        await node.reply(msg, {"type": "generate_ok", "id": ids.next_id()})

    node.on("generate", generate)
