"""Figure of `benchmark-plan --plot`: target-region R^2 against the budget, one panel per ScaleBench task, one
line per strategy (the median over seeds, the seeds' range shaded), the paper's figure marked at its budget."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_plan_benchmark(result: dict[str, Any], path: str | Path) -> Path:
    """``result``: the JSON of `benchmark-plan` (``PlanBenchmark.to_dict()``)."""
    tasks = result["tasks"]
    cols = min(4, max(1, len(tasks)))
    rows = math.ceil(len(tasks) / cols)
    fig = Figure(figsize=(3.2 * cols, 2.7 * rows + 0.6))
    FigureCanvasAgg(fig)
    for k, (name, t) in enumerate(tasks.items()):
        ax = fig.add_subplot(rows, cols, k + 1)
        for strategy, cells in t["strategies"].items():
            fr = sorted(cells, key=float)
            x = [float(f) for f in fr]
            med = [max(cells[f]["r2_median"], -1.0) for f in fr]
            (line,) = ax.plot(x, med, marker="o", ms=3, lw=1.2, label=strategy)
            if any(len(cells[f]["r2_seeds"]) > 1 for f in fr):
                ax.fill_between(x, [min(cells[f]["r2_seeds"]) for f in fr], [max(cells[f]["r2_seeds"]) for f in fr],
                                color=line.get_color(), alpha=0.15, lw=0)
        if t.get("paper_r2_at_5pct") is not None and t.get("paper_fraction"):
            ax.plot([t["paper_fraction"]], [t["paper_r2_at_5pct"]], marker="*", ms=11, color="black", ls="none",
                    label="paper (MSPE)")
        if t.get("all_data_r2") is not None:
            ax.axhline(t["all_data_r2"], color="gray", ls=":", lw=1, label="all pool runs")
        ax.set_xscale("log")
        ax.set_ylim(-1.05, 1.05)
        ax.set_title(f"{name.replace('_scaling_law', '')} ({t['law']})", fontsize=8)
        ax.tick_params(labelsize=7)
        if k % cols == 0:
            ax.set_ylabel("target-region R^2", fontsize=7)
        if k >= (rows - 1) * cols:
            ax.set_xlabel("budget (fraction of the pool's cost)", fontsize=7)
    handles, labels = fig.axes[0].get_legend_handles_labels() if fig.axes else ([], [])
    seen = dict(zip(labels, handles, strict=True))
    for ax in fig.axes[1:]:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(len(seen), 7), fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=120)
    return Path(path)
