"""The `interactions` command (pipelines/cli/app.py), its commands one module per group: loads (load, demo),
reports, users (forget-user), admin (migrate, config, dictionary)."""

# isort: off
# Each module registers its commands; `interactions --help` lists them in this order.
from interactions_etl.cli import loads, reports, users, admin  # noqa: F401
from interactions_etl.cli.app import app, main

# isort: on

__all__ = ["app", "main"]
