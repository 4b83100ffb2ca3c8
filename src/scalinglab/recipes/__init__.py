"""Reproductions of paper figures: a registry of recipes and the outputs every recipe writes.

A :class:`Recipe` runs one figure or table: ``run(out, quick, jobs)`` writes its PNGs into ``out`` and returns
its checks. Its simulations are jobs of a :class:`scalinglab.sweep.jobs.Jobs` (``jobs.map``): kept in a store
(default ``out/runs.sqlite``), so a killed reproduction resumes where it stopped, and run by the sweep's runner on
local processes or a Dask cluster. :func:`write_outputs` then writes ``out/summary.json``

    {"id": ..., "paper": ..., "quick": true,
     "checks": [{"name": ..., "measured": x, "predicted": y, "tolerance": t, "ok": bool}]}

and a self-contained ``out/index.html`` (PNGs embedded, a table of the checks). A check states how a measured
number compares with the paper or the theory, with a tolerance from the paper's stated agreement or from the
statistics; a failed check is reported (ok = false), never hidden. Modules listed in ``RECIPE_MODULES`` register
their recipes when first needed.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from scalinglab.errors import SpecError

RECIPE_MODULES = ["scalinglab.recipes.brill", "scalinglab.recipes.bahri.fig2", "scalinglab.recipes.bahri.duality",
                  "scalinglab.recipes.bahri.networks", "scalinglab.recipes.quanta"]
Progress = Callable[[int, int, str], None]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One reproduced figure: ``run(out, quick, jobs)`` returns ``{"checks": [...], "figures":
    {name: png path}, "notes": [...], "tables": {title: rows}}``."""

    id: str
    paper: str
    title: str
    run: Callable[..., dict[str, Any]]
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


def check(name: str, measured: float, predicted: float, tolerance: float, ok: bool | None = None,
          relative: bool = False, reason: str | None = None) -> dict[str, Any]:
    """A check row; ``ok`` defaults to |measured - predicted| <= tolerance (relative: divided by |predicted|).
    ``reason``, when given, is kept in the row (key ``reason``) only if the check fails: why the gap is expected."""
    measured, predicted, tolerance = float(measured), float(predicted), float(tolerance)
    if ok is None:
        gap = abs(measured - predicted)
        if relative:
            gap /= abs(predicted) if predicted else 1.0
        ok = bool(math.isfinite(gap) and gap <= tolerance)
    row = {"name": name, "measured": measured, "predicted": predicted, "tolerance": tolerance, "ok": bool(ok)}
    if reason and not ok:
        row["reason"] = reason
    return row


_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{{ recipe.id }}: {{ recipe.title }}</title>
<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; }
td.num { text-align: right; font-family: monospace; } .ok { color: #1a7f37; } .fail { color: #cf222e; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
</style></head><body>
<h1>{{ recipe.id }}: {{ recipe.title }}</h1>
<p>{{ recipe.paper }}{% if quick %}, quick configuration{% else %}, the paper's configuration{% endif %}.
{{ passed }} of {{ checks|length }} checks pass.</p>
<h2>Checks</h2>
<table><tr><th>check</th><th>measured</th><th>predicted</th><th>tolerance</th><th>result</th></tr>
{% for c in checks %}<tr><td>{{ c.name }}</td><td class="num">{{ "%.5g"|format(c.measured) }}</td>
<td class="num">{{ "%.5g"|format(c.predicted) }}</td><td class="num">{{ "%.3g"|format(c.tolerance) }}</td>
<td class="{{ 'ok' if c.ok else 'fail' }}">{{ "ok" if c.ok else "FAIL" }}</td></tr>
{% endfor %}</table>
{% for note in notes %}<p>{{ note }}</p>{% endfor %}
{% for title, rows in tables.items() %}<h2>{{ title }}</h2><table>
<tr>{% for col in rows[0] %}<th>{{ col }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for v in row.values() %}<td class="num">{{ v if v is string else "%.4g"|format(v) }}</td>
{% endfor %}</tr>{% endfor %}</table>{% endfor %}
{% for name, data in images.items() %}<h2>{{ name }}</h2><img alt="{{ name }}" src="data:image/png;base64,{{ data }}">
{% endfor %}
</body></html>
"""


def write_outputs(out: Path, recipe: Recipe, quick: bool, result: dict[str, Any]) -> dict[str, Any]:
    """Write ``out/summary.json`` and ``out/index.html`` for a recipe's result; return the summary."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checks = list(result.get("checks", []))
    summary = {"id": recipe.id, "paper": recipe.paper, "quick": bool(quick), "checks": checks}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    images = {name: base64.b64encode(Path(path).read_bytes()).decode()
              for name, path in result.get("figures", {}).items()}
    env = Environment(autoescape=select_autoescape(default_for_string=True))
    html = env.from_string(_TEMPLATE).render(
        recipe=recipe, quick=quick, checks=checks, passed=sum(c["ok"] for c in checks),
        notes=result.get("notes", []), tables=result.get("tables", {}), images=images)
    (out / "index.html").write_text(html)
    return summary


_INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>scalinglab reproductions</title>
<style>
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; }
.ok { color: #1a7f37; } .fail { color: #cf222e; }
</style></head><body>
<h1>Reproduced figures</h1>
<p>{{ total_ok }} of {{ total }} checks pass over {{ rows|length }} recipes{% if quick %} (quick configurations)
{% endif %}.</p>
<table><tr><th>recipe</th><th>paper</th><th>title</th><th>checks passed</th></tr>
{% for r in rows %}<tr><td><a href="{{ r.id }}/index.html">{{ r.id }}</a></td><td>{{ r.paper }}</td>
<td>{{ r.title }}</td><td class="{{ 'ok' if r.ok == r.n else 'fail' }}">{{ r.ok }} / {{ r.n }}</td></tr>
{% endfor %}</table>
</body></html>
"""


def write_index(root: Path, summaries: list[dict[str, Any]], quick: bool) -> dict[str, Any]:
    """``root/index.html`` linking every recipe's page with its pass count, and ``root/summary.json`` holding
    every recipe's summary; return the latter."""
    root = Path(root)
    rows = [{"id": s["id"], "paper": s["paper"], "title": get(s["id"]).title, "n": len(s["checks"]),
             "ok": sum(c["ok"] for c in s["checks"])} for s in summaries]
    combined = {"quick": bool(quick), "recipes": summaries,
                "checks_passed": sum(r["ok"] for r in rows), "checks": sum(r["n"] for r in rows)}
    (root / "summary.json").write_text(json.dumps(combined, indent=2))
    env = Environment(autoescape=select_autoescape(default_for_string=True))
    (root / "index.html").write_text(env.from_string(_INDEX).render(
        rows=rows, quick=quick, total=combined["checks"], total_ok=combined["checks_passed"]))
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
