"""`python -m mdhub` runs the command line."""

from mdhub.cli.main import app

app()
