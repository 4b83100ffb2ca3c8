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


@app.callback()
def _each_command() -> None:
    out_console.quiet = False  # --quiet of an earlier command in this process does not carry over


def _quiet(quiet: bool) -> None:
    """--quiet: no progress bars and nothing on standard output; errors, failures and warnings still show."""
    out_console.quiet = quiet


def _bar(*columns: Any) -> Progress:
    """A transient progress bar on stderr; off with --quiet and when stderr is not a terminal (logs, pipes)."""
    return Progress(*columns, console=console, transient=True, disable=out_console.quiet or not console.is_terminal)


def _fail(message: str) -> None:
    console.print(Text.assemble(("error:", "bold red"), " ", message), highlight=False, soft_wrap=True)
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


def _executor_options(workers: Optional[int], scheduler: Optional[str], dask_local: Optional[int],
                      retries: Optional[int]):
    """Check the sweep options before anything is opened; returns the executor's context (None: local pool)."""
    from scalinglab.sweep.executors import select_executor

    if retries is not None and retries < 0:
        raise SpecError(f"--retries: must be non-negative, got {retries}")
    return select_executor(workers, scheduler, dask_local)


def _run(spec, store, workers: Optional[int], *, quiet: bool = False, cluster=None, retries: Optional[int] = None
         ) -> int:
    from scalinglab.sweep.runner import RETRIES, register_spec, run_sweep

    if cluster is None:
        cluster = _executor_options(workers, None, None, retries)
    register_spec(spec, store)  # a refused spec fails here, before any progress bar is drawn
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("points"),
               RateColumn(), TimeRemainingColumn()]
    _quiet(quiet or out_console.quiet)
    with cluster as executor, _bar(*columns) as progress:
        task = progress.add_task(spec.name, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return run_sweep(spec, store, workers=workers, progress=update, executor=executor,
                         retries=RETRIES if retries is None else retries)


def _report_failures(store, experiment: str) -> None:
    """Print each failed seed of the experiment on one line; exit with status 1 if there is any."""
    failures = store.failures(experiment)
    for f in failures:
        console.print(Text(f"failed: {experiment} seed {f['seed']} after {f['attempts']} attempt(s): {f['error']}",
                           style="red"), highlight=False, soft_wrap=True)
    if failures:
        console.print(Text(f"{len(failures)} seed(s) failed; the others are stored. Run again to retry them "
                           "(scalinglab store check lists failures)."), highlight=False, soft_wrap=True)
        raise typer.Exit(1)


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
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run on the Dask cluster at tcp://HOST:PORT."),
    dask_local: Optional[int] = typer.Option(None, "--dask-local", help="Run on a new local Dask cluster of N "
                                             "worker processes."),
    retries: int = typer.Option(2, "--retries", help="Retries of a failing seed before it is recorded as failed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary; errors and failures only."),
) -> None:
    """Run the points of SPEC that the store does not hold yet (a killed run resumes where it stopped).

    A seed that still fails after --retries is recorded in the store with its error and reported at the end;
    the exit status is then 1.
    """
    from scalinglab.sweep.spec import load_spec

    spec = load_spec(spec_path)
    cluster = _executor_options(workers, scheduler, dask_local, retries)
    with _open_store(store, create=True) as st:
        added = _run(spec, st, workers, quiet=quiet, cluster=cluster, retries=retries)
        if not quiet:
            out_console.print(f"{spec.name}: {added} new points, {st.count(spec.name)} stored in {store}")
        _report_failures(st, spec.name)


