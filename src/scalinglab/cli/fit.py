"""`scalinglab fit`: a scaling law for anyone's measurements, or the regimes of a stored experiment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from scalinglab.cli._app import (
    _analyse,
    _bar,
    _guard,
    _open_store,
    _print_regimes,
    _quiet,
    app,
    console,
    out_console,
)
from scalinglab.errors import SpecError


@app.command()
@_guard
def fit(
    data: Optional[Path] = typer.Argument(None, metavar="[DATA.csv]", help="CSV of measurements to fit."),
    y: Optional[str] = typer.Option(None, "--y", help="Loss column."),
    x: Optional[list[str]] = typer.Option(None, "--x", help="Size column (twice for a joint law of N and D)."),
    form: str = typer.Option("auto", "--form", help="Law name, or auto (chosen by held-out error)."),
    loss: str = typer.Option("huber-log", "--loss", help="huber-log, ls or asymmetric."),
    delta: float = typer.Option(1e-3, "--delta", help="Huber threshold on log residuals."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap refits."),
    resample: str = typer.Option("auto", "--resample", help="What the bootstrap resamples: residuals (fixed "
                                 "design), rows, or auto (residuals under --loss ls, rows otherwise); --group "
                                 "resamples whole groups."),
    holdout_largest: int = typer.Option(0, "--holdout-largest", help="Hold out the K largest sizes."),
    define: Optional[list[str]] = typer.Option(None, "--define", help='Derived column, e.g. "D=C/(6*N)".'),
    where: Optional[list[str]] = typer.Option(None, "--where", help="Row filter, e.g. \"split == 'fit'\"."),
    drop_highest: int = typer.Option(0, "--drop-highest", help="Drop the K highest losses."),
    group: Optional[str] = typer.Option(None, "--group", help="Resample whole groups (e.g. a seed column)."),
    predicted: Optional[float] = typer.Option(None, "--predicted", help="Predicted exponent to compare with."),
    compute: Optional[str] = typer.Option(None, "--compute", help="Budgets C for the allocation, e.g. 1e21,1e23."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a figure here (PNG)."),
    store: Optional[Path] = typer.Option(None, "--store", help="Fit a stored experiment's four regimes instead."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Experiment in --store."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables (use --json); errors and "
                               "warnings only."),
) -> None:
    """Fit a scaling law to anyone's measurements (DATA.csv), or the four regimes of a stored experiment."""
    _quiet(quiet)
    if bootstrap < 0:
        raise SpecError(f"--bootstrap: must be non-negative, got {bootstrap}")
    if store is not None:
        if experiment is None:
            raise SpecError("--experiment: required with --store")
        with _open_store(store) as st:
            fits = _analyse(st, experiment, bootstrap)
        _print_regimes(fits)
        if json_out:
            json_out.write_text(json.dumps(fits, indent=2))
        return
    if data is None:
        raise SpecError("DATA.csv: give a CSV file to fit (or --store and --experiment)")
    if not y or not x:
        raise SpecError("--y and --x: name the loss column and at least one size column")
    if len(x) > 2:
        raise SpecError(f"--x: at most two size columns, got {len(x)}")
    result = _fit_csv(data, y, x, form, loss, delta, bootstrap, holdout_largest, define or [], where or [],
                      drop_highest, group, predicted, compute, plot, resample)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


