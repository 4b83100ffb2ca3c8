"""A fitted law (``FitResult``, with the rows it was fitted to, ``FitData``), the interval rule of its bootstrap
(``widened_percentiles``, ``small_sample_factor``), and what a fit offers beyond its numbers: predictions with
intervals at named sizes, a summary table, its HTML view in Jupyter, and a versioned JSON file (``save``/``load``)
from which the same predictions follow.

A saved fit keeps the point estimate, every bootstrap draw and the in-sample log residuals, so the confidence
and prediction intervals after ``load`` are those before, to the last bit; ``scalinglab extrapolate`` reads it.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import inspect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scalinglab.errors import DataError, SpecError

if TYPE_CHECKING:
    from scalinglab.fit.laws import Law

FORMAT = "scalinglab.fit"  # the "format" key of a saved fit
VERSION = 1  # its "version": raised when a field changes meaning; older versions stay readable


@dataclasses.dataclass(frozen=True)
class FitData:
    """The rows a law was fitted to (and held out from it), with the names of their columns: what
    ``FitResult.plot`` draws and ``FitResult.save`` keeps."""

    X: np.ndarray
    y: np.ndarray
    held_out: np.ndarray
    inputs: tuple[str, ...]
    target: str


@dataclasses.dataclass(frozen=True)
class FitResult:
    """A fitted law with bootstrap standard errors and intervals: rendered by the CLI, plotted by the report."""

    form: str
    params: dict[str, float]
    se: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    derived: dict[str, dict[str, Any]]
    warnings: tuple[str, ...]
    loss: str
    n_points: int
    objective: float
    law: Law = dataclasses.field(repr=False)
    draws: np.ndarray = dataclasses.field(repr=False)
    residuals: np.ndarray = dataclasses.field(repr=False)
    holdout_rmse_log: float | None = None
    widen: float = 1.0  # small-sample factor applied to the bootstrap intervals (see ``small_sample_factor``)
    resample: str = "rows"  # what the bootstrap resampled: residuals, rows or groups
    data: FitData | None = dataclasses.field(default=None, repr=False, compare=False)  # set by fit.pipeline
    diagnostics: dict[str, Any] = dataclasses.field(default_factory=dict)  # see ``fit.diagnostics``
    fixed: tuple[str, ...] = ()  # parameters held at their values (``fit_law(..., fixed=...)``), not fitted

    def predict(self, X: np.ndarray | None = None, /, *, level: float = 0.95, **sizes: Any) -> Any:
        """The fitted loss at sizes ``X`` (n, inputs) as an array; or, given sizes by name (``N=7e10,
        D=1.4e12``, scalars or arrays), a ``fit.results.Prediction`` with the ``level`` confidence interval of
        the curve and prediction interval of a new measurement (``band``)."""
        if X is None:
            return predict_sizes(self, sizes, level)
        return self.law(as_matrix(X, self.law.inputs), self.params)

    def summary(self) -> Any:
        """Parameters and derived quantities with standard errors and 95% intervals, as a pandas DataFrame."""
        return summary(self)

    def _repr_html_(self) -> str:
        return to_html(self)

    def plot(self, ax: Any = None, *, residuals: bool = True) -> Any:
        """Data, law, 95% confidence and prediction bands and a residual panel on ``ax`` (new figure if None);
        returns the main Axes. Leaves matplotlib's backend and rcParams alone."""
        from scalinglab.report.fitplots import plot_on

        return plot_on(self, ax, residuals=residuals)

    def save(self, path: Any) -> Any:
        """Write the fit as versioned JSON (``fit.results.FORMAT``), enough to predict with intervals and plot."""
        return save(self, path)

    @classmethod
    def load(cls, path: Any) -> FitResult:
        """A fit written by ``save`` (or `scalinglab fit --save`); DataError if the file is not one."""
        return load(path)

    def band(self, X: np.ndarray, level: float = 0.95, prediction: bool = False,
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Confidence band of the fitted curve from the bootstrap draws, or (``prediction=True``) the band
        within which a new measurement should fall (bootstrap draws times resampled log residuals)."""
        X = as_matrix(X, self.law.inputs)
        if len(self.draws) < 2:
            pred = self.predict(X)
            return pred, pred
        draws = {n: self.draws[:, j] for j, n in enumerate(self.law.names)}
        preds = self.law(X, draws)  # (n, B)
        if prediction:
            # In-sample residuals are smaller than new errors by about sqrt((n - p) / n) (p fitted parameters).
            rng = rng or np.random.default_rng(0)
            n, p = len(self.residuals), len(self.law.params) - len(self.fixed)
            inflate = np.sqrt(n / (n - p)) if n > p else 1.0
            # the curve's own spread gets the small-sample widening of the confidence band (in log space):
            # without it, 95% prediction intervals of a broken power law (16 points, 6 parameters) held 85.3% of
            # new points 4x past the data (benchmarks/bench_calibration.py)
            with np.errstate(all="ignore"):
                centre = self.predict(X)[:, None]
                preds = centre * (preds / centre) ** self.widen
            preds = preds * np.exp(inflate * rng.choice(self.residuals, size=preds.shape))
        if prediction:
            q = 100 * (1 - level) / 2
            lo, hi = np.nanpercentile(preds, [q, 100 - q], axis=1)
            return lo, hi
        band = widened_percentiles(preds.T, self.predict(X), self.widen, level)
        return band[0], band[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "params": self.params,
            "se": self.se,
            "ci95": {k: list(v) for k, v in self.ci95.items()},
            "derived": self.derived,
            "warnings": list(self.warnings),
            "loss": self.loss,
            "n_points": self.n_points,
            "n_bootstrap": int(len(self.draws)),
            "resample": self.resample,
            "holdout_rmse_log": self.holdout_rmse_log,
            "fixed": list(self.fixed),
            "diagnostics": {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                            for k, v in self.diagnostics.items()},
        }


def as_matrix(X: np.ndarray, inputs: int) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[1] != inputs:
        raise DataError(f"fit: the law takes {inputs} size column(s), got {X.shape[1]}")
    return X



def small_sample_factor(n: int, p: int) -> float:
    """sqrt(n / (n - p)) t_{n-p}(0.975) / z(0.975): how much wider than the bootstrap percentile interval an
    interval from n observations and p fitted parameters (or n resampled groups, p = 1) should be."""
    from scipy import stats

    dof = n - p
    if dof < 1:
        return 1.0
    return float(np.sqrt(n / dof) * stats.t.ppf(0.975, dof) / stats.norm.ppf(0.975))


def widened_percentiles(draws: np.ndarray, point: np.ndarray, widen: float, level: float = 0.95) -> np.ndarray:
    """Percentile interval of bootstrap draws (k, m) with each side's distance from ``point`` scaled by
    ``widen``; shape (2, m). Parameters bounded at zero keep their lower end at or above zero when the draws do."""
    q = 100 * (1 - level) / 2
    lo, hi = np.nanpercentile(draws, [q, 100 - q], axis=0)
    lo2, hi2 = point - widen * (point - lo), point + widen * (hi - point)
    lo2 = np.where((lo >= 0) & (lo2 < 0), 0.0, lo2)
    return np.vstack([lo2, hi2])


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The fitted loss at ``sizes``, the ``level`` confidence interval of the curve there and the prediction
    interval within which a new measurement should fall (``FitResult.band``). Scalars for scalar sizes."""

    sizes: dict[str, Any]
    loss: Any
    confidence: tuple[Any, Any]
    prediction: tuple[Any, Any]
    level: float

    def to_dict(self) -> dict[str, Any]:
        def plain(v: Any) -> Any:
            return v.tolist() if isinstance(v, np.ndarray) else v

        return {"sizes": {k: plain(v) for k, v in self.sizes.items()}, "loss": plain(self.loss),
                "confidence": [plain(v) for v in self.confidence], "prediction": [plain(v) for v in self.prediction],
                "level": self.level}


def law_inputs(law: Law) -> tuple[str, ...]:
    """The names of a law's size columns: its function's first arguments."""
    return _argument_names(law.func)[: law.inputs]


@functools.cache
def _argument_names(func: Any) -> tuple[str, ...]:
    return tuple(inspect.signature(func).parameters)  # inspect is slow next to a small fit: read once per law


def size_names(fit: FitResult) -> tuple[str, ...]:
    """The names of the size columns: those fitted (``fit.data``), else the law's own argument names."""
    if fit.data is not None:
        return tuple(fit.data.inputs)
    return law_inputs(fit.law)


def predict_sizes(fit: FitResult, sizes: dict[str, Any], level: float = 0.95) -> Prediction:
    """``fit.predict(N=..., D=...)``: each point's intervals depend on that point alone (its own draws)."""
    names = size_names(fit)
    if set(sizes) != set(names):
        missing, unknown = [n for n in names if n not in sizes], [n for n in sizes if n not in names]
        what = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                       unknown and f"unknown {', '.join(unknown)}"]))
        raise SpecError(f"predict: give the sizes {', '.join(names)} by name ({what})")
    if not 0 < level < 1:
        raise SpecError(f"predict: level must lie in (0, 1), got {level}")
    try:
        columns = np.broadcast_arrays(*(np.asarray(sizes[n], dtype=float) for n in names))
    except (TypeError, ValueError):
        raise SpecError(f"predict: sizes must be numbers or arrays of numbers, got {sizes}") from None
    shape = columns[0].shape
    X = np.column_stack([c.ravel() for c in columns])
    if not np.all(np.isfinite(X) & (X > 0)):
        raise SpecError(f"predict: sizes must be positive and finite, got {sizes}")
    point = fit.predict(X)
    bands = np.array([[*fit.band(X[i : i + 1], level), *fit.band(X[i : i + 1], level, prediction=True)]
                      for i in range(len(X))]).reshape(len(X), 4)

    def shaped(v: np.ndarray) -> Any:
        return float(v[0]) if shape == () else v.reshape(shape)

    return Prediction(sizes={n: shaped(X[:, j]) for j, n in enumerate(names)}, loss=shaped(point),
                      confidence=(shaped(bands[:, 0]), shaped(bands[:, 1])),
                      prediction=(shaped(bands[:, 2]), shaped(bands[:, 3])), level=level)


