"""Brill (2024), "Neural Scaling Laws Rooted in the Data Distribution": the seven figures (recipes brill-fig1..7).

The simulation follows the paper's protocol (section "Toy experiment"): critical Bethe-lattice clusters (z = 200,
p = p_c = 1/199) ranked by size; the graph nearest-neighbour regressor with shrinkage; per cluster, sigma_k
training examples per degree of freedom (DOF) fitted from 30-50 training fractions (Step 1); model scaling with
the optimal DOF allocation n_k (Step 2); data scaling with i.i.d. sampling, p_train = D sigma_k / sum(s) (Step 3);
the (b, k_br) scan at N = 500 (Step 4). Theory (``theory.percolation``) is overlaid with no fitted parameter.

Test loss: by default every site not used for training is a test site and cluster k weighs s_k. That is not the
paper's estimator: the paper draws n_test = round(p_test s_k) test sites (p_test = 0.001), so clusters with
s_k <= 500 get none and the loss is a test-site-weighted mean over the larger clusters; its expectation differs
(lower at large N, see ``brill-fig6``'s notes). ``p_test`` restores the paper's draw.
Training orders are drawn once per seed and step, so training sets are nested across N (common random numbers).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.models.knn import ForestNearestNeighbour, TreeLevels
from scalinglab.recipes import Recipe, RecipeResult, check, register
from scalinglab.sweep.jobs import Jobs, config_fingerprint
from scalinglab.sweep.runner import job_rng
from scalinglab.tasks.percolation import PercolationTask, grow_bethe_clusters
from scalinglab.tasks.percolation.estimators import conversion_factors, tau_powerlaw
from scalinglab.theory import percolation as th

PAPER = "Brill 2024"
ALPHA, MANIFOLD = 1.0, 0.5  # tau = 5/2 (mean field); nearest neighbour c = 2 on fractal dimension D = 4
BASIS_LEVEL = "agreement with the parameter-free theory asked of the simulation (15%)"
BASIS_SLOPE = "the slope that 15% agreement at both ends of the window allows"
BASIS_ANCHOR = ("half a unit in the last digit of the value computed by the author's code (an anchor of the paper's "
                "specification, not a number printed in the paper)")
PAPER_P_TEST = 0.001  # the paper's fraction of test sites per cluster
PROTOCOL_SEEDS = 10  # seeds on which fig6 also measures the paper's test protocol
K_SCAN = 3.0  # Fig. 5: the theory optimum's loss within 3 standard errors of the scan minimum


@dataclasses.dataclass(frozen=True)
class BrillConfig:
    """One configuration of the toy experiment; ``QUICK`` and ``FULL`` (the paper's) below."""

    min_size: int
    max_size: int
    n_clusters: int
    seeds: int
    n_max: float
    n_points: int
    fractions: int
    scan_points: int
    scan_seeds: int
    z: int = 200
    p_test: float | None = None
    scan_n: float = 500.0
    b_range: float = 5.05

    def fingerprint(self) -> str:
        """The configuration's fingerprint (``sweep.jobs.config_fingerprint``): its jobs' store keys and seeds."""
        return config_fingerprint(self)

    def grid(self) -> np.ndarray:
        return np.geomspace(1.0, self.n_max, self.n_points)


QUICK = BrillConfig(min_size=100, max_size=10**6, n_clusters=100, seeds=10, n_max=3000, n_points=25, fractions=30,
                    scan_points=300, scan_seeds=2)
FULL = BrillConfig(min_size=300, max_size=3 * 10**7, n_clusters=316, seeds=50, n_max=3e4, n_points=50, fractions=50,
                   scan_points=2000, scan_seeds=1)


class _Cluster:
    """A seed's clusters with what every prediction needs, in the regressor's depth-major site order."""

    def __init__(self, config: BrillConfig, rng: np.random.Generator) -> None:
        f = grow_bethe_clusters(config.n_clusters, config.z, th_pc(config.z), config.min_size, config.max_size, rng)
        self.forest = f
        self.task = PercolationTask(f, properties={"tau": 2.5, "alpha": ALPHA, "fractal_dimension": 4.0})
        tree = TreeLevels.from_forest(f.parent, f.depth)
        self.model = ForestNearestNeighbour(tree, f.values, f.site_cluster_size)
        self.order = tree.order
        self.values = f.values[tree.order]
        self.cluster = f.cluster[tree.order]
        n = f.n_sites
        self._threshold, self._train, self._test, self._pred = (np.empty(n, np.int64), np.empty(n, bool),
                                                                np.empty(n, bool), np.empty(n))

    def ranks(self, rng: np.random.Generator) -> np.ndarray:
        """A random order of each cluster's sites (``PercolationTask.ranks``), in depth-major order."""
        return self.task.ranks(rng)[self.order]

    def losses(self, p_train: np.ndarray, p_test: float | None, rng: np.random.Generator,
               ranks: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Test loss, per-cluster losses and per-cluster training counts of one split (``PercolationTask.split``:
        in the order ``ranks`` the first n_test sites of a cluster are test sites, the next n_train training)."""
        f = self.forest
        n_train, n_test = self.task.draw_counts(p_train, p_test, rng)
        thr, train, test = self._threshold, self._train, self._test
        np.take(n_test + n_train, self.cluster, out=thr)
        np.less(ranks, thr, out=train)
        if p_test is None:
            np.logical_not(train, out=test)
            counts, weight = f.sizes - n_train, f.sizes
        else:
            np.take(n_test, self.cluster, out=thr)
            np.less(ranks, thr, out=test)
            train &= ~test
            counts, weight = n_test, n_test
        err = self.model.predict(train, out=self._pred)
        err -= self.values
        err *= err
        err *= test
        total = np.bincount(self.cluster, weights=err, minlength=f.n_clusters)
        per_cluster = np.divide(total, counts, out=np.zeros(f.n_clusters), where=counts > 0)
        return float(np.sum(weight * per_cluster) / np.sum(weight)), per_cluster, n_train

    def conversion(self, fractions: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step 1: losses at ``fractions`` training sizes n from 1 to 0.95 s_k per cluster; sigma_k."""
        f = self.forest
        target = np.geomspace(1.0, 0.95 * f.sizes, fractions).T
        ranks = self.ranks(rng)
        n = np.zeros_like(target)
        loss = np.zeros_like(target)
        for j in range(fractions):
            _, loss[:, j], n[:, j] = self.losses(target[:, j] / f.sizes, None, rng, ranks)
        return n, loss, conversion_factors(n, loss, f.sizes, exponent=MANIFOLD)


def th_pc(z: int) -> float:
    return 1.0 / (z - 1)


def _rng(config: BrillConfig, *key: int) -> np.random.Generator:
    return job_rng(config.fingerprint(), *key)


def _seed_clusters(config: BrillConfig, seed: int) -> tuple[np.random.Generator, _Cluster, tuple, np.ndarray]:
    """One seed's clusters, Step 1 (n, L, sigma_k) and its training order, with the generator that drew them."""
    rng = _rng(config, seed)
    c = _Cluster(config, rng)
    conv = c.conversion(config.fractions, rng)
    return rng, c, conv, c.ranks(rng)


def _scaling_losses(config: BrillConfig, c: _Cluster, sigma: np.ndarray, p_test: float | None,
                    rng: np.random.Generator, ranks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2 and 3: test losses of the optimal DOF allocation and of i.i.d. data over ``config.grid()``."""
    f, grid = c.forest, config.grid()
    k = np.arange(1, f.n_clusters + 1)
    model = [c.losses(th.optimal_allocation(N, k, ALPHA, MANIFOLD) * sigma / f.sizes, p_test, rng, ranks)[0]
             for N in grid]
    data = [c.losses(np.full(f.n_clusters, D) * sigma / f.sizes.sum(), p_test, rng, ranks)[0] for D in grid]
    return np.array(model), np.array(data)


def run_seed(config: BrillConfig, seed: int) -> dict[str, Any]:
    """Steps 1-3 for one seed: sizes, sigma_k, conversion curves, model- and data-scaling losses."""
    t0 = time.perf_counter()
    rng, c, (n_conv, loss_conv, sigma), ranks = _seed_clusters(config, seed)
    f = c.forest
    model, data = _scaling_losses(config, c, sigma, config.p_test, rng, ranks)
    return {"seed": seed, "sizes": f.sizes, "sigma": sigma, "n_conv": n_conv, "loss_conv": loss_conv,
            "model": model, "data": data, "sites": f.n_sites, "attempts": f.meta["attempts"],
            "seconds": time.perf_counter() - t0}


def run_paper_protocol(config: BrillConfig, seed: int) -> dict[str, Any]:
    """Steps 2 and 3 on the clusters and sigma_k of ``run_seed(config, seed)`` with the paper's test sites
    (``PAPER_P_TEST``): the same clusters under the other estimator of the test loss."""
    _, c, (_, _, sigma), ranks = _seed_clusters(config, seed)
    model, data = _scaling_losses(config, c, sigma, PAPER_P_TEST, _rng(config, seed, 2), ranks)
    return {"seed": seed, "model": model, "data": data, "sites": c.forest.n_sites}


def run_scan(config: BrillConfig, seed: int, repeats: int = 8) -> dict[str, Any]:
    """Step 4 at N = ``config.scan_n``: loss of the allocation n_k ~ k^(b-1), k < k_br, for each (b, k_br) of
    ``scan_points(config)``."""
    points = scan_points(config)
    rng = _rng(config, seed, 1)
    c = _Cluster(config, rng)
    f = c.forest
    _, _, sigma = c.conversion(config.fractions, rng)
    ranks = c.ranks(rng)

    def loss(b: float, kbr: float) -> float:
        n = th.power_allocation(config.scan_n, b, kbr, f.n_clusters)
        return c.losses(n * sigma / f.sizes, config.p_test, rng, ranks)[0]

    b_opt = th.allocation_exponent(ALPHA, MANIFOLD)
    k_opt = float(th.break_rank(config.scan_n, ALPHA, MANIFOLD))
    return {"loss": np.array([loss(b, kbr) for b, kbr in points]),
            "optimum": np.array([loss(b_opt, k_opt) for _ in range(repeats)])}


def simulate(config: BrillConfig, jobs: Jobs) -> list[dict[str, Any]]:
    """Steps 1-3 for every seed, one job per seed in ``jobs``' store (fig6 and fig7 share them)."""
    return jobs.map("brill", run_seed, config, [(s,) for s in range(config.seeds)], "simulation seeds")


def scan_points(config: BrillConfig) -> np.ndarray:
    """The (b, k_br) points of Step 4: b ~ U(-b_range, b_range), k_br log-uniform on [1, n_clusters]."""
    rng = _rng(config, 10**6)
    b = rng.uniform(-config.b_range, config.b_range, config.scan_points)
    kbr = np.exp(rng.uniform(0.0, np.log(config.n_clusters), config.scan_points))
    return np.stack([b, kbr], axis=1)


def band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and 16th / 84th percentiles over seeds (axis 0)."""
    lo, med, hi = np.percentile(values, [16, 50, 84], axis=0)
    return med, lo, hi


def log_slope(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """-slope of ln y against ln x over lo <= x <= hi (least squares)."""
    keep = (x >= lo) & (x <= hi)
    return -float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])


def slope_window(n_clusters: int, n_max: float) -> tuple[float, float]:
    """The decade of N ending where k_br(N) = n_clusters / 2 (or at n_max): beyond it the clusters k > K,
    which the continuum theory counts and the simulation lacks, carry a visible share of the loss."""
    hi = min(n_max, float(th.total_dof(n_clusters / 2.0, th.allocation_exponent(ALPHA, MANIFOLD))))
    return hi / 10.0, hi


def scaling_checks(grid: np.ndarray, model: np.ndarray, data: np.ndarray, n_clusters: int,
                   tolerance: float = 0.15, n_min: float = 30.0, label: str = "") -> tuple[list[dict], list[dict]]:
    """The done-criterion: medians within ``tolerance`` of theory at every N >= n_min; log-slopes (check names
    start with ``label``).

    A slope over [lo, hi] that agrees with theory to ``tolerance`` at both ends differs from the theory's
    slope by at most ln((1 + tol) / (1 - tol)) / ln(hi / lo): that is the slope check's tolerance.
    """
    checks, rows = [], []
    theory = {"model": th.model_scaling_loss(grid, ALPHA, MANIFOLD),
              "data": th.data_scaling_loss(grid, ALPHA, MANIFOLD)}
    lo, hi = slope_window(n_clusters, grid[-1])
    slope_tol = np.log((1 + tolerance) / (1 - tolerance)) / np.log(hi / lo)
    for name, values in (("model", model), ("data", data)):
        med = np.median(values, axis=0)
        ratio = med / theory[name]
        sel = grid >= n_min
        worst = int(np.argmax(np.abs(ratio[sel] - 1.0)))
        checks.append(check(f"{label}{name} scaling: worst median/theory at N >= {n_min:g} "
                            f"(at N = {grid[sel][worst]:.0f})",
                            ratio[sel][worst], 1.0, tolerance, basis=BASIS_LEVEL))
        measured, predicted = log_slope(grid, med, lo, hi), log_slope(grid, theory[name], lo, hi)
        checks.append(check(f"{label}{name} scaling: log-slope for N in [{lo:.0f}, {hi:.0f}]", measured, predicted,
                            slope_tol, basis=BASIS_SLOPE))
        edges = np.geomspace(1.0, grid[-1], 8)
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            rows.append({"curve": name, "N from": a, "N to": b, "measured slope": log_slope(grid, med, a, b),
                         "predicted local slope": log_slope(grid, theory[name], a, b)})
    return checks, rows


def _config(quick: bool) -> BrillConfig:
    return QUICK if quick else FULL


def fig6(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.brill import appendix, plots

    config = _config(quick)
    runs = simulate(config, jobs)
    grid = config.grid()
    model = np.array([r["model"] for r in runs])
    data = np.array([r["data"] for r in runs])
    checks, rows = scaling_checks(grid, model, data, config.n_clusters)
    # the paper's estimator of the test loss (p_test = 0.001 test sites) on the same clusters and sigma_k
    n_paper = min(config.seeds, PROTOCOL_SEEDS)
    paper = jobs.map("brill", run_paper_protocol, config, [(s,) for s in range(n_paper)], "paper's test protocol")
    paper_model, paper_data = np.array([r["model"] for r in paper]), np.array([r["data"] for r in paper])
    more, _ = scaling_checks(grid, paper_model, paper_data, config.n_clusters,
                             label=f"paper's test sites (p_test = {PAPER_P_TEST:g}, {n_paper} seeds): ")
    checks += more
    protocol = []
    for name, mine, theirs in (("model", model[:n_paper], paper_model), ("data", data[:n_paper], paper_data)):
        ratio = np.median(theirs / mine, axis=0)
        protocol += [{"curve": name, "N": float(n), "all sites, median": float(np.median(a)),
                      "paper's test sites, median": float(np.median(b)), "median ratio paper / all sites": float(r)}
                     for n, a, b, r in zip(grid, mine.T, theirs.T, ratio, strict=True)]
    large = [r["median ratio paper / all sites"] for r in protocol if r["N"] >= 290]
    figure = plots.scaling_figure(grid, model, data, out / "brill-fig6.png")
    single = appendix.single_seed_figure(grid, runs[0], out / "brill-seed0.png")
    seconds = [r["seconds"] for r in runs]
    notes = [f"{config.seeds} seeds, {config.n_clusters} clusters of {config.min_size}..{config.max_size:g} sites "
             f"(median {np.median([r['sites'] for r in runs]):.3g} sites a seed), {config.fractions} training "
             f"sizes for sigma_k, {config.n_points} values of N and D up to {config.n_max:g}; "
             f"median {np.median(seconds):.1f} s a seed on one core.",
             "The curves and the first checks use every site not used for training as a test site, cluster k "
             f"weighted by s_k. The paper's estimator (n_test = round({PAPER_P_TEST:g} s_k) test sites, loss "
             "weighted by test sites, so clusters of at most 500 sites carry no weight) on the same clusters and "
             f"sigma_k of the first {n_paper} seeds gives {min(large):.3f} to {max(large):.3f} times the "
             "all-sites loss (median over seeds of the per-seed ratio) at N, D >= 290; the checks prefixed "
             "'paper's test sites' hold it to the same theory."]
    return RecipeResult(checks=checks, figures={"model and data scaling": figure, "one seed": single}, notes=notes,
                        tables={"log-slopes: measured median against theory": rows,
                                "test-loss protocol: the paper's test sites against all sites": protocol})


def fig7(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.brill import appendix, plots

    config = _config(quick)
    runs = simulate(config, jobs)
    sizes = np.concatenate([r["sizes"] for r in runs])
    est = tau_powerlaw(sizes, xmin=config.min_size, xmax=config.max_size, site_weighted=True)
    checks = [check("tau from the kept cluster sizes (powerlaw, site-weighted), 95% interval", est.value, 2.5,
                    max(2.5 - est.ci95[0], est.ci95[1] - 2.5), ok=est.contains(2.5),
                    basis="the estimate's 95% bootstrap interval")]
    # Kolmogorov-Smirnov distance to the truncated law P(S >= s) ~ s^(2 - tau), 95% critical value 1.36 / sqrt(n)
    s = np.sort(sizes)
    a, b = config.min_size ** -0.5, config.max_size ** -0.5
    model_cdf = (a - s**-0.5) / (a - b)
    emp = np.arange(1, s.size + 1) / s.size
    ks = float(np.max(np.maximum(np.abs(emp - model_cdf), np.abs(emp - 1.0 / s.size - model_cdf))))
    checks.append(check("cluster-size CDF: KS distance to (s/min_size)^(2 - tau) (95% critical value)", ks, 0.0,
                        1.36 / np.sqrt(s.size), basis="the Kolmogorov-Smirnov 95% critical value 1.36 / sqrt(n)"))
    x = np.concatenate([r["n_conv"] / r["sigma"][:, None] for r in runs])  # (clusters, fractions)
    y = np.concatenate([r["loss_conv"] for r in runs])
    slope, se = _collapse_slope(x, y, 2.0, 100.0, np.random.default_rng(0))
    checks.append(check("per-cluster curves: slope of ln L against ln(n / sigma_k), n / sigma_k in [2, 100] "
                        "(2 SE, bootstrap over clusters)", slope, MANIFOLD, 2.0 * se,
                        basis="2 standard errors, bootstrap over clusters"))
    sigma = np.concatenate([r["sigma"] for r in runs])
    figure = plots.cluster_figure(runs, config, out / "brill-fig7.png")
    checks.append(appendix.size_check(sizes, config.min_size, config.max_size))
    drawn = appendix.drawn_clusters(_Cluster(config, _rng(config, 0)).forest)  # seed 0's clusters, grown again
    more = {"accepted sizes against (s/s_max)^(2 - tau)": appendix.sizes_figure(
                sizes, config.min_size, config.max_size, out / "brill-sizes.png"),
            "sigma_k diagnostics": appendix.sigma_figure(runs, out / "brill-sigma.png"),
            "per-cluster curves (seed 0)": appendix.per_cluster_figure(runs[0], out / "brill-clusters.png"),
            "example clusters (seed 0's smallest), coloured by value": appendix.clusters_figure(
                drawn, out / "brill-drawn.png")}
    notes = [f"{len(sizes)} clusters over {len(runs)} seeds; median sigma_k = {np.median(sigma):.2f} "
             f"(16-84%: {np.percentile(sigma, 16):.2f}-{np.percentile(sigma, 84):.2f}); "
             f"tau = {est.value:.3f} [{est.ci95[0]:.3f}, {est.ci95[1]:.3f}]. sigma_k >= 1 is the fit's constraint "
             f"(smallest {sigma.min():.3g}), a unit test of conversion_factors rather than a check."]
    return RecipeResult(checks=checks, figures={"cluster sizes, per-cluster curves, sigma_k": figure, **more},
                        notes=notes, tables={"sigma_k by cluster size": appendix.sigma_table(runs)})


def _collapse_slope(x: np.ndarray, y: np.ndarray, lo: float, hi: float, rng: np.random.Generator,
                    n_boot: int = 300) -> tuple[float, float]:
    """-slope of ln L against ln(n / sigma_k) pooled over clusters in [lo, hi], and its bootstrap SE over clusters."""
    def slope(rows: np.ndarray) -> float:
        xs, ys = x[rows].ravel(), y[rows].ravel()
        keep = (xs >= lo) & (xs <= hi) & (ys > 0)
        return -float(np.polyfit(np.log(xs[keep]), np.log(ys[keep]), 1)[0])

    rows = np.arange(x.shape[0])
    boots = [slope(rng.integers(0, rows.size, rows.size)) for _ in range(n_boot)]
    return slope(rows), float(np.std(boots))


def fig5(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.brill import plots

    config = _config(quick)
    points = scan_points(config)
    runs = jobs.map("brill", run_scan, config, [(s,) for s in range(config.scan_seeds)], "DOF scan seeds")
    loss = np.mean([r["loss"] for r in runs], axis=0)
    opt = np.array([r["optimum"] for r in runs])  # (seeds, repeats)
    opt_loss, best_loss = float(opt.mean()), float(loss.min())
    noise = float(np.mean(opt.std(axis=1, ddof=1))) / np.sqrt(len(runs))  # sd of one scan point's mean loss
    se_gap = noise * np.sqrt(1.0 + 1.0 / opt.shape[1])  # sd of (mean over the repeats) - (one scan point)
    b_opt, k_opt = th.allocation_exponent(ALPHA, MANIFOLD), float(th.break_rank(config.scan_n, ALPHA, MANIFOLD))
    region = loss <= np.quantile(loss, 0.05)  # the minimum region: the best 5% of the scanned allocations (figure)
    gap = (opt_loss - best_loss) / max(se_gap, 1e-300)
    checks = [check(f"loss at the theory optimum (b = {b_opt:.4g}, k_br = {k_opt:.4g}) above the scan minimum, in "
                    f"standard errors (within {K_SCAN:g})", gap, 0.0, K_SCAN,
                    reason=f"the scan minimum lies at b = {points[int(np.argmin(loss)), 0]:.2f}, k_br = "
                    f"{points[int(np.argmin(loss)), 1]:.1f}, below the theory's k_br; it is also the least of "
                    f"{config.scan_points} noisy losses (see notes)",
                    basis=f"{K_SCAN:g} standard errors of the difference, the sd of one scan point from "
                    f"{opt.shape[1]} repeated draws at the optimum (fixed in advance)")]
    figure = plots.scan_figure(points, loss, region, (b_opt, k_opt), config, out / "brill-fig5.png")
    at_best = points[int(np.argmin(loss))]
    notes = [f"{config.scan_points} points (b, k_br) at N = {config.scan_n:g}, allocation normalised by the discrete "
             f"sum, loss averaged over {config.scan_seeds} seed(s). Scan minimum {best_loss:.4f} at b = "
             f"{at_best[0]:.2f}, k_br = {at_best[1]:.1f}; theory optimum {opt_loss:.4f} (mean of "
             f"{opt.size} draws; sd of one scan point {noise:.4f}, so the gap is "
             f"{(opt_loss - best_loss) / max(noise, 1e-12):.1f} sd). With the discrete normalisation the ranks just "
             "below k_br = 58 receive less than one DOF, which favours a smaller k_br in the simulation.",
             f"The best 5% of the scan (outlined) spans b = {points[region, 0].min():.2f}.."
             f"{points[region, 0].max():.2f} "
             f"and k_br = {points[region, 1].min():.3g}..{points[region, 1].max():.3g}: too wide a region to test "
             "the optimum against, so the check compares losses in standard errors instead."]
    return RecipeResult(checks=checks, figures={"loss over (b, k_br)": figure}, notes=notes)


def fig1(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.brill import plots
    from scalinglab.tasks.percolation import lattice

    rng = np.random.default_rng(20241210)
    L, samples = 10, 400 if quick else 4000
    ps = (0.1, lattice.SITE_THRESHOLDS[3], 0.6)
    # exact mean number of isolated occupied sites on the open 10^3 lattice: sum over sites of p (1 - p)^degree
    degree = ndim_degree(L, 3)
    checks = []
    for p in ps:
        singles, spans = [], 0
        for _ in range(samples):
            labels, n = lattice.label_clusters(lattice.occupy(L, 3, p, rng))
            singles.append(int(np.sum(lattice.cluster_sizes(labels, n) == 1)))
            spans += int(lattice.spanning_labels(labels).size > 0)
        exact = float(np.sum(p * (1 - p) ** degree))
        se = float(np.std(singles, ddof=1) / np.sqrt(samples))
        checks.append(check(f"p = {p:g}: mean number of isolated sites (exact sum p (1-p)^degree, 3 SE)",
                            float(np.mean(singles)), exact, 3 * se, basis="3 standard errors over the lattices"))
        if p != ps[1]:
            expected = 0.0 if p < ps[1] else 1.0
            checks.append(check(f"p = {p:g}: spanning probability (95% bound 3/samples)", spans / samples,
                                expected, 3.0 / samples, basis="95% bound on a rate with no event: 3 / samples"))
    figure = plots.lattice_figure(L, ps, rng, out / "brill-fig1.png")
    return RecipeResult(checks=checks, figures={"site percolation on a 10x10x10 lattice": figure},
                        notes=[f"{samples} lattices at each p; p = 0.3116 is the simple-cubic threshold."])


def ndim_degree(L: int, d: int) -> np.ndarray:
    """Number of lattice neighbours of every site of an open L^d lattice."""
    deg = np.zeros((L,) * d, dtype=int)
    for axis in range(d):
        shape = [1] * d
        shape[axis] = L
        edge = np.full(L, 2)
        edge[[0, -1]] = 1
        deg = deg + edge.reshape(shape)
    return deg


def fig2(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.brill import plots

    checks = [check(f"k_br({n}) (author's code: {v})", th.break_rank(n, ALPHA, MANIFOLD), float(v), tol,
                    basis=BASIS_ANCHOR)
              for n, v, tol in ((1, "1.7074", 5e-5), (100, "19.63", 5e-3), (500, "58.04", 5e-3))]
    checks += [check(f"L_model({n}) (author's code: {v})", th.model_scaling_loss(n, ALPHA, MANIFOLD), float(v), 5e-4,
                     basis=BASIS_ANCHOR)
               for n, v in ((10, "0.685"), (100, "0.334"))]
    for e in (0.1, 2.0):
        checks.append(check(f"c/D = {e:g}: local slope of L(N) at N = 1e14 against min(alpha, c/D)",
                            th.local_slope(th.model_scaling_loss, 1e14, ALPHA, e), min(ALPHA, e), 0.03, relative=True,
                            basis="the asymptote's approach at N = 1e14 (3%)"))
    return RecipeResult(checks=checks, figures={"L(N)": plots.theory_figure("model", out / "brill-fig2.png")},
                        notes=["alpha = 1; the anchors are values of the author's code (the paper prints none), "
                               "matched to half a unit of their last digit."])


def fig3(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.brill import plots

    checks = [check(f"L_data({n}) (author's code: {v})", th.data_scaling_loss(n, ALPHA, MANIFOLD), float(v), 5e-4,
                    basis=BASIS_ANCHOR)
              for n, v in ((10, "0.680"), (100, "0.330"))]
    return RecipeResult(checks=checks, figures={"L(D)": plots.theory_figure("data", out / "brill-fig3.png")},
                        notes=["alpha = 1; the degenerate case L = (1 + ln(D)/2) D^-1/2 is the paper's toy "
                               "experiment (that the general formula tends to it as c/D -> alpha/(1+alpha) is a "
                               "unit test of theory.percolation, not a check here); the anchors are values of the "
                               "author's code."])


def fig4(out: Path, quick: bool, jobs: Jobs) -> RecipeResult:
    from scalinglab.recipes.brill import plots

    rows = th.exponent_ratios()
    table = [{"d": r["d"], "c": r["c"], "tau": r["tau"], "D": r["fractal_dimension"], "(c/D)/alpha": r["model_ratio"],
              "(c/D)/(alpha/(1+alpha))": r["data_ratio"]} for r in rows]
    return RecipeResult(checks=[], figures={"exponent ratios": plots.ratio_figure(rows, out / "brill-fig4.png")},
                        tables={"exponent ratios": table},
                        notes=["Below 1 the manifold term limits scaling, above 1 the quanta (Zipf) term does.",
                               "No checks: the figure plots formulas of the literature exponents, and its values "
                               "(mean field, c = 2: (c/D)/alpha = 1/2, (c/D)/(alpha/(1+alpha)) = 1) are identities, "
                               "asserted by the unit tests of theory.percolation."])


register(Recipe("brill-fig1", PAPER, "site percolation on a 10x10x10 cubic lattice at p = 0.1, 0.3116, 0.6", fig1))
register(Recipe("brill-fig2", PAPER, "theoretical model scaling L(N), alpha = 1, c/D in {0.1, 0.5, 1, 2, 20}", fig2))
register(Recipe("brill-fig3", PAPER, "theoretical data scaling L(D), alpha = 1, c/D in {0.1, 0.5, 1, 2, 20}", fig3))
register(Recipe("brill-fig4", PAPER, "exponent ratios against lattice dimension d, c in {2, 4, 6}", fig4))
register(Recipe("brill-fig5", PAPER, "loss over the DOF allocation (b, k_br) at N = 500 with the theory optimum",
                fig5))
register(Recipe("brill-fig6", PAPER, "simulated model and data scaling against the parameter-free theory", fig6))
register(Recipe("brill-fig7", PAPER, "cluster-size distribution, per-cluster scaling curves, conversion factors "
                "sigma_k", fig7))
