"""Errors a user can cause. The CLI prints them on one line and exits with status 2.

An error about one argument names it by its Python name (``param``): ``SpecError("must be positive", param="delta")``
reads "delta: must be positive" from the library, and the command line shows the flag instead
("--delta: must be positive", ``cli._app.FLAGS``). Only ``cli/`` knows the flags.
"""

from __future__ import annotations


class ScalingLabError(Exception):
    """Base class of every error caused by user input."""

    def __init__(self, message: str = "", *, param: str | None = None) -> None:
        self.param = param
        self.detail = message
        super().__init__(f"{param}: {message}" if param else message)

    def __reduce__(self):  # across processes (pool and Dask workers) with the parameter kept
        return _rebuild, (type(self), self.detail, self.param)


def _rebuild(cls: type, message: str, param: str | None) -> ScalingLabError:
    return cls(message, param=param)


class SpecError(ScalingLabError, ValueError):
    """A spec (TOML file or keyword arguments) is malformed: the message names the key."""


class DataError(ScalingLabError, ValueError):
    """Measurements or a store are unusable: the message names the column, value or file."""
