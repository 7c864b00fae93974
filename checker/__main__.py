"""`python -m checker FILE...`: the `chaos check` command, on its own.

Useful where the `chaos` console script is not installed, and for measuring the checker's
whole-process time without the rest of the tool's imports. It has no workloads (they live in
scenarios/, which the checker does not import), so a run directory is checked here only with
`--model`; `chaos check RUN_DIR` judges it as the run did.
"""

from checker.cli import check

if __name__ == "__main__":
    check(prog_name="python -m checker")
