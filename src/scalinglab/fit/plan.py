"""Which runs to pay for next: greedy designs on a fitted law's linearisation, under a compute budget.

The law is linearised in log loss around the current fit: a new run at sizes x adds the information
j(x) j(x)^T / sigma^2 to the parameters, where j is the gradient of log L in the fitter's variables (log scale for
positive scale parameters) and sigma^2 the variance of the fit's log residuals. The prior is the covariance of
the fit's bootstrap draws, so the posterior covariance after a design S is Sigma - Sigma J_S^T (sigma^2 I +
J_S Sigma J_S^T)^-1 J_S Sigma (one rank-one update per run; Sigma may be singular, a parameter at its bound).

Strategies: ``random`` (random order among the affordable runs), ``cheapest`` (cheapest first), ``d-optimal``
(largest gain of log det of the information per unit cost), ``v-optimal`` (largest fall of the variance of log
L at the target per unit cost) and ``sequential`` (V-optimal, refitting after each ``batch`` of picks on the
candidates' known losses where the table has the loss column, as in a benchmark, otherwise on the law's
prediction). Each pick must fit in what is left of the budget; planning stops when no candidate does.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scalinglab.errors import DataError, SpecError
from scalinglab.fit.estimate import FitResult, fit_law
from scalinglab.fit.laws import Law, get_law

STRATEGIES = ("random", "cheapest", "d-optimal", "v-optimal", "sequential")
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: 95% intervals
REFIT_BOOTSTRAP = 100  # bootstrap refits of each refit of the sequential strategy


@dataclasses.dataclass(frozen=True)
class Plan:
    """The chosen runs in order: candidate row, sizes, cost, cumulative cost, and the linearised 95% interval
    width of the curve at the target before and after the pick."""

    strategy: str
    target: dict[str, float]
    budget: float
    picks: list[dict[str, Any]]
    width_initial: float
    skipped: int  # candidates already among the fitted runs

    @property
    def spent(self) -> float:
        return self.picks[-1]["cumulative_cost"] if self.picks else 0.0

    @property
    def rows(self) -> np.ndarray:
        """The 0-based candidate rows picked, in order."""
        return np.array([p["row"] for p in self.picks], dtype=int)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "target": self.target, "budget": self.budget, "spent": self.spent,
                "width_initial": self.width_initial, "skipped": self.skipped, "picks": self.picks}


def _fit_of(fit: Any, rng: np.random.Generator) -> FitResult:
    """A FitResult, or (law or its name, X, y) fitted here with the engine's defaults."""
    if isinstance(fit, FitResult):
        return fit
    if isinstance(fit, tuple) and len(fit) == 3:
        law, X, y = fit
        law = law if isinstance(law, Law) else get_law(law)
        return fit_law(law, np.asarray(X, float), np.asarray(y, float), rng=rng)
    raise SpecError(f"expected a FitResult or (law, X, y), got {type(fit).__name__}", param="fit")


def prior_covariance(fit: FitResult) -> np.ndarray:
    """Covariance of the bootstrap draws in the fitter's variables (widened as the fit's intervals are)."""
    if len(fit.draws) < 3:
        raise SpecError("the fit has no bootstrap draws; refit with a bootstrap (e.g. 200)", param="fit")
    logscale = fit.law.logscale
    D = np.asarray(fit.draws, dtype=float)
    with np.errstate(all="ignore"):
        U = np.where(logscale, np.log(np.maximum(np.abs(D), 1e-300)), D)
    U = U[np.all(np.isfinite(U), axis=1)]
    return np.atleast_2d(np.cov(U, rowvar=False)) * fit.widen ** 2


def noise_variance(fit: FitResult) -> float:
    """Variance of one run's log loss: the fit's residuals with their degrees of freedom."""
    r = np.asarray(fit.residuals, dtype=float)
    dof = max(len(r) - len(fit.law.params), 1)
    return max(float(np.sum(r * r) / dof), 1e-12)


def _width(loss: float, var: float) -> float:
    sd = np.sqrt(max(var, 0.0))
    return float(loss * (np.exp(Z95 * sd) - np.exp(-Z95 * sd)))


