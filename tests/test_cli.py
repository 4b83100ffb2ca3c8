"""The command line: help, one-line user errors with status 2 that leave the store alone, export, fit, report,
and a sweep killed with SIGKILL that resumes to exactly the numbers of an uninterrupted run."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import make_spec, spec_dict, write_spec
from scalinglab.cli import app
from scalinglab.sweep.runner import run_seed, run_sweep
from scalinglab.sweep.spec import demo_spec, load_spec, parse_spec
from scalinglab.sweep.store import Store

pytestmark = pytest.mark.usefixtures("one_blas_thread")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
ONE_THREAD = {k: "1" for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
REGIMES = ("variance_limited_data", "variance_limited_model", "resolution_limited_data", "resolution_limited_model")


def _script() -> list[str]:
    exe = Path(sys.executable).parent / "scalinglab"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "scalinglab.cli"]


def _cli(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
    """Run the installed command in a subprocess (a narrow terminal, to catch wrapped error messages)."""
    full_env = {**os.environ, **ONE_THREAD, "COLUMNS": "40", **env}
    return subprocess.run([*_script(), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def _invoke(*args: str, columns: int = 40):
    """Run the app in-process; a narrow terminal by default, to catch wrapped error messages."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _plain(text: str) -> str:
    return ANSI.sub("", text)


