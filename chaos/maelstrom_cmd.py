"""`chaos maelstrom test`: Maelstrom's command line, run here.

    chaos maelstrom test -w broadcast --bin ./my-node --node-count 5 --time-limit 20 \\
        --rate 100 --latency 100 --nemesis partition [-- ARG...]

Someone who tests a program with `maelstrom test` can type the same options here: each is
translated into `chaos run maelstrom` (`scenarios/maelstrom.toml`: Maelstrom's test, no faults
unless `--nemesis` asks for them), and the run is judged, stored and reported like any other;
its reproduce command is that `chaos run` line. The translation, option by option:

- `-w`, `--workload NAME` (default lin-kv): `--workload NAME`, any workload of `chaos list`;
- `--bin FILE` (required), and arguments after `--`: `--node-cmd 'FILE ARG...'`;
- `--node-count N` (default 5): `--nodes N`;
- `--time-limit S` (default 60), `--rate R` (default 5, all clients together): the same;
- `--concurrency N`, or `Kn` for K clients per node (default 1n): `--concurrency`;
- `--nemesis F,...` and `--nemesis-interval S`: the same (partition, kill, pause; and our
  stop, clock, link);
- `--latency MS`, `--latency-dist D` (constant, uniform, exponential): the same;
- `--availability total|F`: the same: the fraction of operations that must succeed;
- `--log-stderr`, `--log-net-send`, `--log-net-recv`: accepted, and nothing to do: every
  node's stderr is kept in `nodes/<id>.log`, every message in `messages.jsonl`;
- `--topology T` (broadcast), `--key-count N`, `--max-txn-length N`, `--max-writes-per-key N`,
  `--consistency-models M,...` (the txn workloads): `--param topology=T`, `--param keys=N`,
  `--param max_txn_length=N`, `--param max_writes_per_key=N`,
  `--param consistency_models=[...]`; a workload that has no such parameter refuses it (exit 2).

Ours besides: `--seed`, `--store`, `--json`. Usage errors exit 2 with one line naming the option
and the fix; the exit codes are then `chaos run`'s (0 valid, 1 invalid, 3 unknown, 4 harness).
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import click

SCENARIO = "maelstrom"
# Maelstrom's workload options -> our workloads' parameters (`--param`).
PARAMETERS = {
    "topology": "topology",
    "key_count": "keys",
    "max_txn_length": "max_txn_length",
    "max_writes_per_key": "max_writes_per_key",
    "consistency_models": "consistency_models",
}
CONCURRENCY_PER_NODE = re.compile(r"(\d+(?:\.\d+)?)n")


def concurrency_for(value: str, nodes: int, fail_usage: Callable[[str], NoReturn]) -> int:
    """Maelstrom's `--concurrency`: a count, or `Kn` for K clients per node."""
    text = value.strip()
    match = CONCURRENCY_PER_NODE.fullmatch(text)
    try:
        count = round(float(match.group(1)) * nodes) if match else int(text)
    except ValueError:
        fail_usage(f"--concurrency: {value!r} is neither a number of clients nor Kn (K clients "
                   "per node); use such as 10 or 2n")
    if not 1 <= count <= 1000:
        fail_usage(f"--concurrency: {value!r} makes {count} clients; use 1 to 1000")
    return count


class Machinery(NamedTuple):
    """What a test needs of `chaos.cli`, which passes it (`make_maelstrom_group`): this module
    cannot import the CLI, which imports it."""

    build_config: Callable[..., Any]
    execute_run: Callable[..., int]
    fail_usage: Callable[[str], NoReturn]


def make_maelstrom_group(machinery: Machinery) -> click.Group:
    """The `maelstrom` command group, whose tests run with `machinery` (the context's obj)."""
    return click.Group(
        "maelstrom", commands=[test_command], context_settings={"obj": machinery},
        help="Maelstrom's command line: `chaos maelstrom test` takes `maelstrom test`'s options.")


