"""``python -m esctl``."""

from esctl.cli import main

main()