@app.command()
@_guard
def fit(
    data: Optional[Path] = typer.Argument(None, metavar="[DATA.csv]", help="CSV of measurements to fit."),
    y: Optional[str] = typer.Option(None, "--y", help="Loss column."),
    x: Optional[list[str]] = typer.Option(None, "--x", help="Size column (twice for a joint law of N and D)."),
    form: str = typer.Option("auto", "--form", help="Law name, or auto (chosen by held-out error)."),
    loss: str = typer.Option("huber-log", "--loss", help="huber-log, ls or asymmetric."),
    delta: float = typer.Option(1e-3, "--delta", help="Huber threshold on log residuals."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap refits (rows, or groups with --group)."),
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
                      drop_highest, group, predicted, compute, plot)
    if json_out:
        json_out.write_text(json.dumps(result, indent=2))


def _fit_csv(data, y, x, form, loss, delta, bootstrap, holdout_largest, define, where, drop_highest, group,
             predicted, compute, plot) -> dict[str, Any]:
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
                      progress=tick)
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
                                 n_boot=min(bootstrap, 500), loss=loss, delta=delta)
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
                        f"{result['n_bootstrap']} bootstrap refits)")
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


store_app = typer.Typer(no_args_is_help=True, help="Verify and summarise a store.")
app.add_typer(store_app, name="store")


