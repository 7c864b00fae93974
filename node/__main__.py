"""The native node program: `python -m node --id n1 --service NAME --proxy ENDPOINT ...`.

    python -m node --id n1 --service broadcast --proxy tcp://127.0.0.1:5555 \\
        --data RUN/nodes/n1 --run-dir RUN --parent-pid 1234 [--bug no-retry] [--seed 7] \\
        [--epoch-ns N] [--log-level debug]

Options follow docs/internals.md. A bad option exits 2 with one line naming it and the fix
(`--service`/`--bug` are checked against the registry, `node.services`, before trio or zmq are
imported). The service's machine then runs under the driver (`node.native.run_native`) until
SIGTERM or SIGINT (exit 0), or until its parent dies (exit 0, logged as `parent-died`); an
unexpected exception, in the driver or the machine, crashes it with a traceback on stderr and
exit 1. `--epoch-ns` (the run's epoch) is optional: with it, log times are nanoseconds since
the run started.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from node import services
from node.options import OneLineParser, common_options


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
    from node.native import run_native
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
