"""Figures of ``bahri-figS1`` and ``bahri-figS4`` (matplotlib, PNG); numbers come from
``recipes.bahri.supplement``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from scalinglab.report.figures import save_figure


def metrics_figure(panels: list[dict[str, Any]], path: Path) -> Path:
    """One panel per slice: the four quantities (mean over seeds with standard errors) and their power-law fits."""
    cols = 2
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(11, 4.2 * rows), squeeze=False)
    for ax, p in zip(axes.flat, panels, strict=False):
        x = np.asarray(p["x"], float)
        grid = np.geomspace(x.min(), x.max(), 100)
        for (label, y), marker in zip(p["ys"].items(), "osD^", strict=False):
            mean = y.mean(axis=0)
            se = y.std(axis=0, ddof=1) / np.sqrt(len(y)) if len(y) > 1 else np.zeros_like(mean)
            fit = p["fits"][label]
            bars = ax.errorbar(x, mean, yerr=se, fmt=marker, ms=4, capsize=2,
                               label=f"{label}: exponent {fit['alpha']:.2f}")
            ax.plot(grid, fit["fit"].predict(grid), "-", lw=1, color=bars[0].get_color())
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(p["xlabel"])
        ax.set_ylabel("test loss (MSE) or test error")
        ax.set_title(p["title"], fontsize=9)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    return save_figure(fig, path)


def exponent_figure(dims, alpha_p: list[dict[str, Any]], alpha_d: list[dict[str, Any]], path: Path) -> Path:
    """alpha_P (random features) and alpha_D (the kernel) with their 95% intervals against d, and 4/d."""
    fig, ax = plt.subplots(figsize=(6, 4.6))
    dims = np.asarray(dims, float)
    for fits, label, marker, shift in ((alpha_p, "alpha_P (random features, D fixed)", "o", -0.06),
                                       (alpha_d, "alpha_D (NNGP kernel, P = infinity)", "s", 0.06)):
        a = np.array([f["alpha"] for f in fits])
        lo = np.array([f["ci95"][0] for f in fits])
        hi = np.array([f["ci95"][1] for f in fits])
        ax.errorbar(dims + shift, a, yerr=[np.maximum(a - lo, 0), np.maximum(hi - a, 0)], fmt=marker, capsize=3,
                    label=label)
    grid = np.linspace(dims.min(), dims.max(), 100)
    ax.plot(grid, 4 / grid, "k--", lw=1, label="4/d (Theorem 3)")
    ax.fill_between(grid, 4 / (1.25 * grid), 4 / (0.75 * grid), color="k", alpha=0.08, label="4/alpha within 25% of d")
    ax.set_xlabel("input dimension d")
    ax.set_ylabel("exponent")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
