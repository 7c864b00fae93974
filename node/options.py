"""Command-line options shared by `python -m node` and `python -m node.stdio`.

Both follow docs/internals.md; a usage error is one line on stderr naming the option and the
fix, and exit 2 (DESIGN.md's exit codes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

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
