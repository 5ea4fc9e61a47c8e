"""`python -m peacewatch.cli`: the `peacewatch` command."""

from peacewatch.cli.app import run

run()
