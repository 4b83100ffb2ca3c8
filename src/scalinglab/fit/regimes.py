"""Fit the regimes of a (D, size) grid: each regime is a slice, fitted with a bootstrap over seeds."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from scalinglab.contracts import Measurement
from scalinglab.errors import DataError
from scalinglab.fit.curves import CurveFit, fit_power_law, fit_power_laws


class RegimeLike(Protocol):
    name: str
    axis: str
    fixed: int
    xs: tuple[int, ...]
    subtract: str | None
    offset: float
    predicted: float
    description: str


@dataclasses.dataclass(frozen=True)
class RegimeFit:
    """A regime's measured exponent beside its prediction."""

    name: str
    description: str
    axis: str
    fixed: int
    subtract: str | None
    predicted: float
    fit: CurveFit

    @property
    def exponent(self) -> float:
        return self.fit.exponent

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.fit.ci95["alpha"]
        return {
            "exponent": self.exponent,
            "ci95": [lo, hi],
            "se": self.fit.se["alpha"],
            "predicted": self.predicted,
            "description": self.description,
            "axis": self.axis,
            "fixed": self.fixed,
            "subtract": self.subtract,
            "fit": self.fit.to_dict(),
        }


class Grid:
    """Measurements of one experiment as dense arrays indexed (seed, D, size), for slicing many curves quickly.

    ``loss[s, i, j]`` is the test loss of seed ``seeds[s]`` at D = ``data[i]``, size = ``size[j]`` (NaN where not
    measured); ``extra(key)`` is the same cube of a recorded metric, built on first use. Built once from a list of
    ``Measurement``, or from columns of arrays (``sweep.store.Store.columns``: no object per point), so a report
    over a large grid scans the points once rather than once per slice; ``Grid.of`` returns a Grid unchanged.
    """

    def __init__(self, measurements: list[Measurement]):
        self._ms = measurements
        self._columns: Mapping[str, Any] | None = None
        n = len(measurements)
        d = np.fromiter((m.data_size for m in measurements), dtype=np.int64, count=n)
        p = np.fromiter((m.model_size for m in measurements), dtype=np.int64, count=n)
        s = np.fromiter((m.seed for m in measurements), dtype=np.int64, count=n)
        self._index(d, p, s, np.fromiter((m.test_loss for m in measurements), dtype=float, count=n))

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> Grid:
        """A Grid of columns ``data_size``, ``model_size``, ``seed``, ``train_loss``, ``test_loss``,
        ``wall_seconds`` (arrays of one length) and ``extra`` (a dict of arrays, NaN where not recorded)."""
        grid = cls.__new__(cls)
        grid._ms = None
        grid._columns = columns
        grid._index(*(np.asarray(columns[c]) for c in ("data_size", "model_size", "seed", "test_loss")))
        return grid

    def _index(self, d: np.ndarray, p: np.ndarray, s: np.ndarray, loss: np.ndarray) -> None:
        self._n = d.size
        self.data, di = np.unique(d, return_inverse=True)
        self.size, pi = np.unique(p, return_inverse=True)
        self.seeds, si = np.unique(s, return_inverse=True)
        self._at = (si, di, pi)
        self.loss = self._cube(loss.astype(float, copy=False))
        self._extra: dict[str, np.ndarray] = {}

    @classmethod
    def of(cls, measurements: Grid | Mapping[str, Any] | list[Measurement]) -> Grid:
        if isinstance(measurements, Grid):
            return measurements
        if isinstance(measurements, Mapping):
            return cls.from_columns(measurements)
        return cls(measurements)

    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        if self._ms is not None:
            return iter(self._ms)
        return self._measurements()

    def _measurements(self):
        cols = self._columns
        names = ("data_size", "model_size", "seed", "train_loss", "test_loss", "wall_seconds")
        values = [np.asarray(cols[c]).tolist() for c in names]
        extra = {k: np.asarray(v, dtype=float) for k, v in cols.get("extra", {}).items()}
        for i, row in enumerate(zip(*values, strict=True)):
            yield Measurement(*row, {k: float(v[i]) for k, v in extra.items() if not np.isnan(v[i])})

    def _cube(self, values: np.ndarray) -> np.ndarray:
        cube = np.full((len(self.seeds), len(self.data), len(self.size)), np.nan)
        cube[self._at] = values
        return cube

    def extra(self, key: str) -> np.ndarray:
        """The cube of metric ``key`` (NaN where a point did not record it)."""
        if key not in self._extra:
            if self._ms is None:
                values = self._columns.get("extra", {}).get(key)
                values = np.full(self._n, np.nan) if values is None else np.asarray(values, dtype=float)
            else:
                nan = float("nan")
                values = np.fromiter((m.extra.get(key, nan) for m in self._ms), dtype=float, count=self._n)
            self._extra[key] = self._cube(values)
        return self._extra[key]

    def slice(self, axis: str, fixed: int, xs: tuple[int, ...], values: np.ndarray | None = None) -> np.ndarray:
        """``values`` (the loss cube by default) along ``axis`` at the other size ``fixed``: (n_seeds, len(xs)),
        NaN where a point is missing."""
        cube = self.loss if values is None else values
        along, other = (self.data, self.size) if axis == "data" else (self.size, self.data)
        k = np.searchsorted(other, fixed)
        out = np.full((len(self.seeds), len(xs)), np.nan)
        if k == len(other) or other[k] != fixed:
            return out
        idx = np.searchsorted(along, xs)
        ok = (idx < len(along)) & (along[np.minimum(idx, len(along) - 1)] == np.asarray(xs))
        sub = cube[:, :, k] if axis == "data" else cube[:, k, :]
        out[:, ok] = sub[:, idx[ok]]
        return out


