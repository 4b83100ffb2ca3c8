"""Commands of the sweep and its store: demo, run, report, export, store check."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import (
    analyse_stored,
    app,
    check_memory,
    check_out_file,
    console,
    executor_options,
    guard,
    open_store_at,
    out_console,
    print_regimes,
    report_failures,
    run_spec,
    set_quiet,
    stored_grid,
)
from scalinglab.cli.fit import FitOptions, report_csv
from scalinglab.errors import SpecError

SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}  # binary multiples, as the estimates print


def parse_size(text: str, option: str) -> float:
    """Bytes of a size such as ``8G``, ``512M``, ``1.5GiB`` or ``1000000`` (K, M, G, T are powers of 1024, an
    optional ``B`` or ``iB`` follows); SpecError naming ``option`` unless it is a positive, finite size."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(?:([KMGT])(?:i?B)?|B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise SpecError(f"{option}: not a size, got {text!r} (give e.g. 8G or 512M)")
    value = float(match.group(1)) * SIZE_UNITS[(match.group(2) or "").upper()]
    if not (math.isfinite(value) and value > 0):
        raise SpecError(f"{option}: must be a positive, finite size, got {text!r}")
    return value


@app.command()
@guard
def demo(
    out: Path = typer.Option(Path("scalinglab-demo"), "--out", help="Folder for the store, report and fits.json."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: all cores)."),
    print_spec: bool = typer.Option(False, "--print-spec", help="Print the built-in spec as TOML and exit."),
) -> None:
    """Run the built-in four-regime sweep (spectrum exponent 0.5) and write DIR/report.html and DIR/fits.json."""
    from scalinglab.report.html import write_report
    from scalinglab.sweep.spec import demo_spec

    spec = demo_spec()
    if print_spec:
        out_console.print(spec.to_toml(), end="", markup=False, highlight=False)
        return
    with open_store_at(out / "store.sqlite", create=True) as store:
        run_spec(spec, store, workers)
        grid = stored_grid(store, spec.name)
        fits = analyse_stored(store, spec.name, grid=grid)
        path = write_report(grid, fits, out)
    print_regimes(fits)
    out_console.print(f"report: {path}\nfits:   {out / 'fits.json'}")


@app.command()
@guard
def run(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="TOML spec of the sweep."),
    store: Path = typer.Option(Path("scalinglab.sqlite"), "--store", help="SQLite store (created if missing)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: all cores)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run on the Dask cluster at tcp://HOST:PORT."),
    dask_local: Optional[int] = typer.Option(None, "--dask-local", help="Run on a new local Dask cluster of N "
                                             "worker processes."),
    retries: int = typer.Option(2, "--retries", help="Retries of a failing seed before it is recorded as failed."),
    max_memory: Optional[str] = typer.Option(None, "--max-memory", help="Refuse a spec whose largest point needs "
                                             "more memory than this, e.g. 8G or 512M (default: 80% of this "
                                             "machine's)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary; errors and failures only."),
) -> None:
    """Run the points of SPEC that the store does not hold yet (a killed run resumes where it stopped).

    A seed that still fails after --retries is recorded in the store with its error and reported at the end;
    the exit status is then 1.
    """
    from scalinglab.sweep.spec import load_spec

    spec = load_spec(spec_path)
    limit = None if max_memory is None else parse_size(max_memory, "--max-memory")
    cluster = executor_options(workers, scheduler, dask_local, retries)
    check_memory(spec, limit)  # before the store is opened or created
    with open_store_at(store, create=True) as st:
        added = run_spec(spec, st, workers, quiet=quiet, cluster=cluster, retries=retries, max_memory=limit)
        if not quiet:
            out_console.print(f"{spec.name}: {added} new points, {st.count(spec.name)} stored in {store}")
        report_failures(st, spec.name)


@app.command()
@guard
def report(
    store: Optional[Path] = typer.Option(None, "--store", help="SQLite store."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Experiment (spec name) to report."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Report anyone's measurements instead: a CSV, "
                                            "with the column options of `fit`."),
    out: Path = typer.Option(Path("report"), "--out", help="Output folder."),
    y: Optional[str] = FitOptions.y,
    x: Optional[list[str]] = FitOptions.x,
    form: str = FitOptions.form,
    loss: str = FitOptions.loss,
    delta: float = FitOptions.delta,
    bootstrap: int = FitOptions.bootstrap,
    resample: str = FitOptions.resample,
    holdout_largest: int = FitOptions.holdout_largest,
    define: Optional[list[str]] = FitOptions.define,
    where: Optional[list[str]] = FitOptions.where,
    drop_highest: int = FitOptions.drop_highest,
    group: Optional[str] = FitOptions.group,
    predicted: Optional[float] = FitOptions.predicted,
    compute: Optional[str] = FitOptions.compute,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables; errors and warnings only."),
) -> None:
    """Write an HTML report with PNGs and its JSON, for a stored experiment or for anyone's measurements (--csv).

    With --store and --experiment: every slice's law against theory. With --csv and fit's column options: the
    data, each candidate law, the chosen one, bands, residuals and, for a joint law, the compute-optimal
    allocation; its numbers are those of `fit` with the same options.
    """
    from scalinglab.report.html import check_out_dir, write_report

    set_quiet(quiet)
    if csv_path is not None:
        if store is not None or experiment is not None:
            raise SpecError("--csv: give either --csv or --store with --experiment, not both")
        options = dict(y=y, x=x, form=form, loss=loss, delta=delta, bootstrap=bootstrap, resample=resample,
                       holdout_largest=holdout_largest, define=define, where=where, drop_highest=drop_highest,
                       group=group, predicted=predicted, compute=compute)
        path = report_csv(csv_path, out, **options)
        out_console.print(Text(f"report: {path}"))
        return
    if store is None or experiment is None:
        raise SpecError("--store and --experiment: name the stored experiment to report (or give --csv)")
    if bootstrap < 0:
        raise SpecError(f"--bootstrap: must be non-negative, got {bootstrap}")
    check_out_dir(out)
    with open_store_at(store, readonly=True) as st:
        grid = stored_grid(st, experiment)
        fits = analyse_stored(st, experiment, bootstrap, grid)
        path = write_report(grid, fits, out)
    print_regimes(fits)
    out_console.print(Text(f"report: {path}"))


