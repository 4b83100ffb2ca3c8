"""Bahri kernel recipes: registration, outputs, and the measurements on tiny configurations (the full quick runs
are marked slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scalinglab.recipes import bahri, bahri_duality, get, reproduce

TINY_DUALITY = bahri_duality.DualityConfig(dims=(2,), ambient=8, d_min=40, d_max=320, d_points=4, p_points=3,
                                           seeds=2, n_test=100, spectrum_n=800, spectra=2, geometry_n=800,
                                           n_boot=20)
TINY_FIG2 = bahri.Fig2Config(datasets=(("digits", 2),), mnist1d_n=2000, n_test=150, seeds=2, variance_seeds=3,
                             p_max=128, d_points=5, p_points=4, digits_n=900)


def test_registered():
    assert get("bahri-random-features").paper == bahri.PAPER
    assert get("bahri-duality").paper == bahri.PAPER


def test_duality_run_writes_summary_with_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(bahri_duality, "QUICK", TINY_DUALITY)
    summary = reproduce("bahri-duality", tmp_path, quick=True)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == summary and summary["id"] == "bahri-duality"
    names = [c["name"] for c in summary["checks"]]
    assert len(names) == 6 and any("TwoNN" in n for n in names) and any("4/d" in n for n in names)
    for c in summary["checks"]:
        assert set(c) == {"name", "measured", "predicted", "tolerance", "ok"}
    by = {c["name"].split(":")[1].split("(")[0].strip(): c for c in summary["checks"]}
    # a 2-torus: TwoNN near 2; teacher-student with the ReLU NNGP, alpha_K ~ 3/d = 1.5, and the measured alpha_D
    # near it at these small sizes (the spectrum from 800 points overshoots: finite-sample bias)
    assert by["TwoNN intrinsic dimension"]["measured"] == pytest.approx(2, rel=0.1)
    assert abs(by["alpha_D"]["measured"] - 1.5) < 0.25
    assert 1.2 < by["alpha_D"]["predicted"] < 2.2
    assert (tmp_path / "bahri_duality_exponents.png").stat().st_size > 1000
    assert "alpha_K" in (tmp_path / "index.html").read_text()


def test_fig2_run_on_pooled_digits(tmp_path, monkeypatch):
    monkeypatch.setattr(bahri, "FIG2_QUICK", TINY_FIG2)
    summary = reproduce("bahri-random-features", tmp_path, quick=True)
    names = [c["name"] for c in summary["checks"]]
    assert any("alpha_D" in n and "alpha_K" in n for n in names)
    assert any("alpha_P" in n and "alpha_K" in n for n in names)
    for png in ("regimes", "exponents", "spectra", "theory"):
        assert (tmp_path / f"bahri_fig2_{png}.png").exists()
    for c in summary["checks"]:
        assert np.isfinite(c["measured"]) and np.isfinite(c["predicted"])


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["bahri-duality", "bahri-random-features"])
def test_quick_recipes_run(tmp_path, recipe):
    summary = reproduce(recipe, tmp_path, quick=True)
    assert summary["checks"]