def _fit_csv(data, y, x, form, loss, delta, bootstrap, holdout_largest, define, where, drop_highest, group,
             predicted, compute, plot, resample="auto") -> dict[str, Any]:
    import numpy as np

    from scalinglab.fit.allocate import compute_optimal
    from scalinglab.fit.data import prepare, read_csv
    from scalinglab.fit.laws import get_law
    from scalinglab.fit.regimes import regime_verdict
    from scalinglab.fit.select import fit_with_holdout, holdout_mask, select_form

    X, Y, groups, _ = prepare(read_csv(data), y=y, x=x, define=define, where=where, drop_highest=drop_highest,
                              group=group, path=str(data))
    held = holdout_mask(X, holdout_largest)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with _bar(*columns) as progress:
        bar = progress.add_task("bootstrap", total=bootstrap)

        def tick(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        kwargs = dict(loss=loss, delta=delta, n_boot=bootstrap, groups=None if groups is None else groups[~held],
                      progress=tick, resample=resample)
        selection = None
        if form == "auto":
            selection = select_form(X, Y, holdout_largest, **{**kwargs, "n_boot": 0, "progress": None})
            form = selection.best.form
        fit_result = fit_with_holdout(get_law(form), X, Y, holdout_largest, **kwargs)
    result: dict[str, Any] = fit_result.to_dict()
    if selection is not None:
        result["selection"] = selection.to_dict()
    allocation = None
    if X.shape[1] == 2:
        budgets = [float(v) for v in compute.split(",")] if compute else list(
            np.geomspace(6 * X[:, 0].min() * X[:, 1].min(), 100 * 6 * (X[:, 0] * X[:, 1]).max(), 6))
        allocation = compute_optimal(fit_result, np.array(budgets))
        result["allocation"] = allocation
    elif X.shape[1] == 1:
        verdict = regime_verdict(X[~held, 0], Y[~held], groups=kwargs["groups"], predicted=predicted,
                                 n_boot=min(bootstrap, 500), loss=loss, delta=delta, resample=resample)
        result["regime"] = verdict.to_dict()
    _print_fit(result, str(data), y, x)
    if plot:
        from scalinglab.report.fitplots import plot_fit

        plot_fit(fit_result, X, Y, held, plot, x, y, allocation)
        out_console.print(f"plot: {plot}")
    return result


def _print_fit(result: dict[str, Any], source: str, y: str, x: list[str]) -> None:
    table = Table(title=f"{result['form']} fitted to {y} against {', '.join(x)} in {source} "
                        f"({result['n_points']} points, {result['loss']} loss, "
                        f"{result['n_bootstrap']} bootstrap refits of {result['resample']})")
    for col in ("parameter", "value", "std. error", "95% interval"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for name, value in result["params"].items():
        lo, hi = result["ci95"][name]
        table.add_row(name, f"{value:.5g}", f"{result['se'][name]:.3g}", f"[{lo:.4g}, {hi:.4g}]")
    for name, d in result.get("derived", {}).items():
        lo, hi = d.get("ci95", [float("nan")] * 2)
        table.add_row(f"{name} (derived)", f"{d['value']:.5g}", f"{d.get('se', float('nan')):.3g}",
                      f"[{lo:.4g}, {hi:.4g}]")
    out_console.print(table)
    if result.get("holdout_rmse_log") is not None:
        out_console.print(f"held-out RMSE of log loss: {result['holdout_rmse_log']:.4g}")
    if "selection" in result:
        scores = ", ".join(f"{k} {v:.3g}" for k, v in sorted(result["selection"]["holdout_rmse_log"].items(),
                                                               key=lambda kv: kv[1]))
        out_console.print(f"form chosen by {'held-out' if result.get('holdout_rmse_log') is not None else 'in-sample'}"
                          f" RMSE of log loss: {scores}")
    if "regime" in result:
        r = result["regime"]
        line = (f"regime: {r['regime']} (exponent {r['exponent']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}],"
                f" z against 1 = {r['z_vs_1']:.2f})")
        if r["predicted"] is not None:
            agree = "consistent" if r["consistent_with_prediction"] else "not consistent"
            line += f"; predicted {r['predicted']:g}: {agree}"
        out_console.print(line)
    if "allocation" in result:
        table = Table(title="compute-optimal allocation (C = 6 N D)")
        for col in ("C", "N*", "D*", "D*/N*", "D*/N* 95%"):
            table.add_column(col, justify="right")
        for r in result["allocation"]:
            ci = r.get("tokens_per_parameter_ci95")
            table.add_row(f"{r['C']:.3g}", f"{r['N']:.3g}", f"{r['D']:.3g}", f"{r['tokens_per_parameter']:.3g}",
                          f"[{ci[0]:.3g}, {ci[1]:.3g}]" if ci else "")
        out_console.print(table)
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}")
