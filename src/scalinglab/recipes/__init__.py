"""Reproductions of paper figures: a registry of recipes and the outputs every recipe writes.

A :class:`Recipe` runs one figure or table: ``run(out, quick, jobs)`` writes its PNGs into ``out`` and returns a
:class:`RecipeResult` (``recipes.result``: checks, figures, notes, tables). Its simulations are jobs of a
:class:`scalinglab.sweep.jobs.Jobs` (``jobs.map``): kept in a store (default ``out/runs.sqlite``), so a killed
reproduction resumes where it stopped, and run by the sweep's runner on local processes or a Dask cluster.
:func:`write_outputs` then writes ``out/summary.json``

    {"id": ..., "paper": ..., "quick": true, "passed": n, "figures": {title: file name},
     "checks": [{"name": ..., "measured": x, "predicted": y, "tolerance": t, "ok": bool, "basis": ...}]}

and a self-contained ``out/index.html`` (``report.recipe_page``: PNGs embedded, a table of the checks). A check
states how a measured number compares with the paper or the theory, with a tolerance from the paper's stated
agreement or from the statistics (``basis`` says which); a failed check is reported (ok = false), never hidden.
Modules listed in ``RECIPE_MODULES`` register their recipes when first needed; a recipe's id is written literally
where it is registered, and its earlier ids are kept as ``aliases``.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scalinglab.errors import SpecError
from scalinglab.recipes.result import Check, RecipeResult, check

__all__ = ["ALIASES", "REGISTRY", "Check", "Recipe", "RecipeResult", "all_recipes", "alias_of", "check", "get",
           "register", "reproduce", "write_index", "write_outputs"]

RECIPE_MODULES = ["scalinglab.recipes.brill", "scalinglab.recipes.bahri.fig2", "scalinglab.recipes.bahri.duality",
                  "scalinglab.recipes.bahri.networks", "scalinglab.recipes.bahri.supplement",
                  "scalinglab.recipes.quanta", "scalinglab.recipes.scalebench"]
Progress = Callable[[int, int, str], None]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One reproduced figure: ``run(out, quick, jobs)`` returns a :class:`RecipeResult`."""

    id: str
    paper: str
    title: str
    run: Callable[..., RecipeResult]
    aliases: tuple[str, ...] = ()  # earlier ids that still name the recipe


REGISTRY: dict[str, Recipe] = {}
ALIASES: dict[str, str] = {}
_loaded = False


def register(recipe: Recipe) -> Recipe:
    """Add ``recipe`` (and its aliases) to the registry; SpecError when an id or alias is taken."""
    for name in (recipe.id, *recipe.aliases):
        owner = REGISTRY.get(name) or REGISTRY.get(ALIASES.get(name, ""))
        if (owner is not None and owner.id != recipe.id) or ALIASES.get(name, recipe.id) != recipe.id:
            raise SpecError(f"recipe id {name!r}: registered twice")
    REGISTRY[recipe.id] = recipe
    ALIASES.update(dict.fromkeys(recipe.aliases, recipe.id))
    return recipe


def _load() -> None:
    global _loaded
    if not _loaded:
        for name in RECIPE_MODULES:
            importlib.import_module(name)
        _loaded = True


def all_recipes() -> list[Recipe]:
    """Every registered recipe, in id order."""
    _load()
    return [REGISTRY[k] for k in sorted(REGISTRY)]


def get(recipe_id: str) -> Recipe:
    """The recipe ``recipe_id`` (an id or an alias); SpecError listing the known ids otherwise."""
    _load()
    recipe_id = ALIASES.get(recipe_id, recipe_id)
    if recipe_id not in REGISTRY:
        raise SpecError(f"recipe {recipe_id!r}: unknown; known recipes: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[recipe_id]


def alias_of(name: str) -> str | None:
    """The id that ``name`` is an alias of, or None when it is no alias."""
    _load()
    return ALIASES.get(name)


def write_outputs(out: Path, recipe: Recipe, quick: bool, result: RecipeResult) -> dict[str, Any]:
    """Write ``out/summary.json`` and ``out/index.html`` for a recipe's result; return the summary."""
    from scalinglab.report.recipe_page import render_recipe_page

    if not isinstance(result, RecipeResult):
        raise TypeError(f"recipe {recipe.id}: returned a {type(result).__name__}, not a RecipeResult")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary = result.summary(recipe.id, recipe.paper, quick)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "index.html").write_text(render_recipe_page(recipe, quick, result))
    return summary


def write_index(root: Path, summaries: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    """``root/index.html`` linking every recipe's page with its pass count, and ``root/summary.json`` holding
    every recipe's summary; return the latter."""
    from scalinglab.report.recipe_page import render_recipe_index

    root = Path(root)
    rows = [{"id": s["id"], "paper": s["paper"], "title": get(s["id"]).title, "n": len(s["checks"]),
             "ok": sum(c["ok"] for c in s["checks"])} for s in summaries]
    combined = {"quick": bool(quick), "recipes": summaries,
                "checks_passed": sum(r["ok"] for r in rows), "checks": sum(r["n"] for r in rows)}
    (root / "summary.json").write_text(json.dumps(combined, indent=2))
    (root / "index.html").write_text(render_recipe_index(rows, quick, combined["checks"], combined["checks_passed"]))
    return combined


def reproduce(recipe_id: str, out: Path, quick: bool, progress: Progress | None = None, workers: int = 1, *,
              store: Path | None = None, executor: Any = None) -> dict[str, Any]:
    """Run one recipe and write its outputs into ``out``; return the summary.

    Its jobs are kept in ``store`` (default ``out/runs.sqlite``): what the store holds is read, not computed
    again. They run on ``workers`` local processes (one: this process), or on ``executor`` (an Executor or a Dask
    ``Client``, such as ``sweep.executors.dask_executor`` gives)."""
    from scalinglab.sweep.jobs import Jobs
    from scalinglab.sweep.store import Store

    recipe = get(recipe_id)
    if int(workers) != workers or workers < 1:
        raise SpecError(f"workers: must be a positive integer, got {workers!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with Store(out / "runs.sqlite" if store is None else Path(store), create=True) as st:
        jobs = Jobs(st, workers=int(workers), executor=executor, progress=progress)
        result = recipe.run(out, quick, jobs)
    return write_outputs(out, recipe, quick, result)
