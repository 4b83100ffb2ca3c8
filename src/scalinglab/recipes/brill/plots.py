"""Figures of the Brill (2024) recipes (matplotlib, written as PNG); numbers come from ``recipes.brill``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from scalinglab.report.figures import save_figure
from scalinglab.theory import percolation as th

EXPONENTS = (0.1, 0.5, 1.0, 2.0, 20.0)



def theory_figure(kind: str, path: Path) -> Path:
    """L(N) (kind "model") or L(D) (kind "data") for alpha = 1 and several c/D, with both asymptotes."""
    x = np.geomspace(1, 1e8, 300)
    fig, ax = plt.subplots(figsize=(6.5, 4.6))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(EXPONENTS)))
    for color, e in zip(colors, EXPONENTS, strict=True):
        if kind == "model":
            y, slope = th.model_scaling_loss(x, 1.0, e), th.model_scaling_exponent(1.0, e)
        else:
            y, slope = th.data_scaling_loss(x, 1.0, e), th.data_scaling_exponent(1.0, e)
        ax.loglog(x, y, color=color, lw=2, label=f"c/D = {e:g}")
        ax.loglog(x[150:], y[-1] * (x[150:] / x[-1]) ** -slope, ":", color=color, lw=1)
    quanta = 1.0 if kind == "model" else 0.5
    ax.loglog(x, x**-quanta, "k--", lw=1, label=f"quanta asymptote {'N' if kind == 'model' else 'D'}^-{quanta:g}")
    ax.set_ylim(1e-5, 1.5)
    ax.set_xlabel("model size N (DOF)" if kind == "model" else "data size D")
    ax.set_ylabel("loss (theory, L(1) = 1)")
    ax.set_title(f"Brill (2024): {'L(N)' if kind == 'model' else 'L(D)'}, alpha = 1; dotted: asymptotic slopes",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.2)
    return save_figure(fig, path)


def ratio_figure(rows: list[dict[str, float]], path: Path) -> Path:
    """(c/D)/alpha and (c/D)/(alpha/(1+alpha)) against lattice dimension d for c = 2, 4, 6."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, title in ((axes[0], "model_ratio", "model scaling: (c/D) / alpha"),
                           (axes[1], "data_ratio", "data scaling: (c/D) / (alpha / (1 + alpha))")):
        for c, marker in ((2, "o"), (4, "s"), (6, "^")):
            pts = [(r["d"], r[key]) for r in rows if r["c"] == c]
            ax.semilogy(*zip(*pts, strict=True), marker=marker, label=f"c = {c}")
        ax.axhline(1.0, color="k", lw=1, ls="--")
        ax.set_xlabel("lattice dimension d")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.2)
    axes[0].set_ylabel("exponent ratio (below 1: manifold-limited)")
    axes[0].legend()
    return save_figure(fig, path)


