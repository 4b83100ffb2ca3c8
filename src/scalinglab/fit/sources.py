"""Measurements as experiment trackers keep them: W&B CSV exports and local MLflow tracking folders.

A W&B runs-table export (one row per run: Name, State, config and summary columns) is an ordinary CSV and is
read as one. A W&B chart export is wide: a ``Step`` column and, for each run, ``RUN - METRIC`` with optional
``__MIN`` and ``__MAX`` companions; it is turned into one row per (run, step) with columns ``run``, ``step`` and
one per metric. An MLflow tracking folder (``mlruns``) is read through the ``mlflow`` library (optional extra
``io``): one row per run with its parameters, tags ``run`` and ``experiment``, and the last value of each metric.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from scalinglab.errors import DataError

WANDB_SERIES = re.compile(r"^(?P<run>.+?) - (?P<metric>.+?)(?P<stat>__MIN|__MAX)?$")


def is_wandb(columns: dict[str, np.ndarray]) -> bool:
    """Whether the columns are a W&B chart export: ``Step`` first, then only ``RUN - METRIC`` series."""
    names = list(columns)
    return (len(names) > 1 and names[0] in ("Step", "step")
            and all(WANDB_SERIES.match(n) for n in names[1:]))


def from_wandb(columns: dict[str, np.ndarray], path: Path | str) -> dict[str, np.ndarray]:
    """A W&B chart export as long columns ``run``, ``step`` and one per metric (``__MIN``/``__MAX`` dropped);
    a run's step where it logged nothing is a blank cell."""
    if not is_wandb(columns):
        return columns
    names = list(columns)
    step = columns[names[0]]
    if step.dtype == object:
        raise DataError(f"{path}: column {names[0]!r} of a W&B export is not numeric")
    series: dict[str, dict[str, np.ndarray]] = {}
    for name in names[1:]:
        m = WANDB_SERIES.match(name)
        if m["stat"] is None:
            series.setdefault(m["run"], {})[m["metric"]] = columns[name]
    metrics = list(dict.fromkeys(k for s in series.values() for k in s))
    out: dict[str, list] = {"run": [], "step": [], **{k: [] for k in metrics}}
    for run, values in series.items():
        logged = np.zeros(len(step), dtype=bool)
        for v in values.values():
            logged |= (v != "") if v.dtype == object else np.isfinite(v)
        for i in np.flatnonzero(logged):
            out["run"].append(run)
            out["step"].append(step[i])
            for k in metrics:
                out[k].append(values[k][i] if k in values else np.nan)
    from scalinglab.fit.data import to_column

    return {k: np.array(v, dtype=object) if k == "run" else to_column(v) for k, v in out.items()}


def read_mlflow(folder: Path | str) -> dict[str, np.ndarray]:
    """Every run of a local MLflow tracking folder: columns ``experiment``, ``run`` (the run name), ``run_id``,
    ``status``, each parameter and the last logged value of each metric (blank where a run lacks one)."""
    records = []
    for exp, run, _ in _runs(Path(folder)):
        record = {"experiment": exp.name, "run": run.info.run_name or run.info.run_id, "run_id": run.info.run_id,
                  "status": run.info.status}
        record.update(run.data.params)
        record.update(run.data.metrics)
        records.append(record)
    if not records:
        raise DataError(f"{folder}: no MLflow runs found (is it a tracking folder such as mlruns?)")
    from scalinglab.fit.data import to_column

    names = list(dict.fromkeys(k for r in records for k in r))
    return {n: to_column([r.get(n) for r in records]) for n in names}


def mlflow_history(folder: Path | str, metric: str) -> dict[str, np.ndarray]:
    """The whole logged history of ``metric`` in every run of a local MLflow folder, one row per (run, step):
    columns ``run``, ``step`` and ``metric``, with each run's parameters."""
    records = []
    for _, run, client in _runs(Path(folder)):
        for m in client.get_metric_history(run.info.run_id, metric):
            records.append({"run": run.info.run_name or run.info.run_id, "step": m.step, metric: m.value,
                            **run.data.params})
    if not records:
        raise DataError(f"{folder}: no run logged the metric {metric!r}")
    from scalinglab.fit.data import to_column

    names = list(dict.fromkeys(k for r in records for k in r))
    return {n: to_column([r.get(n) for r in records]) for n in names}


def _runs(folder: Path) -> Iterator[tuple]:
    """(experiment, run, client) for every run, deleted ones included, of the tracking folder."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    from scalinglab.extras import require

    require("mlflow", f"reading the MLflow folder {folder}")
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    with _file_store_allowed():
        client = MlflowClient(tracking_uri=folder.resolve().as_uri())
        for exp in client.search_experiments(view_type=ViewType.ALL):
            for run in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=50000):
                yield exp, run, client


@contextlib.contextmanager
def _file_store_allowed() -> Iterator[None]:
    """MLflow 3 refuses a folder (file store) unless MLFLOW_ALLOW_FILE_STORE is set: reading one is what we
    want, so it is set while we read, then restored."""
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = before
