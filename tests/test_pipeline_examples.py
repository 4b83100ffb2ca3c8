"""One pipeline for every kind: each spec in examples/ goes run -> fit --store -> report through the CLI, and the
page states measured against predicted exponents for its task, or says that no theory applies."""

from __future__ import annotations

import html
import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalinglab.cli import app
from scalinglab.sweep.spec import TASK_KINDS, load_spec
from scalinglab.theory.bahri import REGIMES

EXAMPLES = sorted(Path(__file__).resolve().parents[1].joinpath("examples").glob("*.toml"))
runner = CliRunner()

pytest.importorskip("torch")


def invoke(*args) -> str:
    result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output)
    return result.output


def test_every_task_kind_has_an_example_and_each_example_prints_its_commands():
    kinds = {tomllib.loads(p.read_text())["task"]["kind"] for p in EXAMPLES}
    assert kinds == set(TASK_KINDS), f"task kinds without an example: {set(TASK_KINDS) - kinds}"
    for path in EXAMPLES:
        spec = load_spec(path)
        header = path.read_text()
        for command in ("scalinglab run", "scalinglab fit --store", "scalinglab report --store"):
            assert command in header, (path.name, command)
        assert f"--experiment {spec.name}" in header, path.name


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_fits_and_reports_with_theory_beside(path, tmp_path):
    spec = load_spec(path)
    store, out, fits_json = tmp_path / "s.db", tmp_path / "report", tmp_path / "fits.json"
    invoke("run", path, "--store", store, "--workers", "2", "--quiet")
    invoke("fit", "--store", store, "--experiment", spec.name, "--json", fits_json, "--bootstrap", "100")
    printed = invoke("report", "--store", store, "--experiment", spec.name, "--out", out, "--bootstrap", "100")
    fits = json.loads(fits_json.read_text())
    assert fits == json.loads((out / "fits.json").read_text())  # the same analysis behind both commands
    assert fits["rows"], "no slice reported"
    page = html.unescape((out / "report.html").read_text())
    assert "Measured exponents against theory" in page
    for row in fits["rows"]:
        assert "error" not in row, row.get("error")
        assert f"{row['exponent']:.3f}" in page  # measured
        if row["predicted"] is None:
            assert row["prediction_source"].startswith(("no theory", "mlp has no", "kernel_ridge has no"))
            assert row["prediction_source"] in page and row["in_interval"] is None
        else:  # predicted, and the agreement by the stated interval rule
            assert f"{row['predicted']:.3f}" in page
            lo, hi = row["ci95"]
            assert row["in_interval"] == (lo <= row["predicted"] <= hi)
        label = row["name"] if row["name"] in REGIMES else row["description"]  # the four regimes by name
        assert label[:20] in printed, (label, printed)  # the terminal table has a row for it
    assert "Rule:" in page and fits["interval_rule"] in page


def test_theory_rows_per_kind():
    """What each kind's report is expected to predict: a number where theory applies, a reason where not."""
    expected = {"teacher_student": True, "manifold": True, "hypercube": True, "percolation": True, "quanta": True,
                "real": False}
    from scalinglab.theory.slices import predict_slice

    props = {
        "teacher_student": ({"spectrum_exponent": 0.5, "noise": 0.0}, "random_features", {"random_features": 1.0}),
        "manifold": ({"intrinsic_dimension": 3.0}, "kernel_ridge", {"random_features": 1.0, "size_knob": 1.0}),
        "hypercube": ({"intrinsic_dimension": 2.0}, "mlp", {"hidden_layers": 2.0}),
        "percolation": ({"tau": 2.5, "alpha": 1.0, "fractal_dimension": 4.0, "n_clusters": 31.0}, "graph_knn",
                        {"approximation_order": 2.0}),
        "quanta": ({"zipf_exponent": 2.0, "alpha": 1.0}, "mlp", {"hidden_layers": 1.0}),
        "real": ({"n": 1797.0, "features": 64.0, "n_classes": 10.0}, "kernel_ridge", {"random_features": 1.0}),
    }
    assert set(props) == set(TASK_KINDS)
    for kind, (task, model_kind, model) in props.items():
        pred = predict_slice(task, model_kind, model, "data", 1024, [16, 64, 256])
        assert (pred.exponent is not None) == expected[kind], (kind, pred)
    assert predict_slice(*props["quanta"], "data", 64, [16, 64, 256]).exponent == pytest.approx(0.5)
    assert predict_slice(*props["quanta"], "size", 64, [4, 8, 16]).exponent == pytest.approx(1.0)
    assert predict_slice(*props["hypercube"], "data", 64, [16, 64, 256]).exponent == pytest.approx(2.0)
    assert predict_slice(*props["teacher_student"], "data", 1024, [16, 32, 64]).exponent == pytest.approx(0.5)
    # variance-limited where every size is 16 times the other, for random features
    assert predict_slice(*props["teacher_student"], "data", 4, [64, 128, 256]).exponent == 1.0
