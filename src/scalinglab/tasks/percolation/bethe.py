"""Percolation clusters on the Bethe lattice as Galton-Watson trees (Brill 2024, section "Toy experiment").

On a Bethe lattice of coordination z with site occupation probability p, the cluster of an occupied seed site is a
Galton-Watson tree: the seed has Binomial(z, p) occupied neighbours, every other site Binomial(z - 1, p)
children. Mean field: p_c = 1 / (z - 1), tau = 5/2, fractal dimension 4, chemical dimension 2; the paper takes
z = 2d to stand for a d-dimensional hypercubic lattice. Clusters smaller than ``min_size`` or larger than
``max_size`` are rejected (and counted); the kept ones are ranked by size.

Many trees grow at once, one level per step: a level is a few array operations over the whole frontier of a
batch of trees, so the cost is O(sites) plus O(depth) Python steps per batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.tasks.percolation.lattice import memory_bytes
from scalinglab.tasks.percolation.task import ClusterForest, standardise_per_cluster, tree_adjacency

BYTES_PER_SITE = 64  # kept and growing sites, the forest's arrays and its adjacency


def bethe_threshold(z: int) -> float:
    """p_c = 1 / (z - 1) on the Bethe lattice of coordination z (Stauffer & Aharony, section 2.4)."""
    return 1.0 / (z - 1)


def default_cluster_count(min_size: float, max_size: float, tau: float = 2.5) -> int:
    """int((max_size / min_size)^(tau - 2)): 316 for the paper's 300..3e7, 100 for the quick 100..1e6."""
    return int((max_size / min_size) ** (tau - 2.0))


def check_bethe_parameters(z: int, p: float, min_size: int, max_size: int, n_clusters: int) -> None:
    """Raise SpecError naming the first bad parameter; called before any work starts."""
    if int(z) != z or z < 2:
        raise SpecError(f"z: coordination must be an integer >= 2, got {z!r}")
    if not 0.0 <= p <= 1.0:
        raise SpecError(f"p: occupation probability must lie in [0, 1], got {p!r}")
    if min_size < 1:
        raise SpecError(f"min_size: must be at least 1, got {min_size!r}")
    if min_size > max_size:
        raise SpecError(f"min_size: must not exceed max_size, got min_size={min_size} > max_size={max_size}")
    if n_clusters < 1:
        raise SpecError(f"n_clusters: must be at least 1, got {n_clusters!r}")
    if p > bethe_threshold(z) and max_size == np.inf:
        raise SpecError(f"max_size: must be finite above p_c = {bethe_threshold(z):.4g} (p={p}), trees grow forever")
    if p == 0 and min_size > 1:
        raise SpecError(f"min_size: at p = 0 every cluster has one site, so min_size={min_size} is never reached")
    sites = n_clusters * np.sqrt(float(min_size) * float(max_size))  # expected kept sites at p_c
    if sites * BYTES_PER_SITE > 0.5 * memory_bytes():
        raise SpecError(f"n_clusters: {n_clusters} clusters of {min_size}..{max_size:g} sites hold about {sites:.3g} "
                        f"sites at p_c, more than half of this machine's memory")


def _grow_batch(n_trees: int, z: int, p: float, max_size: int, rng: np.random.Generator):
    """Grow ``n_trees`` trees at once, one level per step; trees passing ``max_size`` stop growing (killed).

    Returns the tree and parent (index into the batch's level-major storage) of every stored site, its level,
    the tree sizes, the killed mask and the offspring statistics (children drawn, non-seed sites expanded).
    """
    tree_levels = [np.arange(n_trees, dtype=np.int32)]
    parent_levels = [np.full(n_trees, -1, dtype=np.int64)]
    size = np.ones(n_trees, dtype=np.int64)
    killed = np.zeros(n_trees, dtype=bool)
    front_tree, front_index, base = tree_levels[0], np.arange(n_trees, dtype=np.int64), n_trees
    children = rng.binomial(z, p, size=n_trees)
    drawn = expanded = 0
    while front_tree.size:
        size += np.bincount(front_tree, weights=children, minlength=n_trees).astype(np.int64)
        new_tree = np.repeat(front_tree, children)
        new_parent = np.repeat(front_index, children)
        over = (size > max_size) & ~killed
        if over.any():
            killed |= over
            keep = ~killed[new_tree]
            new_tree, new_parent = new_tree[keep], new_parent[keep]
        tree_levels.append(new_tree)
        parent_levels.append(new_parent)
        front_tree = new_tree
        front_index = np.arange(base, base + new_tree.size, dtype=np.int64)
        base += new_tree.size
        children = rng.binomial(z - 1, p, size=front_tree.size)
        drawn += int(children.sum())
        expanded += int(children.size)
    level = np.repeat(np.arange(len(tree_levels), dtype=np.int32), [t.size for t in tree_levels])
    return np.concatenate(tree_levels), np.concatenate(parent_levels), level, size, killed, drawn, expanded


