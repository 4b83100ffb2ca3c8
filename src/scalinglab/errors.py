"""Errors a user can cause. The CLI prints them on one line and exits with status 2."""


class ScalingLabError(Exception):
    """Base class of every error caused by user input."""


class SpecError(ScalingLabError, ValueError):
    """A spec (TOML file or keyword arguments) is malformed: the message names the key."""


class DataError(ScalingLabError, ValueError):
    """Measurements or a store are unusable: the message names the column, value or file."""