def plan(fit: Any, candidates: Any, *, cost: str | Sequence[float], budget: float, target: Mapping[str, float],
         strategy: str = "v-optimal", batch: int = 1, y: str | None = None,
         rng: np.random.Generator | None = None) -> Plan:
    """Choose runs from ``candidates`` (a table ``fit.data.read_table`` reads, with the fit's size columns) that
    fit in ``budget``, for the narrowest forecast at ``target`` (sizes by name).

    ``fit``: a FitResult with bootstrap draws, or (law, X, y) to fit here. ``cost``: an expression over the
    candidates' columns (``"6*N*D"``, as ``--define``) or one number per candidate. ``y``: the loss column (by
    default the fit's), used by ``sequential`` where the candidates have it. Candidates whose sizes equal a
    fitted run's are skipped.
    """
    from scalinglab.fit.data import evaluate, read_table
    from scalinglab.fit.results import size_names

    if strategy not in STRATEGIES:
        raise SpecError(f"must be one of {', '.join(STRATEGIES)}, got {strategy!r}", param="strategy")
    if not (isinstance(budget, (int, float)) and np.isfinite(budget) and budget > 0):
        raise SpecError(f"must be a positive number, got {budget}", param="budget")
    if not (isinstance(batch, (int, np.integer)) and batch >= 1):
        raise SpecError(f"must be a positive integer, got {batch}", param="batch")
    rng = rng if rng is not None else np.random.default_rng(0)
    fit = _fit_of(fit, rng)
    names = size_names(fit)
    if set(target) != set(names):
        raise SpecError(f"give the sizes {', '.join(names)} by name, got {', '.join(target) or 'none'}",
                        param="target")
    t = np.array([[float(target[n]) for n in names]])
    if not np.all(np.isfinite(t) & (t > 0)):
        raise SpecError(f"sizes must be positive and finite, got {dict(target)}", param="target")
    columns = read_table(candidates)
    missing = [n for n in names if n not in columns]
    if missing:
        raise DataError(f"the candidates lack the size column(s) {', '.join(missing)} (columns: "
                        f"{', '.join(columns)})", param="candidates")
    try:
        C = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    except (TypeError, ValueError):
        raise DataError(f"the size columns {', '.join(names)} must be numbers", param="candidates") from None
    n = len(C)
    if n == 0 or not np.all(np.isfinite(C) & (C > 0)):
        raise DataError("the candidates' sizes must be positive and finite (and there must be some)",
                        param="candidates")
    costs = (np.asarray(evaluate(cost, columns, "cost"), dtype=float) if isinstance(cost, str)
             else np.asarray(cost, dtype=float))
    costs = np.broadcast_to(costs, (n,)).astype(float) if costs.ndim == 0 else costs
    if costs.shape != (n,) or not np.all(np.isfinite(costs) & (costs > 0)):
        raise SpecError(f"must give one positive finite cost per candidate ({n})", param="cost")
    y = y or (fit.data.target if fit.data is not None else None)
    known = None
    if y is not None and y in columns:
        try:
            known = np.asarray(columns[y], dtype=float)
        except (TypeError, ValueError):
            known = None
    if strategy == "sequential" and fit.data is None:
        raise SpecError("sequential refits on the fitted runs: give a fit that keeps its data", param="strategy")

    available = np.ones(n, bool)
    if fit.data is not None:
        fitted = fit.data.X[~fit.data.held_out]
        same = np.all(np.isclose(C[:, None, :], fitted[None, :, :], rtol=1e-9, atol=0), axis=2).any(axis=1)
        available &= ~same
    skipped = int(n - available.sum())

    law, sigma2 = fit.law, noise_variance(fit)
    Sigma = prior_covariance(fit)
    g = law.log_jacobian(t, fit.params)[0]
    J = law.log_jacobian(C, fit.params)
    L_t = float(fit.predict(t)[0])
    var0 = float(g @ Sigma @ g)
    var = var0
    picks: list[dict[str, Any]] = []
    spent, current = 0.0, fit
    picked_X: list[np.ndarray] = []
    picked_y: list[float] = []
    order = rng.permutation(n) if strategy == "random" else np.argsort(costs, kind="stable")

    while True:
        affordable = available & (costs <= budget - spent + 1e-12 * budget)
        if not affordable.any():
            break
        if strategy in ("random", "cheapest"):
            i = int(next(k for k in order if affordable[k]))
        else:
            SJ = J @ Sigma  # (n, p)
            s = np.einsum("ij,ij->i", SJ, J) + sigma2
            if strategy == "d-optimal":
                gain = np.log(s / sigma2)
            else:
                gain = (SJ @ g) ** 2 / s
            score = np.where(affordable, np.maximum(gain, 0.0) / costs, -np.inf)
            i = int(np.argmax(score))
        j = J[i]
        Sj = Sigma @ j
        Sigma = Sigma - np.outer(Sj, Sj) / (sigma2 + j @ Sj)
        before, var = var, float(g @ Sigma @ g)
        spent += costs[i]
        available[i] = False
        picks.append({"row": i, **{nm: float(C[i, k]) for k, nm in enumerate(names)}, "cost": float(costs[i]),
                      "cumulative_cost": spent, "width_before": _width(L_t, before),
                      "width_after": _width(L_t, var)})
        picked_X.append(C[i])
        picked_y.append(float(known[i]) if known is not None and np.isfinite(known[i]) and known[i] > 0
                        else float(current.predict(C[i : i + 1])[0]))
        if strategy == "sequential" and len(picks) % batch == 0:
            current = _refit(fit, np.array(picked_X), np.array(picked_y), rng)
            Sigma, sigma2 = prior_covariance(current), noise_variance(current)
            g = law.log_jacobian(t, current.params)[0]
            J = law.log_jacobian(C, current.params)
            L_t = float(current.predict(t)[0])
            var = float(g @ Sigma @ g)
            picks[-1]["width_after"] = _width(L_t, var)
    return Plan(strategy=strategy, target={nm: float(target[nm]) for nm in names}, budget=float(budget),
                picks=picks, width_initial=_width(float(fit.predict(t)[0]), var0), skipped=skipped)


def _refit(fit: FitResult, X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> FitResult:
    """The fit's law on its own runs and the picked ones, with the fit's loss."""
    keep = ~fit.data.held_out
    return fit_law(fit.law, np.vstack([fit.data.X[keep], X]), np.concatenate([fit.data.y[keep], y]),
                   loss=fit.loss, n_boot=REFIT_BOOTSTRAP, rng=rng)
