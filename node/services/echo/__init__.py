"""echo: the smallest service, a smoke test of the harness.

Messages (PROTOCOL.md):
    echo{echo}  ->  echo_ok{echo}    the same `echo` value, whatever JSON it is

A missing `echo` field is answered with error 12 (malformed-request), any other request type
with error 10 (not-supported). The machine is `core.Echo`.

Bugs: none.
"""

from __future__ import annotations

from node.service import ServiceSpec
from node.services.echo.core import BUGS, Echo

SERVICE = ServiceSpec(
    name="echo",
    summary="answers each echo with the same value: a smoke test of the harness",
    machine=Echo,
    bugs=BUGS,
)
