"""Benchmark: what the chaos proxy costs, against a bare pyzmq ROUTER forwarding loop.

    .venv/bin/python bench/proxy.py [--messages N] [--round-trips N] [--size BYTES]

Both forwarders run as their own OS process on loopback, fed by the same client harness (two
DEALERs, `n1` and `n2`, in this process), with the same messages (Maelstrom-shaped JSON padded
to `--size` bytes):
- plain: `python bench/proxy.py --serve-plain`, a ROUTER that receives `[sender, dest, body]`
  and sends `[dest, sender, body]`, nothing else;
- proxy: `python -m chaos.proxy`, with a fault table loaded (a rule for every link, all
  probabilities zero), the grudge empty, and `messages.jsonl` written as in a run. Its peers
  authenticate as a run's do (PLAIN, the run's secret in `CHAOS_RUN_SECRET`), so the figures
  include what admission costs on the hot path: a name looked up for each sender and each
  destination, and the scan of every body for a `chaos_` type.

Throughput: `n1` streams `--messages` messages to `n2`, at most `WINDOW` in flight (so no queue
reaches its high-water mark); the forwarder's own CPU time per message during that stream is
reported too, a figure that other load on a shared machine disturbs far less than wall time.
Latency: `--round-trips` ping-pongs n1 -> n2 -> n1, one at a time; the "added" figures are
the proxy's round-trip percentiles minus the plain loop's.
Targets: throughput at least 0.5x the plain loop's, and under 1 ms added p50.

A benchmark, not a test: it measures, prints, and asserts nothing. Record results in
bench/README.md with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psutil
import zmq

HWM = 1_000_000
WINDOW = 2000  # messages in flight during the throughput run
TIMEOUT_MS = 10_000  # no single wait may take longer: the bench is bounded in time
SECRET = secrets.token_urlsafe(32)  # the proxy's peers present it, as a run's do
RULES = [
    {"src": "*", "dest": "*", "drop_probability": 0.0, "duplicate_probability": 0.0,
     "reorder_probability": 0.0, "delay": None},
    {"src": "n1", "dest": "n2", "drop_probability": 0.0, "duplicate_probability": 0.0,
     "reorder_probability": 0.0, "delay": {"distribution": "constant", "ms": 0}},
]  # fmt: skip


def serve_plain(parent_pid: int) -> None:
    """The baseline: a bare ROUTER forwarding loop with the proxy's socket options."""
    ctx: zmq.Context[Any] = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.SNDHWM, HWM)
    router.setsockopt(zmq.RCVHWM, HWM)
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    print(json.dumps({"endpoint": f"tcp://127.0.0.1:{port}"}), flush=True)
    while os.getppid() == parent_pid:
        if not router.poll(500):
            continue
        for _ in range(1000):
            try:
                sender, dest, body = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            with suppress(zmq.ZMQError):
                router.send_multipart([dest, sender, body], zmq.NOBLOCK)


@contextmanager
def forwarder(kind: str, run_dir: Path) -> Iterator[tuple[str, psutil.Process]]:
    """Start the plain loop or the proxy; yield its data endpoint and process; always stop it."""
    env = {**os.environ, "CHAOS_RUN_SECRET": SECRET}
    if kind == "plain":
        command = [sys.executable, __file__, "--serve-plain", str(os.getpid())]
    else:
        command = [
            sys.executable, "-m", "chaos.proxy", "--run-dir", str(run_dir),
            "--parent-pid", str(os.getpid()), "--epoch-ns", str(time.monotonic_ns()),
            "--seed", "1", "--nodes", "n1,n2",
        ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        if kind == "proxy":
            load_rules(ready["control"])
        yield str(ready["endpoint"]), psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def load_rules(control_endpoint: str) -> None:
    ctx: zmq.Context[Any] = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.PLAIN_USERNAME, b"bench")
    sock.setsockopt(zmq.PLAIN_PASSWORD, SECRET.encode())
    try:
        sock.connect(control_endpoint)
        sock.send(json.dumps({"id": 1, "cmd": "link_faults", "faults": RULES}).encode())
        if not sock.poll(TIMEOUT_MS):
            raise SystemExit("the proxy did not answer link_faults")
        reply = json.loads(sock.recv())
        if not reply["ok"]:
            raise SystemExit(f"the proxy refused the rules: {reply}")
    finally:
        sock.close()


