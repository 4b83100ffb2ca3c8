"""Bahri et al.'s Figs. S1 and S4 (``bahri-figS1``, ``bahri-figS4``): the extra measurements of the trained
networks leave their numbers unchanged, the recipes resume from their store, and what they measure follows the
theory where it is exact (tiny configurations in place of the quick ones)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from scalinglab import recipes
from scalinglab.models.mlp import Architecture, TrainConfig, classification_error, predict, train
from scalinglab.recipes.bahri import networks, runs, supplement
from scalinglab.recipes.figures import PAPER_FIGURES
from scalinglab.tasks.real import load_dataset

torch.set_num_threads(1)
TINY_FOUR = dataclasses.replace(networks.QUICK_FOUR, datasets=("digits",), data_res=(25, 50, 100, 200, 400),
                                widths_res=(2, 4, 8, 16), width_res=16, seeds_res=2, steps_res=150, n_test_res=300)
TINY_S4 = supplement.ModelScalingConfig(dims=(2, 4), p_max=256, p_points=4, rf_data=2048, seeds=2, n_test=500)


def _run(recipe_id: str, out, store) -> tuple[dict, int, int]:
    """summary.json of one reproduction, the jobs it computed and the jobs it was given."""
    first: dict[str, tuple[int, int]] = {}

    def progress(done: int, total: int, label: str) -> None:
        first.setdefault(label, (done, total))

    recipes.reproduce(recipe_id, out, quick=True, progress=progress, store=store)
    computed = sum(total - done for done, total in first.values())
    return json.loads((out / "summary.json").read_text()), computed, sum(total for _, total in first.values())


def _twice(recipe_id: str, tmp_path, jobs: int) -> dict:
    """Run twice over one store: the second run computes nothing and writes the same summary."""
    store = tmp_path / "runs.sqlite"
    summary, computed, total = _run(recipe_id, tmp_path / "a", store)
    assert computed == total == jobs
    again, computed, total = _run(recipe_id, tmp_path / "b", store)
    assert (computed, total) == (0, jobs)
    assert again == summary
    for name in summary["figures"].values():
        assert (tmp_path / "a" / name).stat().st_size > 1000
    return summary


def test_the_figures_name_their_recipes():
    rows = {f.figure: f for f in PAPER_FIGURES if f.paper.startswith("Bahri")}
    assert rows["Fig. S1"].recipe == "bahri-figS1" and rows["Fig. S4"].recipe == "bahri-figS4"
    assert not rows["Fig. S1"].reason and not rows["Fig. S4"].reason


def test_classification_error_counts_rows_whose_largest_output_is_not_the_label():
    pred = torch.tensor([[[0.9, 0.1, 0.0], [0.2, 0.3, 0.1], [0.0, 0.0, 1.0], [0.5, 0.4, 0.6]]])
    labels = np.array([0, 0, 2, 1])
    y = torch.as_tensor(runs.one_hot(labels, 3))  # centred one-hot: the largest entry is still the label
    assert classification_error(pred, y).tolist() == [pytest.approx(0.5)]  # rows 1 and 3 wrong


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", standardise="feature")


def test_the_extra_metrics_leave_the_trained_networks_and_the_stored_numbers_unchanged(digits):
    """``resolution_sweep(metrics=True)`` trains exactly the networks of ``metrics=False`` (evaluating changes no
    update): the final losses are bitwise those of the existing recipes; early-stopped values are the lowest
    evaluated, so never above the final ones."""
    arch = Architecture(**networks.ERF)
    cfg = TrainConfig(optimizer="adam", learning_rate=3e-3, schedule="cosine", max_steps=120, tol=1e-4, patience=50,
                      eval_every=20)
    args = (digits, [30, 60], [4, 8], 2, arch, cfg, 300)
    plain, extra = runs.resolution_sweep(*args), runs.resolution_sweep(*args, metrics=True)
    assert set(plain) == {"data_sizes", "widths", "loss", "mean_steps"}
    np.testing.assert_array_equal(plain["loss"], extra["loss"])
    np.testing.assert_array_equal(plain["mean_steps"], extra["mean_steps"])
    assert np.all(extra["loss_early"] <= extra["loss"] * (1 + 1e-6))
    assert np.all(extra["error_early"] <= extra["error"] + 1e-9)
    assert np.all((extra["error"] >= 0) & (extra["error"] <= 1))
    # a network that only evaluated at its last step: early-stopped = final
    x = torch.as_tensor(digits.X[:50], dtype=torch.float32)
    y = torch.as_tensor(runs.one_hot(digits.y[:50], 10), dtype=torch.float32)
    xt = torch.as_tensor(digits.X[50:250], dtype=torch.float32)
    yt = torch.as_tensor(runs.one_hot(digits.y[50:250], 10), dtype=torch.float32)
    p0 = arch.init(64, 8, 10, torch.Generator().manual_seed(0), n=2)
    once = dataclasses.replace(cfg, max_steps=40, eval_every=40, tol=0)
    net, log = train(arch, p0, x, y, once, x_test=xt, y_test=yt, test_error=True)
    np.testing.assert_allclose(log.best_test_error, classification_error(predict(arch, net, xt), yt).numpy())
    bare, bare_log = train(arch, p0, x, y, once)
    assert bare_log.best_test_error is None and bare_log.best_test_loss is None
    for a, b in zip(net.tensors(), bare.tensors(), strict=True):
        assert torch.equal(a, b)


def test_figS1_resumes_and_loss_and_error_fall_with_data(tmp_path, monkeypatch):
    """Theory (Fig. 1a's resolution-limited regime): on digits every one of the four quantities falls with D, so
    each exponent in D is positive with its 95% interval above 0."""
    monkeypatch.setattr(supplement, "QUICK_FOUR", TINY_FOUR)
    summary = _twice("bahri-figS1", tmp_path, 2)
    names = [c["name"] for c in summary["checks"]]
    assert len(names) == 2 * len(supplement.PAIRS)
    assert all(set(c) >= {"measured", "predicted", "tolerance", "ok", "basis"} for c in summary["checks"])
    assert all(c["tolerance"] == supplement.TOL_DUALITY and c["basis"] == supplement.BASIS_SIMILAR
               for c in summary["checks"])
    assert names[0].startswith("digits: L(D) at width 16: exponent of the early-stopped loss")
    raw = supplement.metrics_job(TINY_FOUR, 0, 2)
    _, _, fits = supplement.slice_exponents(raw, 2)
    assert set(fits) == set(supplement.METRICS)
    for label, f in fits.items():
        assert f["ci95"][0] > 0, (label, f["alpha"], f["ci95"])


def test_figS4_resumes_and_alpha_P_falls_with_the_dimension(tmp_path, monkeypatch):
    """Theory (4/alpha ~ d): the model-scaling exponent at d = 2 is larger than at d = 4, beyond both intervals."""
    monkeypatch.setattr(supplement, "QUICK_S4", TINY_S4)
    summary = _twice("bahri-figS4", tmp_path, 2)
    names = [c["name"] for c in summary["checks"]]
    assert [n.split(":")[0] for n in names] == ["d = 2", "d = 2", "d = 4", "d = 4"]
    assert "4 / alpha_P against d" in names[0] and "alpha_P against alpha_D" in names[1]
    by_d = {n.split(":")[0]: c for n, c in zip(names, summary["checks"], strict=True) if "4 / alpha_P" in n}
    assert by_d["d = 2"]["predicted"] == 2.0 and by_d["d = 4"]["predicted"] == 4.0
    fits = [supplement.fit_exponent(r["sizes"], list(r["rf"]))
            for r in (supplement.model_scaling_job(TINY_S4, d) for d in TINY_S4.dims)]
    assert fits[0]["ci95"][0] > fits[1]["ci95"][1], fits
    assert 4 / fits[0]["alpha"] == pytest.approx(by_d["d = 2"]["measured"])


def test_figS4_sizes_keep_the_resolution_limited_window():
    assert supplement.s4_sizes(TINY_S4) == [32, 64, 128, 256]
    assert supplement.s4_sizes(dataclasses.replace(TINY_S4, rf_data=1024)) == [32, 64, 128]  # 8 P <= D
    for cfg in (supplement.QUICK_S4, supplement.FULL_S4):
        assert all(8 * p <= cfg.rf_data and p >= 32 for p in supplement.s4_sizes(cfg))
        assert len(supplement.s4_sizes(cfg)) == cfg.p_points
