"""Brill's appendix figures: the cluster-size exponent and its standard error, the tree drawing, and the figures
that brill-fig6 and brill-fig7 add from their stored runs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from scalinglab import recipes
from scalinglab.recipes import brill
from scalinglab.recipes.brill import appendix

LO, HI = 100.0, 1e6


def _draw(beta: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n sizes with density ~ s^-beta on [LO, HI] (inverse CDF)."""
    a, b = LO ** (1 - beta), HI ** (1 - beta)
    return (a + rng.random(n) * (b - a)) ** (1 / (1 - beta))


def test_size_exponent_is_unbiased_and_its_standard_error_is_the_spread_over_samples():
    rng = np.random.default_rng(7)
    for beta in (1.5, 1.3):
        est = np.array([appendix.size_exponent(_draw(beta, 500, rng), LO, HI) for _ in range(200)])
        se = appendix.size_exponent_se(500, beta, LO, HI)
        assert abs(est.mean() - beta) < 4 * se / np.sqrt(200)  # the mean of 200 estimates: 4 of its SE
        assert abs(est.std(ddof=1) / se - 1) < 0.2  # the sd of 200 draws has relative SE 1/sqrt(400) = 5%


def test_size_check_passes_at_tau_5_2_and_fails_at_tau_2_3():
    rng = np.random.default_rng(3)
    ok = appendix.size_check(_draw(1.5, 1000, rng), LO, HI)
    assert ok.passed and ok.predicted == -0.5 and 0.03 < ok.tolerance < 0.08
    assert not appendix.size_check(_draw(1.3, 1000, rng), LO, HI).passed


def test_tree_layout_puts_each_site_at_its_depth_and_gives_subtrees_disjoint_wedges():
    parent = np.array([-1, 0, 0, 1, 1, 2])
    depth = np.array([0, 1, 1, 2, 2, 2])
    xy = appendix.tree_layout(parent, depth)
    np.testing.assert_allclose(np.hypot(*xy.T), depth, atol=1e-12)
    angle = np.mod(np.arctan2(xy[:, 1], xy[:, 0]), 2 * np.pi)
    assert max(angle[[3, 4]]) < angle[5]  # the first child's two leaves come before the second child's leaf
    assert angle[3] < angle[1] < angle[4]  # a parent sits in the middle of its leaves' wedge


def test_fig6_and_fig7_add_the_appendix_figures_from_their_stored_runs(tmp_path, monkeypatch):
    tiny = dataclasses.replace(brill.QUICK, min_size=30, max_size=3000, n_clusters=20, seeds=2, n_max=300,
                               n_points=12, fractions=12)
    monkeypatch.setattr(brill, "QUICK", tiny)
    s7 = recipes.reproduce("brill-fig7", tmp_path, quick=True)
    s6 = recipes.reproduce("brill-fig6", tmp_path, quick=True)
    assert {"accepted sizes against (s/s_max)^(2 - tau)", "sigma_k diagnostics", "per-cluster curves (seed 0)",
            "example clusters (seed 0's smallest), coloured by value"} <= set(s7["figures"])
    assert "one seed" in s6["figures"]
    for name in (*s7["figures"].values(), *s6["figures"].values()):
        assert (tmp_path / name).stat().st_size > 1000
    size = [c for c in s7["checks"] if c["name"].startswith("accepted cluster sizes")]
    assert len(size) == 1 and size[0]["predicted"] == -0.5 and "40 clusters" in size[0]["name"]
    # the drawn clusters are seed 0's own: its smallest sizes, as stored by the simulation
    stored = brill.run_seed(tiny, 0)["sizes"]
    drawn = appendix.drawn_clusters(brill._Cluster(tiny, brill._rng(tiny, 0)).forest)
    assert [c["values"].size for c in drawn] == list(stored[::-1][:appendix.N_DRAWN])
    assert all(np.sum(c["parent"] < 0) == 1 and c["parent"].max() < c["values"].size for c in drawn)
    assert json.loads((tmp_path / "summary.json").read_text())["id"] == "brill-fig6"
