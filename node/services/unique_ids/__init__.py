"""unique-ids: ids unique across all nodes and across restarts, with no coordination.

Messages (PROTOCOL.md):
    generate{}  ->  generate_ok{id}    id = "<node>-<boot>-<counter>", e.g. "n1-3-17"

How: the node id separates nodes; a boot counter in durable storage, incremented and fsynced
at the node's first `init` before the first id is handed out, separates the lives of one node;
an in-memory counter separates the ids of one life. So a node killed at any instant and
restarted never repeats an id: its next life has a larger boot number. The machine is
`core.UniqueIds`; it needs a data directory (`needs_storage`).

Bugs:
    unsynced-boot-counter   the boot counter is persisted but never fsynced: a SIGKILL loses the
                            increment, the restarted node reuses the last boot number and hands
                            out the same ids again (the unique-ids checker sees duplicates)
"""

from __future__ import annotations

from node.service import Canary, ServiceSpec
from node.services.unique_ids.core import BUGS, UNSYNCED_BOOT_COUNTER, UniqueIds

SERVICE = ServiceSpec(
    name="unique-ids",
    summary="ids unique across nodes and restarts from a durable boot counter",
    machine=UniqueIds,
    bugs=BUGS,
    needs_storage=True,
    canaries={UNSYNCED_BOOT_COUNTER: Canary("kill-restart", workload="unique-ids")},
)