@click.command("test")
@click.option("-w", "--workload", default="lin-kv", show_default=True, help="Workload to run.")
@click.option("--bin", "bin_path", default=None, metavar="FILE",
              help="The program to run as each node (arguments after --).")
@click.option("--node-count", type=click.IntRange(1, 64), default=5, show_default=True,
              help="Number of nodes.")
@click.option("--time-limit", "time_limit_s", type=click.FloatRange(0, 3600, min_open=True),
              default=60.0, show_default=True, help="Seconds of operations.")
@click.option("--rate", type=click.FloatRange(0, 100_000, min_open=True), default=5.0,
              show_default=True, help="Operations per second, all clients together.")
@click.option("--concurrency", default="1n", show_default=True,
              help="Clients: a number, or Kn for K per node.")
@click.option("--nemesis", default=None, metavar="F,F,...",
              help="Faults to inject, comma-separated (partition, kill, pause, ...).")
@click.option("--nemesis-interval", "nemesis_interval_s", type=float, default=None,
              metavar="S", help="Seconds between faults (default 10).")
@click.option("--latency", "latency_ms", type=float, default=None, metavar="MS",
              help="Network latency of every message, in ms.")
@click.option("--latency-dist", default=None,
              help="Latency distribution: constant, uniform or exponential.")
@click.option("--availability", default=None,
              help="total, or the fraction of operations that must succeed.")
@click.option("--log-stderr", is_flag=True, help="Accepted: node stderr is always kept.")
@click.option("--log-net-send", is_flag=True, help="Accepted: messages are always kept.")
@click.option("--log-net-recv", is_flag=True, help="Accepted: messages are always kept.")
@click.option("--topology", default=None, help="Broadcast's topology (grid, line, tree4, ...).")
@click.option("--key-count", type=click.IntRange(1), default=None,
              help="Txn workloads: keys in use at once.")
@click.option("--max-txn-length", type=click.IntRange(1), default=None,
              help="Txn workloads: micro-operations per transaction, at most.")
@click.option("--max-writes-per-key", type=click.IntRange(1), default=None,
              help="Txn workloads: writes to one key before it is retired.")
@click.option("--consistency-models", default=None, metavar="M,...",
              help="Txn workloads: the models to check (default strict-serializable).")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="Seed for every random choice (default: a fresh one, printed).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path), default=Path("logs"),
              show_default=True, help="Root of the run store.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary object.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def test_command(machinery: Machinery, workload: str, bin_path: str | None,
                 node_count: int, time_limit_s: float, rate: float, concurrency: str,
                 nemesis: str | None,
                 nemesis_interval_s: float | None, latency_ms: float | None,
                 latency_dist: str | None, availability: str | None, log_stderr: bool,
                 log_net_send: bool, log_net_recv: bool, seed: int | None, store: Path,
                 as_json: bool, args: tuple[str, ...], **workload_parameters: Any) -> None:
    """Run a Maelstrom test: `maelstrom test`'s options, `chaos run`'s judgement."""
    build_config, execute_run, fail_usage = machinery
    params = {PARAMETERS[name]: value for name, value in workload_parameters.items()
              if value is not None}
    if "consistency_models" in params:
        params["consistency_models"] = [
            m.strip() for m in str(params["consistency_models"]).split(",") if m.strip()]
    if bin_path is None:
        fail_usage("--bin is required: the program to run as each node, such as --bin "
                   "./my-node (its arguments after --)")
    node_cmd = shlex.join([bin_path, *args])
    config = build_config(
        SCENARIO, seed=seed, time_limit_s=time_limit_s, nodes=node_count, workload=workload,
        service=None, node_cmd=node_cmd, bug=None, rate=rate,
        concurrency=concurrency_for(concurrency, node_count, fail_usage), store=store,
        nemesis=nemesis, nemesis_interval_s=nemesis_interval_s, latency_ms=latency_ms,
        latency_dist=latency_dist, availability=availability, params=params,
    )
    sys.exit(execute_run(config, as_json=as_json))
