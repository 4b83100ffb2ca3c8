"""Command-line interface: the only package that parses arguments or prints.

``_app`` holds the Typer app and the shared helpers; each module registers its commands on import, and the
import order is the order of ``scalinglab --help``.
"""

import os

# isort: off
from scalinglab.cli import sweep, fit, extrapolate, forecast, plan, papers  # noqa: F401
from scalinglab.cli._app import app

# isort: on

__all__ = ["app", "main"]


def main() -> None:
    # The command line draws figures only to files: the non-interactive backend, unless the user chose one. The
    # library never sets a backend, so a notebook keeps its own.
    os.environ.setdefault("MPLBACKEND", "Agg")
    app()
