"""The pages of reproduced figures: one recipe's ``index.html`` (its checks, notes, tables and PNGs embedded) and
the index of several recipes, from the templates ``recipe.html.j2`` and ``recipes_index.html.j2`` (every value
autoescaped: check names, notes and table cells are text, never markup)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from scalinglab.report.html import environment


def render_recipe_page(recipe: Any, quick: bool, result: Any) -> str:
    """The HTML page of one recipe's ``RecipeResult`` (``recipe``: its id, paper and title)."""
    images = {name: base64.b64encode(Path(path).read_bytes()).decode() for name, path in result.figures.items()}
    return environment().get_template("recipe.html.j2").render(
        recipe=recipe, quick=quick, checks=result.checks, passed=result.passed, notes=result.notes,
        tables=result.tables, images=images)


def render_recipe_index(rows: list[dict[str, Any]], quick: bool, total: int, total_ok: int) -> str:
    """The HTML index of several recipes: ``rows`` of id, paper, title, n (checks) and ok (passed)."""
    from scalinglab.recipes.figures import figure_rows

    return environment().get_template("recipes_index.html.j2").render(rows=rows, quick=quick, total=total,
                                                                      total_ok=total_ok, figures=figure_rows())
