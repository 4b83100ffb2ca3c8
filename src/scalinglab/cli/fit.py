"""`scalinglab fit`: a scaling law for anyone's measurements, or the regimes of a stored experiment."""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import (
    _analyse,
    _bar,
    _check_out_file,
    _guard,
    _open_store,
    _print_regimes,
    _quiet,
    app,
    console,
    out_console,
)
from scalinglab.errors import SpecError

if TYPE_CHECKING:
    import numpy as np

    from scalinglab.fit.estimate import FitResult
    from scalinglab.fit.regimes import Verdict
    from scalinglab.fit.select import Selection


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
                            "rows, or auto (residuals under --loss ls, rows otherwise); --group resamples whole "
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
@_guard
def fit(
    data: Optional[Path] = typer.Argument(None, metavar="[DATA.csv]", help="CSV of measurements to fit."),
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
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write a figure here (PNG)."),
    store: Optional[Path] = typer.Option(None, "--store", help="Fit a stored experiment's four regimes instead."),
    experiment: Optional[str] = typer.Option(None, "--experiment", help="Experiment in --store."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables (use --json); errors and "
                               "warnings only."),
) -> None:
    """Fit a scaling law to anyone's measurements (DATA.csv), or every slice of a stored experiment against theory."""
    _quiet(quiet)
    if json_out is not None:  # output paths first: a refused one costs no work and writes nothing
        _check_out_file(json_out, "--json")
    if plot is not None:
        if store is not None:
            raise SpecError("--plot: only for DATA.csv, not with --store (use report for a stored experiment)")
        _check_plot_path(plot)
        if json_out is not None and Path(plot).resolve() == Path(json_out).resolve():
            raise SpecError(f"--plot: {plot} is also the --json file")
    if bootstrap < 0:
        raise SpecError(f"--bootstrap: must be non-negative, got {bootstrap}")
    if store is not None:
        if experiment is None:
            raise SpecError("--experiment: required with --store")
        with _open_store(store, readonly=True) as st:
            fits = _analyse(st, experiment, bootstrap)
        _print_regimes(fits)
        if json_out:
            json_out.write_text(json.dumps(fits, indent=2))
        return
    if data is None:
        raise SpecError("DATA.csv: give a CSV file to fit (or --store and --experiment)")
    result = _fit_csv(data, y, x, form, loss, delta, bootstrap, holdout_largest, define or [], where or [],
                      drop_highest, group, predicted, compute, plot, resample)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


@dataclasses.dataclass(frozen=True)
class FitAnalysis:
    """What `fit DATA.csv` computes: ``result`` is exactly what `fit --json` writes; the rest is for a page.

    ``X`` (n, len(x)) and ``Y`` are the rows fitted or held out (after --define, --where and --drop-highest),
    ``rows`` their line numbers in the CSV, ``held_out`` the mask of the rows held out. ``selection`` and
    ``candidates`` (every candidate form's fit, without bootstrap) are set when the form was chosen (auto).
    """

    result: dict[str, Any]
    fit: FitResult
    X: np.ndarray
    Y: np.ndarray
    held_out: np.ndarray
    rows: np.ndarray
    groups: np.ndarray | None
    y: str
    x: list[str]
    options: dict[str, Any]
    selection: Selection | None = None
    candidates: dict[str, FitResult] = dataclasses.field(default_factory=dict)
    allocation: list[dict[str, Any]] | None = None
    verdict: Verdict | None = None


