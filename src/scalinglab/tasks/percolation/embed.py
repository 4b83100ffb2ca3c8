"""Euclidean embedding of percolation clusters by a branching random walk (so Euclidean models can learn them).

Each cluster's seed sits at a random point far from the others; every other site sits at its spanning-tree
parent's position plus an independent step N(0, I_m / m) (length about 1). Graph distance r along the tree then
becomes Euclidean distance about sqrt(r), so the embedded cluster has fractal dimension 4 (mass ~ R_g^4) on the
Bethe lattice, the mean-field value (Brill 2024, section 2). For m around 100 step lengths concentrate
(relative spread 1/sqrt(2m)), so a site's nearest Euclidean neighbour is almost always a graph neighbour.
"""

from __future__ import annotations

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.tasks.percolation.task import ClusterForest, walk_in_place

_BLOCK = 1 << 15  # float64 draws per block for a float32 embedding (256 KiB)


def branching_random_walk(forest: ClusterForest, dim: int, rng: np.random.Generator,
                          separation: float | None = None, dtype=np.float32) -> np.ndarray:
    """Positions (n_sites, dim) of every site; seeds are N(0, separation^2 I) apart.

    ``separation`` defaults to 10 times the square root of the deepest site's depth plus 10, which keeps
    clusters far apart compared with their own extent (about sqrt(depth) steps).

    The draws do not depend on ``dtype``: steps N(0, 1) / sqrt(dim) and seeds are drawn in float64, then
    rounded to ``dtype``, and the walk is summed in ``dtype`` from the seed outwards. So float64 and float32
    give the same embedding, float32 rounded: each coordinate differs from the float64 walk by at most
    (depth + 1) 2^-24 times the largest |partial sum| on the way, and float32 halves the memory.

    The steps are drawn into the output (float32: through a 256 KiB float64 block) and the walk runs in place
    there (``walk_in_place``), with no other temporaries of the embedding's size.
    """
    if int(dim) != dim or dim < 1:
        raise SpecError(f"dim: embedding dimension must be a positive integer, got {dim!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise SpecError(f"dtype: the embedding is float32 or float64, got {dtype}")
    need = forest.n_sites * dim * dtype.itemsize
    if need > 4 * 2**30:
        raise SpecError(f"dim: embedding {forest.n_sites} sites in R^{dim} needs {need / 2**30:.1f} GiB (limit 4)")
    if separation is None:
        separation = 10.0 * (np.sqrt(float(forest.depth.max(initial=0))) + 10.0)
    x = np.empty((forest.n_sites, dim), dtype)
    if dtype == np.float64:
        np.divide(rng.standard_normal(out=x), np.sqrt(dim), out=x)
    else:  # the same float64 stream, a cache-sized block of rows at a time, each rounded once into x
        rows = max(1, _BLOCK // dim)
        buf = np.empty((rows, dim))
        for lo in range(0, forest.n_sites, rows):
            b = buf[:min(rows, forest.n_sites - lo)]
            np.divide(rng.standard_normal(out=b), np.sqrt(dim), out=x[lo:lo + b.shape[0]], casting="same_kind")
    seeds = rng.standard_normal((forest.n_clusters, dim)) * separation
    roots = np.flatnonzero(forest.parent < 0)
    x[roots] = seeds[forest.cluster[roots]]
    return walk_in_place(forest.parent, forest.depth, x)


def graph_neighbour_fraction(forest: ClusterForest, positions: np.ndarray, sample: int,
                             rng: np.random.Generator) -> float:
    """Fraction of ``sample`` random sites whose nearest other site in R^m is one of their graph neighbours."""
    from sklearn.neighbors import NearestNeighbors

    sites = rng.choice(forest.n_sites, size=min(sample, forest.n_sites), replace=False)
    nn = NearestNeighbors(n_neighbors=2).fit(positions)
    _, idx = nn.kneighbors(positions[sites])
    other = np.where(idx[:, 0] == sites, idx[:, 1], idx[:, 0])
    adj = forest.adjacency
    return float(np.mean(np.asarray(adj[sites, other]).ravel() > 0))


def radius_of_gyration(forest: ClusterForest, positions: np.ndarray) -> np.ndarray:
    """R_g of every cluster in the embedding: R_g^2 = mean |x - mean x|^2 over the cluster's sites."""
    cl = forest.cluster
    sizes = forest.sizes.astype(float)
    rg2 = np.zeros(forest.n_clusters)
    for j in range(positions.shape[1]):
        x = positions[:, j].astype(float)
        m1 = np.bincount(cl, weights=x, minlength=forest.n_clusters) / sizes
        m2 = np.bincount(cl, weights=x * x, minlength=forest.n_clusters) / sizes
        rg2 += np.maximum(m2 - m1**2, 0.0)
    return np.sqrt(rg2)