def scaling_figure(grid: np.ndarray, model: np.ndarray, data: np.ndarray, path: Path) -> Path:
    """Median and 16-84% bands over seeds of model- and data-scaling losses, theory overlaid, and their ratio."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), gridspec_kw={"height_ratios": [3, 1.3]}, sharex="col")
    for col, (name, values, fn) in enumerate((("model scaling L(N)", model, th.model_scaling_loss),
                                              ("data scaling L(D)", data, th.data_scaling_loss))):
        lo, med, hi = np.percentile(values, [16, 50, 84], axis=0)
        theory = fn(grid, 1.0, 0.5)
        ax = axes[0, col]
        ax.fill_between(grid, lo, hi, alpha=0.3, color="C0", label="16-84% over seeds")
        ax.loglog(grid, med, "o", ms=4, color="C0", label=f"simulation median ({len(values)} seeds)")
        ax.loglog(grid, theory, "k-", lw=1.5, label="theory (no fitted parameter)")
        ax.set_title(name, fontsize=10)
        ax.set_ylabel("test loss")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.2)
        r = axes[1, col]
        r.semilogx(grid, med / theory, "o-", ms=3, color="C0")
        r.fill_between(grid, lo / theory, hi / theory, alpha=0.3, color="C0")
        r.axhspan(0.85, 1.15, color="green", alpha=0.08)
        r.axhline(1.0, color="k", lw=1)
        r.axvline(30, color="gray", ls=":", lw=1)
        r.set_ylim(0.6, 1.5)
        r.set_xlabel("N (DOF)" if col == 0 else "D (samples, in DOF)")
        r.set_ylabel("median / theory")
    return save_figure(fig, path)


def cluster_figure(runs: list[dict[str, Any]], config, path: Path) -> Path:
    """Cluster-size survival function against (s / min_size)^(2 - tau); per-cluster curves; sigma_k histogram."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    sizes = np.sort(np.concatenate([r["sizes"] for r in runs]))
    surv = 1.0 - np.arange(sizes.size) / sizes.size
    ax = axes[0]
    ax.loglog(sizes, surv, lw=2, label=f"{sizes.size} kept clusters")
    a, b = config.min_size ** -0.5, config.max_size ** -0.5
    s = np.geomspace(config.min_size, config.max_size, 100)
    ax.loglog(s, (s**-0.5 - b) / (a - b), "k--", label="(s / min_size)^(2 - tau), truncated")
    ax.set_xlabel("cluster size s")
    ax.set_ylabel("P(S >= s)")
    ax.legend(fontsize=8)
    ax = axes[1]
    run = runs[0]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(run["sizes"])))
    for k in range(0, len(run["sizes"]), max(1, len(run["sizes"]) // 20)):
        x = run["n_conv"][k] / run["sigma"][k]
        ok = x > 0
        ax.loglog(x[ok], run["loss_conv"][k][ok], "-", color=colors[k], lw=0.8, alpha=0.8)
    x = np.geomspace(0.1, 1e5, 100)
    ax.loglog(x, np.maximum(x, 1) ** -0.5, "k--", lw=2, label="max(n / sigma_k, 1)^-1/2")
    ax.set_xlabel("training sites / sigma_k (DOF)")
    ax.set_ylabel("cluster test loss")
    ax.set_title("per-cluster curves (seed 0; colour: rank)", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[2]
    sigma = np.concatenate([r["sigma"] for r in runs])
    ax.hist(sigma, bins=np.geomspace(1, max(2.0, sigma.max()), 30))
    ax.set_xscale("log")
    ax.set_xlabel("sigma_k (training examples per DOF)")
    ax.set_ylabel("clusters")
    for a_ in axes:
        a_.grid(True, which="both", alpha=0.2)
    return save_figure(fig, path)


def scan_figure(points: np.ndarray, loss: np.ndarray, region: np.ndarray, optimum: tuple[float, float], config,
                path: Path) -> Path:
    """Loss over (b, k_br) at N = 500 (colour), the minimum region (outlined) and the theory optimum (star)."""
    fig, ax = plt.subplots(figsize=(7.5, 5))
    sc = ax.scatter(points[:, 0], points[:, 1], c=np.log10(loss), s=14, cmap="viridis_r")
    ax.scatter(points[region, 0], points[region, 1], facecolors="none", edgecolors="red", s=40, lw=1,
               label="minimum region")
    ax.plot(*optimum, "*", color="orange", ms=18, mec="k", label="theory optimum (b = -1/3)")
    ax.set_yscale("log")
    ax.set_xlabel("b (n_k ~ k^(b - 1))")
    ax.set_ylabel("k_br")
    ax.set_title(f"test loss at N = {config.scan_n:g} over the DOF allocation", fontsize=10)
    fig.colorbar(sc, label="log10 loss")
    ax.legend(fontsize=8, loc="lower left")
    return save_figure(fig, path)


def lattice_figure(L: int, ps: tuple[float, ...], rng: np.random.Generator, path: Path) -> Path:
    """One L^3 lattice at each p: occupied sites coloured by cluster, the largest cluster in red."""
    from scalinglab.tasks.percolation import lattice

    fig = plt.figure(figsize=(13, 4.5))
    u = rng.random((L,) * 3)  # one draw of uniforms for all p: the lattices are nested
    for i, p in enumerate(ps, 1):
        labels, n = lattice.label_clusters(u < p)
        sizes = lattice.cluster_sizes(labels, n)
        ax = fig.add_subplot(1, len(ps), i, projection="3d")
        x, y, z = np.nonzero(labels)
        lab = labels[x, y, z]
        largest = lab == (np.argmax(sizes) + 1)
        ax.scatter(x[~largest], y[~largest], z[~largest], c=lab[~largest] % 10, cmap="tab10", s=8, alpha=0.5)
        ax.scatter(x[largest], y[largest], z[largest], c="red", s=14, alpha=0.9)
        span = lattice.spanning_labels(labels).size > 0
        ax.set_title(f"p = {p:g}: {n} clusters, largest {sizes.max(initial=0)}{', spans' if span else ''}",
                     fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
    return save_figure(fig, path)
