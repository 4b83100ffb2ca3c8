"""Nearest-neighbour regressors on percolation data (Brill 2024, section "Toy experiment").

- :class:`GraphNearestNeighbour`: the paper's model. A site's prediction is the target of its nearest training
  site in graph distance r within its cluster, shrunk towards 0 as y_nn / (1 + r / sqrt(s)) (s = cluster size);
  0 where the cluster has no training site. One multi-source breadth-first search from all training sites gives
  every site its nearest training site in O(sites + edges); the search runs over all clusters at once (they are
  disconnected components of one graph), one frontier level per step.
- :class:`EuclideanNearestNeighbours`: plain k-NN regression (scikit-learn) on an embedding of the clusters in
  R^m (``tasks.percolation.embed``), so that Euclidean models can be trained on percolation data.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import scipy.sparse as sp

from scalinglab.contracts import Measurement
from scalinglab.errors import SpecError
from scalinglab.tasks.percolation.task import breadth_first


def _unique_sites(sites: np.ndarray, n: int) -> np.ndarray:
    """Sorted distinct site indices, checked to lie in [0, n) (a mask, O(n), instead of a sort)."""
    sites = np.asarray(sites, dtype=np.int64)
    if sites.size and (sites.min() < 0 or sites.max() >= n):
        raise SpecError(f"sources: site indices must lie in [0, {n}), got {sites.min()}..{sites.max()}")
    mask = np.zeros(n, dtype=bool)
    mask[sites] = True
    return np.flatnonzero(mask)


def multi_source_bfs(adjacency: sp.csr_matrix, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Graph distance to, and index of, the nearest source for every vertex (-1 where no source is reachable).

    Level-synchronous breadth-first search (``tasks.percolation.task.breadth_first``): each step gathers the
    CSR neighbour lists of the whole frontier with array operations. Ties between equally near sources are
    broken arbitrarily (but deterministically).
    """
    sources = _unique_sites(sources, adjacency.shape[0])
    dist, nearest, _, _ = breadth_first(adjacency, sources)
    return dist, nearest


_ONE = np.int64(1) << np.int64(32)  # one unit of distance in a (distance, source) key
_LOW = _ONE - 1
_FAR = np.int64(2**30) << np.int64(32)  # the distance part of a key that no source has reached