def _stable_order(key: np.ndarray) -> np.ndarray:
    """Stable argsort; keys below 2^15 are sorted as int16, which NumPy does by radix sort in O(n)."""
    if key.size and key.max() < 2**15 and key.min() >= 0:
        key = key.astype(np.int16)
    return np.argsort(key, kind="stable")


def _extract(tree, parent, level, take, rng):
    """The sites of the trees ``take`` of a batch: per tree, (relative parent, depth, raw random walk).

    Storage is level-major, so the walk y(child) = y(parent) + N(0, 1) runs over contiguous level slices; a
    radix sort by tree then makes each tree contiguous with its sites still in breadth-first order.
    """
    slot = np.full(int(tree.max()) + 1, -1, dtype=np.int64)
    slot[take] = np.arange(take.size)
    key = slot[tree]
    sel = key >= 0
    local = np.cumsum(sel, dtype=np.int64) - 1
    key, lev, par = key[sel], level[sel], parent[sel]
    par = np.where(par >= 0, local[np.maximum(par, 0)], -1)
    y = np.zeros(key.size)
    noise = rng.standard_normal(key.size)
    bounds = np.searchsorted(lev, np.arange(1, int(lev.max()) + 2))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        y[lo:hi] = y[par[lo:hi]] + noise[lo:hi]
    order = _stable_order(key)
    position = np.empty_like(order)
    position[order] = np.arange(order.size)
    sizes = np.bincount(key, minlength=take.size)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    par, key, lev, y = par[order], key[order], lev[order], y[order]
    rel = np.where(par >= 0, position[np.maximum(par, 0)] - starts[key], -1).astype(np.int32)
    return [(rel[a:a + s], lev[a:a + s], y[a:a + s]) for a, s in zip(starts, sizes, strict=True)]


def grow_bethe_clusters(
    n_clusters: int,
    z: int,
    p: float,
    min_size: int,
    max_size: int,
    rng: np.random.Generator,
    batch: int = 2048,
    max_attempts: int = 10_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> ClusterForest:
    """``n_clusters`` clusters with min_size <= s <= max_size, grown from seed sites, ranked by size.

    ``meta`` records ``attempts`` (seeds grown until enough were kept), ``rejected_small``, ``rejected_large``,
    ``offspring`` and ``expanded`` (children drawn by, and number of, non-seed sites: every draw is an
    independent Binomial(z - 1, p), which estimates the branching ratio (z - 1) p), ``z`` and ``p``.
    Raises SpecError when ``max_attempts`` seeds do not yield enough clusters.
    """
    check_bethe_parameters(z, p, min_size, max_size, n_clusters)
    if p > bethe_threshold(z):  # most trees grow to max_size before they are stopped: bound a batch's memory
        batch = max(1, min(batch, int(0.25 * memory_bytes() / (16.0 * max_size))))
    clusters: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    attempts = rejected_small = rejected_large = offspring = expanded = 0
    while len(clusters) < n_clusters:
        if attempts >= max_attempts:
            raise SpecError(f"max_attempts: {attempts} seeds gave only {len(clusters)} of {n_clusters} clusters "
                            f"with {min_size} <= s <= {max_size} at p={p}, z={z}")
        tree, parent, level, size, killed, drawn, exp = _grow_batch(batch, z, p, max_size, rng)
        offspring, expanded = offspring + drawn, expanded + exp
        ok = ~killed & (size >= min_size) & (size <= max_size)
        take = np.flatnonzero(ok)[: n_clusters - len(clusters)]
        last = int(take[-1]) + 1 if len(clusters) + take.size >= n_clusters else batch  # trials used
        used = np.arange(batch) < last
        attempts += last
        rejected_large += int(np.sum((killed | (size > max_size)) & used))
        rejected_small += int(np.sum(~killed & (size < min_size) & used))
        if take.size:
            clusters.extend(_extract(tree, parent, level, take, rng))
        del tree, parent, level
        if progress is not None:
            progress(len(clusters), n_clusters)
    meta = {"attempts": attempts, "rejected_small": rejected_small, "rejected_large": rejected_large,
            "offspring": offspring, "expanded": expanded, "z": z, "p": p, "min_size": min_size, "max_size": max_size}
    return _assemble(clusters, meta)


def _assemble(clusters, meta) -> ClusterForest:
    """Concatenate the clusters largest first (rank 1 = largest), standardise the walk per cluster."""
    sizes = np.array([c[0].size for c in clusters], dtype=np.int64)
    rank = np.argsort(-sizes, kind="stable")
    sizes = sizes[rank]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rel = np.concatenate([clusters[i][0] for i in rank])
    parent = np.where(rel >= 0, rel + np.repeat(offsets, sizes), -1)
    depth = np.concatenate([clusters[i][1] for i in rank]).astype(np.int32)
    values = standardise_per_cluster(np.concatenate([clusters[i][2] for i in rank]), sizes)
    return ClusterForest(sizes, parent, depth, values, tree_adjacency(parent), None, meta)
