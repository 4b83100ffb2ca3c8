"""Command-line interface: the only module that parses arguments or prints."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from scalinglab.errors import ScalingLabError, SpecError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="scalinglab: sweeps, fits and theory of neural scaling laws.",
)
console = Console(stderr=True)
out_console = Console()


class RateColumn(ProgressColumn):
    """Points per second."""

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:.1f} pt/s", style="progress.data.speed")


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _guard(fn):
    """Turn user errors into a one-line message and exit status 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ScalingLabError as err:
            _fail(str(err).splitlines()[0] if str(err) else type(err).__name__)
        except KeyboardInterrupt:
            console.print("interrupted: finished seeds are stored; run again to resume")
            raise typer.Exit(130) from None

    return wrapper


def _run(spec, store, workers: Optional[int]) -> int:
    from scalinglab.sweep.runner import run_sweep

    if workers is not None and workers < 1:
        raise SpecError(f"--workers: must be at least 1, got {workers}")
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
               RateColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(spec.name, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_sweep(spec, store, workers=workers, progress=update)


def _analyse(store, experiment: str, n_boot: int = 1000) -> dict[str, Any]:
    from scalinglab.report.analysis import analyse

    return analyse(store.spec_of(experiment), store.measurements(experiment), n_boot=n_boot)


def _print_regimes(fits: dict[str, Any]) -> None:
    table = Table(title=f"{fits['experiment']}: exponents (95% bootstrap interval over {fits['n_seeds']} seeds)")
    for col in ("regime", "slice", "measured", "95% interval", "predicted"):
        table.add_column(col, justify="left" if col in ("regime", "slice") else "right")
    for name, r in fits["regimes"].items():
        lo, hi = r["ci95"]
        table.add_row(name, r["description"], f"{r['exponent']:.3f}", f"[{lo:.3f}, {hi:.3f}]", f"{r['predicted']:g}")
    out_console.print(table)
    for problem in fits.get("problems", []):
        console.print(f"[yellow]warning:[/] {problem}")


def _open_store(path: Path, create: bool = False):
    from scalinglab.sweep.store import Store

    return Store(path, create=create)


@app.command()
@_guard
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
    with _open_store(out / "store.sqlite", create=True) as store:
        _run(spec, store, workers)
        fits = _analyse(store, spec.name)
        path = write_report(store.measurements(spec.name), fits, out)
    _print_regimes(fits)
    out_console.print(f"report: {path}\nfits:   {out / 'fits.json'}")


@app.command()
@_guard
def run(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="TOML spec of the sweep."),
    store: Path = typer.Option(Path("scalinglab.sqlite"), "--store", help="SQLite store (created if missing)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: all cores)."),
) -> None:
    """Run the points of SPEC that the store does not hold yet (a killed run resumes where it stopped)."""
    from scalinglab.sweep.spec import load_spec

    spec = load_spec(spec_path)
    with _open_store(store, create=True) as st:
        added = _run(spec, st, workers)
        out_console.print(f"{spec.name}: {added} new points, {st.count(spec.name)} stored in {store}")


@app.command()
@_guard
def fit(
    store: Path = typer.Option(..., "--store", help="SQLite store."),
    experiment: str = typer.Option(..., "--experiment", help="Experiment (spec name) to fit."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the fits as JSON here."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples over seeds."),
) -> None:
    """Fit the four regimes of a stored experiment and compare the exponents with theory."""
    if bootstrap < 0:
        raise SpecError(f"--bootstrap: must be non-negative, got {bootstrap}")
    with _open_store(store) as st:
        fits = _analyse(st, experiment, bootstrap)
    _print_regimes(fits)
    if json_out:
        json_out.write_text(json.dumps(fits, indent=2))


@app.command()
@_guard
def report(
    store: Path = typer.Option(..., "--store", help="SQLite store."),
    experiment: str = typer.Option(..., "--experiment", help="Experiment (spec name) to report."),
    out: Path = typer.Option(Path("report"), "--out", help="Output folder."),
) -> None:
    """Write a self-contained HTML report, PNGs and fits.json for a stored experiment."""
    from scalinglab.report.html import write_report

    with _open_store(store) as st:
        fits = _analyse(st, experiment)
        path = write_report(st.measurements(experiment), fits, out)
    _print_regimes(fits)
    out_console.print(f"report: {path}")


@app.command()
@_guard
def export(
    store: Path = typer.Option(..., "--store", help="SQLite store."),
    format: str = typer.Option("csv", "--format", help="csv or parquet."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output file (default: standard output, csv only)."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Only this experiment."),
) -> None:
    """Export stored measurements, one row per point with extra metrics as columns."""
    if format not in ("csv", "parquet"):
        raise SpecError(f"--format: must be csv or parquet, got {format!r}")
    with _open_store(store) as st:
        rows = st.rows(experiment)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if format == "parquet":
        if out is None:
            raise SpecError("--out: parquet needs an output file")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), out)
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        out.write_text(buffer.getvalue())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
