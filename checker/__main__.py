"""`python -m checker RUN_DIR|FILE...`: the `chaos check` command, on its own.

Useful where the `chaos` console script is not installed, and for measuring the checker's
whole-process time without the rest of the tool's imports.
"""

from checker.cli import check

if __name__ == "__main__":
    check(prog_name="python -m checker")
