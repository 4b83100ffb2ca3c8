"""`scalinglab fit`: a scaling law for anyone's measurements, or the regimes of a stored experiment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import (
    analyse_stored,
    app,
    check_out_file,
    check_plot_path,
    console,
    guard,
    open_store_at,
    out_console,
    print_regimes,
    progress_bar,
    set_quiet,
)
from scalinglab.errors import SpecError
from scalinglab.fit.pipeline import check_fit_options

if TYPE_CHECKING:
    from scalinglab.fit.pipeline import FitAnalysis


class FitOptions:
    """The data and column options of `fit DATA.csv`, for every command that fits a CSV (`report --csv`).

    Use them as parameter defaults (Typer copies each option, so sharing them is safe), e.g.
    ``y: Optional[str] = FitOptions.y``, and pass the values on by name: ``FIT_OPTION_NAMES`` lists the
    keyword arguments of ``fit_csv_analysis`` and ``report_csv`` that they fill.
    """

    y = typer.Option(None, "--y", help="Loss column.")
    x = typer.Option(None, "--x", help="Size column (twice for a joint law of N and D).")
    form = typer.Option("auto", "--form", help="Law name, or auto (chosen by held-out error).")
    loss = typer.Option("huber-log", "--loss", help="huber-log, ls or asymmetric.")
    delta = typer.Option(1e-3, "--delta", help="Huber threshold on log residuals.")
    bootstrap = typer.Option(1000, "--bootstrap", help="Bootstrap refits.")
    resample = typer.Option("auto", "--resample", help="What the bootstrap resamples: residuals (fixed design), "
                            "rows, or auto (residuals, rows under --loss asymmetric); --group resamples whole "
                            "groups.")
    holdout_largest = typer.Option(0, "--holdout-largest", help="Hold out the K largest sizes.")
    define = typer.Option(None, "--define", help='Derived column, e.g. "D=C/(6*N)".')
    where = typer.Option(None, "--where", help="Row filter, e.g. \"split == 'fit'\".")
    drop_highest = typer.Option(0, "--drop-highest", help="Drop the K highest losses.")
    group = typer.Option(None, "--group", help="Resample whole groups (e.g. a seed column).")
    predicted = typer.Option(None, "--predicted", help="Predicted exponent to compare with.")
    compute = typer.Option(None, "--compute", help="Budgets C for the allocation, e.g. 1e21,1e23.")


FIT_OPTION_NAMES = ("y", "x", "form", "loss", "delta", "bootstrap", "resample", "holdout_largest", "define", "where",
                    "drop_highest", "group", "predicted", "compute")


@app.command()
@guard
def fit(
    data: Optional[Path] = typer.Argument(None, metavar="[DATA]", help="Measurements to fit: CSV, TSV, Parquet "
                                          "(what export writes), JSON lines, a W&B CSV export or an MLflow folder."),
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
    strict: bool = typer.Option(False, "--strict", help="Refuse rows with a blank or non-finite cell in the used "
                                "columns (default: drop them, with a warning saying how many)."),
    step_col: Optional[str] = typer.Option(None, "--step-col", help="Training curves: the checkpoint (step) "
                                           "column; one row per run is kept, see --checkpoint."),
    checkpoint: str = typer.Option("last", "--checkpoint", help="With --step-col: last or best checkpoint per "
                                   "run, or all (fit the whole trajectory)."),
    run_col: Optional[str] = typer.Option(None, "--run-col", help="With --step-col: the column naming the run "
                                          "(default: a column named run, else the text columns together)."),
    regime: bool = typer.Option(False, "--regime", help="One size column: print the Bahri regime verdict."),
    save: Optional[Path] = typer.Option(None, "--save", help="Save the fit here (JSON) for `extrapolate` and "
                                        "FitResult.load."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a figure here (PNG)."),
    store: Optional[Path] = typer.Option(None, "--store", help="Fit a stored experiment's four regimes instead."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Experiment in --store."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables (use --json); errors and "
                               "warnings only."),
) -> None:
    """Fit a scaling law to anyone's measurements (DATA), or every slice of a stored experiment against theory."""
    set_quiet(quiet)
    outputs = {"--json": json_out, "--save": save, "--plot": plot}
    for option, path in outputs.items():  # output paths first: a refused one costs no work and writes nothing
        if path is not None and option != "--plot":
            check_out_file(path, option)
    given = [(o, Path(p).resolve()) for o, p in outputs.items() if p is not None]
    for i, (option, path) in enumerate(given):
        other = next((o for o, q in given[:i] if q == path), None)
        if other:
            raise SpecError(f"{option}: {outputs[option]} is also the {other} file")
    if plot is not None:
        if store is not None:
            raise SpecError("--plot: only for DATA.csv, not with --store (use report for a stored experiment)")
        check_plot_path(plot)
    if bootstrap < 0:
        raise SpecError(f"--bootstrap: must be non-negative, got {bootstrap}")
    if store is not None:
        if save is not None:
            raise SpecError("--save: only for DATA, not with --store")
        if experiment is None:
            raise SpecError("--experiment: required with --store")
        with open_store_at(store, readonly=True) as st:
            fits = analyse_stored(st, experiment, bootstrap)
        print_regimes(fits)
        if json_out:
            json_out.write_text(json.dumps(fits, indent=2))
        return
    if data is None:
        raise SpecError("DATA: give a file of measurements to fit (or --store and --experiment)")
    if checkpoint != "last" and step_col is None:
        raise SpecError("--checkpoint: only with --step-col")
    check_fit_options(y, x, bootstrap, predicted=predicted, compute=compute)
    analysis = _analysis_with_bar(data, y, x, form=form, loss=loss, delta=delta, bootstrap=bootstrap,
                                  resample=resample, holdout_largest=holdout_largest, define=define or [],
                                  where=where or [], drop_highest=drop_highest, group=group, predicted=predicted,
                                  compute=compute, strict=strict, step=step_col, checkpoint=checkpoint, run=run_col)
    _print_fit(analysis.result, str(data), y, x, regime=regime)
    if plot:
        from scalinglab.report.fitplots import plot_fit

        plot_fit(analysis.fit, analysis.X, analysis.Y, analysis.held_out, plot, x, y, analysis.allocation)
        out_console.print(Text(f"plot: {plot}"), soft_wrap=True)
    if save:
        analysis.fit.save(save)
        out_console.print(Text(f"saved: {save}"), soft_wrap=True)
    if json_out:
        json_out.write_text(json.dumps(analysis.result, indent=2))