def summary_rows(fit: FitResult) -> list[dict[str, Any]]:
    """One row per parameter, then per derived quantity: name, kind, value, se, ci95_low, ci95_high."""
    rows = [{"name": n, "kind": "parameter", "value": v, "se": fit.se[n], "ci95_low": fit.ci95[n][0],
             "ci95_high": fit.ci95[n][1]} for n, v in fit.params.items()]
    for n, d in fit.derived.items():
        lo, hi = d.get("ci95", (float("nan"), float("nan")))
        rows.append({"name": n, "kind": "derived", "value": d["value"], "se": d.get("se", float("nan")),
                     "ci95_low": lo, "ci95_high": hi})
    return rows


def summary(fit: FitResult) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise DataError("summary: needs pandas: pip install 'scalinglab[io]'") from None
    return pd.DataFrame(summary_rows(fit)).set_index("name")


def to_html(fit: FitResult) -> str:
    """A small table for Jupyter: the law, every parameter with its interval, and the warnings."""
    e = html.escape
    head = (f"<b>{e(fit.form)}</b> ({fit.n_points} points, {e(fit.loss)} loss, {len(fit.draws)} bootstrap refits"
            f" of {e(fit.resample)})")
    if fit.data is not None:
        head += f": {e(fit.data.target)} against {e(', '.join(fit.data.inputs))}"
    cells = "".join(f"<tr><td>{e(r['name'])}{' (derived)' if r['kind'] == 'derived' else ''}</td>"
                    f"<td>{r['value']:.5g}</td><td>{r['se']:.3g}</td>"
                    f"<td>[{r['ci95_low']:.4g}, {r['ci95_high']:.4g}]</td></tr>" for r in summary_rows(fit))
    table = ("<table><tr><th>parameter</th><th>value</th><th>std. error</th><th>95% interval</th></tr>"
             f"{cells}</table>")
    extra = ""
    if fit.holdout_rmse_log is not None:
        extra += f"<p>held-out RMSE of log loss: {fit.holdout_rmse_log:.4g}</p>"
    extra += "".join(f"<p>warning: {e(w)}</p>" for w in fit.warnings)
    return f"<div><p>{head}</p>{table}{extra}</div>"


