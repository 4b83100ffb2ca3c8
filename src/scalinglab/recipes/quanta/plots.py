"""Figures of the ``quanta-zipf`` recipe (matplotlib, written as PNG); numbers come from ``recipes.quanta``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from scalinglab.report.figures import save_figure
from scalinglab.theory import quanta as th


def scaling_figure(rows: list[dict[str, Any]], fits: dict[float, dict[str, Any]], config, path: Path) -> Path:
    """Untruncated loss against parameters (left) and data (right): seed means, fitted power laws over their
    windows (solid) and the predicted slopes alpha and alpha/(alpha+1) through the fit's middle (dashed)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    colors = plt.cm.viridis(np.linspace(0, 0.85, len(config.zipf_exponents)))
    for color, z in zip(colors, config.zipf_exponents, strict=True):
        alpha = z - 1.0
        for ax, sweep, key, slope in ((axes[0], "params", "parameters", th.parameter_exponent(alpha)),
                                      (axes[1], "data", "data", th.data_exponent(alpha))):
            mine = [r for r in rows if r["zipf_exponent"] == z and r["sweep"] == sweep]
            xs = np.array(sorted({r[key] for r in mine}), dtype=float)
            ys = np.array([np.mean([r["loss_untruncated"] for r in mine if r[key] == x]) for x in xs])
            raw = np.array([np.mean([r["loss"] for r in mine if r[key] == x]) for x in xs])
            ax.loglog(xs, ys, "o", color=color, label=f"alpha + 1 = {z:g}")
            ax.loglog(xs, raw, "x", color=color, alpha=0.5)
            f = fits[z][sweep]
            if f["fit"] is not None:
                lo, hi = f["window"]
                grid = np.geomspace(lo, hi, 50)
                shifted = grid + f.get("shift", 0.0)  # the parameter fit is in N + c/2 (half a quantum)
                ax.loglog(grid, f["fit"].predict(shifted), "-", color=color,
                          label=f"fit {f['exponent']:.2f} (predicted {slope:.2f})")
                mid = np.sqrt(lo * hi)
                ax.loglog(grid, f["fit"].predict(np.array([mid]) + f.get("shift", 0.0))[0] * (grid / mid) ** -slope,
                          "--", color=color, lw=1)
    axes[0].set_xlabel("parameters N")
    axes[1].set_xlabel("training examples D")
    for ax, title in ((axes[0], f"parameter scaling, D = {config.param_pool}"),
                      (axes[1], f"data scaling, width {config.data_width}")):
        ax.set_ylabel("error rate on the infinite Zipf law (x: on n_tasks quanta)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.2)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def subtask_figure(rows: list[dict[str, Any]], config, path: Path) -> Path:
    """Per-subtask test error (mean over seeds), subtasks by frequency rank against width (top row) and against
    D (bottom row), one column per Zipf exponent (Michaud et al. 2023, Fig. 3 style)."""
    zs = config.zipf_exponents
    fig, axes = plt.subplots(2, len(zs), figsize=(4.4 * len(zs), 7.5), squeeze=False, layout="constrained")
    for col, z in enumerate(zs):
        for row, (sweep, key, label) in enumerate((("params", "width", "width"), ("data", "data", "D"))):
            mine = [r for r in rows if r["zipf_exponent"] == z and r["sweep"] == sweep]
            xs = sorted({r[key] for r in mine})
            err = np.stack([np.mean([r["errors"] for r in mine if r[key] == x], axis=0) for x in xs], axis=1)
            ax = axes[row, col]
            im = ax.imshow(err, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=0.5,
                           extent=(-0.5, len(xs) - 0.5, 0.5, config.n_tasks + 0.5))
            ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs], fontsize=7, rotation=45)
            ax.set_xlabel(label)
            ax.set_ylabel("subtask rank (1 = most frequent)")
            ax.set_title(f"alpha + 1 = {z:g}, {'parameter' if sweep == 'params' else 'data'} sweep", fontsize=10)
    fig.colorbar(im, ax=axes, shrink=0.6, label="test error (0.5 = chance)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
