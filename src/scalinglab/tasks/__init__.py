"""tasks: data distributions that know their ground truth (see ``scalinglab.contracts.Task``)."""

from __future__ import annotations

from scalinglab.errors import SpecError


def sample_count(n) -> int:
    """``n`` of ``Task.sample`` as an int: a non-negative integer, else SpecError naming it (the one check every
    task's ``sample`` makes)."""
    if isinstance(n, bool) or not isinstance(n, (int, float)) or int(n) != n or n < 0:
        raise SpecError(f"n: must be a non-negative integer, got {n!r}")
    return int(n)
