"""`scalinglab plan`: which runs to pay for next, for the narrowest forecast at a target size per unit cost;
`scalinglab benchmark-plan`: the strategies simulated on ScaleBench's candidate pools."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import app, check_out_file, guard, out_console, progress_bar, set_quiet
from scalinglab.errors import SpecError


@app.command()
@guard
def plan(
    candidates: Path = typer.Option(..., "--candidates", help="Table of runs one could do (the fit's size columns; "
                                    "with the loss column, `sequential` refits on the known losses)."),
    cost: str = typer.Option(..., "--cost", help='Cost of a run, an expression over the candidates\' columns, '
                             'e.g. "6*N*D".'),
    budget: float = typer.Option(..., "--budget", help="Total cost the chosen runs may spend."),
    target: str = typer.Option(..., "--target", help="Sizes to forecast at, e.g. N=7e10,D=1.4e12."),
    fit_file: Optional[Path] = typer.Option(None, "--fit", help="A fit saved by `fit --save`."),
    data: Optional[Path] = typer.Option(None, "--data", help="Or: runs to fit first (with --y, --x, --form)."),
    y: Optional[str] = typer.Option(None, "--y", help="Loss column of --data."),
    x: Optional[list[str]] = typer.Option(None, "--x", help="Size column of --data (repeat for N and D)."),
    form: str = typer.Option("auto", "--form", help="Law fitted to --data."),
    define: Optional[list[str]] = typer.Option(None, "--define", help='Derived column of --data, e.g. "N=P/1e6".'),
    bootstrap: int = typer.Option(200, "--bootstrap", help="Bootstrap refits of the --data fit (the prior)."),
    strategy: str = typer.Option("v-optimal", "--strategy", help="random, cheapest, d-optimal, v-optimal or "
                                 "sequential."),
    batch: int = typer.Option(1, "--batch", help="Picks between refits (sequential)."),
    seed: int = typer.Option(0, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the picks as CSV here."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the plan as JSON here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table."),
) -> None:
    """Propose the next runs within a budget, each with its cost and the 95% interval width at the target
    before and after it (the law linearised, its bootstrap covariance as the prior)."""
    import numpy as np

    from scalinglab.cli.extrapolate import parse_at
    from scalinglab.fit.plan import STRATEGIES
    from scalinglab.fit.plan import plan as make_plan
    from scalinglab.fit.results import size_names

    set_quiet(quiet)
    for path, option in ((out, "--out"), (json_out, "--json")):
        if path is not None:
            check_out_file(path, option)
    if strategy not in STRATEGIES:
        raise SpecError(f"--strategy: must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if not budget > 0:
        raise SpecError(f"--budget: must be positive, got {budget:g}")
    if (fit_file is None) == (data is None):
        raise SpecError("--fit or --data: give exactly one")
    if data is not None and bootstrap < 3:
        raise SpecError(f"--bootstrap: the prior is the covariance of the bootstrap draws; give at least 3, got "
                        f"{bootstrap}")
    if not Path(candidates).is_file():
        raise SpecError(f"--candidates: {candidates} is not a file")
    if fit_file is not None:
        from scalinglab.fit.estimate import FitResult

        fit = FitResult.load(fit_file)
    else:
        from scalinglab.fit.pipeline import analyse

        fit = analyse(data, y, x, form=form, define=define, bootstrap=bootstrap, extras=False).fit
    names = size_names(fit)
    try:
        sizes = parse_at(target, names)
    except SpecError as err:
        raise SpecError("--target: " + str(err).removeprefix("--at: ")) from None
    result = make_plan(fit, candidates, cost=cost, budget=budget, target=sizes, strategy=strategy, batch=batch,
                       y=y, rng=np.random.default_rng(seed))
    table = Table(title=Text(f"{strategy} plan for {fit.form} at {target}: {len(result.picks)} runs, "
                             f"{result.spent:.3g} of {budget:.3g}; 95% width {result.width_initial:.3g} now"))
    for col in ("#", "row", *names, "cost", "cumulative", "width before", "width after"):
        table.add_column(col, justify="right")
    for k, p in enumerate(result.picks, 1):
        table.add_row(str(k), str(p["row"]), *(f"{p[n]:.3g}" for n in names), f"{p['cost']:.3g}",
                      f"{p['cumulative_cost']:.3g}", f"{p['width_before']:.3g}", f"{p['width_after']:.3g}")
    out_console.print(table)
    if out is not None:
        with open(out, "w", newline="") as fh:
            fields = ["row", *names, "cost", "cumulative_cost", "width_before", "width_after"]
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(result.picks)
    if json_out is not None:
        json_out.write_text(json.dumps(result.to_dict(), indent=2))


@app.command("benchmark-plan")
@guard
def benchmark_plan(
    data: Optional[list[str]] = typer.Option(None, "--data", help="ScaleBench task (repeat; default: all eight, "
                                             "e.g. farseer_scaling_law)."),
    fractions: str = typer.Option(",".join(f"{f:g}" for f in (0.01, 0.05, 0.1, 0.2)), "--fractions",
                                  help="Budgets, as fractions of each pool's cost, comma-separated (the paper's "
                                  "own budget for a task is added)."),
    seeds: int = typer.Option(5, "--seeds", help="Seeds of the strategies that draw (random, sequential)."),
    strategy: Optional[list[str]] = typer.Option(None, "--strategy", help="Strategy (repeat; default: all)."),
    folder: Optional[Path] = typer.Option(None, "--folder", help="Folder of NAME_train.csv and NAME_test.csv "
                                          "(default: the copies shipped with the tests)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the results as JSON here."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Write R^2 against budget per task here (PNG)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table or progress bar (use --json)."),
) -> None:
    """Simulate each plan strategy on ScaleBench's candidate pools: target-region R^2 against the budget, beside
    the paper's figure."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from scalinglab.fit.plan_benchmark import benchmark_plan as run
    from scalinglab.fit.plan_benchmark import check_options

    set_quiet(quiet)
    for path, option in ((json_out, "--json"), (plot, "--plot")):
        if path is not None:
            check_out_file(path, option)
    if plot is not None:
        from scalinglab.cli._app import check_plot_path

        check_plot_path(plot)
    try:
        fracs = [float(f) for f in fractions.split(",") if f.strip()]
    except ValueError:
        raise SpecError(f"--fractions: expected numbers separated by commas, got {fractions!r}") from None
    if folder is not None and not Path(folder).is_dir():
        raise SpecError(f"--folder: {folder} is not a folder")
    from scalinglab.fit.benchmark import DATASETS
    from scalinglab.fit.plan import STRATEGIES

    for s in strategy or ():
        if s not in STRATEGIES:
            raise SpecError(f"--strategy: must be one of {', '.join(STRATEGIES)}, got {s!r}")
    check_options(data, fracs, seeds, strategy, DATASETS)
    names = list(data or DATASETS)
    with progress_bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("tasks"),
                      TimeElapsedColumn()) as bar:
        task = bar.add_task("benchmark-plan", total=len(names))
        finished: list[str] = []

        def update(name: str, done: int, total: int) -> None:
            if done == total:
                finished.append(name)
            bar.update(task, completed=len(finished) + (0 if done == total else done / total),
                       description=name.replace("_scaling_law", ""))

        result = run(names, fractions=fracs, seeds=seeds, strategies=strategy, folder=folder, progress=update)
    out = result.to_dict()
    _print_plan_benchmark(result)
    if json_out is not None:
        json_out.write_text(json.dumps(out, indent=2))
    if plot is not None:
        from scalinglab.report.planplots import plot_plan_benchmark

        plot_plan_benchmark(out, plot)
        out_console.print(Text(f"plot: {plot}"), soft_wrap=True)