@store_app.command("check")
@_guard
def store_check(
    path: Path = typer.Argument(..., metavar="STORE", help="SQLite store."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON instead."),
) -> None:
    """Verify STORE (SQLite integrity, schema, keys) and summarise points, failed seeds and compute time per
    experiment. Exit status 1 if a check fails."""
    with _open_store(path) as st:
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


def _float_list(text: str, key: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SpecError(f"{key}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise SpecError(f"{key}: expected at least one number, got {text!r}")
    return values


@app.command()
@_guard
def theory(
    paper: str = typer.Argument(..., help="Paper whose closed-form theory to evaluate: brill."),
    tau: float = typer.Option(2.5, "--tau", help="Cluster-size exponent tau, 2 < tau < 3 (5/2: mean field)."),
    c: float = typer.Option(2.0, "--c", help="Approximation order: 2 nearest neighbour, 4 linear, 6 quadratic."),
    dimension: float = typer.Option(4.0, "--D", help="Fractal dimension D of the clusters (4: mean field)."),
    sizes: str = typer.Option("1,10,100,1000", "--N", help="Comma-separated sizes, used as N and as D."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (lists k_br, L_model, L_data) instead."),
) -> None:
    """Brill (2024): break rank k_br(N), model scaling L(N) and data scaling L(D), no fitted parameter."""
    if paper != "brill":
        raise SpecError(f"paper: only 'brill' has closed-form theory here, got {paper!r}")
    from scalinglab.theory.percolation import brill_predictions

    pred = brill_predictions(tau, c, dimension, _float_list(sizes, "--N"))
    if json_out:
        sys.stdout.write(json.dumps(pred) + "\n")
        return
    table = Table(title=f"Brill (2024): tau = {tau:g} (alpha = {pred['alpha']:.4g}), "
                        f"c/D = {pred['manifold_exponent']:.4g}, b = {pred['b']:.4g}; exponents: "
                        f"model {pred['model_exponent']:.4g}, data {pred['data_exponent']:.4g}")
    for col in ("N = D", "k_br(N)", "L_model(N)", "L_data(D)"):
        table.add_column(col, justify="right")
    for row in zip(pred["N"], pred["k_br"], pred["L_model"], pred["L_data"], strict=True):
        table.add_row(*(f"{v:.6g}" for v in row))
    out_console.print(table)


@app.command()
@_guard
def predict(
    task: Path = typer.Option(..., "--task", help="Spec TOML whose [task] (and [model], for its kernel) to use."),
    n: int = typer.Option(4000, "--n", help="Points to sample for the estimates."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the predictions to this JSON file."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Bahri et al.: intrinsic dimension, kernel spectrum exponent and the exponents they imply, no training."""
    import numpy as np

    from scalinglab.models.kernel_ridge import KernelRidge
    from scalinglab.sweep.spec import load_spec
    from scalinglab.theory.predict import predict_exponents

    spec = load_spec(task)
    model = spec.model.build()
    gram = model.gram if isinstance(model, KernelRidge) else KernelRidge().gram
    rng = np.random.default_rng(seed)
    X, _ = spec.task.build().sample(n, rng)
    pred = predict_exponents(X, gram, rng)
    if json_path is not None:
        json_path.write_text(json.dumps(pred, indent=2))
    table = Table(title=f"predicted exponents, {spec.task.kind} task, n = {n}")
    for col in ("quantity", "value", "95% interval"):
        table.add_column(col, justify="right")
    d, k = pred["intrinsic_dimension"], pred["spectrum_exponent"]
    table.add_row("intrinsic dimension d (TwoNN)", f"{d['value']:.4g}", "[{:.4g}, {:.4g}]".format(*d["ci95"]))
    table.add_row("spectrum exponent alpha_K", f"{k['value']:.4g}", "[{:.4g}, {:.4g}]".format(*k["ci95"]))
    table.add_row("alpha_D = alpha_P = alpha_K", f"{k['value']:.4g}", "")
    table.add_row("4/d", f"{pred['predicted']['four_over_d']:.4g}",
                  "[{:.4g}, {:.4g}]".format(*pred["predicted"]["four_over_d_ci95"]))
    out_console.print(table)


@app.command()
@_guard
def percolate(
    lattice: str = typer.Option("bethe", "--lattice", help="bethe or hypercubic."),
    d: int = typer.Option(2, "--d", help="Lattice dimension (Bethe: coordination z = 2d unless --z)."),
    p: Optional[float] = typer.Option(None, "--p", help="Occupation probability (default: the threshold p_c)."),
    size: int = typer.Option(256, "--L", help="Hypercubic: linear size L of the L^d lattice."),
    samples: int = typer.Option(8, "--samples", help="Hypercubic: number of lattices."),
    periodic: bool = typer.Option(True, "--periodic/--open", help="Hypercubic: boundaries for cluster sizes."),
    z: Optional[int] = typer.Option(None, "--z", help="Bethe: coordination number (default 2d)."),
    clusters: int = typer.Option(2000, "--clusters", help="Bethe: clusters to keep."),
    min_size: int = typer.Option(10, "--min-size", help="Bethe: smallest cluster kept."),
    max_size: int = typer.Option(100_000, "--max-size", help="Bethe: largest cluster kept."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (p_c, tau, fractal_dimension) instead."),
) -> None:
    """Cluster statistics and estimates of p_c, tau and the fractal dimension, with 95% intervals."""
    import numpy as np

    from scalinglab.tasks.percolation import bethe as bethe_mod
    from scalinglab.tasks.percolation import estimators
    from scalinglab.tasks.percolation import lattice as lattice_mod

    if lattice not in ("bethe", "hypercubic"):
        raise SpecError(f"--lattice: must be bethe or hypercubic, got {lattice!r}")
    if d < 1:
        raise SpecError(f"--d: lattice dimension must be at least 1, got {d}")
    if p is not None and not 0.0 <= p <= 1.0:
        raise SpecError(f"--p: occupation probability must lie in [0, 1], got {p}")
    if min_size > max_size:
        raise SpecError(f"--min-size: must not exceed --max-size, got {min_size} > {max_size}")
    if samples < 1:
        raise SpecError(f"--samples: must be at least 1, got {samples}")
    rng = np.random.default_rng(seed)
    if lattice == "bethe":
        z = 2 * d if z is None else z
        p = bethe_mod.bethe_threshold(z) if p is None and z > 1 else p
        bethe_mod.check_bethe_parameters(z, p if p is not None else -1.0, min_size, max_size, clusters)
        known = {"p_c": bethe_mod.bethe_threshold(z), "tau": 2.5, "fractal_dimension": 4.0}
        result = estimators.bethe_survey(z, p, clusters, min_size, max_size, rng)
    else:
        from scalinglab.theory.percolation import PERCOLATION_EXPONENTS

        if p is None:
            if d not in lattice_mod.SITE_THRESHOLDS:
                raise SpecError(f"--p: no tabulated site threshold for d = {d}; give --p")
            p = lattice_mod.SITE_THRESHOLDS[d]
        lattice_mod.check_lattice_parameters(d, size, p)
        tau_d, frac_d = PERCOLATION_EXPONENTS.get(d, (2.5, 4.0) if d >= 6 else (None, None))
        known = {"p_c": 1.0 if d == 1 else lattice_mod.SITE_THRESHOLDS.get(d), "tau": tau_d,
                 "fractal_dimension": frac_d}
        result = estimators.hypercubic_survey(d, size, p, samples, rng, periodic=periodic)
    estimates = {k: (v.as_dict() if v is not None else None) for k, v in result.pop("estimates").items()}
    if json_out:
        sys.stdout.write(json.dumps({**result, **estimates, "known": known}) + "\n")
        return
    stats = Table(title=f"{lattice} percolation: cluster statistics")
    stats.add_column("quantity")
    stats.add_column("value", justify="right")
    for key, value in result.items():
        stats.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    out_console.print(stats)
    table = Table(title="estimates (95% intervals)")
    for col in ("quantity", "estimate", "95% interval", "known value"):
        table.add_column(col, justify="left" if col == "quantity" else "right")
    for key, est in estimates.items():
        truth = "-" if known[key] is None else f"{known[key]:.6g}"
        if est is None:
            table.add_row(key, "-", "too few clusters", truth)
        else:
            lo, hi = est["ci95"]
            table.add_row(key, f"{est['value']:.5g}", f"[{lo:.5g}, {hi:.5g}]", truth)
    out_console.print(table)


def _recipe_progress(progress: Progress, rid: str):
    """A recipe's progress callback: one bar per label."""
    bars: dict[str, Any] = {}

    def update(done: int, total: int, label: str) -> None:
        if label not in bars:
            bars[label] = progress.add_task(f"{rid}: {label}", total=total)
        progress.update(bars[label], completed=done, total=total)

    return update


@app.command()
@_guard
def reproduce(
    recipe_id: Optional[str] = typer.Argument(None, metavar="ID", help="Recipe id (see --list), or all."),
    quick: bool = typer.Option(False, "--quick", help="Reduced configuration (minutes on 2 cores)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: reproduce/ID)."),
    list_recipes: bool = typer.Option(False, "--list", help="List the recipes and exit."),
    workers: int = typer.Option(1, "--workers", help="Processes for simulation seeds."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables; failed checks only."),
) -> None:
    """Reproduce a paper figure: PNGs, DIR/index.html and DIR/summary.json with the checks."""
    _quiet(quiet)
    from scalinglab import recipes

    if list_recipes:
        table = Table(title="recipes")
        for col in ("id", "paper", "title"):
            table.add_column(col)
        for r in recipes.all_recipes():
            table.add_row(r.id, r.paper, r.title)
        out_console.print(table)
        return
    if recipe_id is None:
        raise SpecError("ID: give a recipe id, all, or --list")
    if workers < 1:
        raise SpecError(f"--workers: must be at least 1, got {workers}")
    ids = [r.id for r in recipes.all_recipes()] if recipe_id == "all" else [recipes.get(recipe_id).id]
    root = out if out is not None else Path("reproduce")
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    failed = 0
    summaries = []
    for rid in ids:
        folder = root / rid if (recipe_id == "all" or out is None) else root
        with _bar(*columns) as progress:
            summary = recipes.reproduce(rid, folder, quick, progress=_recipe_progress(progress, rid), workers=workers)
        summaries.append(summary)
        table = Table(title=f"{rid} ({'quick' if quick else 'paper configuration'}): {folder / 'index.html'}")
        for col in ("check", "measured", "predicted", "tolerance", "ok"):
            table.add_column(col, justify="left" if col == "check" else "right")
        for ch in summary["checks"]:
            table.add_row(ch["name"], f"{ch['measured']:.5g}", f"{ch['predicted']:.5g}", f"{ch['tolerance']:.3g}",
                          "[green]ok[/]" if ch["ok"] else "[red]FAIL[/]")
            failed += not ch["ok"]
        out_console.print(table)
    if recipe_id == "all":
        recipes.write_index(root, summaries, quick)
        out_console.print(f"index: {root / 'index.html'}")
    if failed:
        console.print(f"[yellow]warning:[/] {failed} check(s) failed; see summary.json")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