def fit_csv_analysis(data: Any, y: Optional[str], x: Optional[list[str]], **options: Any) -> FitAnalysis:
    """Fit a law to ``data`` as `fit DATA` does (same options, same defaults), printing nothing: the library's
    ``fit.pipeline.analyse``."""
    from scalinglab.fit.pipeline import analyse

    return analyse(data, y, x, **options)


def _analysis_with_bar(data: Path, y, x, **options: Any) -> FitAnalysis:
    """``fit_csv_analysis`` under the bootstrap progress bar of `fit`."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with progress_bar(*columns) as progress:
        bar = progress.add_task("bootstrap", total=options.get("bootstrap", 1000))

        def tick(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        return fit_csv_analysis(data, y, x, progress=tick, **options)


def _check_out_dir(out: Path, names: tuple[str, ...]) -> None:
    """--out must be a folder (or not exist yet, under a folder) where the files ``names`` can be written."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"--out: {out} is a file")
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise SpecError(f"--out: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SpecError(f"--out: cannot write in {existing}")
    for name in names:
        if (out / name).is_dir():
            raise SpecError(f"--out: {out / name} is a folder")


def report_csv(data: Path, out: Path, y: Optional[str] = None, x: Optional[list[str]] = None, *,
               form: str = "auto", loss: str = "huber-log", delta: float = 1e-3, bootstrap: int = 1000,
               resample: str = "auto", holdout_largest: int = 0, define: Optional[list[str]] = None,
               where: Optional[list[str]] = None, drop_highest: int = 0, group: Optional[str] = None,
               predicted: Optional[float] = None, compute: Optional[str] = None) -> Path:
    """`report --csv DATA.csv --out DIR`: fit as `fit` does (same options, progress bar and printed tables) and
    write ``DIR/report.html`` (self-contained), ``DIR/fit.json`` (what `fit --json` writes) and the PNGs.

    Returns the HTML path (not printed: the caller prints it). The output folder is checked before any work.
    """
    from scalinglab.report.fit_page import OUTPUT_FILES, write_fit_report

    _check_out_dir(out, OUTPUT_FILES)
    check_fit_options(y, x, bootstrap, predicted=predicted, compute=compute)
    analysis = _analysis_with_bar(data, y, x, form=form, loss=loss, delta=delta, bootstrap=bootstrap,
                                  resample=resample, holdout_largest=holdout_largest, define=define, where=where,
                                  drop_highest=drop_highest, group=group, predicted=predicted, compute=compute)
    _print_fit(analysis.result, str(data), y, list(x))
    return write_fit_report(analysis, Path(out), str(data))


def _print_fit(result: dict[str, Any], source: str, y: str, x: list[str], regime: bool = True) -> None:
    table = Table(title=Text(f"{result['form']} fitted to {y} against {', '.join(x)} in {source} "
                             f"({result['n_points']} points, {result['loss']} loss, "
                             f"{result['n_bootstrap']} bootstrap refits of {result['resample']})"))
    for col in ("parameter", "value", "std. error", "95% interval"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for name, value in result["params"].items():
        lo, hi = result["ci95"][name]
        table.add_row(Text(name), f"{value:.5g}", f"{result['se'][name]:.3g}", Text(f"[{lo:.4g}, {hi:.4g}]"))
    for name, d in result.get("derived", {}).items():
        lo, hi = d.get("ci95", [float("nan")] * 2)
        table.add_row(Text(f"{name} (derived)"), f"{d['value']:.5g}", f"{d.get('se', float('nan')):.3g}",
                      Text(f"[{lo:.4g}, {hi:.4g}]"))  # as text: "[nan, nan]" would read as markup
    out_console.print(table)
    if result.get("holdout_rmse_log") is not None:
        out_console.print(Text(f"held-out RMSE of log loss: {result['holdout_rmse_log']:.4g}"))
    if "selection" in result:
        scores = ", ".join(f"{k} {v:.3g}" for k, v in sorted(result["selection"]["holdout_rmse_log"].items(),
                                                               key=lambda kv: kv[1]))
        basis = "held-out" if result.get("holdout_rmse_log") is not None else "in-sample"
        out_console.print(Text(f"form chosen by {basis} RMSE of log loss: {scores}"))
    if "envelope" in result:
        e = result["envelope"]
        at = ", ".join(f"{k} = {v:.3g}" for k, v in e["at"].items())
        (lo, hi), (clo, chi) = e["prediction95"], e["chosen_prediction95"]
        out_console.print(Text(f"laws that fit about as well (score within {e['tolerance']:g}x of the best): "
                               f"{', '.join(e['laws'])}; at {at} their 95% prediction intervals span "
                               f"[{lo:.4g}, {hi:.4g}], the chosen law's alone [{clo:.4g}, {chi:.4g}]"),
                          soft_wrap=True)
    if regime and "regime" in result:
        out_console.print(Text("regime: does the exponent of L = E + A x^-alpha differ from 1 (Bahri et al. 2024: "
                               "variance-limited at 1, resolution-limited below)?"))
        r = result["regime"]
        line = (f"regime: {r['regime']} (exponent {r['exponent']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}],"
                f" z against 1 = {r['z_vs_1']:.2f})")
        if r["predicted"] is not None:
            agree = "consistent" if r["consistent_with_prediction"] else "not consistent"
            line += f"; predicted {r['predicted']:g}: {agree}"
        out_console.print(Text(line))
    if "allocation" in result:
        table = Table(title="compute-optimal allocation (C = 6 N D)")
        for col in ("C", "N*", "D*", "D*/N*", "D*/N* 95%"):
            table.add_column(col, justify="right")
        for r in result["allocation"]:
            ci = r.get("tokens_per_parameter_ci95")
            table.add_row(f"{r['C']:.3g}", f"{r['N']:.3g}", f"{r['D']:.3g}", f"{r['tokens_per_parameter']:.3g}",
                          Text(f"[{ci[0]:.3g}, {ci[1]:.3g}]") if ci else "")
        out_console.print(table)
    for w in result["warnings"]:
        console.print(Text.assemble(("warning:", "yellow"), " ", w), soft_wrap=True)
