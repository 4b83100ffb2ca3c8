"""Robust estimation of any law in ``fit.laws``, with bootstrap intervals.

The residual is taken in log space, r = log L_fit - log L_obs, and scored with a Huber loss (delta 1e-3 by
default, as Hoffmann et al. 2022 and the replication of Besiroglu et al. 2024), plain least squares, or an
asymmetric square that penalises predictions above the data (for lower envelopes).

Starting values: the nonlinear parameters run over a grid; for each grid point the linear parameters are solved
exactly (non-negative least squares of relative residuals, i.e. log residuals to first order: variable
projection). The best few starts are refined by L-BFGS-B on the chosen loss, and the best refinement wins.
The bootstrap refines from the full-data optimum on resampled data: the fitted curve times resampled log residuals
(the residual bootstrap of a fixed design: the sizes are chosen by the experimenter, the noise is not; the default
under least squares and the Huber loss), or resampled rows ("pairs", robust to a misspecified law or to noise that
changes with size; the default under the asymmetric loss, whose residuals are one-sided by design), or whole groups
(seeds) when given. On simulated data (BENCHMARKS.md, section 12) the residual bootstrap's 95% intervals hold
90-98% under both losses, with a tenth of the runs outliers too, where rows hold 98-100% under the Huber loss: the
robust fit down-weights an outlier's residual wherever it is resampled to. On the M4 law the row bootstrap
overstated the spread of E_0 by 1.85x: a resample that drops the few largest-loss points leaves E_0 barely
determined, a fixed design never does.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from scalinglab.errors import DataError, SpecError
from scalinglab.fit import profile
from scalinglab.fit.laws import Law, derived_quantities
from scalinglab.fit.results import (  # noqa: F401  (FitData, FitResult re-exported)
    FitData,
    FitResult,
    as_matrix,
    law_inputs,
    small_sample_factor,
    widened_percentiles,
)
from scalinglab.fit.solve import MAX_STARTS_GRID, Problem, objective  # noqa: F401  (re-exported)

LOSSES = ("huber-log", "ls", "asymmetric")
RESAMPLE = ("auto", "residuals", "rows")
AUTO_RESAMPLE = {"ls": "residuals", "huber-log": "residuals", "asymmetric": "rows"}  # what "auto" resamples
SOLVERS = ("general", "profile")



def validate_xy(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.shape[0] != y.shape[0]:
        raise DataError(f"fit: {X.shape[0]} rows of sizes but {y.shape[0]} losses")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataError(f"fit: loss is not finite at row {bad[0]}")
    bad = np.flatnonzero(y <= 0)
    if bad.size:
        raise DataError(f"fit: loss must be positive (log-space fit), got {y[bad[0]]} at row {bad[0]}")
    bad = np.argwhere(~np.isfinite(X) | (X <= 0))
    if bad.size:
        raise DataError(f"fit: sizes must be positive and finite, got {X[tuple(bad[0])]} at row {bad[0][0]}")
    return X, y


def fit_law(*args, **kwargs) -> FitResult:
    """Fit ``law`` to sizes X (n, inputs) and losses y (n,), with a bootstrap over rows or ``groups``.

    Keyword arguments: ``loss`` (huber-log, ls, asymmetric), ``delta`` (Huber threshold on log residuals),
    ``asymmetry`` (weight of positive residuals for the asymmetric loss), ``n_boot``, ``resample``
    ("auto": ``AUTO_RESAMPLE``, residuals but under the asymmetric loss; or "residuals", "rows"), ``groups``
    (labels whose members are resampled together, e.g. seeds; overrides ``resample``), ``n_starts``, ``rng``,
    ``progress(done, total)``, and:

    - ``fixed``: parameters held at given values, e.g. ``{"E": 0.0}``: left out of the optimisation, the
      bootstrap, the covariance and the count of fitted parameters; they appear in ``params`` with a zero-width
      interval and zero standard error, and ``FitResult.fixed`` names them.
    - ``average_groups``: fit the mean over ``groups`` at each size (every group holds the same sizes in the same
      order; single rows may be negative, as differences of losses are, where the mean is positive), and
      bootstrap by refitting the mean of groups resampled with replacement.
    - ``solver``: "general" (the grid of starts, L-BFGS-B and the batched refits of ``fit.solve``) or
      "profile", the closed form of ``fit.profile`` for ``power_law`` and ``power_law_offset`` under least
      squares (with E held: log(L - E) on log x; with E free: relative residuals profiled over alpha).
    - ``small_sample``: widen the intervals for n points and p parameters (or n groups) as
      ``small_sample_factor`` says (default); False gives the plain percentile interval.

    A pure power law against a free offset: on one curve L = 1 + 5 x^-0.7 (1% noise, 12 sizes) the pure power law
    (``fixed={"E": 0}``) gives alpha 0.088 (least squares) and 0.062 (Huber): a misspecified law, whose slope
    depends on the estimator; with the offset fitted both give 0.684 under least squares (solver "profile") and
    0.687 under Huber. Neither is wrong: name the law, the held parameters and the loss to compare exponents.
    """
    # Tiny dense problems: BLAS threads only add synchronisation cost (measured 5-50x slower with 2 threads).
    with one_blas_thread():
        return drive(fit_steps(*args, **kwargs))


@functools.cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # finds the BLAS libraries once (threadpool_limits reads /proc each time)


def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread."""
    return _blas().limit(limits=1)


