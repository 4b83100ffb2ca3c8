"""Choosing runs on ScaleBench's candidate pools (`benchmark-plan`): each ``fit.plan`` strategy, simulated.

Per task (``fit.benchmark.DATASETS``) the training split is the pool of runs one could do, their losses known
once paid for, and the test split the target region. As ScaleBench's runner does (``benchmark/runner.py`` of
PlanarG/active-sl), each group is planned on its own, with a budget of ``fraction`` times the cost of its pool
(``fit.benchmark.run_cost``); the law is fitted per group (and per loss column) on the runs paid for, and scored
on every group's test points pooled by ``fit.benchmark.target_r2``, the score of `benchmark-laws`. A group whose
runs cannot be fitted (fewer runs than parameters, a single distinct size) adds no prediction, as ScaleBench
leaves out a group without parameters; with none, the score is -1.

The rule, fixed before any run: the **initial design** is ScaleBench's ``cheap_init`` (``mspe.py``): the
cheapest runs in ascending cost, up to ``INIT_PER_PARAM`` (2.5) runs per parameter of the law, while their cost
stays within ``INIT_FRACTION`` (2%) of the pool's cost; then, for each size column holding one value only (no law
can be fitted to it), the cheapest run with another value; then, if it holds no more runs than the law has
parameters (so no residuals, no prior), the next cheapest up to one more than that. Nothing beyond the budget is
ever taken, the initial runs included; where even those do not fit, the runs that do are all there is, and every
strategy scores the same. The law is fitted to them with ``PRIOR_BOOTSTRAP`` refits, the prior of ``fit.plan``;
its target is the centre of the group's target region (the geometric mean of each size column over the group's
test rows). ``sequential`` refits ``SEQUENTIAL_REFITS`` times over the budget (its batch: the picks of the
v-optimal plan over the same budget, divided by that). ``random`` and ``sequential`` draw (the order, the refits'
bootstrap) and run ``seeds`` seeds; the others are deterministic given the initial fit. With several loss
columns (domain mixture) each column's law plans with the whole budget and the runs are taken in turn from each
column's order (the next not yet taken), while affordable; every run taken gives every column its loss.

The law of a task is the one `benchmark-laws` chooses from the training split (``fit.benchmark.choose``), unless
given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.errors import DataError, SpecError
from scalinglab.fit.benchmark import (
    DATASETS,
    LOSS,
    N_STARTS,
    PAPER_5_PERCENT,
    PAPER_FRACTION,
    Dataset,
    choose,
    load,
    run_cost,
    target_r2,
)
from scalinglab.fit.data import evaluate, prepare
from scalinglab.fit.estimate import FitData, fit_law
from scalinglab.fit.laws import LAWS
from scalinglab.fit.plan import STRATEGIES, plan

FRACTIONS = (0.01, 0.05, 0.1, 0.2)
INIT_FRACTION = 0.02  # ScaleBench's mspe.cheap_init: the initial runs' cost, as a share of the pool's
INIT_PER_PARAM = 2.5  # and their number per parameter of the law
PRIOR_BOOTSTRAP = 50  # bootstrap refits of the initial fit: the prior covariance of the designs
SEQUENTIAL_REFITS = 4  # refits of `sequential` over a budget: its batch is the v-optimal plan's picks / 4
SEEDED = ("random", "sequential")  # the strategies that draw


@dataclasses.dataclass(frozen=True)
class Cell:
    """One strategy at one budget: R^2 per seed, runs paid for (initial design included, summed over groups,
    mean over seeds) and the share of the pools' cost spent."""

    r2_seeds: tuple[float, ...]
    runs: float
    spent_fraction: float

    @property
    def r2_median(self) -> float:
        return float(np.median(self.r2_seeds))

    def to_dict(self) -> dict[str, Any]:
        return {"r2_median": self.r2_median, "r2_seeds": list(self.r2_seeds), "runs": self.runs,
                "spent_fraction": self.spent_fraction}


