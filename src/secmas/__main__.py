"""`python -m secmas` runs the command line."""

from secmas.console import run

run()