def dealer(ctx: zmq.Context[Any], name: str, endpoint: str, *, kind: str) -> zmq.Socket[Any]:
    """A peer named `name`: by routing id for the plain loop, by PLAIN login for the proxy."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, HWM)
    sock.setsockopt(zmq.RCVHWM, HWM)
    if kind == "proxy":
        sock.setsockopt(zmq.PLAIN_USERNAME, name.encode())
        sock.setsockopt(zmq.PLAIN_PASSWORD, SECRET.encode())
    else:
        sock.setsockopt(zmq.IDENTITY, name.encode())
    sock.connect(endpoint)
    return sock


def message(src: str, dest: str, msg_id: int, size: int) -> bytes:
    body = {"src": src, "dest": dest, "body": {"type": "gossip", "msg_id": msg_id, "pad": ""}}
    raw = json.dumps(body, separators=(",", ":"))
    return raw.replace('"pad":""', '"pad":"' + "x" * max(0, size - len(raw)) + '"').encode()


def recv(sock: zmq.Socket[Any]) -> list[bytes]:
    if not sock.poll(TIMEOUT_MS):
        raise SystemExit("a message did not arrive within the timeout: lost in the forwarder?")
    return sock.recv_multipart()


def wait_connected(n1: zmq.Socket[Any], n2: zmq.Socket[Any]) -> None:
    """Both ids known to the forwarder: each sends to itself until it hears itself."""
    for sock, name in ((n1, b"n1"), (n2, b"n2")):
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while True:
            sock.send_multipart([name, b'{"hello":1}'])
            if sock.poll(20):
                while sock.poll(20):
                    sock.recv_multipart()
                break
            if time.monotonic() > deadline:
                raise SystemExit("the forwarder never routed a message back")


def throughput(n1: zmq.Socket[Any], n2: zmq.Socket[Any], *, count: int, size: int) -> float:
    """Messages per second from n1 to n2, at most WINDOW in flight."""
    payloads = [message("n1", "n2", i, size) for i in range(1, 1001)]
    sent = received = 0
    started = time.perf_counter()
    while received < count:
        while sent < count and sent - received < WINDOW:
            n1.send_multipart([b"n2", payloads[sent % 1000]])
            sent += 1
        if not n2.poll(TIMEOUT_MS):
            raise SystemExit(f"stalled after {received} of {count} messages")
        while received < count:
            try:
                n2.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            received += 1
    return count / (time.perf_counter() - started)


def round_trips(n1: zmq.Socket[Any], n2: zmq.Socket[Any], *, count: int, size: int) -> list[float]:
    """Round-trip times n1 -> n2 -> n1 in microseconds, one message at a time."""
    ping = message("n1", "n2", 1, size)
    pong = message("n2", "n1", 2, size)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        n1.send_multipart([b"n2", ping])
        recv(n2)
        n2.send_multipart([b"n1", pong])
        recv(n1)
        samples.append((time.perf_counter() - started) * 1e6)
    return samples


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_time_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(kind: str, run_dir: Path, args: argparse.Namespace) -> dict[str, float]:
    ctx: zmq.Context[Any] = zmq.Context()
    try:
        with forwarder(kind, run_dir) as (endpoint, process):
            n1 = dealer(ctx, "n1", endpoint, kind=kind)
            n2 = dealer(ctx, "n2", endpoint, kind=kind)
            try:
                wait_connected(n1, n2)
                throughput(n1, n2, count=min(2000, args.messages), size=args.size)  # warm up
                cpu_s = cpu_time_s(process)
                rate = throughput(n1, n2, count=args.messages, size=args.size)
                cpu_us_per_msg = (cpu_time_s(process) - cpu_s) / args.messages * 1e6
                rtts = round_trips(n1, n2, count=args.round_trips, size=args.size)
            finally:
                n1.close()
                n2.close()
    finally:
        ctx.term()
    return {
        "msgs_per_s": rate,
        "cpu_us_per_msg": cpu_us_per_msg,
        "rtt_us_p50": percentile(rtts, 0.50),
        "rtt_us_p99": percentile(rtts, 0.99),
        "rtt_us_mean": statistics.fmean(rtts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=50_000, help="throughput run length")
    parser.add_argument("--round-trips", type=int, default=5_000, help="latency samples")
    parser.add_argument("--size", type=int, default=200, help="message size in bytes")
    parser.add_argument("--serve-plain", type=int, metavar="PARENT_PID", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain is not None:
        serve_plain(args.serve_plain)
        return
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        plain = measure("plain", Path(tmp), args)
        proxy = measure("proxy", Path(tmp), args)
        logged = sum(1 for _ in (Path(tmp) / "messages.jsonl").open())
    print(f"messages {args.messages}, round trips {args.round_trips}, size {args.size} B")
    print(f"{'':8}{'msgs/s':>10}{'cpu us/msg':>12}{'rtt p50 us':>12}{'rtt p99 us':>12}")
    for name, figures in (("plain", plain), ("proxy", proxy)):
        print(
            f"{name:8}{figures['msgs_per_s']:>10.0f}{figures['cpu_us_per_msg']:>12.1f}"
            f"{figures['rtt_us_p50']:>12.0f}{figures['rtt_us_p99']:>12.0f}"
        )
    ratio = proxy["msgs_per_s"] / plain["msgs_per_s"]
    added_p50 = proxy["rtt_us_p50"] - plain["rtt_us_p50"]
    added_p99 = proxy["rtt_us_p99"] - plain["rtt_us_p99"]
    print(f"throughput ratio proxy/plain: {ratio:.2f} (target >= 0.5)")
    print(
        f"added round-trip latency: p50 {added_p50:.0f} us (target < 1000), p99 {added_p99:.0f} us"
    )
    print(f"messages.jsonl lines written by the proxy: {logged}")


if __name__ == "__main__":
    main()
