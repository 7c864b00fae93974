"""The native node program: `python -m node --id n1 --service NAME --proxy ENDPOINT ...`.

    python -m node --id n1 --service broadcast --proxy tcp://127.0.0.1:5555 \\
        --data RUN/nodes/n1 --run-dir RUN --parent-pid 1234 [--bug no-retry] [--seed 7] \\
        [--epoch-ns N] [--log-level debug]

Options follow docs/internals.md. A bad option exits 2 with one line naming it and the fix
(`--service`/`--bug` are checked against `node.services`). The node then runs until SIGTERM or
SIGINT (exit 0), or until its parent dies (exit 0, logged as `parent-died`); an unexpected
exception crashes it with a traceback on stderr and exit 1. `--epoch-ns` (the run's epoch) is
optional: with it, log times are nanoseconds since the run started.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from node import services

USAGE_EXIT = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_EXIT, f"{self.prog}: error: {message} (see --help)\n")


def endpoint(text: str) -> str:
    if not text.startswith(("tcp://", "ipc://")):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a zmq endpoint like tcp://127.0.0.1:5555"
        )
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def node_id(text: str) -> str:
    if not text or not text.isprintable() or " " in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a node id like n1")
    return text


def common_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `python -m node` and `python -m node.stdio`."""
    parser.add_argument("--id", required=True, type=node_id, help="this node's id, e.g. n1")
    parser.add_argument("--proxy", required=True, type=endpoint, help="the proxy's endpoint")
    parser.add_argument("--run-dir", required=True, type=Path, help="the run directory")
    parser.add_argument(
        "--parent-pid", required=True, type=positive_int, help="exit when this process dies"
    )
    parser.add_argument(
        "--epoch-ns", type=int, default=0, help="the run's epoch (time.monotonic_ns) for log times"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = OneLineParser(prog="python -m node", description=__doc__.split("\n")[0])
    common_options(parser)
    parser.add_argument(
        "--service", required=True, help=f"one of {', '.join(sorted(services.SERVICES))}"
    )
    parser.add_argument("--data", required=True, type=Path, help="durable data directory")
    parser.add_argument("--bug", default=None, help="plant a known defect (see chaos list)")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    args = parser.parse_args(argv)
    try:
        services.check(args.service, args.bug)
    except services.UnknownServiceError as e:
        parser.error(f"--{'bug' if args.service in services.SERVICES else 'service'}: {e}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    import trio  # after validation: a usage error stays fast and light

    from node.log import Logger
    from node.runtime import run_native
    from node.storage import StorageError

    log = Logger(args.id, epoch_ns=args.epoch_ns, level=args.log_level)
    try:
        trio.run(
            lambda: run_native(
                node_id=args.id,
                service=args.service,
                bug=args.bug,
                proxy=args.proxy,
                data_dir=args.data,
                parent_pid=args.parent_pid,
                seed=args.seed,
                log=log,
            )
        )
    except StorageError as e:
        log.error("storage", error=str(e))
        print(f"python -m node: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