@app.command()
@guard
def export(
    store: Path = typer.Option(..., "--store", help="SQLite store."),
    format: str = typer.Option("csv", "--format", help="csv or parquet."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default: standard output, csv only)."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Only this experiment."),
) -> None:
    """Export stored measurements, one row per point with extra metrics as columns."""
    if format not in ("csv", "parquet"):
        raise SpecError(f"--format: must be csv or parquet, got {format!r}")
    if out is None and format == "parquet":
        raise SpecError("--out: parquet needs an output file")
    if out is not None:
        check_out_file(out, "--out")  # before the store is read
    with open_store_at(store, readonly=True) as st:
        header, chunks = st.iter_rows(experiment)  # every row checked before the first is written
        if format == "parquet":
            _write_parquet(header, chunks, out)
            return
        with _text_out(out) as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            for chunk in chunks:
                writer.writerows(chunk)


@contextmanager
def _text_out(out: Optional[Path]):
    """Standard output, or ``out`` written beside it and renamed into place when complete (so a failed export
    leaves no partial file)."""
    if out is None:
        yield sys.stdout
        return
    tmp = out.with_name(out.name + ".partial")
    try:
        with open(tmp, "w", newline="") as f:
            yield f
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _write_parquet(header: list[str], chunks, out: Path) -> None:
    """Parquet, one row group a chunk: sizes and seeds int64, the rest float64 (an extra missing is null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string() if c == "experiment" else pa.int64() if c in ("data_size", "model_size",
                                                                                     "seed") else pa.float64())
                        for c in header])
    tmp = out.with_name(out.name + ".partial")
    try:
        with pq.ParquetWriter(tmp, schema) as writer:
            for chunk in chunks:
                writer.write_table(pa.Table.from_arrays(
                    [pa.array(col, type=t) for col, t in zip(zip(*chunk, strict=True), schema.types, strict=True)],
                    schema=schema))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


store_app = typer.Typer(no_args_is_help=True, help="Verify and summarise a store.")
app.add_typer(store_app, name="store")


@store_app.command("check")
@guard
def store_check(
    path: Path = typer.Argument(..., metavar="STORE", help="SQLite store."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON instead."),
) -> None:
    """Verify STORE (SQLite integrity, schema, keys) and summarise points, failed seeds and compute time per
    experiment. Exit status 1 if a check fails."""
    with open_store_at(path, readonly=True) as st:
        summary = st.check()
    if json_out:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        migrated = f" (migrated from v{summary['migrated_from']})" if summary["migrated_from"] else ""
        out_console.print(Text(
            f"{path}: schema v{summary['schema_version']}{migrated}, journal {summary['journal_mode']}, integrity "
            f"{'ok' if summary['integrity'] == ['ok'] else 'FAILED'}, {summary['points']} points, "
            f"{len(summary['experiments'])} experiment(s), {len(summary['failures'])} failed seed(s)"), soft_wrap=True)
        table = Table(title="experiments (compute: sum of per-point wall seconds)")
        for col in ("experiment", "points", "seeds", "missing", "failed seeds", "compute s", "s/point"):
            table.add_column(col, justify="left" if col == "experiment" else "right")
        for e in summary["experiments"]:
            per = "-" if e["seconds_per_point"] is None else f"{e['seconds_per_point']:.3g}"
            table.add_row(Text(e["name"]), str(e["points"]), str(e["seeds"]),
                          "?" if e["missing"] is None else str(e["missing"]), str(e["failed_seeds"]),
                          f"{e['wall_seconds']:.3g}", per)
        out_console.print(table)
        for f in summary["failures"]:
            out_console.print(Text(f"failed: {f['experiment']} seed {f['seed']} after {f['attempts']} attempt(s): "
                                   f"{f['error']}"), soft_wrap=True)
    for problem in summary["problems"]:
        console.print(Text(f"problem: {problem}", style="red"), soft_wrap=True)
    if not summary["ok"]:
        raise typer.Exit(1)


# --- Brill (2024) percolation: theory, percolate, reproduce ---------------------------------------------------
