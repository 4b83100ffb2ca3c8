"""The percolation task and the graph nearest-neighbour model of a spec (Brill 2024), and the joint theory."""

from __future__ import annotations

import numpy as np
import pytest

from scalinglab.errors import SpecError
from scalinglab.models.knn import GraphKNN
from scalinglab.sweep.spec import parse_spec
from scalinglab.tasks.percolation.bethe_task import bethe_clusters, bethe_task, keep_probability
from scalinglab.tasks.percolation.estimators import tau_powerlaw
from scalinglab.theory import percolation as th


@pytest.mark.parametrize("tau", [2.2, 2.5, 2.8])
def test_thinned_clusters_have_the_asked_size_exponent(tau):
    """Clusters grown from seed sites are site-weighted, P(s) ~ s n_s ~ s^(1 - tau); after thinning critical trees
    by (s / s_ref)^(5/2 - tau) the maximum-likelihood tau of the kept sizes holds the asked one in its 95%
    interval (the estimator's own, on 600 clusters)."""
    forest = bethe_clusters(tau, 200, 10, 10_000, 600, np.random.default_rng(7))
    assert forest.n_clusters == 600 and np.all(np.diff(forest.sizes) <= 0)
    assert forest.sizes.min() >= 10 and forest.sizes.max() <= 10_000
    est = tau_powerlaw(forest.sizes, xmin=10, xmax=10_000, site_weighted=True)
    assert est.ci95[0] <= tau <= est.ci95[1], (tau, est)


def test_keep_probability_is_at_most_one_and_one_at_the_reference_size():
    s = np.array([10, 100, 1000])
    assert keep_probability(s, 2.8, 10, 1000)[0] == 1.0 and np.all(np.diff(keep_probability(s, 2.8, 10, 1000)) < 0)
    assert keep_probability(s, 2.2, 10, 1000)[-1] == 1.0 and np.all(np.diff(keep_probability(s, 2.2, 10, 1000)) > 0)
    assert np.all(keep_probability(s, 2.5, 10, 1000) == 1.0)


def test_task_properties_carry_alpha_from_tau_and_the_clusters():
    task = bethe_task(tau=2.4, min_size=20, max_size=2000, embedding=2)
    props = task.properties()
    assert props["alpha"] == pytest.approx((3 - 2.4) / (2.4 - 2))
    assert props["n_clusters"] == float(int((2000 / 20) ** 0.4)) and props["fractal_dimension"] == 4.0
    assert task.embedding.shape == (task.forest.n_sites, 2)


def test_spec_defaults_and_refusals():
    base = {"name": "p", "grid": {"data": {"min": 1, "max": 100}, "size": {"min": 1, "max": 100}}}
    spec = parse_spec({**base, "task": {"kind": "percolation"}, "model": {"kind": "graph_knn"}})
    assert spec.task.clusters() == int((30_000 / 30) ** 0.5)
    for task, model, needle in [
        ({"kind": "percolation", "tau": 3.0}, {"kind": "graph_knn"}, "task.tau"),
        ({"kind": "percolation", "min_size": 50, "max_size": 10}, {"kind": "graph_knn"}, "task.min_size"),
        ({"kind": "percolation"}, {"kind": "graph_knn", "conversion": 0.5}, "model.conversion"),
        ({"kind": "percolation"}, {"kind": "mlp"}, "task.embedding"),
        ({"kind": "manifold"}, {"kind": "graph_knn"}, "model.kind: graph_knn needs task.kind percolation"),
    ]:
        with pytest.raises(SpecError, match=needle):
            parse_spec({**base, "task": task, "model": model})


@pytest.fixture(scope="module")
def small_task():
    return bethe_task(min_size=20, max_size=5000)


def test_graph_knn_dof_are_the_smaller_of_allocation_and_data(small_task):
    model = GraphKNN(conversion=1.0)
    ms = {(m.data_size, m.model_size): m for m in
          model.learning_curve(small_task, [10, 10**7], [30, 10**6], np.random.default_rng(0))}
    k = np.arange(1, small_task.forest.n_clusters + 1)
    alloc = th.optimal_allocation(30.0, k, 1.0, 0.5)
    assert ms[(10**7, 30)].extra["dof_used"] == pytest.approx(alloc.sum())  # data unlimited: model scaling
    assert ms[(10, 10**6)].extra["dof_used"] == pytest.approx(10.0)  # capacity unlimited: data scaling
    assert ms[(10**7, 10**6)].test_loss < ms[(10**7, 30)].test_loss < ms[(10, 30)].test_loss
    assert ms[(10**7, 10**6)].test_loss < ms[(10, 10**6)].test_loss


def test_graph_knn_paper_test_draw_and_fitted_conversion(small_task):
    ms = GraphKNN(p_test=0.05, fractions=5).learning_curve(small_task, [100, 1000], [100, 1000],
                                                          np.random.default_rng(1))
    assert all(np.isfinite(m.test_loss) and 0 < m.test_loss < 2 for m in ms)
    assert all(m.extra["sigma_median"] >= 1.0 for m in ms)


def test_joint_loss_limits_have_the_closed_forms_exponents():
    """At D -> inf the joint law is Brill's model scaling, at N -> inf his data scaling: the same per-cluster
    losses summed over integer ranks instead of integrated, so over N, D in [10, 1000] the fitted exponents agree
    with the closed forms' to within the discreteness of the first ranks (0.03)."""
    n = np.geomspace(10, 1000, 5)
    for joint, closed in [(th.joint_loss(1e12, n, 1.0, 0.5, 10**5), th.model_scaling_loss(n, 1.0, 0.5)),
                          (th.joint_loss(n, 1e12, 1.0, 0.5, 10**5), th.data_scaling_loss(n, 1.0, 0.5))]:
        slope_j, slope_c = (np.polyfit(np.log(n), np.log(c), 1)[0] for c in (joint, closed))
        assert abs(slope_j - slope_c) < 0.03, (slope_j, slope_c)
    # below one DOF everywhere nothing is learned: the loss is the whole weight
    assert th.joint_loss(0.5, 0.5, 1.0, 0.5, 50) == pytest.approx(1.0)
    with pytest.raises(SpecError):
        th.joint_loss(10, 10, 1.0, 0.5, 0)
