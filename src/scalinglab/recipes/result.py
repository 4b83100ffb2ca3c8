"""What a recipe returns: :class:`RecipeResult`, its checks (:class:`Check`, made by :func:`check`), figures, notes
and the numbers behind them; and the ``summary.json`` written from it."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any


@dataclasses.dataclass(frozen=True)
class Check:
    """How one measured number compares with the paper or the theory: ``passed`` when within ``tolerance``;
    ``basis`` says where the tolerance comes from, ``reason`` (kept only when the check fails) why a gap is
    expected."""

    name: str
    measured: float
    predicted: float
    tolerance: float
    passed: bool
    basis: str = ""
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The check's row in ``summary.json``: name, measured, predicted, tolerance, ok, basis (and reason)."""
        row = {"name": self.name, "measured": self.measured, "predicted": self.predicted,
               "tolerance": self.tolerance, "ok": self.passed, "basis": self.basis}
        if self.reason and not self.passed:
            row["reason"] = self.reason
        return row


def check(name: str, measured: float, predicted: float, tolerance: float, ok: bool | None = None,
          relative: bool = False, reason: str | None = None, *, basis: str) -> Check:
    """A check; ``ok`` defaults to |measured - predicted| <= tolerance (relative: divided by |predicted|).
    ``reason``, when given, is kept only if the check fails: why the gap is expected."""
    measured, predicted, tolerance = float(measured), float(predicted), float(tolerance)
    if ok is None:
        gap = abs(measured - predicted)
        if relative:
            gap /= abs(predicted) if predicted else 1.0
        ok = bool(math.isfinite(gap) and gap <= tolerance)
    return Check(name, measured, predicted, tolerance, bool(ok), basis, reason if reason and not ok else None)


@dataclasses.dataclass
class RecipeResult:
    """A recipe's outcome: its checks, its figures (title: PNG path), notes, and the numbers behind them
    (``tables``: title: rows of a table on the page)."""

    checks: list[Check]
    figures: dict[str, Path] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> int:
        return sum(c.passed for c in self.checks)

    def summary(self, recipe_id: str, paper: str, quick: bool) -> dict[str, Any]:
        """``summary.json``: id, paper, quick, checks (rows of :meth:`Check.as_dict`), passed and figures (title:
        file name)."""
        return {"id": recipe_id, "paper": paper, "quick": bool(quick), "checks": [c.as_dict() for c in self.checks],
                "passed": self.passed, "figures": {k: Path(v).name for k, v in self.figures.items()}}
