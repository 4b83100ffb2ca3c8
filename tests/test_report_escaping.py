"""The store report escapes every string a user controls: experiment name, spec values, problems."""

from __future__ import annotations

from scalinglab.report.analysis import analyse
from scalinglab.report.html import write_report
from scalinglab.sweep.runner import run_seed
from scalinglab.sweep.spec import parse_spec

SCRIPT = "<script>alert(1)</script>"


def test_markup_in_the_experiment_name_and_spec_values_is_escaped(tmp_path):
    spec = parse_spec({"name": "ok", "seeds": 2, "task": {"kind": "teacher_student", "features": 256},
                       "model": {"kind": "random_features"},
                       "grid": {"data": {"min": 8, "max": 128, "num": 5}, "size": {"min": 8, "max": 128, "num": 5}}})
    measurements = run_seed(spec, 0) + run_seed(spec, 1)
    stored = spec.model_dump(mode="json")
    stored["name"] = SCRIPT  # as a store written by other code could hold it
    stored["task"]["note"] = '<img src=x onerror="alert(2)">'  # an unknown key: the spec no longer validates
    fits = analyse(stored, measurements, n_boot=50)
    assert any("no longer validates" in p for p in fits["problems"])
    page = write_report(measurements, fits, tmp_path / "r").read_text()
    assert SCRIPT not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
