"""`python -m chaos` is the `chaos` command."""

from chaos.cli import main

main()
