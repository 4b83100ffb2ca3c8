"""`scalinglab extrapolate FIT.json --at N=7e10,D=1.4e12`: a saved fit's loss at new sizes, with its intervals."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.text import Text

from scalinglab.cli._app import app, check_out_file, guard, out_console
from scalinglab.errors import SpecError


def parse_at(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """``N=7e10,D=1.4e12`` as sizes by name: every name of the fit once, each a positive finite number."""
    sizes: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SpecError(f"--at: expected NAME=VALUE pairs such as {','.join(f'{n}=1e9' for n in names)}, "
                            f"got {text!r}")
        if name not in names:
            raise SpecError(f"--at: unknown size {name!r} in {text!r} (the fit's sizes: {', '.join(names)})")
        if name in sizes:
            raise SpecError(f"--at: {name} given twice in {text!r}")
        try:
            v = float(value)
        except ValueError:
            raise SpecError(f"--at: {name}={value.strip()!r} is not a number") from None
        if not (math.isfinite(v) and v > 0):
            raise SpecError(f"--at: {name}={value.strip()} must be positive and finite")
        sizes[name] = v
    missing = [n for n in names if n not in sizes]
    if missing:
        raise SpecError(f"--at: {text!r} lacks {', '.join(missing)} (the fit's sizes: {', '.join(names)})")
    return sizes


@app.command()
@guard
def extrapolate(
    saved: Path = typer.Argument(..., metavar="FIT.json", help="A fit saved by `fit --save` or FitResult.save."),
    at: Optional[list[str]] = typer.Option(None, "--at", help="Sizes by name, e.g. N=7e10,D=1.4e12 (repeat for "
                                           "several)."),
    sizes: Optional[Path] = typer.Option(None, "--sizes", help="A CSV (or any table fit reads) with one column "
                                         "per size of the fit."),
    level: float = typer.Option(0.95, "--level", help="Level of the intervals."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the predictions as JSON here."),
) -> None:
    """Predict the loss at new sizes from a saved fit, with its prediction interval (where a new run's loss
    should fall) and the confidence interval of the fitted curve."""
    from scalinglab.fit.data import read_table
    from scalinglab.fit.estimate import FitResult
    from scalinglab.fit.results import size_names

    if json_out is not None:
        check_out_file(json_out, "--json")
    if not at and sizes is None:
        raise SpecError("--at or --sizes: give the sizes to predict at")
    if not 0 < level < 1:
        raise SpecError(f"--level: must lie in (0, 1), got {level}")
    fit = FitResult.load(saved)
    names = size_names(fit)
    points = [parse_at(text, names) for text in at or []]
    if sizes is not None:
        columns = read_table(sizes)
        missing = [n for n in names if n not in columns]
        if missing:
            raise SpecError(f"--sizes: {sizes} has no column {', '.join(map(repr, missing))} (columns: "
                            f"{', '.join(columns)})")
        for i in range(len(columns[names[0]])):
            text = ",".join(f"{n}={columns[n][i]}" for n in names)
            try:
                points.append(parse_at(text, names))
            except SpecError as err:
                raise SpecError(f"--sizes: {sizes} row {i + 2}: {str(err).removeprefix('--at: ')}") from None
    predictions = [fit.predict(level=level, **p) for p in points]
    pct = f"{100 * level:g}%"
    target = fit.data.target if fit.data is not None else "loss"
    table = Table(title=Text(f"{fit.form} from {saved}: {target} at new sizes"))
    for col in (*names, target, f"{pct} prediction interval", f"{pct} confidence interval"):
        table.add_column(col, justify="right")
    for p in predictions:
        table.add_row(*(f"{p.sizes[n]:.4g}" for n in names), f"{p.loss:.5g}",
                      Text(f"[{p.prediction[0]:.5g}, {p.prediction[1]:.5g}]"),
                      Text(f"[{p.confidence[0]:.5g}, {p.confidence[1]:.5g}]"))
    out_console.print(table)
    if json_out:
        json_out.write_text(json.dumps([p.to_dict() for p in predictions], indent=2))