def to_json(fit: FitResult) -> dict[str, Any]:
    from scalinglab.fit.laws import LAWS

    if LAWS.get(fit.form) is not fit.law:
        raise SpecError(f"save: only fits of the named laws ({', '.join(LAWS)}) can be saved, not {fit.form!r}")
    out = {"format": FORMAT, "version": VERSION, **fit.to_dict(), "objective": fit.objective, "widen": fit.widen,
           "draws": fit.draws.tolist(), "residuals": fit.residuals.tolist(), "data": None}
    if fit.data is not None:
        d = fit.data
        out["data"] = {"inputs": list(d.inputs), "target": d.target, "X": d.X.tolist(), "y": d.y.tolist(),
                       "held_out": d.held_out.tolist()}
    return out


def save(fit: FitResult, path: str | os.PathLike) -> Path:
    """Write ``fit`` as JSON at ``path`` (replaced whole: a failed write leaves the old file)."""
    path = Path(path)
    text = json.dumps(to_json(fit), indent=1)
    if not path.parent.is_dir():
        raise SpecError(f"save: folder {path.parent} of {path} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{path}: cannot write ({err.strerror})") from None
    return path


def load(path: str | os.PathLike) -> FitResult:
    from scalinglab.fit.laws import LAWS

    path = Path(path)
    try:
        d = json.loads(path.read_text())
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise DataError(f"{path}: not a saved fit (not JSON)") from None
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise DataError(f"{path}: not a saved fit (no \"format\": \"{FORMAT}\"; FitResult.save writes one)")
    if not isinstance(d.get("version"), int) or d["version"] > VERSION:
        raise DataError(f"{path}: saved fit version {d.get('version')!r}; this scalinglab reads up to {VERSION}")
    try:
        law = LAWS[d["form"]]
        names = law.names
        data = None
        if d.get("data"):
            g = d["data"]
            data = FitData(X=np.array(g["X"], dtype=float).reshape(-1, law.inputs), y=np.array(g["y"], dtype=float),
                           held_out=np.array(g["held_out"], dtype=bool), inputs=tuple(g["inputs"]),
                           target=g["target"])
        return FitResult(
            form=law.name, params={n: float(d["params"][n]) for n in names},
            se={n: float(d["se"][n]) for n in names}, ci95={n: tuple(map(float, d["ci95"][n])) for n in names},
            derived=d["derived"], warnings=tuple(d["warnings"]), loss=d["loss"], n_points=int(d["n_points"]),
            objective=float(d["objective"]), law=law,
            draws=np.array(d["draws"], dtype=float).reshape(-1, len(names)),
            residuals=np.array(d["residuals"], dtype=float), holdout_rmse_log=d["holdout_rmse_log"],
            widen=float(d["widen"]), resample=d["resample"], data=data, fixed=tuple(d.get("fixed", ())))
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: saved fit is incomplete or malformed ({type(err).__name__}: {err})") from None
