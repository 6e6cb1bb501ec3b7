"""`python -m fluxopt` runs the command-line interface."""

from fluxopt.cli import main

main()
