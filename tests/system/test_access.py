"""Only the run's own processes join its network, `chaos_` control comes only from the
orchestrator, a node gets exactly one `init` however slowly it starts, and a killed proxy leaves
no socket file (issue 7: found items 4, 7 and 8's last point). The run's own processes reach
the proxy by its unix socket (`ready["ipc"]`, issue 8): strangers are refused there too.

Each test failed before: a stranger's DEALER with routing id `n4` cut the real n4 off and the
verdict blamed the system; any client could skew a node's clock; a program that took two
seconds to start got a second `init` and answered it with error 10 (exit 4); a SIGKILLed proxy
left `proxy.sock` in the run directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from chaos.clients import RequestTimeout, open_client
from chaos.supervisor import Cluster
from tests.system.conftest import MAELSTROM_NODES, ROOT, chaos, read_jsonl

pytestmark = pytest.mark.cluster

WAIT_S = 30.0  # for a run to come up, or to end


@contextlib.contextmanager
def running(*args: str, store: Path) -> Iterator[subprocess.Popen[str]]:
    """`chaos run ...` in the background, as a user starts it; killed if the test fails."""
    argv = [sys.executable, "-m", "chaos", "run", *args, "--store", str(store)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def wait_proxy_ready(store: Path) -> tuple[Path, dict[str, Any]]:
    """The run directory and its `proxy.json`, once the proxy of the (only) run is up."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for ready in store.glob("*/*/proxy.json"):
            return ready.parent, json.loads(ready.read_text())
        time.sleep(0.05)  # another process's files: nothing to wait on but the clock
    raise AssertionError(f"no proxy.json under {store} within {WAIT_S:g} s")


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = proc.communicate(timeout=120)
    return proc.returncode, stdout, stderr


def test_a_slow_starting_program_gets_exactly_one_init(store: Path) -> None:
    # slow_start.py sleeps 2 s before reading stdin and answers a second init with error 10.
    # The shell in front also reports whether the program inherited the run's secret.
    program = MAELSTROM_NODES / "slow_start.py"
    node_cmd = (f"sh -c 'echo inherited-secret=${{CHAOS_RUN_SECRET:+yes}} >&2; "
                f"exec python3 {program}'")
    done = chaos("run", "echo", "--node-cmd", node_cmd, "--seed", "1", "--time-limit", "3",
                 "--json", store=store)
    assert done.returncode == 0, done.explain()
    run_dir = done.run_dir
    for node in ("n1", "n2", "n3"):
        log = (run_dir / "nodes" / f"{node}.log").read_text()
        assert log.count("init #") == 1, f"{node}:\n{log}\n{done.explain()}"
        assert "inherited-secret=\n" in log, f"{node}:\n{log}"  # the adapter kept it
    inits = [x["dest"] for x in read_jsonl(run_dir / "messages.jsonl") if x.get("type") == "init"]
    assert sorted(inits) == ["n1", "n2", "n3"], done.explain()


def test_a_stranger_with_a_nodes_id_is_refused_and_the_node_keeps_its_traffic(
    store: Path,
) -> None:
    with running("partition-heal", "--seed", "3", "--time-limit", "5", store=store) as proc:
        run_dir, ready = wait_proxy_ready(store)
        ctx: zmq.Context[Any] = zmq.Context()
        strangers = []
        try:
            # On both data endpoints: TCP loopback, and the unix socket the run's own
            # processes use (its file is the user's only; an abstract one has no file).
            for endpoint in (ready["endpoint"], ready["ipc"]):
                for password in (None, b"a guess"):  # no credentials at all; a wrong secret
                    sock = ctx.socket(zmq.DEALER)
                    sock.setsockopt(zmq.LINGER, 0)
                    sock.setsockopt(zmq.IDENTITY, b"n4")  # what took n4 over before
                    if password is not None:
                        sock.setsockopt(zmq.PLAIN_USERNAME, b"n4")
                        sock.setsockopt(zmq.PLAIN_PASSWORD, password)
                    sock.connect(endpoint)
                    strangers.append(sock)
            clock = {"src": "n4", "dest": "n1", "body": {"type": "chaos_clock", "msg_id": 1,
                                                         "offset_ms": 100000}}
            intruded_ns = time.monotonic_ns()
            for _ in range(10):  # one second of trying
                for sock in strangers:
                    with contextlib.suppress(zmq.Again):  # refused: often nowhere to queue
                        sock.send_multipart([b"n1", json.dumps(clock).encode()], zmq.NOBLOCK)
                time.sleep(0.1)
            assert not any(sock.poll(0) for sock in strangers), "a stranger received something"
        finally:
            for sock in strangers:
                sock.close(linger=0)
            ctx.term()
        code, stdout, stderr = finish(proc)
    explain = f"run {run_dir}\nexit {code}\nstdout:\n{stdout[-3000:]}\nstderr:\n{stderr[-3000:]}"
    assert code == 0, explain  # the system is not blamed for the stranger
    results = json.loads((run_dir / "results.json").read_text())
    assert results["proxy"]["refused"] >= 4, explain
    assert results["proxy"]["forbidden"] == 0, explain  # refused before sending anything
    epoch_ns = json.loads((run_dir / "run.json").read_text())["epoch_ns"]
    to_n4 = [x["time"] for x in read_jsonl(run_dir / "messages.jsonl")
             if x.get("dest") == "n4" and x.get("fate") in ("delivered", "delayed")]
    assert any(t > intruded_ns - epoch_ns + 10**9 for t in to_n4), explain  # n4 kept its id
    assert "refused" in (run_dir / "proxy.log").read_text()


async def test_only_the_orchestrator_sets_a_nodes_clock(tmp_path: Path) -> None:
    async with Cluster(tmp_path, ["n1"], service_argv=["--service", "echo"], node_cmd=None,
                       seed=1, epoch_ns=time.monotonic_ns()) as cluster:
        async with open_client(cluster.ctx, cluster.endpoint, "c7") as client:
            with pytest.raises(RequestTimeout):  # dropped by the proxy: nobody answers
                await client.call("n1", {"type": "chaos_clock", "offset_ms": 100000},
                                  timeout_s=1.0)
            echo = await client.call("n1", {"type": "echo", "echo": "chaos_clock"}, timeout_s=5)
        assert echo["echo"] == "chaos_clock"  # data that merely mentions it goes through
        stats = await cluster.network_stats()
        assert stats["forbidden"] == 1
        clock = await cluster.send_setup("n1", {"type": "chaos_clock"})  # reads the settings
        assert (clock["offset_ms"], clock["rate"]) == (0, 1)


def test_a_killed_proxy_fails_the_run_and_leaves_no_socket_file() -> None:
    # A short store: under pytest's long tmp_path the socket would be abstract (no file).
    with tempfile.TemporaryDirectory(prefix="chaos-", dir="/tmp") as short:
        store = Path(short)
        with running("echo", "--seed", "1", "--time-limit", "5", store=store) as proc:
            run_dir, ready = wait_proxy_ready(store)
            assert ready["control"] == f"ipc://{run_dir.resolve() / 'proxy.sock'}"
            assert ready["ipc"] == f"ipc://{run_dir.resolve() / 'proxy-data.sock'}"
            assert (run_dir / "proxy.sock").is_socket()
            assert (run_dir / "proxy-data.sock").is_socket()
            os.kill(ready["pid"], signal.SIGKILL)
            code, stdout, stderr = finish(proc)
        explain = (f"run {run_dir}\nexit {code}\nstdout:\n{stdout[-3000:]}\n"
                   f"stderr:\n{stderr[-3000:]}")
        assert code == 4, explain  # the harness failed, not the system
        assert not (run_dir / "proxy.sock").exists(), explain
        assert not (run_dir / "proxy-data.sock").exists(), explain
