"""The command line of sweeps on executors: --dask-local and --scheduler, failed seeds reported with status 1,
--quiet, and option errors that leave no store behind."""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest
from typer.testing import CliRunner

import sweep_faults
from conftest import ANSI, invoke, make_spec, one_error_line, spec_dict, write_spec
from scalinglab.cli import app
from scalinglab.sweep import runner
from scalinglab.sweep.store import Store

pytestmark = pytest.mark.usefixtures("one_blas_thread")




def _values(path, name="tiny"):
    with Store(path, create=False) as st:
        return {(m.data_size, m.model_size, m.seed): (m.train_loss, m.test_loss) for m in st.measurements(name)}


@pytest.fixture
def spec_path(tmp_path):
    return write_spec(tmp_path / "tiny.toml", spec_dict())


def test_run_on_dask_local_cluster_matches_one_worker(tmp_path, spec_path):
    pytest.importorskip("distributed")
    result = invoke("run", spec_path, "--store", tmp_path / "dask.sqlite", "--dask-local", "2")
    assert result.exit_code == 0, result.stderr
    assert "48 new points, 48 stored" in result.stdout
    assert invoke("run", spec_path, "--store", tmp_path / "one.sqlite", "--workers", "1").exit_code == 0
    assert _values(tmp_path / "dask.sqlite") == _values(tmp_path / "one.sqlite")