@dataclasses.dataclass(frozen=True)
class TaskResult:
    """One task: its law, the paper's figure and where it was measured, the R^2 with every pool run (the
    all-data fit), and each strategy's cells by budget fraction."""

    name: str
    law: str
    paper_r2: float | None
    paper_fraction: float | None
    all_data_r2: float | None
    strategies: dict[str, dict[float, Cell]]

    def best(self, fraction: float) -> tuple[str | None, float]:
        """The strategy with the highest median R^2 at ``fraction``, and that R^2."""
        cells = {s: c[fraction].r2_median for s, c in self.strategies.items() if fraction in c}
        if not cells:
            return None, float("nan")
        s = max(cells, key=cells.get)
        return s, cells[s]

    @property
    def reached(self) -> bool | None:
        """Whether the best strategy's median R^2 is at or above the paper's figure at its budget."""
        if self.paper_r2 is None or self.paper_fraction is None:
            return None
        s, r2 = self.best(self.paper_fraction)
        return None if s is None else bool(r2 >= self.paper_r2)

    def to_dict(self) -> dict[str, Any]:
        return {"law": self.law, "paper_r2_at_5pct": self.paper_r2, "paper_fraction": self.paper_fraction,
                "all_data_r2": self.all_data_r2, "reached": self.reached,
                "strategies": {s: {f"{f:g}": c.to_dict() for f, c in cells.items()}
                               for s, cells in self.strategies.items()}}


@dataclasses.dataclass(frozen=True)
class PlanBenchmark:
    tasks: dict[str, TaskResult]
    fractions: tuple[float, ...]
    seeds: int

    @property
    def reached(self) -> int:
        return sum(bool(t.reached) for t in self.tasks.values())

    def to_dict(self) -> dict[str, Any]:
        return {"fractions": list(self.fractions), "seeds": self.seeds, "initial_fraction": INIT_FRACTION,
                "initial_per_parameter": INIT_PER_PARAM, "prior_bootstrap": PRIOR_BOOTSTRAP, "loss": LOSS,
                "n_starts": N_STARTS, "reached": self.reached,
                "tasks": {n: t.to_dict() for n, t in self.tasks.items()}}


@dataclasses.dataclass(frozen=True)
class _Pool:
    """One group of one task: per loss column, the pool's sizes and losses and the target region's."""

    X: list[np.ndarray]
    y: list[np.ndarray]
    X_test: list[np.ndarray]
    y_test: list[np.ndarray]
    cost: np.ndarray
    inputs: list[tuple[str, ...]]


def initial_design(cost: np.ndarray, X: np.ndarray, n_params: int, budget: float) -> np.ndarray:
    """The rows of the initial design (module docstring) among runs of sizes ``X`` (n, columns): ScaleBench's
    cheap_init; then, for each size column with a single value among them, the cheapest run with another (no law
    can be fitted to one value); then the next cheapest up to n_params + 1 runs. All within ``budget``."""
    order = np.argsort(cost, kind="stable")
    limit = min(INIT_FRACTION * float(cost.sum()), budget)
    want = int(INIT_PER_PARAM * n_params)
    chosen: list[int] = []
    spent = 0.0

    def take(rows, cap: float, stop) -> None:
        nonlocal spent
        for i in rows:
            if stop():
                break
            if i not in chosen and spent + cost[i] <= cap * (1 + 1e-12):
                chosen.append(int(i))
                spent += cost[i]

    take(order, limit, lambda: len(chosen) >= want)
    for j in range(X.shape[1]):
        if chosen and np.unique(X[chosen, j]).size < 2:
            take([i for i in order if X[i, j] != X[chosen[0], j]], budget,
                 lambda j=j: np.unique(X[chosen, j]).size >= 2)
    take(order, budget, lambda: len(chosen) > n_params)
    return np.array(chosen, dtype=int)


def _pools(ds: Dataset, law: str, data: dict, is_test: np.ndarray) -> list[_Pool]:
    cols = dict(data)
    for item in ds.define:
        name, _, expr = item.partition("=")
        cols[name.strip()] = evaluate(expr, cols, "--define")
    cost_all = run_cost(ds, cols, len(is_test))
    per_target = [prepare(data, y=target, x=ds.columns(law, t), define=list(ds.define), group=ds.group,
                          path=ds.name) for t, target in enumerate(ds.targets)]
    groups = per_target[0][2]
    pools = []
    for g in np.unique(groups):
        train, test = (groups == g) & ~is_test, (groups == g) & is_test
        if train.any() and test.any():
            pools.append(_Pool(X=[X[train] for X, *_ in per_target], y=[y[train] for _, y, *_ in per_target],
                               X_test=[X[test] for X, *_ in per_target],
                               y_test=[y[test] for _, y, *_ in per_target], cost=cost_all[train],
                               inputs=[tuple(ds.columns(law, t)) for t in range(len(ds.targets))]))
    return pools