def _print_plan_benchmark(result) -> None:
    strategies = list(next(iter(result.tasks.values())).strategies) if result.tasks else []
    table = Table(title=Text(f"benchmark-plan: target-region R^2 (median of {result.seeds} seeds where a strategy "
                             "draws) at the paper's budget; best in bold"))
    for col in ("task", "law", "budget", *strategies, "paper", "all runs"):
        table.add_column(col, justify="left" if col in ("task", "law") else "right")
    for name, t in result.tasks.items():
        f = t.paper_fraction if t.paper_fraction in next(iter(t.strategies.values()), {}) else result.fractions[0]
        best, _ = t.best(f)
        cells = []
        for s in strategies:
            cell = t.strategies[s].get(f)
            text = "-" if cell is None else f"{cell.r2_median:.3f}"
            cells.append(Text(text, style="bold" if s == best else ""))
        paper = "-" if t.paper_r2 is None else f"{t.paper_r2:.2f}" + (" reached" if t.reached else "")
        table.add_row(Text(name.replace("_scaling_law", "")), Text(t.law), f"{f:.0%}", *cells, Text(paper),
                      "-" if t.all_data_r2 is None else f"{t.all_data_r2:.3f}")
    out_console.print(table)
    with_paper = sum(t.paper_r2 is not None for t in result.tasks.values())
    out_console.print(Text(f"the best strategy reaches the paper's figure on {result.reached} of {with_paper} "
                           "tasks"), soft_wrap=True)
