"""Measured, fitted and predicted side by side for one experiment: the content of fits.json and the report."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from scalinglab.contracts import Measurement
from scalinglab.errors import DataError, ScalingLabError
from scalinglab.fit.curves import fit_power_law
from scalinglab.fit.regimes import Grid, curve_verdict, curve_verdicts, curves, fit_regime, fit_slices
from scalinglab.theory.bahri import four_regimes
from scalinglab.theory.slices import VARIANCE_SEPARATION, SlicePrediction, predict_slice


def _limit_curve(measurements: Grid | list[Measurement], key: str, axis: str, sizes: list[int], floor: float,
                 n_boot: int) -> dict[str, Any] | None:
    """Exponent of a closed-form limit curve, L(D, P = inf) against D or L(D = inf, P) against P."""
    grid = Grid.of(measurements)
    cube = grid.extra(key)
    # the limit depends on one size only: every point of a seed at that size carries it; take the last one
    other = 2 if axis == "data" else 1
    last = cube.shape[other] - 1 - np.argmax(np.flip(~np.isnan(cube), axis=other), axis=other)
    per_x = np.take_along_axis(cube, np.expand_dims(last, other), other).squeeze(other)
    along = grid.data if axis == "data" else grid.size
    idx = np.searchsorted(along, sizes)
    ok = (idx < len(along)) & (along[np.minimum(idx, len(along) - 1)] == np.asarray(sizes))
    rows = per_x[:, idx[ok]] if ok.all() else np.empty((0, len(sizes)))
    rows = rows[~np.isnan(rows).any(axis=1)]
    if not len(rows) or len(sizes) < 3:
        return None
    fit = fit_power_law(np.array(sizes), np.array(rows), offset=floor, n_boot=n_boot)
    return {"exponent": fit.exponent, "ci95": list(fit.ci95["alpha"]), "fit": fit.to_dict()}


def _four_regimes(spec: dict[str, Any], measurements: list[Measurement], ds: list[int], ps: list[int],
                  n_boot: int) -> dict[str, Any]:
    """The four regimes of the teacher-student random-feature model, each with its exact limit subtracted."""
    task = spec["task"]
    alpha, noise = float(task["spectrum_exponent"]), float(task.get("noise", 0.0))
    rng = np.random.default_rng(0)
    regimes, problems = {}, []
    for regime in four_regimes(ds, ps, alpha, noise):
        try:
            regimes[regime.name] = fit_regime(measurements, regime, n_boot=n_boot, rng=rng).to_dict()
        except DataError as err:
            problems.append(str(err))
    return {
        "spectrum_exponent": alpha,
        "noise": noise,
        "regimes": regimes,
        "limit_curves": {
            "model_limit_vs_data": _limit_curve(measurements, "loss_model_limit", "data", ds, noise**2, n_boot // 4),
            "data_limit_vs_model": _limit_curve(measurements, "loss_data_limit", "model", ps, noise**2, n_boot // 4),
        },
        "slices": {
            "vs_data": fit_slices(measurements, "data", ds, ps, limit="loss_data_limit"),
            "vs_model": fit_slices(measurements, "model", ds, ps, limit="loss_model_limit"),
        },
        "problems": problems,
    }


def describe(spec: dict[str, Any]) -> tuple[dict[str, float], str, dict[str, float], list[str]]:
    """(task.properties(), model kind, model properties, problems) of a stored spec: the task and model are built
    from it, so theory learns about the task only through ``properties()``."""
    from scalinglab.sweep.spec import parse_spec

    problems: list[str] = []
    task_props: dict[str, float] = {}
    model_props: dict[str, float] = {}
    model_kind = str(spec.get("model", {}).get("kind"))
    try:
        parsed = parse_spec(spec)
    except ScalingLabError as err:
        return task_props, model_kind, model_props, [f"stored spec no longer validates: {err}"]
    try:
        task_props = {k: float(v) for k, v in parsed.task.build().properties().items()}
    except (ScalingLabError, ImportError, OSError) as err:
        problems.append(f"task properties unavailable, so no theory is shown ({type(err).__name__}: {err})")
    try:
        model = parsed.model.build()
        model_props = {k: float(v) for k, v in getattr(model, "properties", dict)().items()}
    except (ScalingLabError, ImportError) as err:
        problems.append(f"model properties unavailable ({type(err).__name__}: {err})")
    return task_props, model_kind, model_props, problems


def _slice_row(measurements: list[Measurement], name: str, axis: str, fixed: int, xs: list[int],
               prediction: SlicePrediction | None, subtract: str | None = None, offset: float | None = None,
               description: str | None = None, n_boot: int = 1000) -> dict[str, Any]:
    """One slice: the law fitted over seeds (its interval and band), the regime verdict and the prediction.

    The law is L = E + A x^-alpha with E the limit theory knows (``offset``, or the prediction's), else fitted.
    ``in_interval`` is whether the predicted exponent lies in the measured 95% interval (None: no prediction).
    """
    row = _slice_head(name, axis, fixed, xs, prediction, subtract, offset, description)
    offset = row["offset"]
    curves_ = curves(measurements, "data" if axis == "data" else "model", fixed, tuple(xs), subtract)
    if len(xs) < 3 or curves_.shape[0] == 0:
        row["error"] = f"{row['description']}: needs at least 3 sizes measured on every point by some seed"
        return row
    try:
        verdict = curve_verdict(np.array(xs, dtype=float), curves_, limit=offset, predicted=row["predicted"],
                                n_boot=n_boot, rng=np.random.default_rng(0))
    except DataError as err:
        verdict = err
    return _slice_verdict(row, xs, curves_, verdict)


def _slice_head(name: str, axis: str, fixed: int, xs: list[int], prediction: SlicePrediction | None,
                subtract: str | None, offset: float | None, description: str | None) -> dict[str, Any]:
    """A slice row before its fit: what it is, its law and its prediction."""
    size = "D" if axis == "data" else "N"
    other = "N" if axis == "data" else "D"
    description = description or f"L({size}) at {other} = {fixed}"
    row: dict[str, Any] = {"name": name, "axis": axis, "fixed": fixed, "xs": list(xs), "description": description,
                           "subtract": subtract}
    if prediction is not None and offset is None:
        offset = prediction.offset
    row["offset"] = offset
    row["law"] = "E + A x^-alpha, E fitted" if offset is None else (
        "A x^-alpha" if offset == 0 else f"{offset:.3g} + A x^-alpha")
    if subtract:
        row["law"] = f"L - {subtract} = {row['law']}"
    row["prediction"] = None if prediction is None else prediction.to_dict()
    row["predicted"] = None if prediction is None else prediction.exponent
    row["prediction_source"] = "" if prediction is None else prediction.source
    return row


def _slice_verdict(row: dict[str, Any], xs: list[int], curves_: np.ndarray, verdict: Any) -> dict[str, Any]:
    """``row`` completed with its verdict (or the DataError of its fit)."""
    if isinstance(verdict, DataError):
        row["error"] = f"{row['description']}: {verdict}"
        return row
    fit = verdict.fit
    fx = np.geomspace(min(xs), max(xs), 40)
    lo, hi = fit.band(fx)
    row.update(verdict.to_dict())
    row["fit"] = fit.to_dict()
    row["band"] = {"x": fx.tolist(), "lo": lo.tolist(), "hi": hi.tolist()}
    row["n_seeds"] = int(curves_.shape[0])
    predicted = row["predicted"]
    row["in_interval"] = None if predicted is None or not np.isfinite(predicted) else bool(
        row["ci95"][0] <= predicted <= row["ci95"][1])
    return row


def _slice_verdicts(measurements: Grid, axis: str, others: list[int], xs: list[int], n_boot: int) -> list[dict]:
    """The verdict of every slice along ``axis`` (E fitted, no prediction), as :func:`_slice_row` gives it, the
    bootstrap refits of all slices solved together."""
    rows, todo = [], []
    for other in others:
        row = _slice_head(f"{axis}@{other}", axis, other, xs, None, None, None, None)
        y = curves(measurements, "data" if axis == "data" else "model", other, tuple(xs))
        rows.append(row)
        if y.shape[0] == 0:
            row["error"] = f"{row['description']}: needs at least 3 sizes measured on every point by some seed"
        else:
            todo.append((row, y))
    verdicts = curve_verdicts(np.array(xs, dtype=float), [y for _, y in todo], limit=None, n_boot=n_boot)
    for (row, y), verdict in zip(todo, verdicts, strict=True):
        _slice_verdict(row, xs, y, verdict)
    return rows


def analyse(spec: dict[str, Any], measurements: Grid | list[Measurement] | Mapping[str, Any],
            n_boot: int = 1000) -> dict[str, Any]:
    """Measured, fitted and predicted for any stored experiment (the content of fits.json and the report).

    ``rows``: the slices theory speaks about (for the teacher-student random-feature model its four regimes,
    with the exact limits subtracted; otherwise L(D) at the largest model size and L(size) at the largest D, plus
    any variance-limited slice theory predicts), each with the fitted law, its interval, the regime verdict and
    the prediction from ``theory.slices`` (or why there is none). ``slice_verdicts``: every slice of the grid
    with its law and verdict. ``spec`` is the stored spec (a dict).
    """
    measurements = Grid.of(measurements)
    if not len(measurements):
        raise DataError(f"experiment {spec.get('name')!r}: no measurements stored yet; run it first")
    # Hundreds of slice fits of small matrix products: one BLAS thread is as fast as several on an idle machine and
    # does not stall (threads waiting on each other) when other processes hold the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyse(spec, measurements, n_boot)


def _analyse(spec: dict[str, Any], measurements: Grid, n_boot: int) -> dict[str, Any]:
    ds = [int(v) for v in measurements.data]
    ps = [int(v) for v in measurements.size]
    task_props, model_kind, model_props, problems = describe(spec)
    task_kind = spec.get("task", {}).get("kind")
    out: dict[str, Any] = {
        "experiment": spec.get("name"),
        "task": spec.get("task", {}),
        "model": spec.get("model", {}),
        "task_properties": task_props,
        "model_properties": model_props,
        "n_seeds": len(measurements.seeds),
        "grid": {"data": ds, "size": ps},
        "interval_rule": "a prediction agrees when it lies inside the measured 95% interval of the exponent "
                         "(bootstrap over seeds, widened by Student's t for the number of seeds)",
    }

    def predict(axis: str, fixed: int, xs: list[int]) -> SlicePrediction | None:
        if not task_props:
            return None
        return predict_slice(task_props, model_kind, model_props, "data" if axis == "data" else "size", fixed, xs)

    rows = []
    if task_kind == "teacher_student" and model_kind == "random_features":
        four = _four_regimes(spec, measurements, ds, ps, n_boot)
        out.update(four)
        problems += four["problems"]
        for name, r in four["regimes"].items():
            xs = [int(v) for v in r["fit"]["x"]]
            source = "Bahri et al. 2024, Theorem 1: variance-limited exponent 1" if name.startswith("variance") else \
                f"Bahri et al. 2024, Eq. 5 and duality: resolution-limited exponent = spectrum exponent " \
                f"{r['predicted']:g}"
            pred = SlicePrediction(r["predicted"], source, r["fit"]["offset_fixed"])
            rows.append(_slice_row(measurements, name, r["axis"], r["fixed"], xs, pred, subtract=r["subtract"],
                                   offset=r["fit"]["offset_fixed"], description=r["description"], n_boot=n_boot))
    else:
        if len(ps) > 1:
            rows.append(_slice_row(measurements, "data_at_largest_size", "data", ps[-1], ds,
                                   predict("data", ps[-1], ds), n_boot=n_boot))
        elif ps:
            rows.append(_slice_row(measurements, "data", "data", ps[0], ds, predict("data", ps[0], ds),
                                   n_boot=n_boot))
        if len(ps) > 1:
            rows.append(_slice_row(measurements, "size_at_largest_data", "size", ds[-1], ps,
                                   predict("size", ds[-1], ps), n_boot=n_boot))
        if model_props.get("random_features"):
            for axis, fixed, xs_all in (("data", ps[0], ds), ("size", ds[0], ps)):
                xs = [x for x in xs_all if x >= VARIANCE_SEPARATION * fixed]
                if len(xs) >= 3:
                    rows.append(_slice_row(measurements, f"variance_limited_{axis}", axis, fixed, xs,
                                           predict(axis, fixed, xs), n_boot=n_boot))
    out["rows"] = rows
    problems += [r["error"] for r in rows if "error" in r]
    verdicts = {"vs_data": [], "vs_size": []}
    for axis, key, others, xs in (("data", "vs_data", ps, ds), ("size", "vs_size", ds, ps)):
        if len(xs) < 3:
            continue
        for row in _slice_verdicts(measurements, axis, others, xs, min(n_boot, 200)):
            if "error" not in row:
                verdicts[key].append({k: row[k] for k in ("fixed", "exponent", "ci95", "regime", "z_vs_1")}
                                     | {"E": row["fit"]["params"]["E"]})
    out["slice_verdicts"] = verdicts
    out["problems"] = problems
    return out


def seed_summary(measurements: list[Measurement], axis: str, fixed: int, xs: list[int],
                 subtract: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 16th/84th percentiles over seeds of a slice, widened to contain the mean (for error bars)."""
    y = curves(measurements, axis, fixed, tuple(xs), subtract)
    if y.shape[0] == 0:
        empty = np.array([])
        return empty, empty, empty, empty
    mean = y.mean(axis=0)
    lo, hi = np.percentile(y, [16, 84], axis=0)
    return np.array(xs, dtype=float), mean, np.minimum(lo, mean), np.maximum(hi, mean)