def drive(steps: Generator) -> Any:
    """Run the steps of one fit (``fit_steps``), answering each request for profile refits at once."""
    try:
        request = next(steps)
        while True:
            request = steps.send(profile.solve(*request))
    except StopIteration as stop:
        return stop.value


def fit_laws(law: Law, problems: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], *, seed: int = 0,
             chunk: int = 1024, **kwargs: Any) -> list[FitResult | DataError]:
    """``fit_law(law, X, y, groups=groups, rng=default_rng(seed), **kwargs)`` of each (X, y, groups) of
    ``problems``: the same draws and the same fits, but the profile solver's bootstrap refits of every problem
    with the same sizes are solved together (``chunk`` rows at a time, on up to
    4 threads: rows are independent, so the result does not depend on the thread count). A problem that cannot be
    fitted gives its DataError in its place."""
    out: list[Any] = [None] * len(problems)
    with one_blas_thread(), ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        active = {}
        for i, (X, y, groups) in enumerate(problems):
            active[i] = fit_steps(law, X, y, groups=groups, rng=np.random.default_rng(seed), **kwargs)
        answers: dict[int, Any] = dict.fromkeys(active)
        while active:  # one round: every fit runs to its next request, then the requests are solved together
            batches: dict[tuple, list] = {}
            for i, steps in list(active.items()):
                try:
                    request = next(steps) if answers[i] is None else steps.send(answers[i])
                except StopIteration as stop:
                    out[i] = stop.value
                    del active[i]
                    continue
                except DataError as err:
                    out[i] = err
                    del active[i]
                    continue
                batches.setdefault((request[0].tobytes(), request[2]), []).append((i, request))
            for batch in batches.values():
                x, held = batch[0][1][0], batch[0][1][2]
                stacked = np.vstack([request[1] for _, request in batch])
                parts = [(x, stacked[k:k + chunk], held) for k in range(0, len(stacked), chunk)]
                rows = np.vstack(list(pool.map(lambda part: profile.solve(*part), parts)))
                at = 0
                for i, request in batch:
                    answers[i] = rows[at:at + len(request[1])]
                    at += len(request[1])
    return out


