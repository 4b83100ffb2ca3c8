"""Manifold tasks and kernel ridge models in specs: validation, and a stored, resumable sweep."""

from __future__ import annotations

import pytest

from scalinglab.errors import SpecError
from scalinglab.sweep.runner import pending_seeds, run_sweep
from scalinglab.sweep.spec import parse_spec
from scalinglab.sweep.store import Store


def _spec(**task):
    return {"name": "manifold-kr", "seeds": 2,
            "task": {"kind": "manifold", "manifold": "torus", "intrinsic_dim": 2, "ambient_dim": 6,
                     "n_fourier": 64, **task},
            "model": {"kind": "kernel_ridge", "n_test": 50, "depth": 1},
            "grid": {"data": {"min": 20, "max": 80, "num": 3}, "size": {"min": 1, "max": 1, "num": 1}}}


def test_sweep_runs_and_resumes(tmp_path):
    spec = parse_spec(_spec())
    with Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(spec, st, workers=1) == 6
        assert pending_seeds(spec, st) == []
        assert run_sweep(spec, st, workers=1) == 0
        ms = st.measurements(spec.name)
        assert {(m.data_size, m.model_size, m.seed) for m in ms} == {(d, 1, s) for d in (20, 40, 80) for s in (0, 1)}


def test_spec_errors_name_the_key():
    with pytest.raises(SpecError, match="ambient_dim"):
        parse_spec(_spec(intrinsic_dim=4))
    with pytest.raises(SpecError, match="task.manifold"):
        parse_spec(_spec(manifold="klein"))
    bad = _spec()
    bad["model"]["kernel"] = "rbf"
    with pytest.raises(SpecError, match="model.kernel"):
        parse_spec(bad)


def test_cli_predict_writes_json(tmp_path):
    import json

    from typer.testing import CliRunner

    from scalinglab.cli import app
    from scalinglab.sweep.spec import dump_toml

    spec_path = tmp_path / "torus.toml"
    spec_path.write_text(dump_toml(_spec()))
    out = tmp_path / "pred.json"
    res = CliRunner().invoke(app, ["predict", "--task", str(spec_path), "--n", "1000", "--json", str(out)])
    assert res.exit_code == 0, res.output
    pred = json.loads(out.read_text())
    d = pred["intrinsic_dimension"]["value"]
    assert d == pytest.approx(2, rel=0.15)
    assert pred["predicted"]["four_over_d"] == pytest.approx(4 / d)
    assert pred["predicted"]["alpha_data"] == pred["spectrum_exponent"]["value"] > 0
    bad = CliRunner().invoke(app, ["predict", "--task", str(tmp_path / "missing.toml")])
    assert bad.exit_code == 2 and "cannot read spec" in bad.output