def _assert_user_error(code: int, stderr: str, *needles: str) -> str:
    """Status 2 and exactly one line on stderr that names what is wrong."""
    err = _plain(stderr)
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _folder_state(folder: Path) -> dict[str, str]:
    return {p.name: _digest(p) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def tiny_store(tmp_path, one_blas_thread) -> Path:
    """A closed store holding one run of the tiny spec (3 seeds x 4 x 4 points)."""
    path = tmp_path / "store.sqlite"
    with Store(path) as st:
        assert run_sweep(make_spec(), st, workers=1) == 48
    return path


# ---------------------------------------------------------------------------------------------- help


def test_top_level_help_from_installed_command():
    result = _cli("--help", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    out = _plain(result.stdout)
    for command in ("demo", "run", "fit", "report", "export"):
        assert command in out


def test_no_arguments_shows_help():
    result = _invoke(columns=200)
    assert "run" in _plain(result.output) and "export" in _plain(result.output)


@pytest.mark.parametrize("command, option", [("demo", "--print-spec"), ("run", "--workers"), ("fit", "--json"),
                                             ("report", "--out"), ("export", "--format")])
def test_subcommand_help(command, option):
    result = _invoke(command, "--help", columns=200)
    assert result.exit_code == 0, result.output
    assert option in _plain(result.output)


# ---------------------------------------------------------------------------------------------- user errors


def test_malformed_spec_one_line_status_2_store_untouched(tmp_path, tiny_store):
    bad = spec_dict()
    bad["task"]["featurs"] = bad["task"].pop("features")
    spec_path = write_spec(tmp_path / "bad.toml", bad)
    before = _folder_state(tmp_path)
    result = _cli("run", spec_path, "--store", tiny_store, "--workers", "1")
    _assert_user_error(result.returncode, result.stderr, "featurs")
    assert result.stdout == ""
    assert _folder_state(tmp_path) == before


@pytest.mark.parametrize(
    "text, needle",
    [
        ('name = "x"\n[task\n', "bad.toml"),  # not TOML
        ({"bogus": 1}, "bogus"),  # unknown top-level key
        ({"grid": {"data": {"min": -3, "max": 64}, "size": {"min": 8, "max": 64}}}, "grid.data.min"),
    ],
    ids=["invalid-toml", "unknown-key", "negative-size"],
)
def test_other_malformed_specs_are_one_line_errors(tmp_path, tiny_store, text, needle):
    spec_path = tmp_path / "bad.toml"
    if isinstance(text, dict):
        write_spec(spec_path, spec_dict(**text))
    else:
        spec_path.write_text(text)
    before = _digest(tiny_store)
    result = _invoke("run", spec_path, "--store", tiny_store, "--workers", "1")
    _assert_user_error(result.exit_code, result.stderr, needle)
    assert _digest(tiny_store) == before


def test_missing_spec_file_is_a_one_line_error(tmp_path):
    result = _invoke("run", tmp_path / "nope.toml", "--store", tmp_path / "s.sqlite")
    _assert_user_error(result.exit_code, result.stderr, "nope.toml")


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_run_workers_below_one_is_refused(tmp_path, tiny_store, workers):
    spec_path = write_spec(tmp_path / "s.toml", spec_dict(seeds=5))
    before = _digest(tiny_store)
    result = _invoke("run", spec_path, "--store", tiny_store, "--workers", workers)
    _assert_user_error(result.exit_code, result.stderr, "--workers")
    assert _digest(tiny_store) == before
    with Store(tiny_store, create=False) as st:
        assert st.count() == 48


def test_fit_missing_experiment_names_it(tiny_store):
    before = _digest(tiny_store)
    result = _invoke("fit", "--store", tiny_store, "--experiment", "no-such-exp", "--bootstrap", "10")
    _assert_user_error(result.exit_code, result.stderr, "no-such-exp")
    assert _digest(tiny_store) == before


def test_fit_missing_store_is_an_error_and_creates_nothing(tmp_path):
    result = _invoke("fit", "--store", tmp_path / "missing.sqlite", "--experiment", "x")
    _assert_user_error(result.exit_code, result.stderr, "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()


def test_corrupt_store_is_an_error_and_left_unchanged(tmp_path):
    path = tmp_path / "corrupt.sqlite"
    payload = b"not a database" * 100
    path.write_bytes(payload)
    spec_path = write_spec(tmp_path / "s.toml", spec_dict())
    for args in (("run", spec_path, "--store", path, "--workers", "1"), ("export", "--store", path),
                 ("fit", "--store", path, "--experiment", "tiny")):
        result = _invoke(*args)
        _assert_user_error(result.exit_code, result.stderr, "corrupt.sqlite")
        assert path.read_bytes() == payload


def test_spec_name_reused_for_other_params_is_refused(tmp_path, tiny_store):
    other = spec_dict()
    other["task"]["features"] = 512
    spec_path = write_spec(tmp_path / "other.toml", other)
    before = _digest(tiny_store)
    result = _cli("run", spec_path, "--store", tiny_store, "--workers", "1")
    assert result.returncode == 2
    assert "tiny" in _plain(result.stderr)
    assert "Traceback" not in result.stderr
    assert _digest(tiny_store) == before


def test_spec_name_reused_for_other_params_is_one_line(tmp_path, tiny_store):
    other = spec_dict()
    other["task"]["features"] = 512
    spec_path = write_spec(tmp_path / "other.toml", other)
    result = _cli("run", spec_path, "--store", tiny_store, "--workers", "1")
    _assert_user_error(result.returncode, result.stderr, "tiny")


@pytest.mark.parametrize("name", ["[/]", "data[v2]"])
def test_error_message_with_brackets_is_printed_verbatim(tiny_store, name):
    result = _cli("fit", "--store", tiny_store, "--experiment", name)
    _assert_user_error(result.returncode, result.stderr, name)


# ---------------------------------------------------------------------------------------------- export


def test_export_csv_to_stdout(tiny_store):
    result = _invoke("export", "--store", tiny_store, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    rows = list(reader)
    assert {"data_size", "model_size", "seed", "test_loss"} <= set(reader.fieldnames)
    assert len(rows) == 48
    with Store(tiny_store, create=False) as st:
        stored = st.rows("tiny")
    assert {(int(r["data_size"]), int(r["model_size"]), int(r["seed"])) for r in rows} == {
        (r["data_size"], r["model_size"], r["seed"]) for r in stored}
    by_key = {(r["data_size"], r["model_size"], r["seed"]): r for r in stored}
    for r in rows:
        s = by_key[(int(r["data_size"]), int(r["model_size"]), int(r["seed"]))]
        assert float(r["test_loss"]) == s["test_loss"]
        assert float(r["train_loss"]) == s["train_loss"]
        assert r["experiment"] == "tiny"


def test_export_csv_to_file_filters_experiment(tmp_path, tiny_store):
    with Store(tiny_store) as st:
        run_sweep(make_spec(name="second", seeds=1, task={"kind": "teacher_student", "features": 128}), st,
                  workers=1)
    out = tmp_path / "second.csv"
    result = _invoke("export", "--store", tiny_store, "--experiment", "second", "--out", out)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 16 and {r["experiment"] for r in rows} == {"second"}
    everything = _invoke("export", "--store", tiny_store)
    assert len(list(csv.DictReader(io.StringIO(everything.stdout)))) == 64


def test_export_parquet_matches_csv(tmp_path, tiny_store):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "points.parquet"
    result = _invoke("export", "--store", tiny_store, "--format", "parquet", "--out", out)
    assert result.exit_code == 0, result.stderr
    table = pq.read_table(out)
    assert {"data_size", "model_size", "seed", "test_loss"} <= set(table.column_names)
    rows = table.to_pylist()
    assert len(rows) == 48
    with Store(tiny_store, create=False) as st:
        stored = st.rows("tiny")
    key = lambda r: (r["seed"], r["data_size"], r["model_size"])  # noqa: E731
    assert sorted(rows, key=key) == sorted(stored, key=key)


def test_export_unknown_format_is_refused(tmp_path, tiny_store):
    result = _invoke("export", "--store", tiny_store, "--format", "xml", "--out", tmp_path / "x.xml")
    _assert_user_error(result.exit_code, result.stderr, "xml")
    assert not (tmp_path / "x.xml").exists()


def test_export_parquet_without_out_is_refused(tiny_store):
    result = _invoke("export", "--store", tiny_store, "--format", "parquet")
    _assert_user_error(result.exit_code, result.stderr, "--out")


def test_export_unknown_experiment_is_refused(tiny_store):
    result = _invoke("export", "--store", tiny_store, "--experiment", "ghost")
    _assert_user_error(result.exit_code, result.stderr, "ghost")


# ---------------------------------------------------------------------------------------------- demo, run


def test_demo_print_spec_is_a_valid_spec(tmp_path):
    result = _invoke("demo", "--print-spec", "--out", tmp_path / "demo")
    assert result.exit_code == 0, result.stderr
    spec = parse_spec(tomllib.loads(result.stdout))
    assert spec == demo_spec()
    path = tmp_path / "demo.toml"
    path.write_text(result.stdout)
    assert load_spec(path) == demo_spec()
    assert not (tmp_path / "demo").exists(), "--print-spec must not run anything"


def test_run_then_rerun_adds_nothing(tmp_path):
    spec_path = write_spec(tmp_path / "s.toml", spec_dict())
    store = tmp_path / "s.sqlite"
    first = _invoke("run", spec_path, "--store", store, "--workers", "2")
    assert first.exit_code == 0, first.stderr
    assert "48 new points" in _plain(first.stdout)
    second = _invoke("run", spec_path, "--store", store, "--workers", "1")
    assert second.exit_code == 0, second.stderr
    assert "0 new points" in _plain(second.stdout)
    with Store(store, create=False) as st:
        assert st.count("tiny") == 48


# ---------------------------------------------------------------------------------------------- fit, report

FIT_SPEC = spec_dict(
    name="fitme",
    task={"kind": "teacher_student", "features": 2048, "spectrum_exponent": 0.5},
    grid={"data": {"min": 4, "max": 256, "num": 7}, "size": {"min": 4, "max": 256, "num": 7}},
)


@pytest.fixture(scope="module")
def fit_store(tmp_path_factory) -> Path:
    """A store with a grid wide enough for >= 3 sizes in every regime (4 .. 256, factor 2)."""
    from threadpoolctl import threadpool_limits

    from scalinglab.theory.bahri import four_regimes

    spec = parse_spec(FIT_SPEC)
    ds, ps = spec.grid.data.values(), spec.grid.size.values()
    assert all(len(r.xs) >= 3 for r in four_regimes(ds, ps, 0.5)), "grid too narrow for the four regimes"
    path = tmp_path_factory.mktemp("fit") / "store.sqlite"
    with threadpool_limits(limits=1), Store(path) as st:
        run_sweep(spec, st, workers=1)
    return path


def _check_fits(fits: dict) -> None:
    assert set(fits["regimes"]) == set(REGIMES), fits.get("problems")
    assert fits["experiment"] == "fitme"
    for name, r in fits["regimes"].items():
        predicted = 1.0 if name.startswith("variance") else 0.5
        assert r["predicted"] == pytest.approx(predicted)
        assert math.isfinite(r["exponent"]), name
        lo, hi = r["ci95"]
        assert lo <= hi
        # exact population losses: the measured slopes are close to theory even with 3 seeds
        assert abs(r["exponent"] - predicted) < 0.35, (name, r["exponent"])


def test_fit_writes_json_with_the_four_regimes(tmp_path, fit_store):
    out = tmp_path / "fits.json"
    result = _invoke("fit", "--store", fit_store, "--experiment", "fitme", "--json", out, "--bootstrap", "50",
                     columns=200)
    assert result.exit_code == 0, result.stderr
    fits = json.loads(out.read_text())
    _check_fits(fits)
    assert fits["n_seeds"] == 3
    for name in REGIMES:
        assert name in _plain(result.stdout)


def test_fit_negative_bootstrap_is_refused(fit_store):
    result = _invoke("fit", "--store", fit_store, "--experiment", "fitme", "--bootstrap", "-1")
    _assert_user_error(result.exit_code, result.stderr, "--bootstrap")


def test_report_writes_html_with_embedded_images_and_fits(tmp_path, fit_store):
    out = tmp_path / "report"
    before = _digest(fit_store)
    result = _invoke("report", "--store", fit_store, "--experiment", "fitme", "--out", out)
    assert result.exit_code == 0, result.stderr
    html = (out / "report.html").read_text()
    assert "<img" in html
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/]{100,}', html)
    _check_fits(json.loads((out / "fits.json").read_text()))
    assert _digest(fit_store) == before


# ---------------------------------------------------------------------------------------------- SIGKILL resume

KILL_SPEC = spec_dict(
    name="killme",
    seeds=16,
    task={"kind": "teacher_student", "features": 2048, "spectrum_exponent": 0.5},
    grid={"data": {"min": 16, "max": 512, "num": 6}, "size": {"min": 16, "max": 512, "num": 6}},
)


def _stored(db: Path) -> int | None:
    """Rows in ``points``, read through a read-only connection; None while the store is not readable yet."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        try:
            return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _live_processes_in_group(pgid: int) -> list[int]:
    """Processes (not zombies) of a process group, from /proc."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            live.append(int(stat.parent.name))
    return live


@pytest.mark.parametrize("executor", [("--workers", "1"), ("--workers", "2"), ("--dask-local", "2")],
                         ids=["in-process", "local-pool", "dask-local"])
def test_sigkill_mid_sweep_then_resume_gives_every_point_once(tmp_path, executor):
    """SIGKILL the driver (the `run` process) half way; its worker processes exit by themselves, the store holds
    whole seeds only, and a re-run on the same executor completes with every point once."""
    if executor[0] == "--dask-local":
        pytest.importorskip("distributed")
    spec = parse_spec(KILL_SPEC)
    per_seed = len(spec.grid.data.values()) * len(spec.grid.size.values())
    total = per_seed * spec.seeds
    spec_path = write_spec(tmp_path / "kill.toml", KILL_SPEC)
    db = tmp_path / "store.sqlite"
    cmd = [*_script(), "run", str(spec_path), "--store", str(db), *executor]
    env = {**os.environ, **ONE_THREAD}

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        seen = None
        while time.monotonic() < deadline:
            seen = _stored(db)
            if seen is not None and 2 * per_seed <= seen <= total - 3 * per_seed:
                proc.send_signal(signal.SIGKILL)
                break
            if proc.poll() is not None:
                pytest.fail(f"the sweep finished (status {proc.returncode}, {seen} points) before it could be "
                            "killed half way; make KILL_SPEC bigger")
            time.sleep(0.02)
        else:
            pytest.fail(f"no partial store within 60 s (last count {seen})")
        assert proc.wait(timeout=30) == -signal.SIGKILL
        if Path("/proc/self/stat").exists():  # the driver's workers do not outlive it
            deadline = time.monotonic() + 20
            while _live_processes_in_group(proc.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert _live_processes_in_group(proc.pid) == [], "worker processes outlived the killed driver"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in _live_processes_in_group(proc.pid):  # clean up after a failed assertion
            os.kill(pid, signal.SIGKILL)

    # A killed sweep leaves whole seeds only: each seed is one transaction.
    conn = sqlite3.connect(db)
    killed = conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    partial_seeds = conn.execute(
        "SELECT seed, COUNT(*) FROM points GROUP BY seed HAVING COUNT(*) != ?", (per_seed,)).fetchall()
    conn.close()
    assert 0 < killed < total
    assert killed % per_seed == 0 and partial_seeds == []

    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{total - killed} new points" in _plain(resumed.stdout)
    assert f"{total} stored" in _plain(resumed.stdout)

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT COUNT(*) FROM points").fetchone()[0] == total
        dups = conn.execute("SELECT data_size, model_size, seed, COUNT(*) FROM points "
                            "GROUP BY data_size, model_size, seed HAVING COUNT(*) > 1").fetchall()
        assert dups == []
        keys = set(conn.execute("SELECT data_size, model_size, seed FROM points").fetchall())
        assert keys == {(d, p, s) for d in spec.grid.data.values() for p in spec.grid.size.values()
                        for s in range(spec.seeds)}
        stored = {(d, p, s): (tr, te) for d, p, s, tr, te in conn.execute(
            "SELECT data_size, model_size, seed, train_loss, test_loss FROM points")}
    finally:
        conn.close()

    # Same numbers as an uninterrupted computation: a seed stored before the kill, the seed in flight when
    # it was killed, and the last seed.
    for seed in sorted({0, killed // per_seed, spec.seeds - 1}):
        for m in run_seed(spec, seed, blas_threads=1):
            train, test = stored[(m.data_size, m.model_size, seed)]
            assert math.isclose(test, m.test_loss, rel_tol=1e-12, abs_tol=0.0), (seed, m.data_size, m.model_size)
            assert math.isclose(train, m.train_loss, rel_tol=1e-12, abs_tol=1e-15)