def fit_steps(
    law: Law,
    X: np.ndarray,
    y: np.ndarray,
    *,
    loss: str = "huber-log",
    delta: float = 1e-3,
    asymmetry: float = 10.0,
    n_boot: int = 1000,
    groups: np.ndarray | None = None,
    n_starts: int = 5,
    resample: str = "auto",
    rng: np.random.Generator | None = None,
    progress=None,
    fixed: dict[str, float] | None = None,
    solver: str = "general",
    average_groups: bool = False,
    small_sample: bool = True,
) -> Generator:
    """``fit_law`` as a generator: under the profile solver it yields (x, curves, held offset) for the bootstrap
    refits, is sent their (E, A, alpha) rows (``profile.solve``), and returns the FitResult."""
    if loss not in LOSSES:
        raise SpecError(f"must be one of {', '.join(LOSSES)}, got {loss!r}", param="loss")
    if resample not in RESAMPLE:
        raise SpecError(f"must be one of {', '.join(RESAMPLE)}, got {resample!r}", param="resample")
    if resample == "auto":
        resample = AUTO_RESAMPLE[loss]  # the scheme whose intervals cover (module docstring)
    if not delta > 0:
        raise SpecError(f"must be positive, got {delta}", param="delta")
    fixed = check_fixed(law, fixed)
    held_offset = check_solver(law, solver, loss, fixed)
    work = law.fix(fixed)
    X, y, Yg = np.asarray(X, dtype=float), np.asarray(y, dtype=float), None
    X = X[:, None] if X.ndim == 1 else X
    if average_groups:
        X, Yg = group_curves(X, y, groups)
        y = Yg.mean(axis=0)
    if held_offset is not None:  # the profile's log(L - E): every loss must lie above the held offset
        bad = np.flatnonzero(y - held_offset <= 0)
        if bad.size:
            raise DataError(f"fit: the {'mean ' if Yg is not None else ''}loss minus the held offset "
                            f"{held_offset:g} is not positive at row {bad[0]}; no power law fits")
    X, y = validate_xy(X, y)
    X = as_matrix(X, law.inputs)
    warnings: list[str] = []
    need = 4 if work.offset else 3
    for j in range(law.inputs):
        distinct = np.unique(X[:, j]).size
        if distinct < 2:
            raise DataError(f"fit: size column {j + 1} has a single distinct value; no scaling law can be fitted")
        if distinct < need:
            warnings.append(f"only {distinct} distinct sizes in column {j + 1} support a law that needs {need}")
    if len(y) < len(work.params):
        raise DataError(f"fit: {len(y)} points cannot determine the {len(work.params)} parameters of {law.name}")
    rng = rng or np.random.default_rng(0)
    prob = Problem(work, X, y, loss, delta, asymmetry)
    n_groups = None if groups is None else (len(Yg) if Yg is not None else np.unique(np.asarray(groups)).size)
    if solver == "profile":
        row = profile.solve_one(X[:, 0], y, held_offset)
        if not np.all(np.isfinite(row)):
            raise DataError(f"fit: {law.name} could not be fitted to these data")
        params = {n: float(v) for n, v in zip(("E", "A", "alpha"), row, strict=True) if n in work.names}
        best_u, best_v = prob.to_u(params), None
    else:
        best_u, best_v = None, np.inf
        for u0 in prob.starts(n_starts, rng):
            u, v = prob.refine(u0)
            if v < best_v:
                best_u, best_v = u, v
        if best_u is None or not np.isfinite(best_v):
            raise DataError(f"fit: {law.name} could not be fitted to these data (no finite starting point)")
        params = {n: float(v[0]) for n, v in prob.to_params(best_u[None, :]).items()}

    # Bootstrap: residuals on the fixed design, rows, whole groups (seeds), or the means of resampled groups.
    draws = np.empty((0, len(work.params)))
    if n_boot > 0 and (n_groups is None or n_groups >= 2):
        resamples = draw_resamples(work, X, y, params, groups, Yg, resample, n_boot, rng)
        if solver == "profile":
            draws = yield from profile_draws(work, X[:, 0], y, resamples, held_offset)
            if progress:
                progress(n_boot, n_boot)
        else:
            found = [np.where(prob.logscale, np.exp(np.clip(u, -700, 700)), u)
                     for u, v in prob.refine_resamples(best_u, resamples, progress) if np.isfinite(v)]
            draws = np.array(found, dtype=float).reshape(-1, len(work.params))
    elif n_boot > 0:
        warnings.append("no bootstrap interval: fewer than 2 seeds (groups)")
    return finish(law, work, prob, X, y, params, best_v, draws, warnings, fixed=fixed, n_boot=n_boot,
                  n_groups=n_groups, loss=loss, solver=solver, small_sample=small_sample,
                  resample="groups" if groups is not None else resample, averaged=Yg is not None)


def check_fixed(law: Law, fixed: dict[str, float] | None) -> dict[str, float]:
    """The held parameters as floats; SpecError (``param="fixed"``) for a name the law lacks, a value that is not
    a finite number within the parameter's bounds, or nothing left to fit."""
    out = {}
    params = {p.name: p for p in law.params}
    for name, value in (fixed or {}).items():
        if name not in params:
            raise SpecError(f"{law.name} has no parameter {name!r} (its parameters: {', '.join(law.names)})",
                            param="fixed")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise SpecError(f"{name} must be a number, got {value!r}", param="fixed") from None
        p = params[name]
        if not np.isfinite(v) or not p.lower <= v <= p.upper:
            raise SpecError(f"{name} = {value!r} lies outside its bounds [{p.lower:g}, {p.upper:g}]", param="fixed")
        out[name] = v
    if len(out) == len(law.params):
        raise SpecError(f"every parameter of {law.name} is held; nothing is left to fit", param="fixed")
    return out


