"""The stdio adapter: any Maelstrom program as a node of the cluster.

    python -m node.stdio --id n1 --proxy tcp://127.0.0.1:5555 --run-dir RUN \\
        --parent-pid 1234 [--epoch-ns N] -- ./my-node --its-own flags

The adapter holds the node's DEALER (routing id `--id`) and starts CMD. It is a pipe, not a
participant: it speaks no protocol of its own and answers nothing.

- Each message delivered by the proxy is written to CMD's stdin as one JSON line. `chaos_*`
  control messages are dropped (logged): they are for native nodes only, and a third-party
  program may not survive a type it does not know (PROTOCOL.md).
- Each line CMD writes to stdout is parsed as a message and sent to the proxy, routed by its
  `dest`. Unknown envelope keys are kept (Maelstrom adds `id`), and `src` may differ from `--id`
  (Maelstrom's Raft demo forwards a client's message keeping the client's `src`). A line that is
  not a message (a stray debug print) is counted and logged, never fatal.
- CMD's stderr is passed through to the adapter's stderr, i.e. the node's log.
- When CMD exits, the adapter logs `program_exited` and exits with CMD's exit code (128 + N for
  death by signal N). When the adapter is told to stop (SIGTERM, SIGINT, its parent's death),
  it stops CMD (SIGTERM, then SIGKILL after `STOP_GRACE_S`) and exits 0. When the adapter is
  killed outright, the kernel kills CMD: it is spawned with `PR_SET_PDEATHSIG` = SIGKILL from
  the main thread (not through `trio.lowlevel.open_process`, which forks from a worker thread
  whose exit would fire the signal, see `node.lifeline`), and it shares the adapter's process
  group, which the orchestrator signals as a whole.

A CMD that cannot be started is a usage error (exit 2, one line).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import trio

from node import lifeline, wire
from node.log import Logger
from node.options import USAGE_EXIT, OneLineParser, common_options

LINE_MAX = 16 * 1024 * 1024  # a limit on everything: one message line, in bytes
STOP_GRACE_S = 2.0
DRAIN_S = 1.0  # after CMD exits, how long its last stdout lines get to reach the proxy


class Adapter:
    """The pumps between one DEALER and one child process (see the module docstring)."""

    def __init__(
        self,
        node_id: str,
        transport: wire.ZmqTransport,
        process: subprocess.Popen[bytes],
        log: Logger,
    ) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.node_id = node_id
        self.transport = transport
        self.process = process
        self.log = log
        self.stdin = trio.lowlevel.FdStream(os.dup(process.stdin.fileno()))
        self.stdout = trio.lowlevel.FdStream(os.dup(process.stdout.fileno()))
        process.stdin.close()
        process.stdout.close()
        self.stdout_done = trio.Event()
        self.counts = dict.fromkeys(("to_program", "from_program", "malformed", "chaos_dropped"), 0)

    def _malformed(self, where: str, reason: str, sample: bytes) -> None:
        self.counts["malformed"] += 1
        self.log.warning(
            "malformed",
            where=where,
            reason=reason,
            sample=sample[:200].decode(errors="replace"),
            count=self.counts["malformed"],
        )

    async def to_program(self) -> None:
        """Proxy -> CMD's stdin, one JSON line per message."""
        while True:
            try:
                _src, data = await self.transport.receive()
            except trio.EndOfChannel:
                return
            except wire.WireError as e:
                self._malformed("proxy", str(e), b"")
                continue
            try:
                msg = wire.decode(data)
            except wire.WireError as e:
                self._malformed("proxy", str(e), data)
                continue
            if msg["body"]["type"].startswith("chaos_"):
                self.counts["chaos_dropped"] += 1
                self.log.info("chaos_dropped", type=msg["body"]["type"])
                continue
            try:
                # Re-encoded so the line holds no newline whatever the sender's formatting.
                await self.stdin.send_all(wire.encode(msg) + b"\n")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.log.info("program_stdin_closed")
                return
            self.counts["to_program"] += 1

    async def from_program(self) -> None:
        """CMD's stdout -> proxy, routed by each message's `dest`."""
        buffer = bytearray()
        try:
            while True:
                chunk = await self.stdout.receive_some(65536)
                if not chunk:
                    break
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    await self._forward(line)
                if len(buffer) > LINE_MAX:
                    reason = f"a line longer than {LINE_MAX} bytes"
                    self._malformed("program", reason, bytes(buffer[:200]))
                    buffer.clear()
            if buffer.strip():
                await self._forward(bytes(buffer))  # a last line without its newline
        finally:
            self.stdout_done.set()

    async def _forward(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            msg = wire.decode(line)
        except wire.WireError as e:
            self._malformed("program", str(e), line)
            return
        try:
            await self.transport.send(msg["dest"], wire.encode(msg))
        except wire.SendError as e:
            self.log.warning("send_failed", dest=msg["dest"], error=str(e))
            return
        self.counts["from_program"] += 1

    async def wait_program_exit(self) -> int:
        """CMD's exit status as a shell reports it (128 + N for signal N)."""
        try:
            pidfd = os.pidfd_open(self.process.pid)
        except (AttributeError, OSError):
            await trio.to_thread.run_sync(self.process.wait, abandon_on_cancel=True)
        else:
            try:
                await trio.lowlevel.wait_readable(pidfd)
            finally:
                os.close(pidfd)
        code = self.process.wait()
        return 128 - code if code < 0 else code

    async def stop_program(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with trio.move_on_after(STOP_GRACE_S):
            await self.wait_program_exit()
            return
        self.log.warning("program_killed", why=f"still running {STOP_GRACE_S} s after SIGTERM")
        self.process.kill()
        await self.wait_program_exit()

    def close(self) -> None:
        for stream in (self.stdin, self.stdout):
            with contextlib.suppress(OSError):
                stream.close()


def spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
    """Start CMD on this (the main) thread so its parent-death signal is tied to our life."""
    # Popen on purpose, not trio.lowlevel.open_process: see the module docstring.
    return subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=None,
        close_fds=True,
        preexec_fn=lifeline.kill_with_parent,
    )


async def run_adapter(
    *, node_id: str, proxy: str, parent_pid: int, cmd: list[str], log: Logger
) -> int:
    """Run CMD as node `node_id` until it exits or we are told to stop; return the exit code."""
    process = spawn(cmd)
    log.info("start", cmd=cmd, pid=process.pid, proxy=proxy, parent_pid=parent_pid)
    exit_code = 0
    try:
        async with wire.open_node_transport(node_id, proxy) as transport:
            adapter = Adapter(node_id, transport, process, log)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(adapter.to_program)
                    nursery.start_soon(adapter.from_program)

                    async def watch_program() -> None:
                        nonlocal exit_code
                        exit_code = await adapter.wait_program_exit()
                        log.info("program_exited", code=exit_code)
                        with trio.move_on_after(DRAIN_S):
                            await adapter.stdout_done.wait()
                        nursery.cancel_scope.cancel()

                    async def watch_lifeline() -> None:
                        reason = await lifeline.wait_stop_reason(parent_pid, log)
                        log.info("stopping", reason=reason)
                        nursery.cancel_scope.cancel()

                    nursery.start_soon(watch_program)
                    nursery.start_soon(watch_lifeline)
                with trio.CancelScope(shield=True):
                    await adapter.stop_program()
            finally:
                adapter.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log.info("stop", exit_code=exit_code, **adapter.counts)
    return exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = OneLineParser(
        prog="python -m node.stdio",
        usage="python -m node.stdio --id ID --proxy ENDPOINT --run-dir DIR --parent-pid PID "
        "-- CMD [ARGS...]",
    )
    common_options(parser)
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        parser.error("give the node program after `--`, e.g. -- python3 my_node.py")
    split = argv.index("--")
    args = parser.parse_args(argv[:split])
    cmd = argv[split + 1 :]
    log = Logger(args.id, epoch_ns=args.epoch_ns, level=args.log_level)
    try:
        return trio.run(
            lambda: run_adapter(
                node_id=args.id, proxy=args.proxy, parent_pid=args.parent_pid, cmd=cmd, log=log
            )
        )
    except OSError as e:
        if e.filename is None and not isinstance(e, FileNotFoundError | PermissionError):
            raise
        print(
            f"python -m node.stdio: cannot start {cmd[0]!r}: {e.strerror}; check the "
            "command after `--`",
            file=sys.stderr,
        )
        return USAGE_EXIT


if __name__ == "__main__":
    sys.exit(main())
