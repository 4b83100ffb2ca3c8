"""Multitask sparse parity, the quanta theory and its tie to Brill's alpha(tau), and a tiny training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import zeta

from scalinglab.contracts import Task
from scalinglab.errors import SpecError
from scalinglab.tasks.quanta import MultitaskSparseParity
from scalinglab.theory import percolation as perc
from scalinglab.theory import quanta as th

# --- task --------------------------------------------------------------------------------------------------


def test_task_shapes_labels_and_contract():
    task = MultitaskSparseParity(n_tasks=10, n_bits=8, k=3, zipf_exponent=2.0, seed=1)
    assert isinstance(task, Task)
    X, y, t = task.sample_with_tasks(500, np.random.default_rng(0))
    assert X.shape == (500, 18) and y.shape == (500,)
    assert set(np.unique(X)) <= {0.0, 1.0} and set(np.unique(y)) <= {0, 1}
    assert np.all(X[:, :10].sum(axis=1) == 1)
    np.testing.assert_array_equal(task.subtask_of(X), t)
    # The label is the parity of the subtask's own relevant bits, recomputed here from scratch.
    bits = X[:, 10:].astype(int)
    expected = np.array([bits[i, task.relevant_bits[t[i]]].sum() % 2 for i in range(500)])
    np.testing.assert_array_equal(y, expected)
    sets = {tuple(r) for r in task.relevant_bits}
    assert len(sets) == 10 and all(len(s) == 3 for s in sets)
    props = task.properties()
    assert props["zipf_exponent"] == 2.0 and props["alpha"] == 1.0 and props["n_tasks"] == 10.0


def test_task_deterministic_and_seeded():
    a = MultitaskSparseParity(n_tasks=12, n_bits=10, seed=3)
    b = MultitaskSparseParity(n_tasks=12, n_bits=10, seed=3)
    np.testing.assert_array_equal(a.relevant_bits, b.relevant_bits)
    Xa, ya = a.sample(300, np.random.default_rng(5))
    Xb, yb = b.sample(300, np.random.default_rng(5))
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(a.relevant_bits, MultitaskSparseParity(n_tasks=12, n_bits=10, seed=4).relevant_bits)


def test_subtask_frequencies_follow_zipf():
    task = MultitaskSparseParity(n_tasks=20, n_bits=8, zipf_exponent=1.5)
    p = task.frequencies
    np.testing.assert_allclose(p, th.frequencies(0.5, 20))
    np.testing.assert_allclose(p[0] / p[3], 4**1.5)
    n = 200_000
    counts = np.bincount(task.sample_with_tasks(n, np.random.default_rng(2))[2], minlength=20)
    # Multinomial counts: each within 5 standard deviations of n p_i.
    assert np.all(np.abs(counts - n * p) <= 5 * np.sqrt(n * p * (1 - p)))


def test_population_loss_exact_and_weighted():
    task = MultitaskSparseParity(n_tasks=6, n_bits=6, k=2, zipf_exponent=2.0, test_per_task=64)
    assert task.exact
    X, y, t = task.test_set()
    assert X.shape == (6 * 64, 12)
    truth = dict(zip(map(tuple, X), y, strict=True))

    def oracle(Z):
        return np.array([truth[tuple(z)] for z in Z])

    assert task.population_loss(oracle) == 0.0
    assert task.population_loss(lambda Z: 1 - oracle(Z)) == pytest.approx(1.0, abs=1e-12)
    # Right on subtasks 0 and 2 only: loss is exactly the frequency mass of the others.
    def partial(Z):
        s = task.subtask_of(Z)
        return np.where(np.isin(s, [0, 2]), oracle(Z), 1 - oracle(Z))

    p = task.frequencies
    assert task.population_loss(partial) == pytest.approx(1 - p[0] - p[2], abs=1e-12)
    # A constant predictor is right on exactly half of each subtask's enumerated inputs.
    np.testing.assert_allclose(task.subtask_errors(lambda Z: np.zeros(len(Z))), 0.5)
    two_class = task.subtask_errors(lambda Z: np.stack([1 - oracle(Z), oracle(Z)], axis=1))
    np.testing.assert_array_equal(two_class, 0.0)


@pytest.mark.parametrize("kwargs, key", [
    ({"n_tasks": 0}, "n_tasks"), ({"n_bits": 2, "k": 3}, "task.k"), ({"zipf_exponent": 1.0}, "zipf_exponent"),
    ({"n_tasks": 30, "n_bits": 5, "k": 2}, "n_tasks"), ({"test_per_task": 0}, "test_per_task"),
])
def test_task_bad_parameters_name_the_key(kwargs, key):
    with pytest.raises(SpecError, match=key):
        MultitaskSparseParity(**kwargs)


# --- theory ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5])
def test_exponents_and_tie_to_brill(alpha):
    assert th.parameter_exponent(alpha) == alpha
    assert th.data_exponent(alpha) == pytest.approx(alpha / (alpha + 1))
    tau = th.tau_from_zipf(alpha + 1)
    # Brill's own alpha(tau) at that tau is the quanta alpha, and his data exponent 3 - tau the quanta one.
    assert perc.alpha_from_tau(tau) == pytest.approx(alpha, rel=1e-12)
    assert th.alpha_of_zipf_via_percolation(alpha + 1) == pytest.approx(alpha, rel=1e-12)
    assert 3 - tau == pytest.approx(th.data_exponent(alpha), rel=1e-12)
    assert perc.data_scaling_exponent(alpha, 100.0) == pytest.approx(th.data_exponent(alpha), rel=1e-12)
    assert perc.model_scaling_exponent(alpha, 100.0) == pytest.approx(th.parameter_exponent(alpha), rel=1e-12)


def test_mean_field_percolation_is_zipf_two():
    assert th.tau_from_zipf(2.0) == 2.5


def test_loss_with_quanta_sums_the_unlearned_tail():
    p = th.frequencies(1.0, 10)
    assert th.loss_with_quanta(3, 1.0, 10) == pytest.approx(p[3:].sum())
    assert th.loss_with_quanta(0, 1.0, 10) == pytest.approx(1.0)
    assert th.loss_with_quanta(10, 1.0, 10) == 0.0
    assert th.loss_with_quanta(3.5, 1.0, 10) == pytest.approx(p[3:].sum() - 0.5 * p[3])
    # Infinite Zipf law: tail sum_{k > n} k^-2 / zeta(2), and the asymptotic slope n^-alpha.
    assert th.loss_with_quanta(5, 1.0) == pytest.approx(zeta(2, 6) / (math.pi**2 / 6))
    n = np.array([1e4, 1e5])
    for alpha in (0.5, 1.5):
        assert th.effective_exponent(n, th.loss_with_quanta(n, alpha)) == pytest.approx(alpha, abs=2e-3)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5])
def test_scaling_curves_have_the_quanta_exponents(alpha):
    N = np.geomspace(1e5, 1e7, 5)
    assert th.effective_exponent(N, th.parameter_scaling_loss(N, alpha, 10.0)) == pytest.approx(alpha, abs=5e-3)
    D = np.geomspace(1e8, 1e10, 5)
    got = th.effective_exponent(D, th.data_scaling_loss(D, alpha, 50.0))
    assert got == pytest.approx(alpha / (alpha + 1), abs=5e-3)


def test_untruncated_loss_removes_the_cutoff_exactly():
    for alpha in (0.5, 1.0, 1.5):
        for n in (0, 2, 7.5, 15):
            finite = th.loss_with_quanta(n, alpha, 20, unlearned_loss=0.5)
            assert th.untruncated_loss(finite, alpha, 20, 0.5) == pytest.approx(
                th.loss_with_quanta(n, alpha, None, 0.5), rel=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5])
def test_window_exponent_approaches_the_asymptote(alpha):
    assert th.window_exponent(alpha, 1e3, 1e4) == pytest.approx(alpha, rel=1e-3)
    assert th.window_exponent(alpha, 1e3, 1e4, alpha + 1) == pytest.approx(alpha / (alpha + 1), rel=1e-3)
    # A handful of quanta: the local slope alpha n / (n + 1/2) is flatter, by 5-15 % over n = 2..10.
    few = th.window_exponent(alpha, 2, 10)
    assert 0.85 * alpha < few < 0.95 * alpha


def test_theory_bad_values_raise():
    with pytest.raises(SpecError, match="alpha"):
        th.data_exponent(0.0)
    with pytest.raises(SpecError, match="zipf_exponent"):
        th.tau_from_zipf(1.0)
    with pytest.raises(SpecError, match="n_tasks"):
        th.loss_with_quanta(1, 1.0, n_tasks=0)


# --- training --------------------------------------------------------------------------------------------


def test_tiny_network_learns_the_most_frequent_subtasks_first():
    """300 Adam steps (batch 128) on four subtasks with p ~ i^-4: by then two networks have learned the most
    frequent subtask (p = 0.92) and not the rarest (p = 0.0036, about 140 examples seen). Fixed seeds; errors are
    exact over all 256 inputs of a subtask, and below 0.1 / above 0.3 are far from chance (0.5) / from learned."""
    from scalinglab.recipes.quanta import order_concordance
    from scalinglab.recipes.quanta.config import LEARNED, QuantaConfig
    from scalinglab.recipes.quanta.runs import _train_eval

    task = MultitaskSparseParity(n_tasks=4, n_bits=8, k=2, zipf_exponent=4.0, seed=0, test_per_task=256)
    rng = np.random.default_rng(0)
    X, y = task.sample(5_000, rng)
    x_t = torch.as_tensor(X)
    y_t = torch.nn.functional.one_hot(torch.as_tensor(y), 2).to(torch.float32)
    config = QuantaConfig(zipf_exponents=(4.0,), seeds=1, n_tasks=4, n_bits=8, k=2, widths=(16,),
                          param_pool=5_000, data_width=16, data_sizes=(5_000,), steps=1, batch_size=128)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: other threads only contend for shared cores
    try:
        errors, _ = _train_eval(task, x_t, y_t, [16, 16], [5_000, 5_000], config, 300,
                                torch.Generator().manual_seed(1))
    finally:
        torch.set_num_threads(threads)
    assert errors.shape == (2, 4)
    assert np.all(errors[:, 0] < LEARNED)
    assert np.all(errors[:, -1] > 0.3)
    assert order_concordance(errors) >= 0.9


@pytest.mark.parametrize("zipf", [2.0, 2.5])
def test_analysis_recovers_exponents_of_ideal_quanta_learning(zipf):
    """Rows of networks that learn exactly the n most frequent quanta, n = width / 2 (parameters, 100 parameters
    per quantum) and n = (D / (tau Z))^(1/(alpha+1)) (data): the recipe's fits (window, untruncated loss, power
    law) return the effective exponents of the theory curves over the same points (parameters: against N + c/2),
    the parameter exponent is the asymptotic alpha although the window holds only 2 to 16 quanta (against N alone
    it is lower by alpha / (2n) at n quanta, more than 0.1 at alpha = 1.5), and the order concordance is 1."""
    import dataclasses

    from scalinglab.recipes import quanta as rq
    from scalinglab.recipes.quanta.config import CHANCE

    config = dataclasses.replace(rq.QUICK, zipf_exponents=(zipf,), n_boot=20)
    alpha, T = zipf - 1.0, config.n_tasks
    task = MultitaskSparseParity(n_tasks=T, n_bits=16, k=2, zipf_exponent=zipf)
    rows = []

    def add(sweep, width, data, n, seed):
        err = np.where(np.arange(T) < n, 0.0, CHANCE)
        loss = float(task.frequencies @ err)
        rows.append({"zipf_exponent": zipf, "seed": seed, "sweep": sweep, "width": width, "data": data,
                     "parameters": 50 * width, "loss": loss, "errors": err, "learned": int(n),
                     "loss_untruncated": float(th.untruncated_loss(loss, alpha, T, CHANCE))})

    for seed in range(2):
        for w in config.widths:
            add("params", w, config.param_pool, w // 2, seed)
        for d in config.data_sizes:
            add("data", config.data_width, d, int(th.quanta_from_data(d, alpha, 60.0, T)), seed)
    result = rq.analyse(rows, config)
    fits = result["fits"][zipf]
    for sweep, key, shift in (("params", "parameters", 50.0), ("data", "data", 0.0)):
        fit = fits[sweep]
        xs = sorted({r[key] for r in rows if r["sweep"] == sweep and fit["window"][0] <= r[key] <= fit["window"][1]})
        ys = [next(r["loss_untruncated"] for r in rows if r["sweep"] == sweep and r[key] == x) for x in xs]
        assert fit["points"] >= 3
        assert fit["shift"] == pytest.approx(shift)
        # the data curve is a staircase in D (whole quanta): Huber on log residuals and least squares differ a little
        assert fit["exponent"] == pytest.approx(th.effective_exponent(np.add(xs, shift), ys), abs=0.04)
    assert fits["params"]["exponent"] == pytest.approx(alpha, abs=0.03)
    assert fits["params_plain"]["exponent"] < alpha - 0.05 * alpha
    order = next(c for c in result["checks"] if "order" in c.name)
    assert order.measured == 1.0 and order.passed


def test_recipe_registered_and_runs_end_to_end(tmp_path, monkeypatch):
    """The whole recipe on a toy configuration: outputs follow the recipe contract, every network is recorded."""
    import json

    from scalinglab import recipes
    from scalinglab.recipes import quanta as rq

    recipe = recipes.get("quanta-zipf")
    assert recipe.paper == "Michaud et al. 2023"
    tiny = rq.QuantaConfig(zipf_exponents=(2.0,), seeds=2, n_tasks=6, n_bits=8, k=2, widths=(4, 8, 16),
                           param_pool=4000, data_width=16, data_sizes=(250, 1000, 4000), steps=100, batch_size=64,
                           test_per_task=256, n_boot=20)
    monkeypatch.setattr(rq, "_config", lambda quick: tiny)
    threads = torch.get_num_threads()
    summary = recipes.reproduce("quanta-zipf", tmp_path, quick=True)
    assert torch.get_num_threads() == threads
    names = [c["name"] for c in summary["checks"]]
    assert len(names) == 3 and any("parameter exponent" in n for n in names) and any("data" in n for n in names)
    assert not any("Brill" in n for n in names)  # the 3 - tau identity is a unit test above, not a check
    networks = json.loads((tmp_path / "quanta-zipf-networks.json").read_text())
    assert len(networks) == 2 * (3 + 3) and all(len(r["errors"]) == 6 for r in networks)
    assert {p.name for p in tmp_path.glob("*.png")} == {"quanta-zipf-scaling.png", "quanta-zipf-subtasks.png"}
    assert "quanta-zipf" in (tmp_path / "index.html").read_text()


@pytest.mark.slow
def test_quick_recipe_exponents_follow_the_quanta_model(tmp_path):
    """The quick configuration for real (minutes): quanta are learned in order of frequency, and at every Zipf
    exponent the measured parameter and data exponents lie within the issue's 0.15 of alpha and alpha / (alpha + 1)
    (measured: 0.47, 1.00, 1.51 against 0.5, 1, 1.5; 0.26, 0.39, 0.57 against 1/3, 1/2, 0.6)."""
    from scalinglab import recipes

    summary = recipes.reproduce("quanta-zipf", tmp_path, quick=True, workers=2)
    checks = {c["name"]: c for c in summary["checks"]}
    assert all(c["ok"] for n, c in checks.items() if "order of frequency" in n)
    assert all(c["ok"] for n, c in checks.items() if "exponent" in n)
