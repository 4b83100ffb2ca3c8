"""Training curves: many rows per run, one per checkpoint (``step``). A scaling law wants one loss per run
(the last checkpoint, or the best), or every checkpoint for a fit of the whole trajectory."""

from __future__ import annotations

import numpy as np

from scalinglab.errors import DataError, SpecError

CHECKPOINTS = ("last", "best", "all")


def select(columns: dict[str, np.ndarray], *, step: str, y: str, checkpoint: str = "last", run: str | None = None,
           path: str = "data", warnings: list[str] | None = None) -> dict[str, np.ndarray]:
    """Keep each run's last checkpoint (largest ``step`` with a finite ``y``), its best (smallest ``y``), or
    ``all`` rows. Runs are told apart by the column ``run`` (default: a column named ``run``, else every row
    with the same values of the text columns)."""
    if checkpoint not in CHECKPOINTS:
        raise SpecError(f"must be one of {', '.join(CHECKPOINTS)}, got {checkpoint!r}", param="checkpoint")
    for name, param in ((step, "step"), (y, "y")):
        if name not in columns:
            raise DataError(f"{path} has no column {name!r} (columns: {', '.join(columns)})", param=param)
        if columns[name].dtype == object:
            raise DataError(f"column {name!r} of {path} is not numeric", param=param)
    if checkpoint == "all":
        return columns
    if run is not None and run not in columns:
        raise DataError(f"{path} has no column {run!r} (columns: {', '.join(columns)})", param="run")
    keys = [run] if run else (["run"] if "run" in columns else [n for n, c in columns.items() if c.dtype == object])
    n = len(columns[step])
    labels = list(zip(*(columns[k] for k in keys), strict=True)) if keys else [()] * n
    finite = np.isfinite(columns[step]) & np.isfinite(columns[y])
    chosen: dict[tuple, int] = {}
    for i in np.flatnonzero(finite):
        key, j = labels[i], chosen.get(labels[i])
        score = columns[step] if checkpoint == "last" else -columns[y]
        if j is None or score[i] > score[j]:
            chosen[key] = i
    runs = len(set(labels))
    if len(chosen) < runs and warnings is not None:
        warnings.append(f"{runs - len(chosen)} run(s) without a finite {y} at any checkpoint dropped")
    keep = np.array(sorted(chosen.values()), dtype=int)
    return {k: v[keep] for k, v in columns.items()}
