"""Graph nearest-neighbour regressor (multi-source BFS, two-sweep forest search) and Euclidean k-NN."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from scalinglab.contracts import Measurement
from scalinglab.errors import SpecError
from scalinglab.models.knn import (
    EuclideanNearestNeighbours,
    ForestNearestNeighbour,
    GraphNearestNeighbour,
    TreeLevels,
    forest_nearest_source,
    multi_source_bfs,
)
from scalinglab.tasks.percolation import PercolationTask, grow_bethe_clusters, lattice
from scalinglab.tasks.percolation.embed import branching_random_walk


@pytest.fixture(scope="module")
def forest():
    return grow_bethe_clusters(12, 6, 0.2, 20, 400, np.random.default_rng(11))


def _check_nearest(adjacency, sources, dist, nearest):
    """dist[v] = min over sources of the graph distance; nearest[v] is a source at that distance."""
    all_pairs = shortest_path(adjacency, unweighted=True, directed=False, indices=sources)
    best = all_pairs.min(axis=0)
    reach = np.isfinite(best)
    np.testing.assert_array_equal(dist[reach], best[reach])
    assert np.all(dist[~reach] == -1) and np.all(nearest[~reach] == -1)
    assert np.all(np.isin(nearest[reach], sources))
    row = np.searchsorted(sources, nearest[reach])
    np.testing.assert_array_equal(all_pairs[row, np.flatnonzero(reach)], dist[reach])


def test_bfs_and_two_sweep_search_are_exact_on_a_forest(forest):
    rng = np.random.default_rng(0)
    tree = TreeLevels.from_forest(forest.parent, forest.depth)
    for frac in (0.003, 0.05, 0.5):
        sources = np.flatnonzero(rng.random(forest.n_sites) < frac)
        for dist, nearest in (multi_source_bfs(forest.adjacency, sources), forest_nearest_source(tree, sources)):
            _check_nearest(forest.adjacency, sources, dist, nearest)


def test_bfs_is_exact_on_a_lattice_cluster_graph_with_cycles():
    rng = np.random.default_rng(1)
    f = lattice.lattice_forest(lattice.occupy(14, 2, 0.65, rng), True, rng, min_size=5)
    assert f.adjacency.nnz > 2 * (f.n_sites - f.n_clusters)  # cycles
    sources = rng.choice(f.n_sites, size=15, replace=False)
    dist, nearest = multi_source_bfs(f.adjacency, sources)
    _check_nearest(f.adjacency, np.sort(sources), dist, nearest)


def test_shrinkage_on_a_path():
    path = sp.diags([np.ones(4), np.ones(4)], [-1, 1], shape=(5, 5), format="csr")
    model = GraphNearestNeighbour().fit(path, [0], [2.0], np.full(5, 5.0))
    np.testing.assert_allclose(model.predict(), 2.0 / (1.0 + np.arange(5) / np.sqrt(5.0)))
    plain = GraphNearestNeighbour(shrinkage=False).fit(path, [0, 4], [2.0, -1.0])
    np.testing.assert_allclose(plain.predict([0, 1, 3, 4]), [2.0, 2.0, -1.0, -1.0])


def test_cluster_without_training_site_predicts_zero(forest):
    off = forest.offsets
    train = np.arange(off[0], off[1], 3)  # sites of the largest cluster only
    bfs = GraphNearestNeighbour().fit(forest.adjacency, train, forest.values[train], forest.site_cluster_size)
    pred = bfs.predict()
    assert np.all(pred[off[1]:] == 0.0)
    np.testing.assert_array_equal(pred[train], forest.values[train])  # r = 0: no shrinkage
    tree = TreeLevels.from_forest(forest.parent, forest.depth)
    sweep = GraphNearestNeighbour().fit(tree, train, forest.values[train], forest.site_cluster_size)
    np.testing.assert_array_equal(sweep.distance_, bfs.distance_)  # ties may pick different nearest sites
    r = np.maximum(sweep.distance_, 0)
    expected = np.where(sweep.distance_ >= 0, forest.values[np.maximum(sweep.nearest_, 0)], 0.0)
    np.testing.assert_allclose(sweep.predict(), expected / (1 + r / np.sqrt(forest.site_cluster_size)))


def test_forest_regressor_in_depth_order_matches_the_graph_regressor(forest):
    """One training site per cluster (no ties): identical predictions, and 0 in the untrained cluster."""
    rng = np.random.default_rng(5)
    off = forest.offsets
    train = np.array([rng.integers(off[k], off[k + 1]) for k in range(forest.n_clusters - 1)])
    ref = GraphNearestNeighbour().fit(forest.adjacency, train, forest.values[train],
                                      forest.site_cluster_size).predict()
    tree = TreeLevels.from_forest(forest.parent, forest.depth)
    fast = ForestNearestNeighbour(tree, forest.values, forest.site_cluster_size)
    mask = np.zeros(forest.n_sites, dtype=bool)
    mask[train] = True
    out = fast.predict(mask[tree.order])
    np.testing.assert_allclose(out, ref[tree.order], rtol=1e-12, atol=0)
    assert np.all(ref[off[-2]:] == 0)
    again = fast.predict(mask[tree.order])  # buffers are reused: a second call gives the same answer
    np.testing.assert_array_equal(again, out)


def test_learning_curve_contract(forest):
    task = PercolationTask(forest)
    model = GraphNearestNeighbour()
    a = model.learning_curve(task, [10, 100, 1000], [], np.random.default_rng(3))
    b = model.learning_curve(task, [10, 100, 1000], [0], np.random.default_rng(3))
    assert all(isinstance(m, Measurement) for m in a)
    assert [m.test_loss for m in a] == [m.test_loss for m in b]
    assert a[0].test_loss > a[-1].test_loss and a[-1].train_loss == 0.0
    assert [m.model_size for m in a] == sorted(m.model_size for m in a)
    with pytest.raises(SpecError, match="grid.size"):
        model.learning_curve(task, [10], [5, 6], np.random.default_rng(0))


def test_euclidean_knn_on_embedded_clusters(forest):
    rng = np.random.default_rng(4)
    task = PercolationTask(forest, embedding=branching_random_walk(forest, 50, rng))
    curve = EuclideanNearestNeighbours(1).learning_curve(task, [30, 300, 3000], [1, 5], rng)
    k1 = [m.test_loss for m in curve if m.model_size == 1]
    assert k1[0] > k1[-1]
    assert all(m.train_loss == 0.0 for m in curve if m.model_size == 1)
    with pytest.raises(SpecError, match="embedding"):
        EuclideanNearestNeighbours().learning_curve(PercolationTask(forest), [10], [1], rng)
    with pytest.raises(SpecError, match="n_neighbors"):
        EuclideanNearestNeighbours(0).fit(np.zeros((3, 2)), np.zeros(3))


def test_bad_sources_and_unfitted_model():
    path = sp.identity(3, format="csr")
    with pytest.raises(SpecError, match="sources"):
        multi_source_bfs(path, [5])
    with pytest.raises(SpecError, match="fit"):
        GraphNearestNeighbour().predict()
    with pytest.raises(SpecError, match="cluster_size"):
        GraphNearestNeighbour().fit(path, [0], [1.0])
