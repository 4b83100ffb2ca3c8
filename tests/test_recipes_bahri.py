"""Bahri kernel recipes: registration, outputs, and the measurements on tiny configurations (the full quick runs
are marked slow)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from scalinglab.errors import SpecError
from scalinglab.recipes import check, get, reproduce
from scalinglab.recipes.bahri import duality, fig2

TINY_DUALITY = duality.DualityConfig(dims=(2,), ambient=8, d_min=40, d_max=400, d_points=4, p_points=3,
                                           seeds=4, n_test=200, spectrum_n=4000, spectra=1, geometry_n=800,
                                           n_boot=20, rf_data=320)
TINY_FIG2 = fig2.Fig2Config(datasets=(("digits", 2),), mnist1d_n=2000, n_test=150, seeds=2, variance_seeds=3,
                             p_max=128, d_points=5, p_points=4, digits_n=900)


def test_registered():
    assert get("bahri-fig2").paper == fig2.PAPER
    assert get("bahri-fig2b-manifolds").paper == fig2.PAPER


def test_duality_run_writes_summary_with_checks(tmp_path, monkeypatch):
    monkeypatch.setattr(duality, "QUICK", TINY_DUALITY)
    summary = reproduce("bahri-fig2b-manifolds", tmp_path, quick=True)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved == summary and summary["id"] == "bahri-fig2b-manifolds"
    names = [c["name"] for c in summary["checks"]]
    assert len(names) == 6 and any("TwoNN" in n for n in names) and any("4/d" in n for n in names)
    for c in summary["checks"]:
        assert set(c) - {"reason"} == {"name", "measured", "predicted", "tolerance", "ok", "basis"} and c["basis"]
        assert ("reason" in c) == (not c["ok"] and "kappa/gamma theory, mean" in c["name"])
    by = {c["name"].split(":")[1].split("(")[0].strip(): c for c in summary["checks"]}
    # a 2-torus: TwoNN near 2; teacher-student with the ReLU NNGP, alpha_K ~ 3/d = 1.5 asymptotically, steeper at
    # these small indices; alpha_D agrees with the exponent of the spectrum's tail mass over the indices of its D range
    assert by["TwoNN intrinsic dimension"]["measured"] == pytest.approx(2, rel=0.1)
    assert abs(by["alpha_D"]["measured"] - 1.55) < 0.2
    assert by["alpha_D"]["ok"], by["alpha_D"]
    assert by["alpha_D vs slope of the kappa/gamma theory curve over the same D"]["ok"]
    assert (tmp_path / "bahri_duality_exponents.png").stat().st_size > 1000
    assert "alpha_K" in (tmp_path / "index.html").read_text()


def test_fig2_run_on_pooled_digits(tmp_path, monkeypatch):
    monkeypatch.setattr(fig2, "FIG2_QUICK", TINY_FIG2)
    summary = reproduce("bahri-fig2", tmp_path, quick=True)
    names = [c["name"] for c in summary["checks"]]
    assert any("alpha_D" in n and "alpha_K" in n for n in names)
    assert any("alpha_P" in n and "alpha_K" in n for n in names)
    for png in ("regimes", "exponents", "spectra", "theory"):
        assert (tmp_path / f"bahri_fig2_{png}.png").exists()
    for c in summary["checks"]:
        assert np.isfinite(c["measured"]) and np.isfinite(c["predicted"])
        # a real-data exponent that misses alpha_K says why in summary.json; other checks carry no reason
        assert ("reason" in c) == (not c["ok"] and "alpha_K" in c["name"])
        assert "label power" in c.get("reason", "label power") or "teacher" in c["name"]
    # the labels' own tail power and a teacher drawn from the kernel on the same inputs are both checked
    assert any("label power beyond index D" in n for n in names)
    assert any("teacher drawn from the NNGP" in n and "alpha_K" in n for n in names)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["bahri-fig2b-manifolds", "bahri-fig2"])
def test_quick_recipes_run(tmp_path, recipe):
    summary = reproduce(recipe, tmp_path, quick=True)
    assert summary["checks"]


def test_duality_config_needs_a_spectrum_that_resolves_the_d_range():
    with pytest.raises(SpecError, match="spectrum_n"):
        dataclasses.replace(TINY_DUALITY, spectrum_n=3000)


def test_check_keeps_a_reason_only_when_failing():
    passed = check("x", 1.0, 1.05, 0.1, reason="why", basis="b")
    assert passed.passed and passed.reason is None and "reason" not in passed.as_dict()
    row = check("x", 1.0, 1.5, 0.1, reason="why", basis="b")
    assert row.reason == "why" and not row.passed and row.as_dict()["reason"] == "why"
    assert check("r", 1.09, 1.0, 0.1, relative=True, basis="b").passed
    assert not check("r", 1.11, 1.0, 0.1, relative=True, basis="b").passed
    assert not check("nan", float("nan"), 1.0, 0.1, basis="b").passed
