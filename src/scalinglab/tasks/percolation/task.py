"""Percolation clusters as one data set (Brill 2024, section "Percolation clusters as subtasks").

A :class:`ClusterForest` holds several clusters as one graph: the sites of the cluster of rank k (1 = largest)
occupy ``offsets[k-1]:offsets[k]``, in breadth-first order from the cluster's seed site, with a spanning tree
(``parent``, ``depth`` = chemical distance from the seed), the symmetric adjacency of the cluster graph, and the
target: a Gaussian random walk along the spanning tree (child = parent + N(0, 1)), standardised per cluster
(mean 0, standard deviation 1), so that predicting 0 costs mean squared error 1 on every cluster.

:class:`PercolationTask` is the task: data uniform over all sites of all clusters, so that cluster k has mass
s_k / sum(s) ~ k^-(alpha + 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from scalinglab.errors import SpecError
from scalinglab.tasks import sample_count


@dataclasses.dataclass(frozen=True, eq=False)
class ClusterForest:
    """Clusters ranked by size, as one graph; see the module docstring. ``meta`` holds generator statistics."""

    sizes: np.ndarray  # (K,) int64, non-increasing
    parent: np.ndarray  # (n,) int64, global index of the spanning-tree parent, -1 at seeds
    depth: np.ndarray  # (n,) int32, chemical distance from the cluster's seed along the spanning tree
    values: np.ndarray  # (n,) float64, standardised random walk
    adjacency: sp.csr_matrix  # (n, n) symmetric 0/1
    coords: np.ndarray | None = None  # (n, d) lattice coordinates where the clusters live on a lattice
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_clusters(self) -> int:
        return int(self.sizes.size)

    @property
    def n_sites(self) -> int:
        return int(self.parent.size)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.sizes)])

    @cached_property
    def cluster(self) -> np.ndarray:
        """Cluster index (rank - 1) of every site."""
        return np.repeat(np.arange(self.n_clusters), self.sizes)

    @cached_property
    def site_cluster_size(self) -> np.ndarray:
        """s of the cluster each site belongs to (the shrinkage scale sqrt(s) of the paper's regressor)."""
        return np.repeat(self.sizes, self.sizes)

    def subset(self, ranks) -> ClusterForest:
        """The clusters of the given ranks (1-based), as a new forest in that order."""
        ranks = np.asarray(ranks, dtype=np.int64)
        if ranks.size == 0 or ranks.min() < 1 or ranks.max() > self.n_clusters:
            raise SpecError(f"ranks: must lie in 1..{self.n_clusters}, got {ranks.tolist()[:5]}")
        off = self.offsets
        idx = np.concatenate([np.arange(off[k - 1], off[k]) for k in ranks])
        new = np.full(self.n_sites, -1, dtype=np.int64)
        new[idx] = np.arange(idx.size)
        parent = np.where(self.parent[idx] >= 0, new[np.maximum(self.parent[idx], 0)], -1)
        coords = None if self.coords is None else self.coords[idx]
        return ClusterForest(self.sizes[ranks - 1].copy(), parent, self.depth[idx].copy(), self.values[idx].copy(),
                             self.adjacency[idx][:, idx].tocsr(), coords, dict(self.meta))


def breadth_first(adjacency: sp.csr_matrix, sources: np.ndarray) -> tuple[np.ndarray, ...]:
    """Multi-source breadth-first search: (distance, nearest source, BFS-tree parent, visiting order).

    Level-synchronous: each step gathers the CSR neighbour lists of the whole frontier with array operations,
    so the cost is O(vertices + edges) plus one Python step per level. Unreached vertices get distance,
    nearest source and parent -1. ``sources`` must be distinct; the order lists the reached vertices, sources
    first, each level after the previous one.
    """
    indptr, indices = adjacency.indptr, adjacency.indices
    n = adjacency.shape[0]
    sources = np.asarray(sources, dtype=np.int64)
    dist = np.full(n, -1, dtype=np.int32)
    nearest = np.full(n, -1, dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)
    dist[sources] = 0
    nearest[sources] = sources
    frontier, level, visited = sources, 0, [sources]
    while frontier.size:
        level += 1
        start = indptr[frontier]
        count = indptr[frontier + 1] - start
        total = int(count.sum())
        if total == 0:
            break
        shift = np.repeat(start - (np.cumsum(count) - count), count)  # concatenated ranges of neighbours
        nbr = indices[shift + np.arange(total)].astype(np.int64)
        new = dist[nbr] < 0
        nbr = nbr[new]
        via = np.repeat(frontier, count)[new]
        dist[nbr] = level
        parent[nbr] = via
        nearest[nbr] = nearest[via]
        frontier = nbr[parent[nbr] == via]  # a vertex reached from two frontier vertices is kept once
        visited.append(frontier)
    return dist, nearest, parent, np.concatenate(visited)


def levels(depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sites ordered by depth (stable) and the bounds of each depth level in that order."""
    order = np.argsort(depth, kind="stable")
    bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
    return order, bounds


def walk_in_place(parent: np.ndarray, depth: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x[v] <- x[parent[v]] + x[v] for every non-seed site, one depth level at a time (a gather of the parents'
    rows and an add, no temporaries of x's size): a branching random walk whose steps, and the seeds' starts,
    are given in x (shape (n,) or (n, m)); returns x."""
    order, bounds = levels(depth)
    for lo, hi in zip(bounds[1:-1], bounds[2:], strict=True):
        idx = order[lo:hi]
        x[idx] += x[parent[idx]]
    return x


def walk_along_tree(parent: np.ndarray, depth: np.ndarray, steps: np.ndarray, start: np.ndarray) -> np.ndarray:
    """x[v] = x[parent[v]] + steps[v], x[seed] = start[seed]: a branching random walk, one depth level at a time.

    ``steps`` and ``start`` have shape (n,) or (n, m); the walk is the paper's target (m = 1) or an embedding.
    """
    out = np.array(steps, dtype=np.result_type(steps, start), copy=True)
    seeds = parent < 0
    out[seeds] = np.asarray(start)[seeds]
    return walk_in_place(parent, depth, out)


def standardise_per_cluster(x: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(x - mean_k) / std_k within each cluster; a constant cluster becomes 0."""
    cl = np.repeat(np.arange(sizes.size), sizes)
    mean = np.bincount(cl, weights=x, minlength=sizes.size) / sizes
    centred = x - mean[cl]
    std = np.sqrt(np.bincount(cl, weights=centred**2, minlength=sizes.size) / sizes)
    scale = np.where(std > 0, std, np.inf)
    return centred / scale[cl]


def random_walk_targets(parent: np.ndarray, depth: np.ndarray, sizes: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """The paper's target: y(seed) = 0, y(child) = y(parent) + N(0, 1), standardised per cluster."""
    steps = rng.standard_normal(parent.size)
    return standardise_per_cluster(walk_along_tree(parent, depth, steps, np.zeros(parent.size)), sizes)


def tree_adjacency(parent: np.ndarray) -> sp.csr_matrix:
    """Symmetric adjacency of the forest given by a parent array (-1 at roots).

    Row u lists its parent, then its children. When the parents of the non-root sites are non-decreasing
    (breadth-first order, children of a site contiguous) the CSR arrays are filled directly in O(n).
    """
    n = parent.size
    idx_type = np.int32 if 2 * n < 2**31 - 1 else np.int64
    child = np.flatnonzero(parent >= 0)
    par = parent[child]
    if par.size and np.any(par[1:] < par[:-1]):
        rows, cols = np.concatenate([child, par]), np.concatenate([par, child])
        data = np.ones(rows.size, dtype=np.int8)
        return sp.csr_matrix((data, (rows.astype(idx_type), cols.astype(idx_type))), shape=(n, n))
    n_child = np.bincount(par, minlength=n)
    has_parent = (parent >= 0).astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_child + has_parent, out=indptr[1:])
    indices = np.empty(int(indptr[-1]), dtype=idx_type)
    indices[indptr[child]] = par
    first_child = np.searchsorted(par, np.arange(n))  # position in ``child`` of each site's first child
    slot = indptr[par] + has_parent[par] + (np.arange(child.size) - first_child[par])
    indices[slot] = child
    return sp.csr_matrix((np.ones(indices.size, dtype=np.int8), indices, indptr.astype(idx_type)), shape=(n, n))


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """Train and test sites of one draw (Brill's protocol): per-site masks and per-cluster counts."""

    train: np.ndarray
    test: np.ndarray
    n_train: np.ndarray
    n_test: np.ndarray


class PercolationTask:
    """Data uniform over the sites of a :class:`ClusterForest`; target the standardised random walk.

    ``embedding`` (n, m), where given, is the input a Euclidean model sees; otherwise an input is the site index.
    """

    name = "percolation"

    def __init__(self, forest: ClusterForest, embedding: np.ndarray | None = None,
                 properties: dict[str, float] | None = None) -> None:
        if embedding is not None and embedding.shape[0] != forest.n_sites:
            raise SpecError(f"embedding: expected {forest.n_sites} rows, got {embedding.shape[0]}")
        self.forest = forest
        self.embedding = embedding
        self._properties = dict(properties or {})

    def inputs(self, sites: np.ndarray) -> np.ndarray:
        return self.embedding[sites] if self.embedding is not None else np.asarray(sites)[:, None]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n sites drawn uniformly (with replacement) over all sites, and their targets."""
        n = sample_count(n)
        sites = rng.integers(0, self.forest.n_sites, size=n)
        return self.inputs(sites), self.forest.values[sites]

    def population_loss(self, predictor: np.ndarray | Callable[[np.ndarray], np.ndarray]) -> float:
        """Exact mean squared error over all sites: ``predictor`` is an array of predictions, or a callable."""
        pred = predictor(self.inputs(np.arange(self.forest.n_sites))) if callable(predictor) else predictor
        pred = np.asarray(pred, dtype=float)
        if pred.shape != (self.forest.n_sites,):
            raise SpecError(f"predictor: expected {self.forest.n_sites} predictions, got shape {pred.shape}")
        return float(np.mean((pred - self.forest.values) ** 2))

    def properties(self) -> dict[str, float]:
        props = {"n_clusters": float(self.forest.n_clusters), "n_sites": float(self.forest.n_sites),
                 "largest_cluster": float(self.forest.sizes[0]), "smallest_cluster": float(self.forest.sizes[-1])}
        props.update(self._properties)
        return props

    def ranks(self, rng: np.random.Generator) -> np.ndarray:
        """A random order of the sites within each cluster (0..s_k-1): prefixes give nested training sets."""
        out = np.empty(self.forest.n_sites, dtype=np.int64)
        for lo, s in zip(self.forest.offsets[:-1], self.forest.sizes, strict=True):
            out[lo:lo + s] = rng.permutation(s)
        return out

    def draw_counts(self, p_train, p_test: float | None, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per cluster: n_test = round(p_test s), n_train ~ Binomial(s - n_test, p_train / (1 - p_test)).

        ``p_train`` is a scalar or one value per cluster, clipped to [0, 0.95] (Brill's protocol); with
        ``p_test=None`` n_test is 0 here and every site not used for training is a test site.
        """
        f = self.forest
        p = np.clip(np.broadcast_to(np.asarray(p_train, dtype=float), f.sizes.shape), 0.0, 0.95)
        if p_test is not None and not 0.0 <= p_test < 1.0:
            raise SpecError(f"p_test: must lie in [0, 1), got {p_test!r}")
        n_test = np.zeros_like(f.sizes) if p_test is None else np.round(p_test * f.sizes).astype(np.int64)
        scale = 1.0 if p_test is None else 1.0 - p_test
        return rng.binomial(f.sizes - n_test, np.minimum(p / scale, 1.0)), n_test

    def split(self, p_train, p_test: float | None, rng: np.random.Generator,
              ranks: np.ndarray | None = None) -> Split:
        """Train and test sites from :meth:`draw_counts`: in cluster order ``ranks`` (from :meth:`ranks`, which
        makes training sets nested across calls; default a fresh order) the first n_test sites are test sites,
        the next n_train training sites."""
        f = self.forest
        n_train, n_test = self.draw_counts(p_train, p_test, rng)
        r = self.ranks(rng) if ranks is None else ranks
        rep = np.repeat
        train = (r >= rep(n_test, f.sizes)) & (r < rep(n_test + n_train, f.sizes))
        test = ~train if p_test is None else r < rep(n_test, f.sizes)
        n_test = f.sizes - n_train if p_test is None else n_test
        return Split(train, test, n_train, n_test)

    def cluster_losses(self, predictions: np.ndarray, split: Split) -> np.ndarray:
        """Mean squared error on each cluster's test sites (0 where a cluster has no test site)."""
        f = self.forest
        err = (predictions - f.values) ** 2
        cl = f.cluster[split.test]
        total = np.bincount(cl, weights=err[split.test], minlength=f.n_clusters)
        return np.divide(total, split.n_test, out=np.zeros(f.n_clusters), where=split.n_test > 0)

    def test_loss(self, cluster_losses: np.ndarray, split: Split, p_test: float | None) -> float:
        """Test-site-weighted mean of per-cluster losses (paper); with ``p_test=None`` clusters weigh s_k."""
        w = self.forest.sizes if p_test is None else split.n_test
        return float(np.sum(w * cluster_losses) / np.sum(w))
