"""Figures of the Bahri et al. kernel recipes (matplotlib, PNG); numbers come from ``recipes.bahri.fig2`` and
``recipes.bahri.duality``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from scalinglab.report.figures import save_figure


def _colors(n: int):
    return plt.cm.viridis(np.linspace(0, 0.85, max(n, 1)))


def fig2_regimes(panels: list[dict[str, Any]], path: Path) -> Path:
    """Per data set: L vs D at several P (and P = inf), and L vs P at several D."""
    fig, axes = plt.subplots(2, len(panels), figsize=(4 * len(panels), 7), squeeze=False)
    for j, p in enumerate(panels):
        ax = axes[0, j]
        for c, P in zip(_colors(len(p["ps"])), p["ps"], strict=True):
            ax.loglog(p["ds"], [p["grid"][(d, P)] for d in p["ds"]], "o-", ms=3, color=c, label=f"P = {P}")
        ax.loglog(p["ds"], p["kernel"], "k^-", ms=4, label="P = inf (NNGP)")
        ax.set(xlabel="D", ylabel="test loss", title=p["name"])
        ax.legend(fontsize=6)
        ax = axes[1, j]
        for c, D in zip(_colors(len(p["ds"])), p["ds"], strict=True):
            ax.loglog(p["ps"], [p["grid"][(D, P)] for P in p["ps"]], "o-", ms=3, color=c, label=f"D = {D}")
        ax.set(xlabel="P (random features)", ylabel="test loss")
        ax.legend(fontsize=6)
    return save_figure(fig, path)


def _exponent_axes(ax, lo: float, hi: float) -> None:
    grid = np.linspace(lo, hi, 10)
    ax.plot(grid, grid, "k--", lw=1, label="alpha_D = alpha_P = alpha_K")
    ax.set(xlabel="alpha_K (spectrum)", ylabel="measured exponent")


def fig2_exponents(panels: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    vals = []
    for c, p in zip(_colors(len(panels)), panels, strict=True):
        k = p["spectrum"].alpha
        kerr = np.abs(np.array([p["spectrum"].ci95]).T - k)
        for key, marker, what in (("alpha_D", "o", "alpha_D (labels)"), ("alpha_P", "s", "alpha_P (labels)"),
                                  ("alpha_D_teacher", "^", "alpha_D (NNGP teacher)")):
            a = p[key]
            err = np.abs(np.array([a["ci95"]]).T - a["alpha"])
            ax.errorbar([k], [a["alpha"]], yerr=err, xerr=kerr, fmt=marker, color=c,
                        mfc="none" if key == "alpha_D_teacher" else c, label=f"{p['name']} {what}")
            vals += [k, a["alpha"]]
    _exponent_axes(ax, 0, max(vals) * 1.1)
    ax.legend(fontsize=6)
    return save_figure(fig, path)


def fig2_spectra(panels: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.6))
    for c, p in zip(_colors(len(panels)), panels, strict=True):
        lam = p["spectra"].mean(0)
        i = np.arange(1, lam.size + 1)
        ax.loglog(i, lam, color=c, lw=1.5, label=f"{p['name']}: alpha_K = {p['spectrum'].alpha:.2f}")
        lo, hi = p["spectrum"].index_range
        sel = np.arange(lo, hi + 1)
        ax.loglog(sel, p["spectrum"].amplitude * sel ** -(1 + p["spectrum"].alpha), "k:", lw=1)
    ax.set(xlabel="index i", ylabel="NNGP eigenvalue of K/N", ylim=(1e-8, None))
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def fig2_theory(panels: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4.6))
    for c, p in zip(_colors(len(panels)), panels, strict=True):
        ax.loglog(p["ds"], p["kernel"], "o", color=c, label=f"{p['name']} measured (P = inf)")
        keep = np.asarray(p["ds"]) <= p["n"] / 4  # the pool's empirical distribution stands in for the data's
        ax.loglog(np.asarray(p["ds"])[keep], np.asarray(p["theory"])[keep], "-", color=c, lw=1.2,
                  label=f"{p['name']} kappa/gamma theory (D <= N/4)")
    ax.set(xlabel="D", ylabel="test loss")
    ax.legend(fontsize=6)
    return save_figure(fig, path)


def duality_exponents(panels: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.8, 5))
    vals = []
    for c, p in zip(_colors(len(panels)), panels, strict=True):
        # alpha_D against the tail-mass exponent over its D range, alpha_P against the spectrum's exponent
        for key, marker, k in (("alpha_D", "o", p["tail"].alpha), ("alpha_P", "s", p["spectrum"].alpha)):
            a = p[key]
            ax.errorbar([k], [a["alpha"]], yerr=np.abs(np.array([a["ci95"]]).T - a["alpha"]), fmt=marker, color=c,
                        label=f"d = {p['d']} {key}")
            vals += [k, a["alpha"]]
        ax.plot([p["spectrum"].alpha], [4.0 / p["geometry"].value], "x", color=c, ms=8, label=f"d = {p['d']}: 4/d")
        vals.append(4.0 / p["geometry"].value)
    _exponent_axes(ax, 0, max(vals) * 1.05)
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, path)


def duality_curves(panels: list[dict[str, Any]], path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for c, p in zip(_colors(len(panels)), panels, strict=True):
        axes[0].loglog(p["ds"], p["kernel"], "o", color=c, label=f"d = {p['d']} measured")
        axes[0].loglog(p["ds"], p["theory"], "-", color=c, lw=1, label=f"d = {p['d']} kappa/gamma")
        axes[1].loglog(p["ps"], p["rf"], "s-", color=c, label=f"d = {p['d']} (D = {p['rf_data']})")
    axes[0].set(xlabel="D (P = inf)", ylabel="test loss (teacher average)")
    axes[1].set(xlabel="P (random features)", ylabel="test loss (teacher average)")
    for ax in axes:
        ax.legend(fontsize=6)
    return save_figure(fig, path)
