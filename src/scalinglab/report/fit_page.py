"""The self-contained HTML page of a law fitted to anyone's measurements (`report --csv`), with fit.json and PNGs.

The page shows what `fit DATA.csv` prints, formatted the same way, and what it does not: the data, every candidate
form, the figures with bands and residuals. ``fit.json`` is byte for byte what `fit --json` writes.
"""

from __future__ import annotations

import base64
import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from jinja2 import Environment, PackageLoader

from scalinglab import __version__
from scalinglab.fit.laws import LAWS
from scalinglab.report.fitplots import log_residuals, plot_allocation, plot_fit

if TYPE_CHECKING:
    from scalinglab.cli.fit import FitAnalysis

OUTPUT_FILES = ("report.html", "fit.json", "fit.png", "allocation.png")
MAX_TABLE_ROWS = 200

FORMULAS = {
    "power_law": "L = A x^(−alpha)",
    "power_law_offset": "L = E + A x^(−alpha)",
    "variance_limited": "L = E + A / x",
    "chinchilla": "L = E + A N^(−alpha) + B D^(−beta)",
    "kaplan": "L = [(N_c / N)^(alpha_N / alpha_D) + D_c / D]^alpha_D",
    "broken_power_law": "L = a + b x^(−c0) (1 + (x / d1)^(1 / f1))^(−c1 f1)",
    "broken_power_law_2": "L = a + b x^(−c0) ∏ᵢ₌₁,₂ (1 + (x / dᵢ)^(1 / fᵢ))^(−cᵢ fᵢ)",
    "m4": "(L − E_inf) / (E_0 − L)^alpha = beta x^(−c)",
}
DEFAULTS = {"form": "auto", "loss": "huber-log", "delta": 1e-3, "bootstrap": 1000, "resample": "auto",
            "holdout_largest": 0, "define": [], "where": [], "drop_highest": 0, "group": None, "predicted": None,
            "compute": None}


def _g(v: Any, spec: str) -> str:
    return "" if v is None else format(float(v), spec)


def _interval(ci: Any, spec: str) -> str:
    return "" if not ci else f"[{ci[0]:{spec}}, {ci[1]:{spec}}]"


def _command(analysis: FitAnalysis, source: str) -> str:
    """The `scalinglab fit` command line that gives the same numbers."""
    opts = analysis.options
    args = ["scalinglab", "fit", source, "--y", analysis.y]
    for name in analysis.x:
        args += ["--x", name]
    for key, default in DEFAULTS.items():
        value = opts.get(key, default)
        flag = "--" + key.replace("_", "-")
        if isinstance(value, list):
            for item in value:
                args += [flag, item]
        elif value is not None and value != default:
            args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join(shlex.quote(a) for a in args) + " --json fit.json"


def _law(name: str) -> dict[str, str]:
    law = LAWS.get(name)
    return {"name": name, "formula": FORMULAS.get(name, ""), "source": law.source if law else "",
            "n_params": str(len(law.params)) if law else ""}


def _parameters(result: dict[str, Any]) -> list[dict[str, str]]:
    """The rows of the parameter table, formatted as `fit` prints them."""
    rows = []
    for name, value in result["params"].items():
        rows.append({"name": name, "value": f"{value:.5g}", "se": f"{result['se'][name]:.3g}",
                     "ci": _interval(result["ci95"][name], ".4g"), "derived": False})
    for name, d in result.get("derived", {}).items():
        rows.append({"name": name, "value": f"{d['value']:.5g}", "se": f"{d.get('se', float('nan')):.3g}",
                     "ci": _interval(d.get("ci95", [float("nan")] * 2), ".4g"), "derived": True})
    return rows


def _data(analysis: FitAnalysis) -> dict[str, Any]:
    fit, X, Y, held = analysis.fit, analysis.X, analysis.Y, analysis.held_out
    r = log_residuals(fit, X, Y)
    pred = fit.predict(X)
    names = [*analysis.x, analysis.y]
    columns = [*X.T, Y]
    rows = [{"line": int(analysis.rows[i]), "cells": [f"{c[i]:.6g}" for c in columns], "fitted": f"{pred[i]:.6g}",
             "residual": f"{r[i]:+.4f}", "held_out": bool(held[i])} for i in range(len(Y))]
    summary = [{"name": n, "min": f"{np.min(c):.6g}", "median": f"{np.median(c):.6g}", "max": f"{np.max(c):.6g}",
                "distinct": str(np.unique(c).size)} for n, c in zip(names, columns, strict=True)]
    worst = sorted(rows, key=lambda row: -abs(float(row["residual"])))[:10]
    return {"names": names, "n": len(Y), "n_held_out": int(held.sum()), "table": len(Y) <= MAX_TABLE_ROWS,
            "rows": rows, "summary": summary, "worst": worst}


