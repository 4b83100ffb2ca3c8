"""Site percolation on d-dimensional hypercubic lattices L^d, d = 1..6 (Stauffer & Aharony, chapters 1-3).

Sites are occupied independently with probability p; clusters are connected components of occupied sites under
nearest-neighbour adjacency (``scipy.ndimage.label``). Periodic boundaries merge the labels of clusters that
touch across opposite faces. Known thresholds: square lattice p_c = 0.592746, simple cubic p_c = 0.3116.
"""

from __future__ import annotations

import os

import numpy as np
import scipy.sparse as sp
from scipy import ndimage
from scipy.sparse.csgraph import connected_components

from scalinglab.errors import SpecError
from scalinglab.tasks.percolation.task import (
    ClusterForest,
    breadth_first,
    random_walk_targets,
)

SITE_THRESHOLDS = {2: 0.592746, 3: 0.3116, 4: 0.196889, 5: 0.14081, 6: 0.109017}  # Mertens & Moore (2018)
BYTES_PER_SITE = 32  # uniform draws, labels, masks and index arrays held at once while labelling


def memory_bytes() -> int:
    """Physical memory of this machine (bytes); 8 GiB where the OS does not tell."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def check_lattice_parameters(d: int, L: int, p: float | None = None, periodic: bool = False) -> None:
    """Raise SpecError naming the first bad parameter (including a lattice too large for memory)."""
    if int(d) != d or d < 1:
        raise SpecError(f"d: lattice dimension must be an integer >= 1, got {d!r}")
    if int(L) != L or L < 2:
        raise SpecError(f"L: linear size must be an integer >= 2, got {L!r}")
    if p is not None and not 0.0 <= p <= 1.0:
        raise SpecError(f"p: occupation probability must lie in [0, 1], got {p!r}")
    sites = float(L) ** d
    need, have = sites * BYTES_PER_SITE, memory_bytes()
    if need > 0.5 * have:
        raise SpecError(f"L: a {d}-dimensional lattice of side {L} has {sites:.3g} sites and needs about "
                        f"{need / 2**30:.1f} GiB, more than half of this machine's {have / 2**30:.1f} GiB")


def occupy(L: int, d: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean lattice of shape (L,)*d, each site occupied with probability p."""
    check_lattice_parameters(d, L, p)
    return rng.random((L,) * d, dtype=np.float32) < p


def _structure(d: int) -> np.ndarray:
    return ndimage.generate_binary_structure(d, 1)


def label_clusters(occupied: np.ndarray, periodic: bool = False) -> tuple[np.ndarray, int]:
    """Cluster labels (0 = empty, 1..n) and n. Periodic boundaries merge clusters across opposite faces."""
    labels, n = ndimage.label(occupied, structure=_structure(occupied.ndim))
    if not periodic or n == 0:
        return labels, int(n)
    a, b = [], []
    for axis in range(occupied.ndim):
        lo, hi = np.take(labels, 0, axis=axis), np.take(labels, -1, axis=axis)
        both = (lo > 0) & (hi > 0)
        a.append(lo[both])
        b.append(hi[both])
    a, b = np.concatenate(a), np.concatenate(b)
    graph = sp.coo_matrix((np.ones(a.size), (a, b)), shape=(n + 1, n + 1))
    _, comp = connected_components(graph, directed=False)
    _, inverse = np.unique(comp[1:], return_inverse=True)  # renumber the merged clusters 1..n'
    lookup = np.zeros(n + 1, dtype=labels.dtype)
    lookup[1:] = inverse + 1
    return lookup[labels], int(inverse.max() + 1)


def cluster_sizes(labels: np.ndarray, n: int) -> np.ndarray:
    """Size of each cluster 1..n (index 0 of the result is cluster 1)."""
    return np.bincount(labels.ravel(), minlength=n + 1)[1:]


def cluster_numbers(sizes: np.ndarray, n_sites: int) -> tuple[np.ndarray, np.ndarray]:
    """(s, n_s): the number of s-clusters per lattice site, for every size present."""
    s, counts = np.unique(sizes, return_counts=True)
    return s, counts / n_sites


def spanning_labels(labels: np.ndarray, axis: int = 0) -> np.ndarray:
    """Labels of the clusters touching both faces perpendicular to ``axis`` (open-boundary spanning)."""
    lo, hi = np.take(labels, 0, axis=axis), np.take(labels, -1, axis=axis)
    return np.intersect1d(lo[lo > 0], hi[hi > 0])


