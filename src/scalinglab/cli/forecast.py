"""Commands for forecasts from other people's measurements: isoflop (Chinchilla's approach 2) and
benchmark-laws (every law on fixed train/test splits)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import app, check_out_file, console, guard, out_console, set_quiet
from scalinglab.errors import SpecError


@app.command()
@guard
def isoflop(
    data: Path = typer.Argument(..., metavar="DATA.csv", help="CSV of runs: compute, size and loss per run."),
    compute: str = typer.Option(..., "--compute", help="Compute column (FLOPs); each distinct value is a budget."),
    x: str = typer.Option(..., "--x", help="Model-size column N."),
    y: str = typer.Option(..., "--y", help="Loss column."),
    tokens: Optional[str] = typer.Option(None, "--tokens", help="Token column D (default: C / (6 N))."),
    by: Optional[str] = typer.Option(None, "--by", help="Analyse each value of this column separately."),
    method: str = typer.Option("akima", "--method", help="Optimum of a budget: akima (spline through every point, "
                               "Porian et al. 2024) or parabola (local parabola, Hoffmann et al. 2022)."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap draws of the losses."),
    define: Optional[list[str]] = typer.Option(None, "--define", help='Derived column, e.g. "N=params/1e6".'),
    where: Optional[list[str]] = typer.Option(None, "--where", help="Row filter, e.g. \"loss < 10\"."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result as JSON here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table (use --json); errors and warnings only."),
) -> None:
    """Compute-optimal exponents from IsoFLOP grids: N_opt ~ C^a and D_opt ~ C^b with 95% intervals."""
    import numpy as np

    from scalinglab.fit.data import prepare, read_csv
    from scalinglab.fit.isoflop import METHODS
    from scalinglab.fit.isoflop import isoflop as analyse

    set_quiet(quiet)
    if json_out is not None:
        check_out_file(json_out, "--json")
    if method not in METHODS:
        raise SpecError(f"--method: must be one of {', '.join(METHODS)}, got {method!r}")
    if bootstrap < 0:
        raise SpecError(f"--bootstrap: must be non-negative, got {bootstrap}")
    cols = [compute, x] + ([tokens] if tokens else [])
    X, Y, groups, _ = prepare(read_csv(data), y=y, x=cols, define=list(define or []), where=list(where or []),
                              group=by, path=str(data))
    labels = ["all"] if groups is None else sorted({str(g) for g in groups})
    out: dict[str, Any] = {"data": str(data), "compute": compute, "x": x, "y": y, "tokens": tokens, "by": by,
                           "method": method, "groups": {}}
    for label in labels:
        rows = np.ones(len(Y), bool) if groups is None else np.array([str(g) == label for g in groups])
        try:
            result = analyse(X[rows, 0], X[rows, 1], Y[rows], X[rows, 2] if tokens else None, method=method,
                             n_boot=bootstrap, rng=np.random.default_rng(seed))
        except Exception as err:  # a group that cannot be analysed is reported; the others still are
            from scalinglab.errors import ScalingLabError

            if not isinstance(err, ScalingLabError) or groups is None:
                raise
            out["groups"][label] = {"error": str(err)}
            continue
        out["groups"][label] = result.to_dict()
    _print_isoflop(out)
    if all("error" in g for g in out["groups"].values()):
        raise SpecError(f"{data}: no group could be analysed: " + next(iter(out["groups"].values()))["error"])
    if json_out:
        json_out.write_text(json.dumps(out, indent=2))


def _print_isoflop(out: dict[str, Any]) -> None:
    table = Table(title=Text(f"IsoFLOP exponents ({out['method']}): N_opt ~ C^a, D_opt ~ C^b, 95% intervals"))
    for col in ("group", "budgets", "a [95%]", "b [95%]"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for label, r in out["groups"].items():
        if "error" in r:
            table.add_row(Text(label), "", Text(r["error"]), "")
            continue
        cells = []
        for key in ("a", "b"):
            lo, hi = r[key].get("ci95", [float("nan")] * 2)
            cells.append(Text(f"{r[key]['value']:.3f} [{lo:.3f}, {hi:.3f}]"))
        table.add_row(Text(label), str(len(r["budgets"])), *cells)
    out_console.print(table)
    for label, r in out["groups"].items():
        for w in r.get("warnings", []):
            console.print(Text.assemble(("warning:", "yellow"), " ", f"{label}: {w}"), soft_wrap=True)



@app.command("benchmark-laws")
@guard
def benchmark_laws(
    data: Optional[list[str]] = typer.Option(None, "--data", help="Data set (repeat; default: all eight ScaleBench "
                                             "tasks, e.g. farseer_scaling_law)."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="Folder of NAME_train.csv and NAME_test.csv "
                                          "(default: the copies shipped with the tests)."),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap refits per fit (prediction intervals)."),
    seed: int = typer.Option(0, "--seed"),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the scores as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a figure of the R^2 here (PNG)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table (use --json)."),
) -> None:
    """Score every candidate law and scalinglab's own choice on fixed train/test splits (R^2, RMSE, coverage).

    On the held-out points: target-region R^2, RMSE of log loss and coverage of the 95% prediction intervals."""
    from scalinglab.fit.benchmark import PAPER_5_PERCENT, benchmark

    set_quiet(quiet)
    if json_out is not None:
        check_out_file(json_out, "--json")
    if plot is not None:
        from scalinglab.cli._app import check_plot_path

        check_plot_path(plot)
    if folder is not None and not Path(folder).is_dir():
        raise SpecError(f"--folder: {folder} is not a folder")
    result = benchmark(data or None, n_boot=bootstrap, seed=seed, folder=folder)
    table = Table(title=Text(f"Forecasting benchmark ({result['loss']} fits, {bootstrap} bootstrap refits): "
                             "scores on the test split"))
    for col in ("data set", "law", "R^2", "RMSE log", "95% PI coverage", "paper 5%"):
        table.add_column(col, justify="left" if col in ("data set", "law") else "right")
    for name, d in result["datasets"].items():
        rows = list(d["laws"].items()) + [(f"auto ({d['auto']['law']})", d["auto"])]
        for law, s in rows:
            def cell(v: Any, fmt: str) -> str:
                return "-" if v is None else format(v, fmt)
            table.add_row(Text(name), Text(law), cell(s.get("r2"), ".3f"), cell(s.get("rmse_log"), ".4f"),
                          cell(s.get("coverage95"), ".2f"),
                          cell(PAPER_5_PERCENT.get(name), ".2f") if law.startswith("auto") else "")
    out_console.print(table)
    for name, d in result["datasets"].items():
        for law, s in d["laws"].items():
            if "error" in s:
                console.print(Text.assemble(("warning:", "yellow"), " ", f"{name}: {law}: {s['error']}"),
                              soft_wrap=True)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))
    if plot:
        from scalinglab.report.forecastplots import plot_benchmark

        plot_benchmark(result, plot, {k: v for k, v in PAPER_5_PERCENT.items() if k in result["datasets"]})
        out_console.print(Text(f"plot: {plot}"), soft_wrap=True)
