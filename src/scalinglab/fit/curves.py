"""Power laws fitted to curves measured over several seeds: a front-end of the fitting engine.

``fit_power_law(x, y, offset=...)`` is ``fit_law`` of ``power_law_offset`` with the offset E held at ``offset``
(0: a pure power law; ``None`` fits it), the profile solver (``fit.profile``: least squares of log(L - E) on
log x with E held, of relative residuals profiled over alpha with E free), the fit to the mean over seeds and a
bootstrap that refits the mean of seeds resampled with replacement, with plain percentile intervals (a caller
that wants them widened for the number of seeds, as ``fit.regimes`` does, widens them itself). ``CurveFit`` is a
view of the engine's ``FitResult`` under the names its callers use.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from scalinglab.errors import DataError
from scalinglab.fit.estimate import fit_law, fit_laws
from scalinglab.fit.laws import LAWS, power_law_offset
from scalinglab.fit.results import FitResult

LAW = LAWS["power_law_offset"]


@dataclasses.dataclass(frozen=True)
class CurveFit:
    """A power law fitted to the mean of seeds' curves: a view of the engine's ``result`` (``FitResult``), with
    the sizes ``x``, the mean curve ``y`` and the number of seeds."""

    result: FitResult = dataclasses.field(repr=False)
    x: tuple[float, ...]
    y: tuple[float, ...]
    n_seeds: int

    @property
    def offset_fixed(self) -> float | None:
        return self.result.params["E"] if "E" in self.result.fixed else None

    @property
    def law(self) -> str:
        return "power_law" if self.offset_fixed == 0 else "power_law_offset"

    @property
    def params(self) -> dict[str, float]:
        return self.result.params

    @property
    def ci95(self) -> dict[str, tuple[float, float]]:
        return self.result.ci95

    @property
    def se(self) -> dict[str, float]:
        return self.result.se

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.result.warnings

    @property
    def samples(self) -> np.ndarray | None:
        """The bootstrap refits, rows of (E, A, alpha) (E constant where held); None without any."""
        return self.result.draws if len(self.result.draws) else None

    @property
    def exponent(self) -> float:
        return self.params["alpha"]

    def predict(self, x: np.ndarray) -> np.ndarray:
        return power_law_offset(x, self.params["E"], self.params["A"], self.params["alpha"])

    def band(self, x: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise ``level`` interval of the fitted curve at ``x`` over the bootstrap refits (NaN without any)."""
        x = np.asarray(x, dtype=float)
        samples = self.samples
        if samples is None or len(samples) < 20:
            return np.full(x.shape, np.nan), np.full(x.shape, np.nan)
        E, A, alpha = (samples[:, i, None] for i in range(3))
        curves = E + A * x[None, :] ** -alpha
        q = 50.0 * (1.0 - level)
        lo, hi = np.percentile(curves, [q, 100.0 - q], axis=0)
        return lo, hi

    def to_dict(self) -> dict[str, Any]:
        return {
            "law": self.law,
            "params": self.params,
            "ci95": {k: list(v) for k, v in self.ci95.items()},
            "se": self.se,
            "x": list(self.x),
            "y": list(self.y),
            "n_seeds": self.n_seeds,
            "offset_fixed": self.offset_fixed,
            "warnings": list(self.warnings),
        }


def _problem(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Curves (n_seeds, n_x) as the engine's rows: sizes, losses and seed labels."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if y.shape[1] != x.size:
        raise DataError(f"fit: {x.size} sizes but curves of length {y.shape[1]}")
    if x.size < 3:  # the engine checks the values
        raise DataError(f"fit: need at least 3 distinct sizes, got {x.size}")
    return np.tile(x, y.shape[0]), y.ravel(), np.repeat(np.arange(y.shape[0]), x.size)


def _options(offset: float | None, n_boot: int) -> dict[str, Any]:
    return {"loss": "ls", "solver": "profile", "average_groups": True, "small_sample": False, "n_boot": n_boot,
            "fixed": None if offset is None else {"E": float(offset)}}


def _view(result: FitResult, x: np.ndarray, n_seeds: int) -> CurveFit:
    mean = result.data.y  # type: ignore[union-attr]  (the engine keeps the mean curve it fitted)
    return CurveFit(result, tuple(float(v) for v in x), tuple(float(v) for v in mean), n_seeds)


def fit_power_law(
    x: np.ndarray,
    y: np.ndarray,
    *,
    offset: float | None = 0.0,
    n_boot: int = 1000,
    rng: np.random.Generator | None = None,
) -> CurveFit:
    """Fit L = E + A x^-alpha to curves ``y`` of shape (n_seeds, n_x) (or (n_x,) for one curve).

    The point estimate fits the mean over seeds; the 95% interval and standard error come from refitting the
    mean of seeds resampled with replacement (``n_boot`` times). ``offset`` holds E (0 for a pure power law);
    ``None`` fits it. By default, then, this is the pure power law by least squares, not ``fit_law``'s
    power_law_offset under Huber: the two alphas differ on a curve with an offset (see ``fit_law``).
    """
    x = np.asarray(x, dtype=float)
    X, rows, seeds = _problem(x, y)
    return _view(fit_law(LAW, X, rows, groups=seeds, rng=rng, **_options(offset, n_boot)), x, rows.size // x.size)


def fit_power_laws(x: np.ndarray, ys: list[np.ndarray], *, offset: float | None = 0.0, n_boot: int = 1000,
                   seed: int = 0, chunk: int = 1024) -> list[CurveFit | DataError]:
    """:func:`fit_power_law` of many slices over the same sizes ``x``, each with its own generator
    ``default_rng(seed)``: the same draws and the same fits, the bootstrap refits of every slice solved together
    (``fit.estimate.fit_laws``). A slice that cannot be fitted gives its DataError in its place."""
    x = np.asarray(x, dtype=float)
    out: list[Any] = [None] * len(ys)
    problems, at = [], []
    for i, y in enumerate(ys):
        try:
            problems.append(_problem(x, y))
            at.append(i)
        except DataError as err:
            out[i] = err
    fits = fit_laws(LAW, problems, seed=seed, chunk=chunk, **_options(offset, n_boot))
    for i, problem, fit in zip(at, problems, fits, strict=True):
        out[i] = fit if isinstance(fit, DataError) else _view(fit, x, problem[1].size // x.size)
    return out
