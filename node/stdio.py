"""The stdio adapter: any Maelstrom program as a node of the cluster.

    python -m node.stdio --id n1 --proxy tcp://127.0.0.1:5555 --run-dir RUN \\
        --parent-pid 1234 [--epoch-ns N] -- ./my-node --its-own flags

The adapter holds the node's DEALER (routing id `--id`) and starts CMD. It is a pipe, not a
participant: it speaks no protocol of its own and answers nothing, except a client whose reply
the program garbled, on the program's behalf (below).

- Each message delivered by the proxy is written to CMD's stdin as one JSON line. `chaos_*`
  control messages are dropped (logged): they are for native nodes only, and a third-party
  program may not survive a type it does not know (PROTOCOL.md).
- Each line CMD writes to stdout is parsed as a message and sent to the proxy, routed by its
  `dest`. Unknown envelope keys are kept (Maelstrom adds `id`), and `src` may differ from `--id`
  (Maelstrom's Raft demo forwards a client's message keeping the client's `src`). Lines of
  only whitespace are skipped, as a JSON Lines reader skips them.
- A stdout line that is not a message (not JSON, not an object, not a valid envelope: what
  `wire.decode` refuses) breaks the protocol, whatever it was meant to be (a reply gone wrong,
  a debug print that belongs on stderr: Maelstrom refuses both). It is counted, logged and
  never fatal, and it reaches the run's verdict through the history: the adapter answers, on
  the program's behalf, the client request the line most plausibly answered, with a
  `stdio_malformed` body naming the node, the stdout line number, the reason and the line
  (truncated to `SAMPLE_CHARS`). The client's workload records that operation as a reply that
  broke the protocol (error `"malformed reply: ..."`, `info`, or `fail` for a read), which
  makes the `replies` checker invalid. Which request (`ReplyLedger`): the one the line names,
  when it is an object whose `dest` and `body.in_reply_to` match a request still unanswered;
  else the oldest unanswered workload request delivered within `ATTRIBUTION_WINDOW_S`; else
  none is waiting (the line came between requests, or before any), and the notice answers the
  next workload request delivered to the program, saying so (`"deferred": true`).
  A guess can only lose precision, never soundness: the operation it lands on ends `info` (or
  `fail` for a read, which changed nothing), which is always safe, and the program's own later
  reply to it reaches the client as an unmatched reply, which the client counts and drops.
  Only workload clients (`c1`, `c2`, ...) are answered: the admin client `c0` (`init`,
  `topology`) never is, so start-up is not disturbed, and a garbage line there is deferred.
  A notice can still miss the history when the client stopped waiting before it arrived
  (counted there as an unmatched reply) or when no request comes after a deferred line (the
  adapter's `stop` log line still counts it).
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
import json
import os
import re
import signal
import subprocess
import sys
from collections import deque
from dataclasses import dataclass

import trio

from node import lifeline, wire
from node.log import Logger
from node.options import USAGE_EXIT, OneLineParser, common_options

LINE_MAX = 16 * 1024 * 1024  # a limit on everything: one message line, in bytes
STOP_GRACE_S = 2.0
DRAIN_S = 1.0  # after CMD exits, how long its last stdout lines get to reach the proxy

# A line that is not a message: how the adapter tells the client (see the module docstring).
MALFORMED_TYPE = "stdio_malformed"  # the notice's body type; scenarios.workload knows it too
SAMPLE_CHARS = 100  # how much of the offending line a notice and the log carry
# A request delivered longer ago than this is no longer presumed awaited: its client has most
# likely timed out (the scenarios' default `request_timeout_s` is 1 s), and a notice to it
# would be dropped unseen. A line that finds no request this young is deferred instead.
ATTRIBUTION_WINDOW_S = 1.0
WAITING_MAX = 4096  # clients remembered with an unanswered request (one each, PROTOCOL.md)
DEFERRED_MAX = 64  # lines waiting for a request to answer; older ones are only counted
WORKLOAD_CLIENT = re.compile(r"c[1-9][0-9]*")  # `c0` is the orchestrator's admin client


@dataclass(frozen=True)
class BadLine:
    """One stdout line that is not a message: where it came, why, and a sample of it."""

    line_number: int  # counted from 1 over everything CMD wrote to stdout, blank lines too
    reason: str
    sample: str
    hint: tuple[str, int] | None  # (dest, in_reply_to) when the line names a request

    @classmethod
    def of(cls, line: bytes, line_number: int, reason: str) -> BadLine:
        text = line.decode(errors="replace")
        sample = text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "..."
        return cls(line_number, reason, sample, _named_request(line))

    def notice(self, node_id: str, client: str, msg_id: int, *, deferred: bool) -> bytes:
        """The message that answers `client`'s request `msg_id` on the program's behalf."""
        body = {
            "type": MALFORMED_TYPE,
            "in_reply_to": msg_id,
            "node": node_id,
            "line_number": self.line_number,
            "reason": self.reason,
            "line": self.sample,
            "deferred": deferred,
        }
        return wire.encode({"src": node_id, "dest": client, "body": body})


def _named_request(line: bytes) -> tuple[str, int] | None:
    """`(dest, body.in_reply_to)` of a line that is an object naming them, else None."""
    try:
        msg = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(msg, dict) or not isinstance(msg.get("body"), dict):
        return None
    dest, reply_to = msg.get("dest"), msg["body"].get("in_reply_to")
    if isinstance(dest, str) and isinstance(reply_to, int) and not isinstance(reply_to, bool):
        return dest, reply_to
    return None


class ReplyLedger:
    """Which workload requests the program was given and has not answered: the candidates a
    bad line may have been meant to answer. Pure bookkeeping; times are trio's clock, in s.

    A client has one request outstanding (PROTOCOL.md), so the ledger keeps one per client,
    in the order they were delivered: a newer request from a client means it gave up on the
    older one.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[int, float]] = {}  # client -> (msg_id, delivered at)
        self._deferred: deque[BadLine] = deque(maxlen=DEFERRED_MAX)

    def delivered(self, msg: wire.Message, now: float) -> BadLine | None:
        """A message went to the program. When it is a workload request and a bad line is
        waiting for one, that line is returned: the caller answers the request with it."""
        src, msg_id = msg["src"], msg["body"].get("msg_id")
        if not WORKLOAD_CLIENT.fullmatch(src) or not isinstance(msg_id, int):
            return None
        self._waiting.pop(src, None)
        if self._deferred:
            return self._deferred.popleft()
        self._waiting[src] = (msg_id, now)
        while len(self._waiting) > WAITING_MAX:
            del self._waiting[next(iter(self._waiting))]
        return None

    def answered(self, msg: wire.Message) -> None:
        """The program sent a message: if it answers a waiting request, that one is done."""
        dest, reply_to = msg["dest"], msg["body"].get("in_reply_to")
        if reply_to is not None and self._waiting.get(dest, (None,))[0] == reply_to:
            del self._waiting[dest]

    def claim(self, bad: BadLine, now: float) -> tuple[str, int] | None:
        """The request `bad` most plausibly answered, taken off the ledger; None when no
        request is waiting, in which case `bad` is kept for the next one (`delivered`)."""
        if bad.hint is not None:
            client, reply_to = bad.hint
            if self._waiting.get(client, (None,))[0] == reply_to:
                del self._waiting[client]
                return client, reply_to
        for client, (msg_id, at) in self._waiting.items():  # oldest first
            if now - at <= ATTRIBUTION_WINDOW_S:
                del self._waiting[client]
                return client, msg_id
        self._deferred.append(bad)
        return None

    @property
    def deferred_count(self) -> int:
        return len(self._deferred)


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
        self.ledger = ReplyLedger()
        self.line_number = 0  # stdout lines read from CMD
        self.counts = dict.fromkeys(
            (
                "to_program",
                "from_program",
                "malformed",  # stdout lines of CMD that are not messages: protocol breaks
                "answered_for_program",  # notices sent to clients for such lines
                "proxy_garbage",  # frames from the proxy that are not messages (not CMD's)
                "chaos_dropped",
            ),
            0,
        )

    async def to_program(self) -> None:
        """Proxy -> CMD's stdin, one JSON line per message."""
        while True:
            try:
                _src, data = await self.transport.receive()
            except trio.EndOfChannel:
                return
            except wire.WireError as e:
                self._proxy_garbage(str(e), b"")
                continue
            try:
                msg = wire.decode(data)
            except wire.WireError as e:
                self._proxy_garbage(str(e), data)
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
            bad = self.ledger.delivered(msg, trio.current_time())
            if bad is not None:  # an earlier bad line, answered now: the program got this one
                await self._answer(bad, msg["src"], msg["body"]["msg_id"], deferred=True)

    def _proxy_garbage(self, reason: str, sample: bytes) -> None:
        self.counts["proxy_garbage"] += 1
        self.log.warning(
            "malformed",
            where="proxy",
            reason=reason,
            sample=sample[:SAMPLE_CHARS].decode(errors="replace"),
            count=self.counts["proxy_garbage"],
        )

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
                    self.line_number += 1
                    await self._forward(line)
                if len(buffer) > LINE_MAX:
                    self.line_number += 1
                    reason = f"a line longer than {LINE_MAX} bytes"
                    await self._malformed(
                        BadLine.of(bytes(buffer[:SAMPLE_CHARS]), self.line_number, reason)
                    )
                    buffer.clear()
            if buffer.strip():
                self.line_number += 1
                await self._forward(bytes(buffer))  # a last line without its newline
        finally:
            self.stdout_done.set()

    async def _forward(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            msg = wire.decode(line)
        except wire.WireError as e:
            await self._malformed(BadLine.of(line, self.line_number, str(e)))
            return
        self.ledger.answered(msg)
        try:
            await self.transport.send(msg["dest"], wire.encode(msg))
        except wire.SendError as e:
            self.log.warning("send_failed", dest=msg["dest"], error=str(e))
            return
        self.counts["from_program"] += 1

    async def _malformed(self, bad: BadLine) -> None:
        """Count and log a bad stdout line, and answer the request it most plausibly meant to
        answer (or keep it for the next one)."""
        self.counts["malformed"] += 1
        claimed = self.ledger.claim(bad, trio.current_time())
        self.log.warning(
            "malformed",
            where="program",
            line_number=bad.line_number,
            reason=bad.reason,
            sample=bad.sample,
            count=self.counts["malformed"],
            answers=None if claimed is None else f"{claimed[0]}#{claimed[1]}",
        )
        if claimed is not None:
            await self._answer(bad, *claimed, deferred=False)

    async def _answer(self, bad: BadLine, client: str, msg_id: int, *, deferred: bool) -> None:
        try:
            await self.transport.send(
                client, bad.notice(self.node_id, client, msg_id, deferred=deferred)
            )
        except wire.SendError as e:
            self.log.warning("send_failed", dest=client, error=str(e))
            return
        self.counts["answered_for_program"] += 1

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
    secret = wire.take_run_secret()  # before spawning: CMD must not inherit the run's secret
    process = spawn(cmd)
    log.info("start", cmd=cmd, pid=process.pid, proxy=proxy, parent_pid=parent_pid)
    exit_code = 0
    try:
        async with wire.open_node_transport(node_id, proxy, secret=secret) as transport:
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
    log.info(
        "stop",
        exit_code=exit_code,
        unanswered_malformed=adapter.ledger.deferred_count,
        **adapter.counts,
    )
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