def check_solver(law: Law, solver: str, loss: str, fixed: dict[str, float]) -> float | None:
    """SpecError (``param="solver"``) for an unknown solver or a profile fit it cannot make; the offset the
    profile holds (0 for the pure power law, None when E is fitted)."""
    if solver not in SOLVERS:
        raise SpecError(f"must be one of {', '.join(SOLVERS)}, got {solver!r}", param="solver")
    if solver != "profile":
        return None
    if law.name not in profile.PROFILE_LAWS:
        raise SpecError(f"the profile solver fits {' and '.join(profile.PROFILE_LAWS)}, not {law.name}",
                        param="solver")
    if loss != "ls":
        raise SpecError(f"the profile solver is least squares (loss ls), got loss {loss!r}", param="solver")
    if set(fixed) - {"E"}:
        raise SpecError(f"the profile solver holds only the offset E, not {', '.join(sorted(set(fixed) - {'E'}))}",
                        param="solver")
    return 0.0 if law.name == "power_law" else fixed.get("E")


def group_curves(X: np.ndarray, y: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(sizes (m, inputs), curves (n_groups, m)) of rows grouped by ``groups``: every group must hold the same sizes
    in the same order (SpecError/DataError naming ``groups`` otherwise); losses must be finite."""
    if groups is None:
        raise SpecError("average_groups needs the groups to average over", param="groups")
    X = X[:, None] if X.ndim == 1 else X
    groups = np.asarray(groups)
    if groups.shape[0] != X.shape[0] or y.shape[0] != X.shape[0]:
        raise DataError(f"{groups.shape[0]} group labels for {X.shape[0]} rows of sizes and {y.shape[0]} losses",
                        param="groups")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise DataError(f"fit: loss is not finite at row {bad[0]}")
    _, inverse = np.unique(groups, return_inverse=True)
    counts = np.bincount(inverse)
    if np.any(counts != counts[0]):
        raise DataError("every group must hold the same sizes, but the groups have different numbers of rows",
                        param="groups")
    rows = np.argsort(inverse, kind="stable").reshape(counts.size, counts[0])
    sizes = X[rows]  # (G, m, inputs)
    if np.any(sizes != sizes[:1]):
        raise DataError("every group must hold the same sizes in the same order", param="groups")
    return sizes[0], y[rows]


def draw_resamples(law: Law, X: np.ndarray, y: np.ndarray, params: dict[str, float], groups: np.ndarray | None,
                   Yg: np.ndarray | None, resample: str, n_boot: int, rng: np.random.Generator) -> list:
    """The bootstrap's resamples, drawn in the order of the former one-refit-per-draw loop (the same draws per
    seed): (y_b, None) replaces the losses (residuals; the mean of resampled groups), (None, idx) takes rows."""
    if Yg is not None:  # the draws of n_boot calls of integers(0, G, G), in one call
        means = Yg[rng.integers(0, len(Yg), (n_boot, len(Yg)))].mean(axis=1)
        return [(m, None) for m in means]
    if groups is not None:
        labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
        members = [np.flatnonzero(inverse == g) for g in range(labels.size)]
        return [(None, np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))]))
                for _ in range(n_boot)]
    if resample == "rows":
        return [(None, rng.integers(0, len(y), len(y))) for _ in range(n_boot)]
    with np.errstate(all="ignore"):
        fitted = law(X, params)
    resid = np.log(y) - np.log(fitted)
    resid -= resid.mean()
    return [(fitted * np.exp(rng.choice(resid, size=len(y))), None) for _ in range(n_boot)]


def profile_draws(work: Law, x: np.ndarray, y: np.ndarray, resamples: list, held: float | None) -> Generator:
    """The profile solver's refits of ``resamples`` (rows (E, A, alpha) of the free parameters), those that
    replace the losses in one request to the driver, those that take rows one by one (their sizes differ)."""
    keep = [j for j, n in enumerate(("E", "A", "alpha")) if n in work.names]
    if resamples and resamples[0][0] is not None:
        rows = yield (x, np.vstack([y_b for y_b, _ in resamples]), held)
    else:
        rows = np.vstack([profile.solve(x[idx], y[idx][None, :], held) for _, idx in resamples])
    rows = rows[np.all(np.isfinite(rows), axis=1)]
    return rows[:, keep]


def finish(law: Law, work: Law, prob: Problem, X: np.ndarray, y: np.ndarray, params: dict[str, float],
           best_v: float | None, draws: np.ndarray, warnings: list[str], *, fixed: dict[str, float], n_boot: int,
           n_groups: int | None, loss: str, solver: str, small_sample: bool, resample: str,
           averaged: bool) -> FitResult:
    """The FitResult of a fit: the held parameters put back (constant columns of the draws), intervals by the
    one rule (``widened_percentiles``), derived quantities, warnings and diagnostics."""
    names = law.names
    full = {n: fixed[n] if n in fixed else params[n] for n in names}
    cols = [work.names.index(n) if n not in fixed else None for n in names]
    draws = np.column_stack([draws[:, j] if j is not None else np.full(len(draws), fixed[n])
                             for n, j in zip(names, cols, strict=True)]) if len(draws) else np.empty((0, len(names)))
    # Small-sample correction: the bootstrap spread estimates the variance with divisor n (not n - p) and the
    # percentile interval uses normal quantiles (not Student's t with n - p degrees of freedom). Without it,
    # 95% intervals held the truth in 89 of 100 seeded trials (Chinchilla law, 64 points, 5 parameters).
    n_eff, p_eff = (n_groups, 1) if n_groups is not None else (len(y), len(work.params))
    widen = small_sample_factor(n_eff, p_eff) if small_sample else 1.0
    if len(draws) >= 20:
        point = np.array([full[n] for n in names])
        ci_arr = widened_percentiles(draws, point, widen)
        if solver == "general":  # the widened interval stays inside each parameter's domain (M4's E_0)
            lower = np.array([fixed[n] if c is None else prob.lower[c] for n, c in zip(names, cols, strict=True)])
            upper = np.array([fixed[n] if c is None else prob.upper[c] for n, c in zip(names, cols, strict=True)])
            ci_arr = np.clip(ci_arr, lower, upper)
        ci = {n: (float(ci_arr[0, j]), float(ci_arr[1, j])) for j, n in enumerate(names)}
        se = {n: float(widen * draws[:, j].std(ddof=1)) for j, n in enumerate(names)}
        if len(draws) < 0.9 * n_boot:
            warnings.append(f"{n_boot - len(draws)} of {n_boot} bootstrap refits failed")
    else:
        ci = {n: (fixed[n], fixed[n]) if n in fixed else (float("nan"), float("nan")) for n in names}
        se = {n: 0.0 if n in fixed else float("nan") for n in names}
        if n_boot > 0 and not any(w.startswith("no bootstrap interval") for w in warnings):
            warnings.append("too few successful bootstrap refits for intervals")

    derived = {}
    point_d = derived_quantities(law, {n: np.array([full[n]]) for n in names})
    boot = derived_quantities(law, {n: draws[:, j] for j, n in enumerate(names)}) if len(draws) else {}
    for key, value in point_d.items():
        entry: dict[str, Any] = {"value": float(value[0])}
        if len(draws) >= 20:
            entry["se"] = float(widen * np.std(boot[key], ddof=1))
            lo_hi = widened_percentiles(boot[key][:, None], np.array([value[0]]), widen)[:, 0]
            entry["ci95"] = [float(v) for v in lo_hi]
        derived[key] = entry

    more, diagnostics = diagnose(prob, params)
    warnings += more
    with np.errstate(all="ignore"):
        residuals = np.log(law(X, full)) - np.log(y)
    value = float(np.sum(residuals**2)) if best_v is None else best_v  # the profile: least squares of log residuals
    data = None
    if averaged:
        data = FitData(X=X, y=y, held_out=np.zeros(len(y), dtype=bool), inputs=law_inputs(law),
                       target="mean loss")
    return FitResult(form=law.name, params=full, se=se, ci95=ci, derived=derived, warnings=tuple(warnings),
                     loss=loss, n_points=len(y), objective=value, law=law, draws=draws, residuals=residuals,
                     widen=widen, resample=resample, data=data, diagnostics=diagnostics, fixed=tuple(fixed))


def diagnose(prob: Problem, params: dict[str, float]) -> tuple[list[str], dict[str, Any]]:
    """Warnings (a parameter at a bound, an ill-conditioned optimum, a degenerate design) and the diagnostics
    of ``fit.diagnostics``."""
    from scalinglab.fit.diagnostics import design_diagnostics

    out = []
    for j, p in enumerate(prob.law.params):
        v = params[p.name]
        for bound in (prob.lower[j], prob.upper[j]):
            if np.isfinite(bound) and abs(v - bound) <= 1e-6 * max(1.0, abs(bound)):
                out.append(f"{p.name} = {v:.4g} sits at its bound {bound:.4g}")
    diagnostics, more = design_diagnostics(prob.law, prob.X, params)
    return out + more, diagnostics
