"""The Python API for notebooks: ``scalinglab.fit``, ``scalinglab.open_store`` and ``scalinglab.run``.

Each is a thin front to what the command line runs (``fit.pipeline``, ``sweep.store``, ``sweep.runner``), so a
notebook and `scalinglab fit` with the same options give the same numbers.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scalinglab.errors import SpecError

if TYPE_CHECKING:
    from scalinglab.fit.estimate import FitResult
    from scalinglab.fit.laws import Law
    from scalinglab.sweep.spec import Spec
    from scalinglab.sweep.store import Store


def fit(data: Any, y: str, x: str | Sequence[str], form: str | Law = "auto", *, loss: str = "huber-log",
        delta: float = 1e-3, bootstrap: int = 1000, resample: str = "auto", holdout: int = 0,
        drop_highest: int = 0, group: str | None = None, define: Sequence[str] = (), where: Sequence[str] = (),
        strict: bool = False, step: str | None = None, checkpoint: str = "last", run: str | None = None,
        progress: bool = False) -> FitResult:
    """Fit a scaling law to measurements; the same pipeline and numbers as `scalinglab fit`.

    Parameters
    ----------
    data : a pandas DataFrame, a dict of arrays, or a path: CSV, TSV, Parquet (as `scalinglab export` writes it),
        JSON lines, a W&B CSV export, or a local MLflow tracking folder (``fit.data.read_table``).
    y : the loss column.
    x : the size column, or two (N and D) for a joint law such as Chinchilla.
    form : a law name (``scalinglab.fit.laws.LAWS``: power_law, power_law_offset, variance_limited, chinchilla,
        kaplan, m4, broken_power_law, ...), a ``Law``, or "auto": the candidate with the least held-out (with
        ``holdout``) or in-sample RMSE of log loss.
    loss : "huber-log" (Huber on log residuals, threshold ``delta``), "ls" or "asymmetric".
    delta : the Huber threshold on log residuals.
    bootstrap : bootstrap refits for the intervals (0: none).
    resample : what the bootstrap resamples: "residuals", "rows" or "auto" (residuals, but rows under the
        asymmetric loss).
    holdout : hold out the ``holdout`` largest sizes (largest N D for two columns) and report their error.
    drop_highest : drop the ``drop_highest`` highest losses first (diverged runs).
    group : a column whose groups (seeds) the bootstrap resamples whole.
    define : derived columns, such as ``["D=C/(6*N)"]`` (names with spaces in backticks).
    where : row filters, such as ``["split == 'fit'"]``.
    strict : refuse rows with a blank or non-finite cell in the used columns (default: drop them, and say how
        many in ``warnings``).
    step, checkpoint, run : training curves: the step column, which checkpoint per run ("last", "best", or "all"
        for the whole trajectory), and the column naming the run.
    progress : show a progress bar of the bootstrap (rich; works in Jupyter).

    Returns
    -------
    FitResult: parameters with standard errors and 95% intervals, ``predict(N=..., D=...)`` with confidence and
    prediction intervals, ``plot()``, ``summary()``, ``save(path)``.
    """
    from scalinglab.fit.pipeline import analyse

    columns = [x] if isinstance(x, str) else list(x)
    options = dict(form=form, loss=loss, delta=delta, bootstrap=bootstrap, resample=resample,
                   holdout_largest=holdout, drop_highest=drop_highest, group=group, define=list(define),
                   where=list(where), strict=strict, step=step, checkpoint=checkpoint, run=run, extras=False)
    if not progress:
        return analyse(data, y, columns, **options).fit
    with _progress() as bar:
        task = bar.add_task("bootstrap", total=bootstrap)
        return analyse(data, y, columns, progress=lambda done, total: bar.update(task, completed=done, total=total),
                       **options).fit


def open_store(path: str | os.PathLike, *, create: bool = False, readonly: bool = False) -> Store:
    """The store at ``path``: ``experiments()``, ``to_pandas(experiment)``, ``measurements(experiment)``.

    A missing file is refused (a typo must not give an empty store) unless ``create``; ``readonly`` never
    changes the file. Use it as a context manager, or call ``close()``.
    """
    from scalinglab.sweep.store import Store

    return Store(path, create=create, readonly=readonly)


def run(spec: str | os.PathLike | dict | Spec, store: str | os.PathLike | None = None, *, workers: int | None = 1,
        progress: bool = True) -> Store:
    """Run every missing point of ``spec`` (a TOML path, a dict or a ``Spec``) into ``store`` (default:
    NAME.sqlite beside the spec file, or in the working folder), with a progress bar that works in Jupyter.
    Returns the store, opened read-only, for ``to_pandas(spec.name)``. Stored points are never rerun."""
    from scalinglab.extras import check_spec
    from scalinglab.sweep.runner import run_sweep
    from scalinglab.sweep.spec import Spec, load_spec, parse_spec
    from scalinglab.sweep.store import Store

    if isinstance(spec, Spec):
        parsed, folder = spec, Path(".")
    elif isinstance(spec, dict):
        parsed, folder = parse_spec(spec), Path(".")
    elif isinstance(spec, (str, os.PathLike)):
        parsed, folder = load_spec(spec), Path(spec).parent
    else:
        raise SpecError(f"spec: expected a path, a dict or a Spec, got {type(spec).__name__}")
    check_spec(parsed)
    path = Path(store) if store is not None else folder / f"{parsed.name}.sqlite"
    with Store(path) as st, _progress(disable=not progress) as bar:
        task = bar.add_task(parsed.name, total=None)
        run_sweep(parsed, st, workers=workers, progress=lambda done, total: bar.update(task, completed=done,
                                                                                         total=total))
    return Store(path, readonly=True)


def _progress(disable: bool = False):
    """A rich progress bar: in a terminal on stderr, in Jupyter as a live cell output."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    disable=disable)
