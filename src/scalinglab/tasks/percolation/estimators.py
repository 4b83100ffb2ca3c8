"""Estimators with 95% intervals on percolation clusters, and Brill's per-cluster conversion factors.

- p_c on hypercubic lattices from the spanning thresholds of many lattices of several sizes: the mean threshold
  p_av(L) and the width Delta(L) both scale as L^(-1/nu), so p_av = p_c + A Delta is linear and its intercept is
  p_c without knowing nu (Stauffer & Aharony, section 4.1); interval by bootstrap over lattices.
- p_c on the Bethe lattice from the branching ratio m = (z - 1) p: p_c = p / m (every non-seed site draws an
  independent Binomial(z - 1, p) number of children).
- tau from cluster sizes with the ``powerlaw`` package (Clauset, Shalizi & Newman 2009; discrete maximum
  likelihood). Cluster numbers n_s ~ s^-tau; sizes of clusters grown from a random site are site-weighted,
  P(s) ~ s^(1 - tau).
- The fractal dimension D from mass against radius of gyration, s ~ R_g^D, over clusters; bootstrap interval.
- sigma_k, the training examples per degree of freedom of cluster k (Brill 2024, Step 1).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from scalinglab.errors import DataError


@dataclasses.dataclass(frozen=True)
class Estimate:
    """A point estimate with a 95% interval; ``n`` is the number of samples it rests on."""

    value: float
    ci95: tuple[float, float]
    n: int
    method: str

    def as_dict(self) -> dict[str, object]:
        return {"value": float(self.value), "ci95": [float(self.ci95[0]), float(self.ci95[1])]}

    def contains(self, x: float) -> bool:
        return self.ci95[0] <= x <= self.ci95[1]


def _percentile_interval(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return float(lo), float(hi)


def pc_from_thresholds(thresholds: dict[int, np.ndarray], rng: np.random.Generator, n_boot: int = 2000) -> Estimate:
    """p_c as the intercept of p_av(L) = p_c + A Delta(L) over lattice sizes L (at least two sizes)."""
    sizes = sorted(thresholds)
    if len(sizes) < 2 or any(len(thresholds[L]) < 3 for L in sizes):
        raise DataError("thresholds: need at least two lattice sizes with at least 3 spanning thresholds each")
    samples = [np.asarray(thresholds[L], dtype=float) for L in sizes]

    def intercept(groups) -> float:
        mean = np.array([g.mean() for g in groups])
        width = np.array([g.std(ddof=1) for g in groups])
        slope, icpt = np.polyfit(width, mean, 1)
        return float(icpt)

    value = intercept(samples)
    boots = np.array([intercept([g[rng.integers(0, g.size, g.size)] for g in samples]) for _ in range(n_boot)])
    return Estimate(value, _percentile_interval(boots), int(sum(g.size for g in samples)),
                    "intercept of mean spanning threshold against its width")


def pc_bethe(offspring: int, expanded: int, z: int, p: float) -> Estimate:
    """p_c = p / m from the mean number of children m of non-seed sites (normal interval on m)."""
    if expanded < 2 or offspring <= 0:
        raise DataError(f"expanded: need non-seed sites with children, got {expanded} sites, {offspring} children")
    m = offspring / expanded
    se = np.sqrt(max(m * (1.0 - m / (z - 1)), 1e-300) / expanded)
    lo, hi = p / (m + 1.96 * se), p / max(m - 1.96 * se, 1e-300)
    return Estimate(p / m, (lo, hi), int(expanded), "p / mean offspring of non-seed sites")


def tau_powerlaw(sizes: np.ndarray, xmin: float, xmax: float | None = None, site_weighted: bool = False) -> Estimate:
    """tau by discrete maximum likelihood (``powerlaw.Fit``) on sizes in [xmin, xmax]; interval +-1.96 sigma.

    ``site_weighted``: sizes are those of clusters containing a random site (P(s) ~ s^(1 - tau)), so tau is the
    fitted exponent plus one.
    """
    import powerlaw

    sizes = np.asarray(sizes, dtype=float)
    n = int(np.sum((sizes >= xmin) & (sizes <= (xmax if xmax is not None else np.inf))))
    if n < 10:
        raise DataError(f"sizes: only {n} clusters in [xmin={xmin}, xmax={xmax}], need at least 10 to fit tau")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(sizes, xmin=xmin, xmax=xmax, discrete=True, verbose=False)
    shift = 1.0 if site_weighted else 0.0
    law = fit.power_law
    alpha = float(law.alpha)
    sigma = float(law.standard_err if hasattr(law, "standard_err") else law.sigma)
    return Estimate(alpha + shift, (alpha + shift - 1.96 * sigma, alpha + shift + 1.96 * sigma), n,
                    "powerlaw discrete maximum likelihood")


def fractal_dimension(sizes: np.ndarray, radius: np.ndarray, smin: float, smax: float,
                      rng: np.random.Generator, n_boot: int = 1000) -> Estimate:
    """D = 1 / slope of ln R_g against ln s over clusters with smin <= s <= smax (R_g ~ s^(1/D)).

    R_g scatters widely at fixed s while s is exact, so R_g is the response: regressing ln s on ln R_g
    instead would attenuate the slope (errors in the regressor) and bias D low.
    """
    sizes, radius = np.asarray(sizes, dtype=float), np.asarray(radius, dtype=float)
    keep = (sizes >= smin) & (sizes <= smax) & (radius > 0)
    x, y = np.log(sizes[keep]), np.log(radius[keep])
    if x.size < 10 or np.ptp(x) == 0:
        raise DataError(f"sizes: only {x.size} clusters in [{smin}, {smax}], need at least 10 to fit D")
    value = 1.0 / float(np.polyfit(x, y, 1)[0])
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    xb, yb = x[idx], y[idx]
    xc, yc = xb - xb.mean(1, keepdims=True), yb - yb.mean(1, keepdims=True)
    boots = (xc * xc).sum(1) / np.maximum((xc * yc).sum(1), 1e-300)
    return Estimate(value, _percentile_interval(boots), int(x.size), "1 / slope of ln R_g against ln s")


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def conversion_factors(n_train: np.ndarray, losses: np.ndarray, sizes: np.ndarray, exponent: float = 0.5,
                       delta: float = 0.1, grid: int = 1200) -> np.ndarray:
    """sigma_k >= 1 fitting L_k(n) = max(n / sigma_k, 1)^-exponent to each cluster's measured losses.

    ``n_train`` and ``losses`` have shape (clusters, fractions). The Huber loss (``delta`` in ln L) acts on
    log residuals; the fit is a search over a log grid of sigma in [1, s_k] refined by a parabola through the
    best three points (Brill 2024, Step 1: examples per DOF).
    """
    n_train, losses = np.asarray(n_train, dtype=float), np.asarray(losses, dtype=float)
    if n_train.shape != losses.shape or n_train.shape[0] != len(sizes):
        raise DataError(f"losses: expected shape {n_train.shape} with one row per cluster, got {losses.shape}")
    u = np.linspace(0.0, 1.0, grid)
    out = np.empty(len(sizes))
    log_l = np.log(np.maximum(losses, 1e-12))
    for k, s in enumerate(sizes):
        log_sigma = u * np.log(max(float(s), 1.0))
        model = -exponent * np.maximum(np.log(np.maximum(n_train[k], 1e-300))[None, :] - log_sigma[:, None], 0.0)
        cost = _huber(log_l[k][None, :] - model, delta).sum(1)
        i = int(np.argmin(cost))
        if 0 < i < grid - 1:
            c0, c1, c2 = cost[i - 1], cost[i], cost[i + 1]
            denom = c0 - 2 * c1 + c2
            shift = 0.5 * (c0 - c2) / denom if denom > 0 else 0.0
            out[k] = np.exp(log_sigma[i] + np.clip(shift, -1, 1) * (log_sigma[1] - log_sigma[0]))
        else:
            out[k] = np.exp(log_sigma[i])
    return out


def hypercubic_survey(d: int, L: int, p: float, samples: int, rng: np.random.Generator,
                      threshold_samples: int = 100, xmin: int = 50, smin: int = 300,
                      periodic: bool = True) -> dict[str, object]:
    """Cluster statistics of ``samples`` lattices L^d at p, and estimates of p_c, tau and D with intervals.

    Cluster counts and tau use ``periodic`` boundaries (the default: open faces cut clusters and bend n_s),
    tau on sizes in [xmin, L^d / 1000]; D uses
    the open lattices' clusters that touch no face, with s >= smin; p_c uses spanning thresholds of
    ``threshold_samples`` lattices at each of three sizes up to min(L, 2^14 sites). An estimate that lacks
    data is None. In d >= 3 corrections to scaling at small s bias tau low unless ``xmin`` is a few hundred.
    """
    from scalinglab.tasks.percolation import lattice

    lattice.check_lattice_parameters(d, L, p)
    periodic_sizes, interior_sizes, interior_rg = [], [], []
    n_clusters = largest = spanning = 0
    for _ in range(samples):
        occ = lattice.occupy(L, d, p, rng)
        labels, n = lattice.label_clusters(occ)
        sizes = lattice.cluster_sizes(labels, n)
        rg = lattice.radius_of_gyration(labels, n)
        touch = np.zeros(n + 1, dtype=bool)
        for axis in range(d):
            for face in (0, -1):
                touch[np.take(labels, face, axis=axis).ravel()] = True
        interior_sizes.append(sizes[~touch[1:]])
        interior_rg.append(rg[~touch[1:]])
        spanning += int(lattice.spanning_labels(labels).size > 0)
        if periodic:
            plabels, pn = lattice.label_clusters(occ, periodic=True)
            psizes = lattice.cluster_sizes(plabels, pn)
        else:
            pn, psizes = n, sizes
        periodic_sizes.append(psizes)
        n_clusters += pn
        largest += int(psizes.max(initial=0))
    sites = float(L) ** d
    cap = max(3, int(round((2**14) ** (1.0 / d))))
    top = min(L, cap)
    t_sizes = sorted({max(2, top // 4), max(2, top // 2), top})
    estimates: dict[str, Estimate | None] = {}
    if len(t_sizes) >= 2 and threshold_samples >= 3:
        thresholds = {n_: np.array([lattice.spanning_threshold(n_, d, rng) for _ in range(threshold_samples)])
                      for n_ in t_sizes}
        estimates["p_c"] = pc_from_thresholds(thresholds, rng)
    else:
        estimates["p_c"] = None
    all_sizes = np.concatenate(periodic_sizes)
    try:
        estimates["tau"] = tau_powerlaw(all_sizes, xmin=xmin, xmax=max(sites / 1000.0, 10.0 * xmin))
    except DataError:
        estimates["tau"] = None
    try:
        estimates["fractal_dimension"] = fractal_dimension(np.concatenate(interior_sizes),
                                                           np.concatenate(interior_rg), smin, np.inf, rng)
    except DataError:
        estimates["fractal_dimension"] = None
    return {"lattice": "hypercubic", "d": d, "L": L, "p": p, "samples": samples, "periodic": periodic,
            "clusters_per_site": n_clusters / (samples * sites),
            "largest_cluster_fraction": largest / (samples * sites),
            "spanning_probability": spanning / samples, "threshold_sizes": t_sizes, "estimates": estimates}


def bethe_survey(z: int, p: float, n_clusters: int, min_size: int, max_size: int, rng: np.random.Generator,
                 embed_dim: int = 3) -> dict[str, object]:
    """Grow clusters on the Bethe lattice; estimate p_c (branching ratio), tau (sizes of clusters grown from
    a site are site-weighted) and D (R_g in a branching-random-walk embedding against s; mean field D = 4)."""
    from scalinglab.tasks.percolation.bethe import grow_bethe_clusters
    from scalinglab.tasks.percolation.embed import branching_random_walk, radius_of_gyration

    forest = grow_bethe_clusters(n_clusters, z, p, min_size, max_size, rng)
    meta = forest.meta
    estimates: dict[str, Estimate | None] = {}
    try:
        estimates["p_c"] = pc_bethe(meta["offspring"], meta["expanded"], z, p)
    except DataError:
        estimates["p_c"] = None
    try:
        xmin = max(min_size, 50)  # the seed's extra neighbour bends P(s) at small s
        estimates["tau"] = tau_powerlaw(forest.sizes, xmin=xmin, xmax=max_size, site_weighted=True)
    except DataError:
        estimates["tau"] = None
    try:
        rg = radius_of_gyration(forest, branching_random_walk(forest, embed_dim, rng))
        estimates["fractal_dimension"] = fractal_dimension(forest.sizes, rg, max(min_size, 100), np.inf, rng)
    except DataError:
        estimates["fractal_dimension"] = None
    return {"lattice": "bethe", "z": z, "p": p, "clusters": forest.n_clusters, "sites": forest.n_sites,
            "attempts": meta["attempts"], "rejected_small": meta["rejected_small"],
            "rejected_large": meta["rejected_large"], "largest_cluster": int(forest.sizes[0]),
            "estimates": estimates}
