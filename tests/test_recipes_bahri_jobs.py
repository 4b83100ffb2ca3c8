"""The Bahri recipes on the sweep's store: a second reproduction over the same store computes no job and writes
the identical summary.json (tiny configurations in place of the quick ones)."""

from __future__ import annotations

import dataclasses

import pytest

from scalinglab import recipes
from scalinglab.recipes.bahri import data as bahri_data
from scalinglab.recipes.bahri import dims as bahri_dims
from scalinglab.recipes.bahri import duality, fig2, networks

TINY_DUALITY = duality.DualityConfig(dims=(2,), ambient=8, d_min=40, d_max=200, d_points=3, p_points=3,
                                           seeds=2, n_test=100, spectrum_n=2000, spectra=1, geometry_n=400,
                                           n_boot=10, rf_data=320)
TINY_FIG2 = fig2.Fig2Config(datasets=(("digits", 2),), mnist1d_n=2000, n_test=150, seeds=2, variance_seeds=3,
                             p_max=128, d_points=5, p_points=4, digits_n=900)
TINY_FOUR = networks.FourRegimesConfig(
    datasets=("digits",), widths_var=(8, 16, 32), seeds_var=3, n_train_var=30, steps_var=5,
    data_var=(64, 256, 1024), width_data_var=2, seeds_data_var=3, steps_data_var=30,
    data_res=(20, 40, 80), widths_res=(2, 4, 8), width_res=8, seeds_res=2, steps_res=30, n_test_res=200)
TINY_TS = networks.TeacherStudentConfig(dims=(2, 3), data_sizes=(16, 32, 64), student_width=16, teacher_width=8,
                                        seeds=2, steps=40, n_test=300)
TINY_REAL = bahri_dims.RealDimsConfig(datasets=("digits",), data_sizes={"digits": (40, 80, 160)}, width=8,
                                         seeds=2, steps=40, n_test=200, n_boot=10)
TINY_SUPER = dataclasses.replace(bahri_data.QUICK_SUPER, data_sizes=(20, 40, 80), width=8, seeds=2, steps=30,
                                 n_test=200)
TINY_READOUT = bahri_data.DualityConfig(dataset="mnist1d", n=1500, width=32, pretrain_steps=30,
                                           data_sizes=(4, 8, 16, 32, 64, 128), feature_counts=(4, 8, 16, 32),
                                           peak_at=16, fit_max=16, seeds=2, n_test=200, n_val=100,
                                           ridges=(1e-8, 1e-2, 1.0))


def _run(recipe_id: str, out, store) -> tuple[str, int, int]:
    """summary.json of one reproduction, the jobs it computed and the jobs it was given."""
    first: dict[str, tuple[int, int]] = {}

    def progress(done: int, total: int, label: str) -> None:
        first.setdefault(label, (done, total))

    recipes.reproduce(recipe_id, out, quick=True, progress=progress, store=store)
    computed = sum(total - done for done, total in first.values())
    return (out / "summary.json").read_text(), computed, sum(total for _, total in first.values())


def _twice(recipe_id: str, tmp_path, jobs: int) -> None:
    store = tmp_path / "runs.sqlite"
    summary, computed, total = _run(recipe_id, tmp_path / "a", store)
    assert computed == total == jobs
    again, computed, total = _run(recipe_id, tmp_path / "b", store)
    assert (computed, total) == (0, jobs)  # every job read from the store
    assert again == summary


@pytest.mark.parametrize(("recipe_id", "jobs"), [("bahri-fig2b-manifolds", 1), ("bahri-fig2", 1)])
def test_kernel_recipes_rerun_over_their_store_compute_nothing(recipe_id, jobs, tmp_path, monkeypatch):
    monkeypatch.setattr(duality, "QUICK", TINY_DUALITY)
    monkeypatch.setattr(fig2, "FIG2_QUICK", TINY_FIG2)
    _twice(recipe_id, tmp_path, jobs)


@pytest.mark.parametrize(("recipe_id", "jobs"), [pytest.param("bahri-fig1a", 4, marks=pytest.mark.slow),
                                                 ("bahri-fig1b", 3), ("bahri-fig3", 3), ("bahri-figS6", 1)])
def test_network_recipes_rerun_over_their_store_compute_nothing(recipe_id, jobs, tmp_path, monkeypatch):
    monkeypatch.setattr(networks, "QUICK_FOUR", TINY_FOUR)
    monkeypatch.setattr(networks, "QUICK_TS", TINY_TS)
    monkeypatch.setattr(bahri_dims, "QUICK_REAL", TINY_REAL)
    monkeypatch.setattr(bahri_data, "QUICK_SUPER", TINY_SUPER)
    monkeypatch.setattr(bahri_data, "QUICK_DUALITY", TINY_READOUT)
    _twice(recipe_id, tmp_path, jobs)
