"""From a table of measurements to a fitted law: the pipeline behind `scalinglab fit DATA`, `report --csv` and
``scalinglab.fit``, so all three give the same numbers.

Read (``fit.data.read_table``: any format; rows with blank or non-finite cells dropped with a warning unless
``strict``), pick one checkpoint per run from training curves (``fit.checkpoints``), derive and filter columns,
hold out the largest sizes, choose the form by held-out error (auto), fit it with a bootstrap, and add the regime
verdict (one size column) or the compute-optimal allocation (two). Where the form was chosen and other candidates
fit about as well (``fit.diagnostics.near_laws``), they are fitted with the same bootstrap too and the result
states the across-law envelope of their 95% prediction intervals one decade past the largest sizes, beside the
chosen law's own: its intervals are conditional on the law, the envelope is not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from scalinglab.errors import SpecError

if TYPE_CHECKING:  # imported where used: `scalinglab --help` and --version load no numerics
    import numpy as np

    from scalinglab.fit.estimate import FitResult
    from scalinglab.fit.laws import Law
    from scalinglab.fit.regimes import Verdict
    from scalinglab.fit.select import Selection


@dataclasses.dataclass(frozen=True)
class FitAnalysis:
    """What `fit DATA` computes: ``result`` is exactly what `fit --json` writes; the rest is for a page.

    ``X`` (n, len(x)) and ``Y`` are the rows fitted or held out (after --define, --where and --drop-highest),
    ``rows`` their line numbers in the CSV, ``held_out`` the mask of the rows held out. ``selection`` and
    ``candidates`` (every candidate form's fit, without bootstrap) are set when the form was chosen (auto).
    """

    result: dict[str, Any]
    fit: FitResult
    X: np.ndarray
    Y: np.ndarray
    held_out: np.ndarray
    rows: np.ndarray
    groups: np.ndarray | None
    y: str
    x: list[str]
    options: dict[str, Any]
    selection: Selection | None = None
    candidates: dict[str, FitResult] = dataclasses.field(default_factory=dict)
    alternatives: dict[str, FitResult] = dataclasses.field(default_factory=dict)  # near laws, bootstrapped
    allocation: list[dict[str, Any]] | None = None
    verdict: Verdict | None = None


def check_fit_options(y: str | None, x: Sequence[str] | None, bootstrap: int, *, predicted: float | None = None,
                      compute: str | None = None) -> None:
    """The fit options that need no data, checked before the data are read."""
    if bootstrap < 0:
        raise SpecError(f"must be non-negative, got {bootstrap}", param="bootstrap")
    if not y or not x:
        raise SpecError("name the loss column (y) and at least one size column (x)", param="y")
    if isinstance(x, str):
        raise SpecError(f"give a list of size columns, such as [{x!r}]", param="x")
    if len(x) > 2:
        raise SpecError(f"at most two size columns, got {len(x)}", param="x")
    if len(x) == 2 and x[0] == x[1]:
        raise SpecError(f"{x[0]} given twice", param="x")
    if predicted is not None and not math.isfinite(predicted):
        raise SpecError(f"must be a finite number, got {predicted}", param="predicted")
    budgets(compute)


def budgets(compute: str | Sequence[float] | None) -> list[float] | None:
    """--compute as a list of budgets: each a positive finite number (a comma-separated string or numbers)."""
    if compute is None or (isinstance(compute, str) and not compute):
        return None
    items = compute.split(",") if isinstance(compute, str) else list(compute)
    out = []
    for v in items:
        try:
            budget = float(v)
        except (TypeError, ValueError):
            raise SpecError(f"{str(v).strip()!r} is not a number; expected comma-separated budgets such "
                            f"as 1e21,1e23, got {compute!r}", param="compute") from None
        if not (math.isfinite(budget) and budget > 0):
            raise SpecError(f"budgets must be positive and finite, got {str(v).strip()!r} in {compute!r}",
                            param="compute")
        out.append(budget)
    return out


def analyse(data: Any, y: str | None, x: Sequence[str] | None, *, form: str | Law = "auto",
            loss: str = "huber-log", delta: float = 1e-3, bootstrap: int = 1000, resample: str = "auto",
            holdout_largest: int = 0, define: Sequence[str] | None = None, where: Sequence[str] | None = None,
            drop_highest: int = 0, group: str | None = None, predicted: float | None = None,
            compute: str | Sequence[float] | None = None, strict: bool = False, step: str | None = None,
            checkpoint: str = "last", run: str | None = None, source: str | None = None, extras: bool = True,
            progress: Callable[[int, int], None] | None = None) -> FitAnalysis:
    """Fit a law to ``data`` (anything ``fit.data.read_table`` reads) as `fit DATA` does, printing nothing.

    ``step``, ``checkpoint`` and ``run`` select checkpoints of training curves (``fit.checkpoints.select``).
    ``progress(done, total)`` is told of the bootstrap. ``source`` names the data in messages. ``extras``: add the
    regime verdict (one size column) or the allocation (two); without, only the law is fitted.
    """
    import numpy as np

    from scalinglab.fit.allocate import compute_optimal
    from scalinglab.fit.checkpoints import select as select_checkpoints
    from scalinglab.fit.data import prepare, read_table
    from scalinglab.fit.estimate import FitData
    from scalinglab.fit.laws import Law, get_law
    from scalinglab.fit.regimes import regime_verdict
    from scalinglab.fit.select import fit_with_holdout, holdout_mask, select_form

    check_fit_options(y, x, bootstrap, predicted=predicted, compute=compute)
    x = list(x)
    define, where = list(define or []), list(where or [])
    name = form.name if isinstance(form, Law) else form
    options = dict(form=name, loss=loss, delta=delta, bootstrap=bootstrap, resample=resample,
                   holdout_largest=holdout_largest, define=define, where=where, drop_highest=drop_highest,
                   group=group, predicted=predicted, compute=compute)
    if source is None:
        source = str(data) if isinstance(data, (str, bytes)) or hasattr(data, "__fspath__") else "data"
    given = budgets(compute) if len(x) == 2 else None
    law = form if isinstance(form, Law) else None if form == "auto" else get_law(form)
    if law is not None and law.inputs != len(x):
        raise SpecError(f"{law.name} takes {law.inputs} size column(s), x gives {len(x)}", param="form")
    data_warnings: list[str] = []
    columns = read_table(data, history=y if step is not None else None)
    if step is not None:
        columns = select_checkpoints(columns, step=step, y=y, checkpoint=checkpoint, run=run, path=source,
                                     warnings=data_warnings)
    X, Y, groups, rows = prepare(columns, y=y, x=x, define=define, where=where, drop_highest=drop_highest,
                                 group=group, path=source, strict=strict, warnings=data_warnings)
    held = holdout_mask(X, holdout_largest)
    kwargs = dict(loss=loss, delta=delta, n_boot=bootstrap, groups=None if groups is None else groups[~held],
                  progress=progress, resample=resample)
    selection, candidates = None, {}
    if law is None:
        selection = select_form(X, Y, holdout_largest, **{**kwargs, "n_boot": 0, "progress": None})
        candidates = selection.fits
        law = get_law(selection.best.form)
    fit_result = fit_with_holdout(law, X, Y, holdout_largest, **kwargs)
    fit_result = dataclasses.replace(fit_result, warnings=(*data_warnings, *fit_result.warnings),
                                     data=FitData(X=X, y=Y, held_out=held, inputs=tuple(x), target=y))
    result: dict[str, Any] = fit_result.to_dict()
    alternatives: dict[str, FitResult] = {}
    if selection is not None:
        result["selection"] = selection.to_dict()
        if bootstrap > 0:
            alternatives, envelope = across_laws(fit_result, selection.scores, X, Y, held, holdout_largest, x,
                                                 kwargs)
            if envelope is not None:
                result["envelope"] = envelope
    allocation = verdict = None
    if not extras:
        pass
    elif X.shape[1] == 2:
        if given is None:
            given = list(np.geomspace(6 * X[:, 0].min() * X[:, 1].min(), 100 * 6 * (X[:, 0] * X[:, 1]).max(), 6))
        allocation = compute_optimal(fit_result, np.array(given))
        result["allocation"] = allocation
    elif X.shape[1] == 1:
        verdict = regime_verdict(X[~held, 0], Y[~held], groups=kwargs["groups"], predicted=predicted,
                                 n_boot=min(bootstrap, 500), loss=loss, delta=delta, resample=resample)
        result["regime"] = verdict.to_dict()
    return FitAnalysis(result=result, fit=fit_result, X=X, Y=Y, held_out=held, rows=rows, groups=groups, y=y, x=x,
                       options=options, selection=selection, candidates=candidates, alternatives=alternatives,
                       allocation=allocation, verdict=verdict)


def across_laws(fit: FitResult, scores: dict[str, float], X: np.ndarray, Y: np.ndarray, held: np.ndarray,
                holdout_largest: int, x: Sequence[str], kwargs: dict[str, Any]
                ) -> tuple[dict[str, FitResult], dict[str, Any] | None]:
    """The other laws that fit about as well as the chosen ``fit``, each fitted with the same options, and the
    envelope of all their 95% prediction intervals at ``FORECAST_FACTOR`` times the largest fitted size of each
    column (None where no other law is near)."""
    from scalinglab.fit.diagnostics import FORECAST_FACTOR, NEAR_TOLERANCE, law_envelope, near_laws
    from scalinglab.fit.laws import get_law
    from scalinglab.fit.select import fit_with_holdout

    others = [n for n in near_laws(scores) if n != fit.form]
    if not others:
        return {}, None
    alternatives = {n: fit_with_holdout(get_law(n), X, Y, holdout_largest, **kwargs) for n in others}
    fits = {fit.form: fit, **alternatives}
    at = FORECAST_FACTOR * X[~held].max(axis=0, keepdims=True)
    env = law_envelope(fits, scores, at)
    lo, hi = fit.band(at, prediction=True)
    return alternatives, {
        "laws": env["laws"], "tolerance": NEAR_TOLERANCE, "at": dict(zip(x, at[0].tolist(), strict=True)),
        "prediction95": [float(env["lower"][0]), float(env["upper"][0])],
        "chosen_prediction95": [float(lo[0]), float(hi[0])],
        "forecasts": {n: float(f.predict(at)[0]) for n, f in fits.items()}}