@dataclasses.dataclass(frozen=True, eq=False)
class TreeLevels:
    """A forest's sites in depth-major order, prepared for :func:`forest_nearest_source`.

    ``order`` lists the sites by depth (stable, so children of one parent stay contiguous and parents are
    non-decreasing within a level); ``parent`` is in that order's positions; ``bounds[L]`` starts depth L.
    The children of one parent form a group: ``group_start`` is its first position relative to its level's
    start, ``group_parent`` its parent, and ``group_bounds[L]`` the first group of depth L.
    """

    order: np.ndarray
    parent: np.ndarray
    bounds: list[int]
    group_start: np.ndarray
    group_parent: np.ndarray
    group_bounds: list[int]

    @classmethod
    def from_forest(cls, parent: np.ndarray, depth: np.ndarray) -> TreeLevels:
        depth = np.asarray(depth)
        key = depth.astype(np.int16) if depth.max(initial=0) < 2**15 else depth
        order = np.argsort(key, kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(order.size)
        par = parent[order]
        par = np.where(par >= 0, position[np.maximum(par, 0)], -1)
        n_levels = int(depth.max(initial=0)) + 1
        bounds = np.searchsorted(depth[order], np.arange(n_levels + 1))
        change = np.ones(order.size, dtype=bool)
        change[1:] = par[1:] != par[:-1]
        change[: bounds[1] if n_levels > 1 else order.size] = False
        groups = np.flatnonzero(change)
        group_bounds = np.searchsorted(groups, bounds)
        level_of_group = np.searchsorted(bounds, groups, side="right") - 1
        return cls(order, par, bounds.tolist(), groups - bounds[level_of_group], par[groups], group_bounds.tolist())

    @property
    def size(self) -> int:
        return int(self.order.size)


def sweep_nearest(tree: TreeLevels, key: np.ndarray) -> np.ndarray:
    """In place: key[v] = min over sites u of key[u] + dist(u, v) * 2^32, on depth-major positions.

    Keys are (distance << 32) | source. Up: best[v] = min(own, min over children best[c] + 1); down:
    best[v] = min(best[v], best[parent] + 1). In a tree the second min never routes back through v's own
    subtree shorter than the first, so the result is the exact nearest source; a level is a contiguous slice.
    """
    b, gb, par, start, gpar = tree.bounds, tree.group_bounds, tree.parent, tree.group_start, tree.group_parent
    for lev in range(len(b) - 2, 0, -1):
        g0, g1 = gb[lev], gb[lev + 1]
        if g0 == g1:
            continue
        red = np.minimum.reduceat(key[b[lev]:b[lev + 1]], start[g0:g1])
        red += _ONE
        up = gpar[g0:g1]
        np.minimum(red, key[up], out=red)
        key[up] = red
    for lev in range(1, len(b) - 1):
        lo, hi = b[lev], b[lev + 1]
        reach = key[par[lo:hi]]
        reach += _ONE
        np.minimum(key[lo:hi], reach, out=key[lo:hi])
    return key


def forest_nearest_source(tree: TreeLevels, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The result of :func:`multi_source_bfs` on a forest, by two sweeps over depth levels (:func:`sweep_nearest`)."""
    n = tree.size
    sources = _unique_sites(sources, n)
    src_key = np.full(n, _FAR, dtype=np.int64)
    src_key[sources] = sources
    key = sweep_nearest(tree, src_key[tree.order])
    found = key < _FAR
    dist = np.full(n, -1, dtype=np.int32)
    nearest = np.full(n, -1, dtype=np.int64)
    dist[tree.order[found]] = (key[found] >> 32).astype(np.int32)
    nearest[tree.order[found]] = key[found] & _LOW
    return dist, nearest


class ForestNearestNeighbour:
    """The paper's regressor on a forest, for every site at once, in depth-major order with reused buffers.

    ``predict(train)`` takes a boolean training mask in depth-major order (``tree.order``) and returns the
    predictions y_nn / (1 + r / sqrt(s)) in that order (0 in clusters without a training site). Working in one
    order with preallocated arrays avoids both permutations and fresh allocations in long experiments; the
    result equals :class:`GraphNearestNeighbour`'s up to ties between equally near training sites.
    """

    def __init__(self, tree: TreeLevels, values: np.ndarray, cluster_size: np.ndarray,
                 shrinkage: bool = True) -> None:
        n = tree.size
        self.tree = tree
        self.values = np.append(np.asarray(values, dtype=float)[tree.order], 0.0)  # index n: "no source", 0
        self.inverse_scale = 1.0 / np.sqrt(np.asarray(cluster_size, dtype=float)[tree.order]) if shrinkage \
            else np.zeros(n)
        self._none = _FAR | np.int64(n)
        self._position = np.arange(n, dtype=np.int64)
        self._key = np.empty(n, dtype=np.int64)
        self._int = np.empty(n, dtype=np.int64)
        self._shrink = np.empty(n)

    def predict(self, train: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        key, tmp, shrink = self._key, self._int, self._shrink
        np.copyto(key, self._none)
        np.copyto(key, self._position, where=train)
        sweep_nearest(self.tree, key)
        out = np.empty(key.size) if out is None else out
        np.bitwise_and(key, _LOW, out=tmp)
        np.take(self.values, tmp, out=out)
        np.right_shift(key, 32, out=tmp)
        np.multiply(tmp, self.inverse_scale, out=shrink)
        shrink += 1.0
        out /= shrink
        return out


@dataclasses.dataclass
class GraphNearestNeighbour:
    """Nearest training site in graph distance, with the paper's shrinkage y_nn / (1 + r / sqrt(s)).

    ``fit(graph, train_sites, y_train, cluster_size)``: ``cluster_size`` gives, for every site, the size s of
    its cluster (``ClusterForest.site_cluster_size``); ``shrinkage=False`` predicts y_nn itself.
    Learned state: ``distance_`` (-1: no training site in the cluster) and ``nearest_`` for every site.
    """

    shrinkage: bool = True
    name: str = "graph_nearest_neighbour"

    def fit(self, graph: sp.csr_matrix | TreeLevels, train_sites: np.ndarray, y_train: np.ndarray,
            cluster_size: np.ndarray | None = None) -> GraphNearestNeighbour:
        """``graph``: the clusters' adjacency (breadth-first search) or, for forests, their :class:`TreeLevels`
        (two sweeps, same result, about four times faster)."""
        train_sites = np.asarray(train_sites, dtype=np.int64)
        y_train = np.asarray(y_train, dtype=float)
        if train_sites.shape != y_train.shape:
            raise SpecError(f"y_train: expected shape {train_sites.shape}, got {y_train.shape}")
        if self.shrinkage and cluster_size is None:
            raise SpecError("cluster_size: the shrinkage y_nn / (1 + r / sqrt(s)) needs every site's cluster size")
        if isinstance(graph, TreeLevels):
            n = graph.size
            self.distance_, self.nearest_ = forest_nearest_source(graph, train_sites)
        else:
            n = graph.shape[0]
            self.distance_, self.nearest_ = multi_source_bfs(graph, train_sites)
        target = np.zeros(n)
        target[train_sites] = y_train
        self.target_ = target
        self.cluster_size_ = None if cluster_size is None else np.asarray(cluster_size, dtype=float)
        return self

    def predict(self, sites: np.ndarray | None = None) -> np.ndarray:
        """Predictions at ``sites`` (default: every site of the graph)."""
        if not hasattr(self, "distance_"):
            raise SpecError("GraphNearestNeighbour: call fit before predict")
        idx = np.arange(self.distance_.size) if sites is None else np.asarray(sites, dtype=np.int64)
        r = self.distance_[idx]
        found = r >= 0
        y = np.where(found, self.target_[np.maximum(self.nearest_[idx], 0)], 0.0)
        if self.shrinkage:
            y = y / (1.0 + np.maximum(r, 0) / np.sqrt(self.cluster_size_[idx]))
        return y

    def learning_curve(self, task, data_sizes: list[int], model_sizes: list[int],
                       rng: np.random.Generator) -> list[Measurement]:
        """Loss over all sites for nested i.i.d. training draws of each data size D (uniform over sites).

        The model size of a point is the number of distinct training sites (the regressor's DOF); ``model_sizes``
        must be empty or ``[0]`` (the model has no separate size knob).
        """
        if list(model_sizes) not in ([], [0]):
            raise SpecError(f"grid.size: {self.name} has no size knob (sizes are distinct training sites), "
                            f"got {model_sizes}")
        ds = sorted({int(d) for d in data_sizes})
        if not ds or ds[0] < 1:
            raise SpecError(f"grid.data: sizes must be positive integers, got {data_sizes}")
        forest = task.forest
        draws = rng.integers(0, forest.n_sites, size=ds[-1])
        scale = forest.site_cluster_size
        out = []
        for d in ds:
            t0 = time.perf_counter()
            sites = np.unique(draws[:d])
            self.fit(forest.adjacency, sites, forest.values[sites], scale)
            pred = self.predict()
            held = np.ones(forest.n_sites, dtype=bool)
            held[sites] = False
            err = (pred - forest.values) ** 2
            out.append(Measurement(d, int(sites.size), -1, float(err[sites].mean()), float(err[held].mean()),
                                   time.perf_counter() - t0, {"population_loss": float(err.mean())}))
        return out


@dataclasses.dataclass
class EuclideanNearestNeighbours:
    """k-NN regression (uniform weights) in an embedding of the clusters; scikit-learn's KNeighborsRegressor."""

    n_neighbors: int = 1
    name: str = "euclidean_knn"

    def fit(self, X: np.ndarray, y: np.ndarray) -> EuclideanNearestNeighbours:
        from sklearn.neighbors import KNeighborsRegressor

        if int(self.n_neighbors) != self.n_neighbors or self.n_neighbors < 1:
            raise SpecError(f"n_neighbors: must be a positive integer, got {self.n_neighbors!r}")
        if len(X) < self.n_neighbors:
            raise SpecError(f"n_neighbors: {self.n_neighbors} exceeds the {len(X)} training points")
        self.model_ = KNeighborsRegressor(n_neighbors=int(self.n_neighbors)).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise SpecError("EuclideanNearestNeighbours: call fit before predict")
        return self.model_.predict(X)

    def learning_curve(self, task, data_sizes: list[int], model_sizes: list[int],
                       rng: np.random.Generator) -> list[Measurement]:
        """Test loss on a fixed i.i.d. test draw, for nested training draws of each data size D.

        The model size is k (neighbours); ``model_sizes`` lists the k to try (default: ``n_neighbors``).
        """
        if task.embedding is None:
            raise SpecError("task.embedding: Euclidean k-NN needs embedded inputs (tasks.percolation.embed)")
        ds = sorted({int(d) for d in data_sizes})
        ks = sorted({int(k) for k in (model_sizes or [self.n_neighbors])})
        if not ds or ds[0] < 1 or ks[0] < 1:
            raise SpecError(f"grid: data sizes and k must be positive, got {data_sizes}, {model_sizes}")
        X, y = task.sample(ds[-1], rng)
        X_test, y_test = task.sample(min(20_000, task.forest.n_sites), rng)
        out = []
        for d in ds:
            for k in ks:
                if k > d:
                    continue
                t0 = time.perf_counter()
                model = EuclideanNearestNeighbours(k).fit(X[:d], y[:d])
                test = float(np.mean((model.predict(X_test) - y_test) ** 2))
                train = float(np.mean((model.predict(X[:d]) - y[:d]) ** 2))
                out.append(Measurement(d, k, -1, train, test, time.perf_counter() - t0))
        return out


@dataclasses.dataclass
class GraphKNN:
    """The sweep's ``Model`` on percolation tasks (spec ``[model] kind = "graph_knn"``): the paper's regressor with
    N degrees of freedom (the size knob) trained on D i.i.d. samples (Brill 2024, Steps 1-3 of the toy experiment).

    Cluster k (rank k, size s_k) gets dof_k = min(n_k(N), D s_k / sum(s)) DOF: n_k(N) is the optimal allocation
    of N DOF for unlimited data (``theory.percolation.optimal_allocation``, with the task's alpha and this
    model's c / D = 2 / fractal dimension), D s_k / sum(s) the expected share of D samples, each sample one DOF.
    Its training fraction is dof_k sigma_k / s_k (at most 0.95), sigma_k the conversion factor (training examples
    per DOF): fitted per cluster from ``fractions`` training fractions (Step 1), or the number ``conversion``.
    At large D this is the paper's model scaling, at large N its data scaling.

    Every random draw of a seed happens before the grid is looked at: each cluster's site order and one uniform
    per cluster, whose binomial quantile is the cluster's training count. Training sets are therefore nested in
    D and N, and a point's loss does not depend on the other points of the grid.
    """

    shrinkage: bool = True
    conversion: str | float = "fitted"
    fractions: int = 30
    p_test: float | None = None
    name: str = "graph_knn"

    APPROXIMATION_ORDER = 2.0  # c: nearest neighbour is a piecewise-constant approximator

    def properties(self) -> dict[str, float]:
        """What theory needs of the model: the approximation order c (loss n^-(c/D) of a cluster with n DOF)."""
        return {"approximation_order": self.APPROXIMATION_ORDER}

    def _check(self, task, data_sizes, model_sizes) -> tuple[list[int], list[int]]:
        if not hasattr(task, "forest"):
            raise SpecError(f"task: {self.name} needs a percolation task, got {getattr(task, 'name', task)!r}")
        if self.conversion != "fitted" and not (isinstance(self.conversion, (int, float)) and self.conversion >= 1):
            raise SpecError(f"model.conversion: 'fitted' or a number >= 1, got {self.conversion!r}")
        if int(self.fractions) != self.fractions or self.fractions < 3:
            raise SpecError(f"model.fractions: an integer >= 3, got {self.fractions!r}")
        if self.p_test is not None and not 0.0 < self.p_test < 1.0:
            raise SpecError(f"model.p_test: must lie in (0, 1), got {self.p_test!r}")
        ds = sorted({int(d) for d in data_sizes})
        ns = sorted({int(n) for n in model_sizes})
        if not ds or not ns or ds[0] < 1 or ns[0] < 1:
            raise SpecError(f"grid: data sizes and DOF must be positive integers, got {data_sizes} and {model_sizes}")
        return ds, ns

    def learning_curve(self, task, data_sizes: list[int], model_sizes: list[int],
                       rng: np.random.Generator) -> list[Measurement]:
        from scipy.stats import binom

        from scalinglab.tasks.percolation.estimators import conversion_factors
        from scalinglab.theory.percolation import optimal_allocation

        ds, ns = self._check(task, data_sizes, model_sizes)
        t0 = time.perf_counter()
        f = task.forest
        props = task.properties()
        alpha, e = float(props["alpha"]), self.APPROXIMATION_ORDER / float(props["fractal_dimension"])
        tree = TreeLevels.from_forest(f.parent, f.depth)
        model = ForestNearestNeighbour(tree, f.values, f.site_cluster_size, self.shrinkage)
        cluster = f.cluster[tree.order]
        values = f.values[tree.order]
        ranks = task.ranks(rng)[tree.order]
        quantile = rng.random(f.n_clusters)
        n_test = np.zeros_like(f.sizes) if self.p_test is None else np.round(self.p_test * f.sizes).astype(np.int64)
        site_test = n_test[cluster]
        test = ranks < site_test  # in a cluster's order: n_test test sites first, then the training sites
        pool = f.sizes - n_test  # sites a cluster may train on

        def losses(n_train: np.ndarray) -> tuple[float, np.ndarray]:
            train = ~test & (ranks < site_test + np.take(n_train, cluster))
            err = (model.predict(train) - values) ** 2
            where = ~train if self.p_test is None else test
            counts = np.bincount(cluster, weights=where, minlength=f.n_clusters)
            per = np.divide(np.bincount(cluster, weights=err * where, minlength=f.n_clusters), counts,
                            out=np.zeros(f.n_clusters), where=counts > 0)
            weight = f.sizes if self.p_test is None else n_test
            return float(np.sum(weight * per) / np.sum(weight)), per

        def counts_for(p: np.ndarray) -> np.ndarray:
            return binom.ppf(quantile, pool, np.clip(p, 0.0, 0.95)).astype(np.int64)

        if self.conversion == "fitted":
            target = np.geomspace(1.0, 0.95 * pool, int(self.fractions)).T
            n_conv = np.zeros_like(target)
            loss_conv = np.zeros_like(target)
            for j in range(target.shape[1]):
                n_conv[:, j] = counts_for(target[:, j] / pool)
                loss_conv[:, j] = losses(n_conv[:, j])[1]
            sigma = conversion_factors(n_conv, loss_conv, f.sizes, exponent=e)
        else:
            sigma = np.full(f.n_clusters, float(self.conversion))
        setup = time.perf_counter() - t0
        k = np.arange(1, f.n_clusters + 1)
        share = f.sizes / f.sizes.sum()
        allocation = {n: optimal_allocation(float(n), k, alpha, e) for n in ns}
        out = []
        for d in ds:
            for n in ns:
                t = time.perf_counter()
                dof = np.minimum(allocation[n], d * share)
                n_train = counts_for(dof * sigma / pool)
                test_loss, _ = losses(n_train)
                out.append(Measurement(d, n, -1, 0.0, test_loss, time.perf_counter() - t + setup / (len(ds) * len(ns)),
                                       {"dof_used": float(dof.sum()), "training_sites": float(n_train.sum()),
                                        "clusters_learned": float(np.sum(n_train > 0)),
                                        "sigma_median": float(np.median(sigma))}))
        return out

