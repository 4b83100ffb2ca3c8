"""`scalinglab plan`: which runs to pay for next, for the narrowest forecast at a target size per unit cost."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import app, check_out_file, guard, out_console, set_quiet
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