def _fit(law: str, X: np.ndarray, y: np.ndarray, n_boot: int, rng: np.random.Generator, inputs: tuple[str, ...]):
    fit = fit_law(LAWS[law], X, y, loss=LOSS, n_starts=N_STARTS, n_boot=n_boot, rng=rng)
    return dataclasses.replace(fit, data=FitData(X=X, y=y, held_out=np.zeros(len(y), bool), inputs=inputs,
                                                 target="loss"))


def _choose_runs(pool: _Pool, law: str, strategy: str, budget: float, init: np.ndarray, seed: int, key: int,
                 priors: dict) -> np.ndarray:
    """The runs paid for in one group: the initial design, then the strategy's picks within the budget."""
    cost = pool.cost
    left = budget - float(cost[init].sum())
    rest = np.setdiff1d(np.arange(len(cost)), init)
    if left <= 0 or rest.size == 0:
        return init
    orders = []
    for t in range(len(pool.X)):
        prior_key = (key, t, tuple(init))
        if prior_key not in priors:
            try:
                priors[prior_key] = _fit(law, pool.X[t][init], pool.y[t][init], PRIOR_BOOTSTRAP,
                                         np.random.default_rng([0, key, t]), pool.inputs[t])
            except (DataError, SpecError):
                priors[prior_key] = None
        prior = priors[prior_key]
        if prior is None:
            continue
        centre = np.exp(np.mean(np.log(pool.X_test[t]), axis=0))
        names = pool.inputs[t]
        candidates = {n: pool.X[t][rest, k] for k, n in enumerate(names)}
        candidates["known_loss"] = pool.y[t][rest]
        kwargs = dict(cost=cost[rest], budget=left, target=dict(zip(names, centre, strict=True)), y="known_loss")
        try:
            batch = 1
            if strategy == "sequential":
                picks = len(plan(prior, candidates, strategy="v-optimal", **kwargs).picks)
                batch = max(1, -(-picks // SEQUENTIAL_REFITS))
            p = plan(prior, candidates, strategy=strategy, batch=batch, rng=np.random.default_rng([seed, key, t]),
                     **kwargs)
        except (DataError, SpecError):
            continue
        orders.append(list(rest[p.rows]))
    if not orders:
        return init
    chosen, spent, taken = list(init), float(cost[init].sum()), set(init.tolist())
    while any(orders):
        for order in orders:
            while order and order[0] in taken:
                order.pop(0)
            if order:
                i = order.pop(0)
                if spent + cost[i] <= budget * (1 + 1e-12):
                    chosen.append(i)
                    taken.add(i)
                    spent += cost[i]
    return np.array(chosen, dtype=int)


def _score(pools: list[_Pool], law: str, rows: list[np.ndarray], shift: float, cache: dict) -> float:
    """R^2 on the target regions of the law refitted per group and loss column on ``rows`` (each fit, a
    function of its runs alone, kept in ``cache``: strategies often pay for the same runs)."""
    ys, preds = [], []
    for key, (pool, r) in enumerate(zip(pools, rows, strict=True)):
        for t in range(len(pool.X)):
            cache_key = (key, t, tuple(sorted(r.tolist())))
            if cache_key not in cache:
                try:
                    fit = fit_law(LAWS[law], pool.X[t][r], pool.y[t][r], loss=LOSS, n_starts=N_STARTS, n_boot=0,
                                  rng=np.random.default_rng([key, t]))
                    cache[cache_key] = fit.predict(pool.X_test[t])
                except (DataError, SpecError):
                    cache[cache_key] = None
            pred = cache[cache_key]
            if pred is not None and np.all(np.isfinite(pred)):
                ys.append(pool.y_test[t])
                preds.append(pred)
    return target_r2(np.concatenate(ys), np.concatenate(preds), shift) if ys else -1.0


def check_options(names: Sequence[str] | None, fractions: Sequence[float], seeds: int,
                  strategies: Sequence[str] | None, registry: dict[str, Dataset]) -> None:
    for name in names or ():
        if name not in registry:
            raise SpecError(f"unknown task {name!r} (known: {', '.join(registry)})", param="names")
    if not fractions:
        raise SpecError("give at least one budget fraction", param="fractions")
    for f in fractions:
        if not (isinstance(f, (int, float)) and np.isfinite(f) and 0 < f <= 1):
            raise SpecError(f"each must lie in (0, 1], got {f}", param="fractions")
    if not (isinstance(seeds, (int, np.integer)) and seeds >= 1):
        raise SpecError(f"must be a positive integer, got {seeds}", param="seeds")
    for s in strategies or ():
        if s not in STRATEGIES:
            raise SpecError(f"must be among {', '.join(STRATEGIES)}, got {s!r}", param="strategies")


def benchmark_plan(names: Sequence[str] | None = None, *, fractions: Sequence[float] = FRACTIONS, seeds: int = 5,
                   strategies: Sequence[str] | None = None, laws: dict[str, str] | None = None,
                   paper_fractions: bool = True, all_data: bool = True, folder: Path | None = None,
                   registry: dict[str, Dataset] | None = None,
                   progress: Callable[[str, int, int], None] | None = None) -> PlanBenchmark:
    """Each strategy on each named task of ``registry`` (``DATASETS``; all by default) at each budget fraction
    (plus, with ``paper_fractions``, the fraction of the paper's figure for the task); ``laws`` overrides the
    law of a task (by default `benchmark-laws`' choice); ``all_data``: also score the fit on every pool run.
    ``progress(task, done, total)`` after each fraction."""
    registry = registry or DATASETS
    check_options(names, fractions, seeds, strategies, registry)
    names = list(names or registry)
    strategies = list(strategies or STRATEGIES)
    fracs = tuple(sorted({float(f) for f in fractions}))
    tasks: dict[str, TaskResult] = {}
    for name in names:
        ds = registry[name]
        data, is_test = load(name, folder)
        law = (laws or {}).get(name) or choose(ds, data, is_test)[0]
        if law is None or law not in LAWS:
            raise DataError(f"{name}: no law could be fitted to the training split")
        pools = _pools(ds, law, data, is_test)
        n_params = len(LAWS[law].params)
        paper_f = PAPER_FRACTION.get(name)
        task_fracs = tuple(sorted(set(fracs) | ({paper_f} if paper_fractions and paper_f else set())))
        cells: dict[str, dict[float, Cell]] = {s: {} for s in strategies}
        priors: dict = {}
        fits: dict = {}
        for done, f in enumerate(task_fracs, 1):
            budgets = [f * float(p.cost.sum()) for p in pools]
            inits = [initial_design(p.cost, np.hstack(p.X), n_params, b) for p, b in zip(pools, budgets, strict=True)]
            for s in strategies:
                r2s, runs, spent = [], [], []
                for seed in range(seeds if s in SEEDED else 1):
                    rows = [_choose_runs(p, law, s, b, i, seed, k, priors)
                            for k, (p, b, i) in enumerate(zip(pools, budgets, inits, strict=True))]
                    r2s.append(_score(pools, law, rows, ds.shift, fits))
                    runs.append(sum(len(r) for r in rows))
                    spent.append(sum(float(p.cost[r].sum()) for p, r in zip(pools, rows, strict=True))
                                 / sum(float(p.cost.sum()) for p in pools))
                cells[s][f] = Cell(tuple(r2s), float(np.mean(runs)), float(np.mean(spent)))
            if progress:
                progress(name, done, len(task_fracs))
        full = (_score(pools, law, [np.arange(len(p.cost)) for p in pools], ds.shift, fits) if all_data
                else None)
        tasks[name] = TaskResult(name=name, law=law, paper_r2=PAPER_5_PERCENT.get(name), paper_fraction=paper_f,
                                 all_data_r2=full, strategies=cells)
    return PlanBenchmark(tasks=tasks, fractions=fracs, seeds=seeds)