def _candidates(analysis: FitAnalysis) -> list[dict[str, Any]] | None:
    if analysis.selection is None:
        return None
    scores = analysis.selection.scores
    out = []
    for name in sorted(scores, key=lambda n: scores[n]):
        params = analysis.candidates[name].params if name in analysis.candidates else {}
        out.append({**_law(name), "score": f"{scores[name]:.3g}", "chosen": name == analysis.selection.best.form,
                    "params": ", ".join(f"{k} = {v:.4g}" for k, v in params.items()), "error": ""})
    for name, error in analysis.selection.errors.items():
        out.append({**_law(name), "score": "", "chosen": False, "params": "", "error": error})
    return out


def _regime(result: dict[str, Any]) -> dict[str, str] | None:
    r = result.get("regime")
    if r is None:
        return None
    consistent = r["consistent_with_prediction"]
    return {"regime": r["regime"].replace("_", " "), "exponent": f"{r['exponent']:.3f}",
            "ci": _interval(r["ci95"], ".3f"), "se": f"{r['se']:.3g}", "z": f"{r['z_vs_1']:.2f}",
            "predicted": "" if r["predicted"] is None else f"{r['predicted']:g}",
            "consistent": "" if consistent is None else ("consistent" if consistent else "not consistent"),
            "ok": bool(consistent) if consistent is not None else None}


def _allocation(result: dict[str, Any]) -> list[dict[str, str]] | None:
    rows = result.get("allocation")
    if rows is None:
        return None
    return [{"C": f"{r['C']:.3g}", "N": f"{r['N']:.3g}", "N_ci": _interval(r.get("N_ci95"), ".3g"),
             "D": f"{r['D']:.3g}", "D_ci": _interval(r.get("D_ci95"), ".3g"),
             "ratio": f"{r['tokens_per_parameter']:.3g}",
             "ratio_ci": _interval(r.get("tokens_per_parameter_ci95"), ".3g")} for r in rows]


def _options(analysis: FitAnalysis) -> list[tuple[str, str]]:
    o, result = analysis.options, analysis.result
    resample = o["resample"] if o["resample"] == result["resample"] else f"{o['resample']} ({result['resample']})"
    form = f"auto (chose {result['form']})" if o["form"] == "auto" else o["form"]
    rows = [("form", form), ("loss", o["loss"] + (f" (delta {o['delta']:g})" if o["loss"] == "huber-log" else "")),
            ("bootstrap refits", f"{o['bootstrap']} requested, {result['n_bootstrap']} succeeded"),
            ("bootstrap resamples", resample),
            ("held out", f"the {o['holdout_largest']} largest sizes" if o["holdout_largest"] else "nothing")]
    rows += [("--define", d) for d in o["define"]] + [("--where", w) for w in o["where"]]
    if o["drop_highest"]:
        rows.append(("dropped", f"the {o['drop_highest']} highest losses"))
    for key, label in (("group", "bootstrap groups"), ("predicted", "predicted exponent"),
                       ("compute", "compute budgets")):
        if o[key] is not None:
            rows.append((label, f"{o[key]:g}" if isinstance(o[key], float) else str(o[key])))
    return rows


def write_fit_report(analysis: FitAnalysis, out: str | Path, source: str) -> Path:
    """Write ``out/report.html`` (self-contained), ``out/fit.json`` (as `fit --json`) and the PNGs; return the
    HTML path. ``source`` names the CSV on the page."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result, fit = analysis.result, analysis.fit
    scores = analysis.selection.scores if analysis.selection else {}
    pngs = {"fit": plot_fit(fit, analysis.X, analysis.Y, analysis.held_out, out / "fit.png", analysis.x,
                            analysis.y, analysis.allocation, residuals=True, candidates=analysis.candidates,
                            scores=scores)}
    if analysis.allocation:
        pngs["allocation"] = plot_allocation(analysis.allocation, analysis.X, out / "allocation.png", analysis.x)
    images = {k: base64.b64encode(p.read_bytes()).decode() for k, p in pngs.items()}
    k = analysis.options["holdout_largest"]
    context = {
        "source": source, "y": analysis.y, "x": analysis.x, "result": result, "law": _law(result["form"]),
        "parameters": _parameters(result), "options": _options(analysis), "command": _command(analysis, source),
        "data": _data(analysis), "candidates": _candidates(analysis), "scored_on": "held-out" if k else "in-sample",
        "holdout_rmse": _g(result.get("holdout_rmse_log"), ".4g"), "regime": _regime(result),
        "allocation": _allocation(result), "warnings": result["warnings"], "images": images, "version": __version__,
    }
    env = Environment(loader=PackageLoader("scalinglab.report", "templates"), autoescape=True)
    html = env.get_template("fit_report.html.j2").render(**context)
    (out / "fit.json").write_text(json.dumps(result, indent=2))
    path = out / "report.html"
    path.write_text(html)
    return path
