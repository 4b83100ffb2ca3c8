"""Commands of the papers: theory, predict, percolate, reproduce."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import (
    app,
    console,
    executor_options,
    guard,
    out_console,
    progress_bar,
    set_quiet,
)
from scalinglab.errors import SpecError


def _float_list(text: str, key: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SpecError(f"{key}: expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise SpecError(f"{key}: expected at least one number, got {text!r}")
    return values


@app.command()
@guard
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
@guard
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

    if n < 1000:
        raise SpecError(f"--n: predictions need at least 1000 points, got {n}")
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
@guard
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
@guard
def reproduce(
    recipe_id: Optional[str] = typer.Argument(None, metavar="ID", help="Recipe id or alias (see list), all, or "
                                              "list."),
    quick: bool = typer.Option(False, "--quick", help="Reduced configuration (minutes on 2 cores)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: reproduce/ID)."),
    list_recipes: bool = typer.Option(False, "--list", help="List the recipes and exit."),
    store: Optional[Path] = typer.Option(None, "--store", help="SQLite store of the recipes' runs (default: "
                                         "DIR/runs.sqlite); what it holds is not computed again."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes for the recipes' jobs (default 1)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Run on the Dask cluster at tcp://HOST:PORT."),
    dask_local: Optional[int] = typer.Option(None, "--dask-local", help="Run on a new local Dask cluster of N "
                                             "worker processes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or tables; failed checks only."),
) -> None:
    """Reproduce a paper figure: PNGs, DIR/index.html and DIR/summary.json with the checks.

    The runs are kept in a store (DIR/runs.sqlite, or --store): a killed reproduction resumes where it stopped,
    and `all` shares one store between the recipes (brill-fig6 and brill-fig7 use the same seeds)."""
    set_quiet(quiet)
    from scalinglab import recipes

    if list_recipes or recipe_id == "list":
        table = Table(title="recipes")
        for col in ("id", "paper", "title", "aliases"):
            table.add_column(col)
        for r in recipes.all_recipes():
            table.add_row(r.id, r.paper, r.title, ", ".join(r.aliases))
        out_console.print(table)
        from scalinglab.recipes.figures import figure_rows

        figures = Table(title="the papers' figures and what reproduces them")
        for col in ("paper", "figure", "shows", "reproduced by"):
            figures.add_column(col)
        for row in figure_rows():
            figures.add_row(*(Text(row[c]) for c in ("paper", "figure", "shows", "reproduced by")))
        out_console.print(figures)
        return
    if recipe_id is None:
        raise SpecError("ID: give a recipe id, all, or list")
    alias = recipes.alias_of(recipe_id)
    if alias is not None:
        console.print(f"{recipe_id} is an alias of {alias}")
    cluster = executor_options(workers, scheduler, dask_local, None)
    ids = [r.id for r in recipes.all_recipes()] if recipe_id == "all" else [recipes.get(recipe_id).id]
    root = out if out is not None else Path("reproduce")
    _check_store_path(store)
    if store is None and recipe_id == "all":
        store = root / "runs.sqlite"
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    failed = 0
    summaries = []
    with cluster as executor:
        for rid in ids:
            folder = root / rid if (recipe_id == "all" or out is None) else root
            with progress_bar(*columns) as progress:
                summary = recipes.reproduce(rid, folder, quick, progress=_recipe_progress(progress, rid),
                                            workers=workers or 1, store=store, executor=executor)
            failed += _print_checks(rid, quick, folder, summary)
            summaries.append(summary)
    if recipe_id == "all":
        recipes.write_index(root, summaries, quick)
        out_console.print(f"index: {root / 'index.html'}")
    if failed:
        console.print(f"[yellow]warning:[/] {failed} check(s) failed; see summary.json")


def _check_store_path(store: Optional[Path]) -> None:
    """Refuse a --store that cannot be a store file before any work starts."""
    if store is not None and store.is_dir():
        raise SpecError(f"--store: {store} is a directory, not a store file")


def _print_checks(rid: str, quick: bool, folder: Path, summary: dict[str, Any]) -> int:
    """Print one recipe's checks as a table; return how many failed."""
    failed = 0
    table = Table(title=Text(f"{rid} ({'quick' if quick else 'paper configuration'}): {folder / 'index.html'}"))
    for col in ("check", "measured", "predicted", "tolerance", "ok"):
        table.add_column(col, justify="left" if col == "check" else "right")
    for ch in summary["checks"]:
        table.add_row(Text(ch["name"]), f"{ch['measured']:.5g}", f"{ch['predicted']:.5g}", f"{ch['tolerance']:.3g}",
                      Text("ok", style="green") if ch["ok"] else Text("FAIL", style="red"))
        failed += not ch["ok"]
    out_console.print(table)
    return failed