def _check_plot_path(plot: Path) -> None:
    """--plot: a file in an existing folder, with a suffix naming a format matplotlib writes (a missing suffix
    would make matplotlib write PLOT.png instead)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _check_out_file(plot, "--plot")
    formats = sorted(FigureCanvasAgg(Figure()).get_supported_filetypes())
    suffix = Path(plot).suffix.lower().lstrip(".")
    if suffix not in formats:
        what = f"unknown format {Path(plot).suffix!r}" if suffix else "no suffix naming a format"
        raise SpecError(f"--plot: {plot} has {what} (one of {', '.join(formats)})")


def _check_fit_options(y: Optional[str], x: Optional[list[str]], bootstrap: int, *,
                       predicted: Optional[float] = None, compute: Optional[str] = None) -> None:
    """The fit options that need no data, checked before the CSV is read."""
    if bootstrap < 0:
        raise SpecError(f"--bootstrap: must be non-negative, got {bootstrap}")
    if not y or not x:
        raise SpecError("--y and --x: name the loss column and at least one size column")
    if len(x) > 2:
        raise SpecError(f"--x: at most two size columns, got {len(x)}")
    if len(x) == 2 and x[0] == x[1]:
        raise SpecError(f"--x: {x[0]} given twice")
    if predicted is not None and not math.isfinite(predicted):
        raise SpecError(f"--predicted: must be a finite number, got {predicted}")
    _budgets(compute)


def _budgets(compute: Optional[str]) -> Optional[list[float]]:
    """--compute as a list of budgets: each a positive finite number."""
    if not compute:
        return None
    budgets = []
    for v in compute.split(","):
        try:
            budget = float(v)
        except ValueError:
            raise SpecError(f"--compute: {v.strip()!r} is not a number; expected comma-separated budgets such as "
                            f"1e21,1e23, got {compute!r}") from None
        if not (math.isfinite(budget) and budget > 0):
            raise SpecError(f"--compute: budgets must be positive and finite, got {v.strip()!r} in {compute!r}")
        budgets.append(budget)
    return budgets


def fit_csv_analysis(data: Path, y: Optional[str], x: Optional[list[str]], *, form: str = "auto",
                     loss: str = "huber-log", delta: float = 1e-3, bootstrap: int = 1000, resample: str = "auto",
                     holdout_largest: int = 0, define: Optional[list[str]] = None, where: Optional[list[str]] = None,
                     drop_highest: int = 0, group: Optional[str] = None, predicted: Optional[float] = None,
                     compute: Optional[str] = None, progress: Optional[Callable[[int, int], None]] = None
                     ) -> FitAnalysis:
    """Fit a law to the CSV ``data`` as `fit DATA.csv` does (same options, same defaults), printing nothing.

    Holds out the ``holdout_largest`` largest sizes, chooses the form by held-out error when ``form`` is auto,
    fits it with a bootstrap (``progress(done, total)`` is told of it), and adds the regime verdict for one size
    column or the compute-optimal allocation for two.
    """
    import numpy as np

    from scalinglab.fit.allocate import compute_optimal
    from scalinglab.fit.data import prepare, read_csv
    from scalinglab.fit.laws import get_law
    from scalinglab.fit.regimes import regime_verdict
    from scalinglab.fit.select import fit_with_holdout, holdout_mask, select_form

    _check_fit_options(y, x, bootstrap, predicted=predicted, compute=compute)
    x = list(x)
    define, where = list(define or []), list(where or [])
    options = dict(form=form, loss=loss, delta=delta, bootstrap=bootstrap, resample=resample,
                   holdout_largest=holdout_largest, define=define, where=where, drop_highest=drop_highest,
                   group=group, predicted=predicted, compute=compute)
    budgets = _budgets(compute) if len(x) == 2 else None
    X, Y, groups, rows = prepare(read_csv(data), y=y, x=x, define=define, where=where, drop_highest=drop_highest,
                                 group=group, path=str(data))
    held = holdout_mask(X, holdout_largest)
    kwargs = dict(loss=loss, delta=delta, n_boot=bootstrap, groups=None if groups is None else groups[~held],
                  progress=progress, resample=resample)
    selection, candidates = None, {}
    if form == "auto":
        selection = select_form(X, Y, holdout_largest, **{**kwargs, "n_boot": 0, "progress": None})
        candidates = selection.fits
        form = selection.best.form
    fit_result = fit_with_holdout(get_law(form), X, Y, holdout_largest, **kwargs)
    result: dict[str, Any] = fit_result.to_dict()
    if selection is not None:
        result["selection"] = selection.to_dict()
    allocation = verdict = None
    if X.shape[1] == 2:
        if budgets is None:
            budgets = list(np.geomspace(6 * X[:, 0].min() * X[:, 1].min(), 100 * 6 * (X[:, 0] * X[:, 1]).max(), 6))
        allocation = compute_optimal(fit_result, np.array(budgets))
        result["allocation"] = allocation
    elif X.shape[1] == 1:
        verdict = regime_verdict(X[~held, 0], Y[~held], groups=kwargs["groups"], predicted=predicted,
                                 n_boot=min(bootstrap, 500), loss=loss, delta=delta, resample=resample)
        result["regime"] = verdict.to_dict()
    return FitAnalysis(result=result, fit=fit_result, X=X, Y=Y, held_out=held, rows=rows, groups=groups, y=y, x=x,
                       options=options, selection=selection, candidates=candidates, allocation=allocation,
                       verdict=verdict)


def _analysis_with_bar(data: Path, y, x, **options: Any) -> FitAnalysis:
    """``fit_csv_analysis`` under the bootstrap progress bar of `fit`."""
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with _bar(*columns) as progress:
        bar = progress.add_task("bootstrap", total=options.get("bootstrap", 1000))

        def tick(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        return fit_csv_analysis(data, y, x, progress=tick, **options)


def _fit_csv(data, y, x, form, loss, delta, bootstrap, holdout_largest, define, where, drop_highest, group,
             predicted, compute, plot, resample="auto") -> dict[str, Any]:
    analysis = _analysis_with_bar(data, y, x, form=form, loss=loss, delta=delta, bootstrap=bootstrap,
                                  resample=resample, holdout_largest=holdout_largest, define=define, where=where,
                                  drop_highest=drop_highest, group=group, predicted=predicted, compute=compute)
    _print_fit(analysis.result, str(data), y, x)
    if plot:
        from scalinglab.report.fitplots import plot_fit

        plot_fit(analysis.fit, analysis.X, analysis.Y, analysis.held_out, plot, x, y, analysis.allocation)
        out_console.print(Text(f"plot: {plot}"), soft_wrap=True)
    return analysis.result


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
    _check_fit_options(y, x, bootstrap, predicted=predicted, compute=compute)
    analysis = _analysis_with_bar(data, y, x, form=form, loss=loss, delta=delta, bootstrap=bootstrap,
                                  resample=resample, holdout_largest=holdout_largest, define=define, where=where,
                                  drop_highest=drop_highest, group=group, predicted=predicted, compute=compute)
    _print_fit(analysis.result, str(data), y, list(x))
    return write_fit_report(analysis, Path(out), str(data))


def _print_fit(result: dict[str, Any], source: str, y: str, x: list[str]) -> None:
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
    if "regime" in result:
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