def test_run_on_a_running_scheduler(tmp_path, spec_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        result = invoke("run", spec_path, "--store", tmp_path / "s.sqlite", "--scheduler",
                         cluster.scheduler_address, "--quiet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert len(_values(tmp_path / "s.sqlite")) == 48


def test_failed_seed_is_reported_at_the_end_with_status_1(tmp_path, spec_path, monkeypatch):
    monkeypatch.setattr(runner, "run_seed", sweep_faults.raise_on_seed_1)
    store = tmp_path / "s.sqlite"
    result = invoke("run", spec_path, "--store", store, "--workers", "1", "--retries", "1")
    assert result.exit_code == 1, result.stderr
    assert "tiny: 32 new points, 32 stored" in result.stdout
    err = ANSI.sub("", result.stderr).splitlines()
    assert err[0] == "failed: tiny seed 1 after 2 attempt(s): ValueError: seed 1 is poisoned [on purpose]"
    assert "1 seed(s) failed" in err[1] and len(err) == 2
    assert {k[2] for k in _values(store)} == {0, 2}
    # once the cause is gone, a re-run computes only the failed seed and succeeds
    monkeypatch.undo()
    again = invoke("run", spec_path, "--store", store, "--workers", "1")
    assert again.exit_code == 0, again.stderr
    assert "16 new points, 48 stored" in again.stdout


def test_quiet_run_prints_nothing_but_failures(tmp_path, spec_path, monkeypatch):
    ok = invoke("run", spec_path, "--store", tmp_path / "ok.sqlite", "--workers", "1", "--quiet")
    assert ok.exit_code == 0 and ok.stdout == "" and ok.stderr == ""
    monkeypatch.setattr(runner, "run_seed", sweep_faults.raise_on_seed_1)
    bad = invoke("run", spec_path, "--store", tmp_path / "bad.sqlite", "--workers", "1", "-q")
    assert bad.exit_code == 1 and bad.stdout == ""
    assert "failed: tiny seed 1 after 3 attempt(s)" in bad.stderr


@pytest.mark.parametrize("args, needle", [
    (["--workers", "2", "--dask-local", "2"], "--workers"),
    (["--dask-local", "0"], "--dask-local"),
    (["--scheduler", "localhost"], "--scheduler"),
    (["--scheduler", "tcp://127.0.0.1:1", "--dask-local", "1"], "--scheduler"),
    (["--retries", "-1"], "--retries"),
])
def test_bad_executor_options_are_one_line_errors_and_create_no_store(tmp_path, spec_path, args, needle):
    store = tmp_path / "s.sqlite"
    one_error_line(invoke("run", spec_path, "--store", store, *args), needle)
    assert not store.exists()


def test_refused_spec_does_not_start_a_cluster(tmp_path, spec_path):
    store = tmp_path / "s.sqlite"
    with Store(store) as st:
        runner.run_sweep(make_spec(task={"kind": "teacher_student", "features": 512}), st, workers=1)
    result = invoke("run", spec_path, "--store", store, "--scheduler", "tcp://127.0.0.1:1")
    one_error_line(result, "tiny", "different spec")


# ---------------------------------------------------------------------------------------------- observability

POWER_LAW_CSV = "N,loss\n" + "".join(f"{n},{2.0 * n ** -0.5 + 0.01!r}\n" for n in (16, 32, 64, 128, 256, 512))


def test_fit_quiet_prints_nothing_and_still_writes_json(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text(POWER_LAW_CSV)
    loud = invoke("fit", data, "--y", "loss", "--x", "N", "--bootstrap", "20", "--form", "power_law_offset")
    assert loud.exit_code == 0, loud.stderr
    assert "power_law_offset" in loud.stdout
    out = tmp_path / "fit.json"
    quiet = invoke("fit", data, "--y", "loss", "--x", "N", "--bootstrap", "20", "--form", "power_law_offset",
                    "--json", out, "--quiet")
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stdout == "" and quiet.stderr == ""
    assert json.loads(out.read_text())["form"] == "power_law_offset"
    # --quiet does not carry over to the next command in the same process
    again = invoke("store", "check", tmp_path / "none.sqlite")
    assert again.exit_code == 2 and "none.sqlite" in again.stderr
    assert "power_law_offset" in invoke("fit", data, "--y", "loss", "--x", "N", "--bootstrap", "0").stdout


def test_fit_error_raised_inside_the_progress_bar_is_one_line(tmp_path):
    data = tmp_path / "two.csv"
    data.write_text("N,loss\n10,1.0\n20,0.5\n")
    one_error_line(invoke("fit", data, "--y", "loss", "--x", "N", "--form", "power_law_offset"),
                    "2 points cannot determine")


def test_reproduce_quiet_shows_only_failed_checks(tmp_path, monkeypatch):
    from scalinglab import recipes

    def fake(rid, folder, quick, progress=None, workers=1, **where):
        progress(1, 2, "seeds")
        return {"checks": [{"name": "slope", "measured": 0.4, "predicted": 0.5, "tolerance": 0.05, "ok": False}]}

    monkeypatch.setattr(recipes, "reproduce", fake)
    rid = recipes.all_recipes()[0].id
    loud = invoke("reproduce", rid, "--out", tmp_path)
    assert "slope" in loud.stdout
    quiet = invoke("reproduce", rid, "--out", tmp_path, "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert ANSI.sub("", quiet.stderr).splitlines() == ["warning: 1 check(s) failed; see summary.json"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_has_the_per_point_wall_seconds(tmp_path, spec_path, fmt):
    store = tmp_path / "s.sqlite"
    assert invoke("run", spec_path, "--store", store, "--workers", "1").exit_code == 0
    out = tmp_path / f"points.{fmt}"
    assert invoke("export", "--store", store, "--format", fmt, "--out", out).exit_code == 0
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out.read_text())))
    else:
        rows = pytest.importorskip("pyarrow.parquet").read_table(out).to_pylist()
    with Store(store, create=False) as st:
        walls = {(m.data_size, m.model_size, m.seed): m.wall_seconds for m in st.measurements("tiny")}
    assert len(rows) == len(walls) == 48
    for r in rows:
        assert float(r["wall_seconds"]) == walls[(int(r["data_size"]), int(r["model_size"]), int(r["seed"]))]
    assert all(w >= 0 for w in walls.values()) and sum(walls.values()) > 0


@pytest.mark.parametrize("command, options", [(["run"], ["--scheduler", "--dask-local", "--retries", "--quiet"]),
                                              (["fit"], ["--quiet"]), (["reproduce"], ["--quiet"]),
                                              (["store", "check"], ["--json"])])
def test_help_lists_the_new_options(command, options):
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in options:
        assert option in ANSI.sub("", result.stdout)
