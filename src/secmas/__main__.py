"""`python -m secmas` runs the command line."""

from secmas.cli.main import run

run()
