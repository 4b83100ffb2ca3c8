"""One reader for every format researchers have: CSV, TSV, Parquet (what `export` writes), JSON lines, a
DataFrame, a dict of arrays, W&B exports; blank or non-finite cells drop their rows with a count (or, with
--strict, are refused); training curves with a step column."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import invoke, make_spec, one_error_line
from scalinglab.errors import DataError
from scalinglab.fit.checkpoints import select
from scalinglab.fit.data import prepare, read_table

N = np.array([10.0, 30, 100, 300, 1000, 3000])
LOSS = 2.0 * N**-0.5


def _write_all(tmp_path) -> dict[str, object]:
    """The same table in every format."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"N": float(n), "loss": float(v), "name": f"m{i}"} for i, (n, v) in enumerate(zip(N, LOSS, strict=True))]
    csv = tmp_path / "runs.csv"
    csv.write_text("N,loss,name\n" + "".join(f"{r['N']!r},{r['loss']!r},{r['name']}\n" for r in rows))
    tsv = tmp_path / "runs.tsv"
    tsv.write_text(csv.read_text().replace(",", "\t"))
    tsv_named_csv = tmp_path / "tabs.csv"
    tsv_named_csv.write_text(tsv.read_text())
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    parquet = tmp_path / "runs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    return {"csv": csv, "tsv": tsv, "tabs in a .csv": tsv_named_csv, "jsonl": jsonl, "parquet": parquet,
            "dict": {"N": list(N), "loss": LOSS, "name": [r["name"] for r in rows]}}


def test_every_format_reads_to_the_same_columns(tmp_path):
    for what, source in _write_all(tmp_path).items():
        cols = read_table(source)
        assert list(cols) == ["N", "loss", "name"], what
        np.testing.assert_array_equal(cols["N"], N, err_msg=what)
        np.testing.assert_array_equal(cols["loss"], LOSS, err_msg=what)
        assert list(cols["name"]) == [f"m{i}" for i in range(6)], what


def test_a_dataframe_reads_like_its_csv(tmp_path):
    pd = pytest.importorskip("pandas")
    source = _write_all(tmp_path)
    frame = pd.read_csv(source["csv"])
    a, b = read_table(frame), read_table(source["csv"])
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and list(a[name]) == list(b[name])


def test_blank_and_non_finite_cells_drop_their_rows_with_a_count():
    cols = {"N": np.array([10, 30, 100, 300, 1000.0]), "loss": np.array([2.0, np.nan, 1.0, np.inf, 0.5]),
            "other": np.array([np.nan] * 5)}
    warnings: list[str] = []
    X, y, _, rows = prepare(cols, y="loss", x=["N"], strict=False, warnings=warnings)
    assert list(rows) == [2, 4, 6] and list(y) == [2.0, 1.0, 0.5]  # a blank in an unused column drops nothing
    assert len(warnings) == 1 and warnings[0].startswith("2 row(s)") and "row 3" in warnings[0]
    with pytest.raises(DataError, match="'loss' row 3: value is missing or not finite"):
        prepare(cols, y="loss", x=["N"], strict=True)


def _tiny_parquet(tmp_path):
    """A store with the tiny sweep, exported by `scalinglab export --format parquet`."""
    from scalinglab.sweep.runner import run_sweep
    from scalinglab.sweep.store import Store

    store, out = tmp_path / "runs.sqlite", tmp_path / "points.parquet"
    with Store(store) as st:
        run_sweep(make_spec(seeds=1), st, workers=1)
    result = invoke("export", "--store", store, "--format", "parquet", "--out", out)
    assert result.exit_code == 0, result.output
    return out


def test_the_parquet_that_export_writes_fits_without_conversion(tmp_path):
    out = _tiny_parquet(tmp_path)
    json_out = tmp_path / "fit.json"
    result = invoke("fit", out, "--y", "test_loss", "--x", "model_size", "--x", "data_size", "--form", "chinchilla",
                    "--bootstrap", "0", "--json", json_out)
    assert result.exit_code == 0, result.output
    fitted = json.loads(json_out.read_text())
    assert fitted["n_points"] == 16 and fitted["form"] == "chinchilla"