def curves(
    measurements: Grid | list[Measurement], axis: str, fixed: int, xs: tuple[int, ...], subtract: str | None = None
) -> np.ndarray:
    """Per-seed curves along ``axis`` at the other size ``fixed``: array (n_seeds, len(xs)).

    Only seeds that have every point of the slice are used (with the metric ``subtract`` recorded on each).
    """
    grid = Grid.of(measurements)
    y = grid.slice(axis, fixed, tuple(xs))
    if subtract:
        y = y - grid.slice(axis, fixed, tuple(xs), grid.extra(subtract))
    return y[~np.isnan(y).any(axis=1)].reshape(-1, len(xs))


def fit_regime(measurements: Grid | list[Measurement], regime: RegimeLike, n_boot: int = 1000,
               rng: np.random.Generator | None = None) -> RegimeFit:
    """Fit one regime's slice: a pure power law after subtracting a limit, or the loss over a known offset."""
    if len(regime.xs) < 3:
        raise DataError(f"{regime.name}: only {len(regime.xs)} grid sizes fall in this regime; widen the grid")
    y = curves(measurements, regime.axis, regime.fixed, regime.xs, regime.subtract)
    if y.shape[0] == 0:
        raise DataError(f"{regime.name}: no seed has every point of the slice {regime.description}")
    fit = fit_power_law(np.array(regime.xs), y, offset=regime.offset, n_boot=n_boot, rng=rng)
    return RegimeFit(regime.name, regime.description, regime.axis, regime.fixed, regime.subtract, regime.predicted, fit)


