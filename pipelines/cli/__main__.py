"""`python -m interactions_etl.cli`: the `interactions` command."""

from interactions_etl.cli import main

main()