def test_cli_drops_blank_rows_with_a_warning_and_strict_refuses(tmp_path):
    path = tmp_path / "crashed.csv"
    path.write_text("N,loss\n10,2.0\n30,\n100,1.2\n300,nan\n1000,0.9\n10000,0.8\n")
    out = tmp_path / "fit.json"
    result = invoke("fit", path, "--y", "loss", "--x", "N", "--form", "power_law", "--bootstrap", "0", "--json", out)
    assert result.exit_code == 0, result.output
    assert "2 row(s) with a blank or non-finite cell in loss, N dropped" in result.stderr
    data = json.loads(out.read_text())
    assert data["n_points"] == 4 and any(w.startswith("2 row(s)") for w in data["warnings"])
    one_error_line(invoke("fit", path, "--y", "loss", "--x", "N", "--strict", "--bootstrap", "0"), "'loss'", "row 3")


WANDB_CHART = ("Step,small - loss,small - loss__MIN,small - loss__MAX,big - loss,big - loss__MIN,big - loss__MAX\n"
               "100,3.0,2.9,3.1,2.5,2.4,2.6\n200,2.6,2.5,2.7,,,\n300,,,,1.9,1.8,2.0\n")


def test_a_wandb_chart_export_becomes_one_row_per_run_and_step(tmp_path):
    path = tmp_path / "wandb_export.csv"
    path.write_text(WANDB_CHART)
    cols = read_table(path)
    assert list(cols) == ["run", "step", "loss"]
    assert list(zip(cols["run"], cols["step"], cols["loss"], strict=True)) == [
        ("small", 100, 3.0), ("small", 200, 2.6), ("big", 100, 2.5), ("big", 300, 1.9)]
    last = select(cols, step="step", y="loss", checkpoint="last")
    assert dict(zip(last["run"], last["loss"], strict=True)) == {"small": 2.6, "big": 1.9}


def test_a_wandb_runs_table_with_a_crashed_run_fits_with_a_warning(tmp_path):
    path = tmp_path / "wandb_runs.csv"
    header = "Name,State,Notes,User,Tags,Created,Runtime,Sweep,n_params,tokens,_step,loss\n"
    runs = [f"run-{i},finished,,me,,2024-01-0{i + 1}T00:00:00,{100 * i},,{n:g},{20 * n:g},{i},{v:.6f}\n"
            for i, (n, v) in enumerate(zip(N, 1.5 + 40 * N**-0.4, strict=True))]
    crashed = "run-9,crashed,,me,,2024-01-09T00:00:00,5,,1e5,,3,\n"
    path.write_text(header + "".join(runs) + crashed)
    out = tmp_path / "fit.json"
    result = invoke("fit", path, "--y", "loss", "--x", "n_params", "--form", "power_law_offset", "--bootstrap", "0",
                    "--json", out)
    assert result.exit_code == 0, result.output
    assert "1 row(s) with a blank or non-finite cell in loss, n_params dropped (first: row 8)" in result.stderr
    assert json.loads(out.read_text())["n_points"] == 6


def test_checkpoints_last_best_and_all():
    cols = {"run": np.array(["a", "a", "a", "b", "b"], dtype=object), "step": np.array([1.0, 2, 3, 1, 2]),
            "loss": np.array([3.0, 2.0, 2.5, 4.0, np.nan])}
    assert list(select(cols, step="step", y="loss", checkpoint="last")["loss"]) == [2.5, 4.0]
    assert list(select(cols, step="step", y="loss", checkpoint="best")["loss"]) == [2.0, 4.0]
    assert len(select(cols, step="step", y="loss", checkpoint="all")["loss"]) == 5


def test_step_col_fits_the_last_checkpoint_of_each_run(tmp_path):
    path = tmp_path / "curves.csv"
    lines = ["run,N,step,loss"]
    for n in N:
        for step in (1, 2, 3):
            final = 1.0 + 5 * n**-0.5
            lines.append(f"r{n:g},{n:g},{step},{final * (1 + 0.5 * (3 - step)):.6f}")
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "fit.json"
    result = invoke("fit", path, "--y", "loss", "--x", "N", "--step-col", "step", "--form", "power_law_offset",
                    "--bootstrap", "0", "--json", out)
    assert result.exit_code == 0, result.output
    fitted = json.loads(out.read_text())
    assert fitted["n_points"] == 6 and fitted["params"]["alpha"] == pytest.approx(0.5, abs=1e-3)
    one_error_line(invoke("fit", path, "--y", "loss", "--x", "N", "--checkpoint", "best"), "--checkpoint")