def fit_slices(measurements: Grid | list[Measurement], axis: str, data_sizes: list[int], model_sizes: list[int],
               separation: float = 8.0, limit: str | None = None, n_boot: int = 100) -> list[dict[str, Any]]:
    """Fit L = E + A x^-alpha with E free on every slice along ``axis`` where x >= separation * other.

    When ``limit`` names the closed-form limit recorded with each point, the fitted offset E is reported beside it.
    """
    measurements = Grid.of(measurements)
    xs_all, others = (data_sizes, model_sizes) if axis == "data" else (model_sizes, data_sizes)
    out = []
    for other in others:
        xs = tuple(x for x in xs_all if x >= separation * other)
        if len(xs) < 4:
            continue
        y = curves(measurements, axis, other, xs)
        if y.shape[0] == 0:
            continue
        try:
            fit = fit_power_law(np.array(xs), y, offset=None, n_boot=n_boot)
        except DataError:
            continue
        row: dict[str, Any] = {"fixed": other, "fit": fit.to_dict()}
        if limit:
            exact = measurements.slice(axis, other, tuple(xs_all), measurements.extra(limit))
            exact = exact[~np.isnan(exact)]
            row["exact_limit"] = float(np.mean(exact)) if exact.size else None
        out.append(row)
    return out


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Which regime a one-dimensional slice is in, with the evidence.

    ``z`` is (alpha - 1) / se(alpha): variance-limited when the 95% interval of the exponent after the offset
    contains 1, resolution-limited when it lies wholly below 1 (Bahri et al. 2024: variance-limited exponents are
    exactly 1, resolution-limited ones are set by the data and are smaller for d > 4).
    """

    regime: str
    exponent: float
    ci95: tuple[float, float]
    se: float
    z: float
    predicted: float | None
    consistent_with_prediction: bool | None
    fit: Any

    def to_dict(self) -> dict[str, Any]:
        return {"regime": self.regime, "exponent": self.exponent, "ci95": list(self.ci95), "se": self.se,
                "z_vs_1": self.z, "predicted": self.predicted,
                "consistent_with_prediction": self.consistent_with_prediction}


def regime_verdict(x: np.ndarray, y: np.ndarray, *, groups: np.ndarray | None = None,
                   predicted: float | None = None, n_boot: int = 500, **kwargs: Any) -> Verdict:
    """Fit L = E + A x^-alpha to a slice and decide variance-limited or resolution-limited."""
    from scalinglab.fit.estimate import fit_law
    from scalinglab.fit.laws import LAWS

    fit = fit_law(LAWS["power_law_offset"], np.asarray(x, dtype=float), np.asarray(y, dtype=float),
                  groups=groups, n_boot=n_boot, **kwargs)
    return _classify(fit.params["alpha"], fit.se["alpha"], fit.ci95["alpha"], predicted, fit)


def curve_verdict(x: np.ndarray, curves: np.ndarray, *, limit: float | None = 0.0, predicted: float | None = None,
                  n_boot: int = 500, rng: np.random.Generator | None = None) -> Verdict:
    """The regime classifier on the seed mean of per-seed curves (n_seeds, n_x) of a difference whose expectation
    scales, such as L(D) - L(D = inf) or L(w) - L_lin(w).

    Such a difference goes to ``limit`` (0) by construction, so only A and alpha of E + A x^-alpha are fitted
    (``limit=None`` fits E too); fitting E again would re-estimate a limit already removed and trade it against
    alpha. The fit is to the mean over seeds (single seeds' differences may be negative: the prediction is about
    the expectation), the interval from refitting the means of seeds resampled with replacement, widened for the
    number of seeds as in ``fit.estimate.fit_law``.
    """
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    fit = fit_power_law(np.asarray(x, dtype=float), curves, offset=limit, n_boot=n_boot, rng=rng)
    return _curve_verdict(fit, curves.shape[0], predicted)


def curve_verdicts(x: np.ndarray, curves: list[np.ndarray], *, limit: float | None = 0.0, n_boot: int = 500,
                   seed: int = 0) -> list[Verdict | DataError]:
    """:func:`curve_verdict` (no prediction) of many slices over the same sizes, each with ``default_rng(seed)``,
    their bootstrap refits solved together (``fit.curves.fit_power_laws``); a DataError in place of a slice that
    cannot be fitted."""
    curves = [np.atleast_2d(np.asarray(c, dtype=float)) for c in curves]
    fits = fit_power_laws(np.asarray(x, dtype=float), curves, offset=limit, n_boot=n_boot, seed=seed)
    widen = {n: _widen(n) for n in {c.shape[0] for c in curves}}
    return [f if isinstance(f, DataError) else _curve_verdict(f, c.shape[0], None, widen[c.shape[0]])
            for f, c in zip(fits, curves, strict=True)]


def _widen(n_seeds: int) -> float:
    from scalinglab.fit.estimate import small_sample_factor

    return small_sample_factor(n_seeds, 1)


def _curve_verdict(fit: CurveFit, n_seeds: int, predicted: float | None, widen: float | None = None) -> Verdict:
    alpha, (lo, hi) = fit.exponent, fit.ci95["alpha"]
    widen = _widen(n_seeds) if widen is None else widen
    ci = (alpha - widen * (alpha - lo), alpha + widen * (hi - alpha))
    return _classify(alpha, widen * fit.se["alpha"], ci, predicted, fit)


def _classify(alpha: float, se: float, ci95: tuple[float, float], predicted: float | None, fit: Any) -> Verdict:
    """Variance-limited when the 95% interval of the exponent contains 1, resolution-limited when it lies below."""
    lo, hi = ci95
    if not np.isfinite(se):
        regime = "undetermined (no bootstrap interval)"
    elif lo <= 1.0 <= hi:
        regime = "variance_limited"
    elif hi < 1.0:
        regime = "resolution_limited"
    else:
        regime = "steeper than variance-limited (exponent significantly above 1)"
    consistent = None if predicted is None or not np.isfinite(se) else bool(lo <= predicted <= hi)
    z = (alpha - 1.0) / se if se and np.isfinite(se) else float("nan")
    return Verdict(regime, alpha, (lo, hi), se, z, predicted, consistent, fit)
