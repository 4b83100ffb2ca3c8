"""Figure of the forecasting benchmark (`benchmark-laws --plot`): target-region R^2 of every law per data set,
with scalinglab's choice marked and the coverage of its 95% prediction intervals written on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_benchmark(result: dict[str, Any], path: str | Path, reference: dict[str, float] | None = None) -> Path:
    """One row per data set: a bar per candidate law (R^2 on the test split, clipped at -1 as ScaleBench
    clips it), the chosen law outlined; ``reference`` (data set -> R^2) drawn as a dashed line."""
    datasets = result["datasets"]
    fig = Figure(figsize=(7.5, 0.5 + 0.55 * sum(len(d["laws"]) + 1 for d in datasets.values())))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y, ticks, labels = 0.0, [], []
    for name, d in datasets.items():
        for law, s in d["laws"].items():
            r2 = -1.0 if s.get("r2") is None else max(s["r2"], -1.0)
            chosen = law == d["auto"].get("law")
            ax.barh(y, r2 + 1.0, left=-1.0, color="tab:blue" if chosen else "tab:gray",
                    edgecolor="black" if chosen else "none")
            cov = s.get("coverage95")
            text = f"{r2:.3f}" + (f"  (95% PI covers {cov:.0%})" if cov is not None else "")
            ax.text(-0.98, y, text, va="center", fontsize=7, color="white")
            ticks.append(y)
            labels.append(f"{name.replace('_scaling_law', '')}: {law}" + (" [auto]" if chosen else ""))
            y += 1
        if reference and name in reference:
            ax.plot([reference[name]] * 2, [y - len(d["laws"]) - 0.5, y - 0.5], "k--", lw=1)
        y += 0.6
    ax.set_yticks(np.array(ticks), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(-1, 1)
    ax.set_xlabel("target-region R^2 (test split)")
    ax.set_title("Forecasting benchmark: laws fitted on the training split", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return Path(path)
