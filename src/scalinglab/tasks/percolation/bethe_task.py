"""The sweep's percolation task (spec ``[task] kind = "percolation"``): critical Bethe-lattice clusters with a
chosen cluster-size exponent tau, optionally embedded in R^m (Brill 2024, sections "Percolation clusters as
subtasks" and "Toy experiment").

Critical Galton-Watson trees have cluster numbers n_s ~ s^-5/2, and a tree grown from a seed site is the cluster
of a random site, so its size follows P(s) ~ s n_s ~ s^-3/2. For another tau in (2, 3) each grown cluster is kept
with probability (s / s_ref)^(5/2 - tau) (s_ref = ``min_size`` for tau > 5/2, ``max_size`` below), so the kept
sizes follow s^(1 - tau), as the clusters of random sites do when n_s ~ s^-tau, while each cluster keeps the shape
of a critical tree (fractal dimension 4, chemical dimension 2): the subtask weights change, the manifold inside
each subtask does not.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from scalinglab.tasks.percolation.bethe import bethe_threshold, default_cluster_count, grow_bethe_clusters
from scalinglab.tasks.percolation.task import ClusterForest, PercolationTask

MEAN_FIELD_TAU = 2.5
FRACTAL_DIMENSION = 4.0  # mean-field percolation clusters (Stauffer & Aharony, Table 2)


def default_clusters(min_size: int, max_size: int, tau: float) -> int:
    """The paper's int((max_size / min_size)^(tau - 2)), at least 1."""
    return max(1, default_cluster_count(min_size, max_size, tau))


def keep_probability(sizes: np.ndarray, tau: float, min_size: int, max_size: int) -> np.ndarray:
    """(s / s_ref)^(5/2 - tau): thins site-weighted sizes s^-3/2 into s^(1 - tau) (module docstring)."""
    ref = min_size if tau >= MEAN_FIELD_TAU else max_size
    return np.minimum(1.0, (np.asarray(sizes, dtype=float) / ref) ** (MEAN_FIELD_TAU - tau))


def concatenate(forests: list[ClusterForest]) -> ClusterForest:
    """Several forests as one, its clusters ranked by size (largest first)."""
    if len(forests) == 1:
        whole = forests[0]
    else:
        shift = np.cumsum([0] + [f.n_sites for f in forests[:-1]])
        parent = np.concatenate([np.where(f.parent >= 0, f.parent + s, -1) for f, s in zip(forests, shift,
                                                                                          strict=True)])
        whole = ClusterForest(np.concatenate([f.sizes for f in forests]), parent,
                              np.concatenate([f.depth for f in forests]), np.concatenate([f.values for f in forests]),
                              sp.block_diag([f.adjacency for f in forests], format="csr"), None, dict(forests[0].meta))
    order = np.argsort(-whole.sizes, kind="stable") + 1
    return whole if np.all(order == np.arange(1, whole.n_clusters + 1)) else whole.subset(order)


def bethe_clusters(tau: float, z: int, min_size: int, max_size: int, n_clusters: int,
                   rng: np.random.Generator) -> ClusterForest:
    """``n_clusters`` critical clusters of random seed sites, min_size <= s <= max_size, sizes ~ s^(1 - tau)."""
    p = bethe_threshold(z)
    if tau == MEAN_FIELD_TAU:
        return grow_bethe_clusters(n_clusters, z, p, min_size, max_size, rng)
    kept: list[ClusterForest] = []
    have, grown = 0, 0
    while have < n_clusters:
        batch = max(8, int(1.3 * (n_clusters - have) * (grown + 1) / (have + 1))) if grown else 2 * n_clusters
        forest = grow_bethe_clusters(batch, z, p, min_size, max_size, rng)
        grown += batch
        keep = rng.random(forest.n_clusters) < keep_probability(forest.sizes, tau, min_size, max_size)
        ranks = np.flatnonzero(keep) + 1
        if ranks.size > n_clusters - have:  # a uniform choice among the kept (the forest is sorted by size)
            ranks = np.sort(rng.choice(ranks, n_clusters - have, replace=False))
        if ranks.size:
            kept.append(forest.subset(ranks))
            have += ranks.size
    out = concatenate(kept)
    out.meta.update({"tau": tau, "grown": grown})
    return out


def bethe_task(*, tau: float = MEAN_FIELD_TAU, z: int = 200, min_size: int = 30, max_size: int = 30_000,
               n_clusters: int | None = None, embedding: int = 0, cluster_seed: int = 0) -> PercolationTask:
    """The task of a ``percolation`` spec: clusters and (``embedding`` > 0) their embedding, fixed by
    ``cluster_seed``; ``properties()`` carries tau, alpha = (3 - tau) / (tau - 2) and the fractal dimension."""
    from scalinglab.tasks.percolation.embed import branching_random_walk
    from scalinglab.theory.percolation import alpha_from_tau

    n_clusters = n_clusters or default_clusters(min_size, max_size, tau)
    rng = np.random.default_rng(np.random.SeedSequence(int(cluster_seed), spawn_key=(0,)))
    forest = bethe_clusters(tau, z, min_size, max_size, n_clusters, rng)
    positions = None
    if embedding:
        positions = branching_random_walk(forest, embedding, np.random.default_rng(
            np.random.SeedSequence(int(cluster_seed), spawn_key=(1,)))).astype(np.float64)
    props = {"tau": float(tau), "alpha": alpha_from_tau(tau), "fractal_dimension": FRACTAL_DIMENSION,
             "chemical_dimension": 2.0, "z": float(z), "embedding_dimension": float(embedding)}
    return PercolationTask(forest, positions, properties=props)
