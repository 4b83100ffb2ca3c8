"""Figures of the ``bahri-*`` neural-network recipes (matplotlib, PNG); numbers come from ``recipes.bahri.networks``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from scalinglab.report.figures import save_figure


def _panel(ax, x, y, fit=None, scale: float = 1.0, title: str = "", xlabel: str = "", ylabel: str = "",
           label: str = "") -> None:
    """Mean over seeds with its standard error, and a fitted law if given."""
    y = np.atleast_2d(y)
    mean = y.mean(axis=0)
    se = y.std(axis=0, ddof=1) / np.sqrt(len(y)) if len(y) > 1 else np.zeros_like(mean)
    bars = ax.errorbar(x, scale * mean, yerr=se, fmt="o", ms=4, capsize=2,
                       label=label or "measured (mean over seeds)")
    if fit is not None:
        grid = np.geomspace(min(x), max(x), 100)
        ax.plot(grid, scale * fit.predict(grid), "-", lw=1.2, color=bars[0].get_color(),
                label=f"fit: exponent {fit.params['alpha']:.2f}")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if np.all(scale * mean > 0):
        ax.set_yscale("log")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def four_regimes_figure(name: str, wv, wfit, wsign, dv, dfit, dsign, rd, rdv, rw, rwv, path: Path) -> Path:
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    _panel(axes[0, 0], wv["widths"], wsign * wv["difference"], wfit,
           title=f"{name}: variance-limited width ({'+' if wsign > 0 else '-'}(L - L_lin))", xlabel="width",
           ylabel="loss difference")
    _panel(axes[0, 1], dv["data_sizes"], dsign * dv["difference"], dfit,
           title=f"{name}: variance-limited data ({'+' if dsign > 0 else '-'}(L(D) - L(inf)))", xlabel="D",
           ylabel="loss difference")
    _panel(axes[1, 0], rd["data_sizes"], rd["loss"][:, :, 0], rdv.fit,
           title=f"{name}: resolution-limited data, width {int(rd['widths'][0])}: {rdv.regime}", xlabel="D",
           ylabel="test loss")
    _panel(axes[1, 1], rw["widths"], rw["loss"][:, 0, :], rwv.fit,
           title=f"{name}: width sweep at D = {int(rw['data_sizes'][0])}: {rwv.regime}", xlabel="width",
           ylabel="test loss")
    return save_figure(fig, path)


def curves_figure(title: str, curves: dict[str, tuple[np.ndarray, np.ndarray, Any]], xlabel: str, path: Path,
                  ylabel: str = "test loss") -> Path:
    """Several labelled curves (x, per-seed y, fit or None) on one log-log plot."""
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    for label, (x, y, fit) in curves.items():
        _panel(ax, x, y, fit, label=label)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return save_figure(fig, path)


def duality_figure(ds, ps, small, tuned, peak_at: int, fit_d, fit_p, path: Path) -> Path:
    """Readouts on frozen features: L vs D and L vs P at the small and the tuned ridge."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    j = int(np.flatnonzero(ps == peak_at)[0])
    _panel(axes[0], ds, small[:, :, j], label=f"small ridge, P = {peak_at}")
    _panel(axes[0], ds, tuned[:, :, j], label=f"tuned ridge, P = {peak_at}")
    axes[0].axvline(peak_at, color="k", ls=":", lw=1)
    axes[0].set_title("double descent at D = P (small ridge)", fontsize=9)
    axes[0].set_xlabel("D")
    _panel(axes[1], ds, small[:, :, -1], label=f"small ridge, P = {ps[-1]}")
    _panel(axes[1], ds, tuned[:, :, -1], fit_d, label=f"tuned ridge, P = {ps[-1]}")
    axes[1].set_title("L vs D at the largest feature count", fontsize=9)
    axes[1].set_xlabel("D")
    _panel(axes[2], ps, small[:, -1, :], label=f"small ridge, D = {ds[-1]}")
    _panel(axes[2], ps, tuned[:, -1, :], fit_p, label=f"tuned ridge, D = {ds[-1]}")
    axes[2].set_title("L vs P at the largest data size", fontsize=9)
    axes[2].set_xlabel("P (features)")
    return save_figure(fig, path)


def dimension_figure(dims, alphas, errors, path: Path, real=()) -> Path:
    """4 / alpha_D against the intrinsic dimension d, with the line 4/alpha_D = d; ``real`` adds real data sets
    (``dims.measure`` results) at their estimated d, with the TwoNN interval and the 4/alpha_D one."""
    fig, ax = plt.subplots(figsize=(5.5, 4.6))
    dims, alphas, errors = np.asarray(dims), np.asarray(alphas), np.asarray(errors)
    ax.errorbar(dims, 4 / alphas, yerr=4 * errors / alphas**2, fmt="o", capsize=3, label="hypercube students")
    top = max([dims.max()] + [m["twonn"].ci95[1] for m in real if np.isfinite(m["twonn"].ci95[1])]
              + [m["twonn"].value for m in real])
    for m, marker in zip(real, "sD^v", strict=False):
        d, (lo, hi) = m["twonn"].value, m["twonn"].ci95
        a_lo, a_hi = m["fit"].ci95["alpha"]
        y = 4 / m["fit"].exponent
        ax.errorbar([d], [y], xerr=[[max(d - lo, 0)], [max(hi - d, 0)]], yerr=[[max(y - 4 / a_hi, 0)],
                    [max(4 / a_lo - y, 0)]], fmt=marker, capsize=3, label=f"{m['name']} (d: TwoNN)")
    ax.plot([dims.min(), top], [dims.min(), top], "k--", lw=1, label="4 / alpha_D = d")
    ax.fill_between([dims.min(), top], [0.75 * dims.min(), 0.75 * top],
                    [1.25 * dims.min(), 1.25 * top], color="k", alpha=0.08,
                    label="within 25% (hypercubes; real data: a bound, below the band's top)" if len(real) else
                    "within 25%")
    ax.set_xlabel("input dimension d (real data: estimated)" if len(real) else "input dimension d")
    ax.set_ylabel("4 / alpha_D")
    ax.legend(fontsize=8)
    return save_figure(fig, path)