def radius_of_gyration(labels: np.ndarray, n: int) -> np.ndarray:
    """R_g of each cluster 1..n from the lattice coordinates: R_g^2 = mean |x - mean x|^2 (open boundaries)."""
    flat = labels.ravel()
    sizes = np.bincount(flat, minlength=n + 1).astype(float)
    safe = np.where(sizes > 0, sizes, 1.0)
    rg2 = np.zeros(n + 1)
    for axis in range(labels.ndim):
        shape = [1] * labels.ndim
        shape[axis] = labels.shape[axis]
        x = np.broadcast_to(np.arange(labels.shape[axis], dtype=float).reshape(shape), labels.shape).ravel()
        m1 = np.bincount(flat, weights=x, minlength=n + 1) / safe
        m2 = np.bincount(flat, weights=x * x, minlength=n + 1) / safe
        rg2 += np.maximum(m2 - m1**2, 0.0)
    return np.sqrt(rg2[1:])


def spans(occupied: np.ndarray, axis: int = 0) -> bool:
    """Whether some cluster connects the two faces perpendicular to ``axis``."""
    labels, _ = ndimage.label(occupied, structure=_structure(occupied.ndim))
    return spanning_labels(labels, axis).size > 0


def spanning_threshold(L: int, d: int, rng: np.random.Generator, axis: int = 0) -> float:
    """The occupation probability at which one random lattice first spans along ``axis``.

    Each site gets a uniform u; the lattice at p is {u < p}, so spanning is monotone in p and the exact
    threshold is one of the sorted u, found by bisection in about log2(L^d) labellings. The distribution of
    these thresholds over lattices is the spanning probability R_L(p) (microcanonical, as in Newman-Ziff).
    """
    check_lattice_parameters(d, L)
    u = rng.random((L,) * d)
    order = np.sort(u.ravel())
    lo, hi = 0, order.size - 1  # spans at order[hi] (everything occupied), not at order[lo] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if spans(u <= order[mid], axis):
            hi = mid
        else:
            lo = mid + 1
    return float(order[lo])


def lattice_forest(occupied: np.ndarray, periodic: bool, rng: np.random.Generator, min_size: int = 1,
                   max_clusters: int | None = None) -> ClusterForest:
    """The clusters of size >= ``min_size`` (largest first, at most ``max_clusters``) as a :class:`ClusterForest`.

    Adjacency is the lattice's nearest-neighbour graph among occupied sites; the spanning tree is the
    breadth-first tree from each cluster's first site (in C order), along which the random-walk target runs.
    """
    labels, n = label_clusters(occupied, periodic)
    sizes = cluster_sizes(labels, n)
    keep = np.flatnonzero(sizes >= min_size)
    keep = keep[np.argsort(-sizes[keep], kind="stable")][:max_clusters]
    if keep.size == 0:
        raise SpecError(f"min_size: no cluster has at least {min_size} sites")
    rank_of_label = np.full(n + 1, -1, dtype=np.int64)
    rank_of_label[keep + 1] = np.arange(keep.size)
    flat = labels.ravel()
    sites = np.flatnonzero(rank_of_label[flat] >= 0)
    index = np.full(flat.size, -1, dtype=np.int64)
    index[sites] = np.arange(sites.size)
    rows, cols = [], []
    grid = np.arange(flat.size, dtype=np.int64).reshape(labels.shape)
    for axis in range(labels.ndim):
        a = np.take(grid, np.arange(labels.shape[axis] - 1), axis=axis).ravel()
        b = np.take(grid, np.arange(1, labels.shape[axis]), axis=axis).ravel()
        if periodic and labels.shape[axis] > 2:
            a = np.concatenate([a, np.take(grid, -1, axis=axis).ravel()])
            b = np.concatenate([b, np.take(grid, 0, axis=axis).ravel()])
        both = (index[a] >= 0) & (index[b] >= 0)
        rows.append(index[a[both]])
        cols.append(index[b[both]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    m = sites.size
    adjacency = sp.csr_matrix((np.ones(2 * r.size, dtype=np.int8), (np.r_[r, c], np.r_[c, r])), shape=(m, m))
    cluster = rank_of_label[flat[sites]]
    seeds = np.full(keep.size, m, dtype=np.int64)
    np.minimum.at(seeds, cluster, np.arange(m))
    dist, _, parent, order = breadth_first(adjacency, seeds[np.argsort(seeds)])
    # cluster-major, breadth-first within a cluster
    order = order[np.argsort(cluster[order], kind="stable")]
    new = np.empty(m, dtype=np.int64)
    new[order] = np.arange(m)
    parent = np.where(parent[order] >= 0, new[np.maximum(parent[order], 0)], -1)
    depth = dist[order].astype(np.int32)
    ksizes = sizes[keep].astype(np.int64)
    coords = np.stack(np.unravel_index(sites[order], labels.shape), axis=1).astype(np.int32)
    values = random_walk_targets(parent, depth, ksizes, rng)
    adjacency = adjacency[order][:, order].tocsr()
    return ClusterForest(ksizes, parent, depth, values, adjacency, coords,
                         {"L": labels.shape[0], "d": labels.ndim, "periodic": periodic, "min_size": min_size})
