"""The appendix figures of Brill (2024) drawn from the runs of ``brill-fig6`` and ``brill-fig7`` (the same stored
seeds): accepted cluster sizes against (s/s_max)^(2 - tau) with a check of the exponent, the conversion-factor
(sigma_k) diagnostics, per-cluster scaling curves, example clusters coloured by value, one seed's scaling curves.

The exponent check: a seed site lies in an s-cluster with probability ~ s^(1 - tau), so the accepted sizes (a
cluster is kept when min_size <= s <= max_size) are i.i.d. with density ~ s^-beta on that range, beta = tau - 1,
and P(S >= s) falls as s^(2 - tau). The maximum-likelihood beta of a truncated power law has standard error
1 / sqrt(n Var[ln S]); the check allows 3 of them, computed at the predicted beta before any data are seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import brentq

from scalinglab.recipes.result import Check, check
from scalinglab.report.figures import save_figure
from scalinglab.theory import percolation as th

TAU = 2.5
N_SE = 3.0  # the exponent check's tolerance, in standard errors
N_DRAWN = 4  # example clusters drawn: the smallest accepted clusters of seed 0


def _log_moments(lam: float, width: float) -> tuple[float, float]:
    """Mean and variance of u = ln(s / min_size) when s has density ~ s^-(1 + lam) on [min_size, min_size e^width]
    (u: an exponential of rate lam truncated to [0, width])."""
    if abs(lam * width) < 1e-8:
        return width / 2.0, width**2 / 12.0
    q = np.exp(-lam * width)
    return 1.0 / lam - width * q / (1.0 - q), 1.0 / lam**2 - width**2 * q / (1.0 - q) ** 2


def size_exponent(sizes: np.ndarray, lo: float, hi: float) -> float:
    """Maximum-likelihood beta of the density s^-beta truncated to [lo, hi] (the mean of ln s matched)."""
    width, mean = np.log(hi / lo), float(np.mean(np.log(np.asarray(sizes, float) / lo)))
    return 1.0 + brentq(lambda lam: _log_moments(lam, width)[0] - mean, -30.0 / width, 30.0 / width)


def size_exponent_se(n: int, beta: float, lo: float, hi: float) -> float:
    """Standard error of :func:`size_exponent` from n sizes drawn at exponent ``beta`` (inverse Fisher
    information)."""
    return 1.0 / np.sqrt(n * _log_moments(beta - 1.0, np.log(hi / lo))[1])


def size_check(sizes: np.ndarray, lo: float, hi: float) -> Check:
    """P(S >= s) ~ s^(2 - tau): the measured 1 - beta against 2 - tau, within N_SE standard errors."""
    se = size_exponent_se(len(sizes), TAU - 1.0, lo, hi)
    return check(f"accepted cluster sizes: slope of P(S >= s), maximum likelihood ({len(sizes)} clusters, "
                 f"{N_SE:g} SE)", 1.0 - size_exponent(sizes, lo, hi), 2.0 - TAU, N_SE * se,
                 basis=f"{N_SE:g} standard errors 1 / sqrt(n Var[ln s]) of the truncated power law at tau = 2.5, "
                 "fixed by the sample size")


def tree_layout(parent: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Radial positions of a tree's sites (``parent``: local indices, -1 at the root): radius the depth, each
    subtree an angular wedge in proportion to its leaves."""
    order = np.argsort(depth, kind="stable")
    leaves = np.ones(parent.size)
    has_child = np.zeros(parent.size, bool)
    has_child[parent[parent >= 0]] = True
    leaves[has_child] = 0.0
    for i in order[::-1]:
        if parent[i] >= 0:
            leaves[parent[i]] += leaves[i]
    start, width = np.zeros(parent.size), np.zeros(parent.size)
    width[order[0]] = 2 * np.pi
    cursor = {}
    for i in order[1:]:
        p = parent[i]
        offset = cursor.get(p, start[p])
        start[i], width[i] = offset, width[p] * leaves[i] / leaves[p]
        cursor[p] = offset + width[i]
    angle = start + width / 2.0
    return np.stack([depth * np.cos(angle), depth * np.sin(angle)], axis=1)


def drawn_clusters(forest: Any) -> list[dict[str, np.ndarray]]:
    """The N_DRAWN smallest clusters of a forest: local parent indices, depths and values."""
    out = []
    for k in range(forest.n_clusters - 1, max(-1, forest.n_clusters - 1 - N_DRAWN), -1):
        idx = np.flatnonzero(forest.cluster == k)
        local = np.full(forest.n_sites, -1)
        local[idx] = np.arange(idx.size)
        par = forest.parent[idx]
        out.append({"parent": np.where(par >= 0, local[np.maximum(par, 0)], -1), "depth": forest.depth[idx],
                    "values": forest.values[idx]})
    return out


def clusters_figure(clusters: list[dict[str, np.ndarray]], path: Path) -> Path:
    """Example clusters, edges in grey, sites coloured by their standardised value."""
    fig, axes = plt.subplots(1, len(clusters), figsize=(4 * len(clusters), 4.2))
    for ax, c in zip(np.atleast_1d(axes), clusters, strict=True):
        xy = tree_layout(c["parent"], c["depth"])
        child = np.flatnonzero(c["parent"] >= 0)
        for i in child:
            ax.plot(*xy[[c["parent"][i], i]].T, color="0.7", lw=0.6, zorder=1)
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=c["values"], cmap="coolwarm", vmin=-2.5, vmax=2.5, s=14, zorder=2)
        ax.set_title(f"{c['values'].size} sites, depth {c['depth'].max()}", fontsize=9)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.colorbar(sc, ax=np.atleast_1d(axes)[-1], label="value (standardised random walk)", shrink=0.8)
    return save_figure(fig, path)


def sizes_figure(sizes: np.ndarray, lo: float, hi: float, path: Path) -> Path:
    """P(S >= s) of the accepted clusters against x = (s/s_max)^(2 - tau): the truncated law is the line
    (x - 1) / (x_min - 1); and on log axes with the maximum-likelihood slope."""
    s = np.sort(sizes)
    surv = 1.0 - np.arange(s.size) / s.size
    x, x_min = (s / hi) ** (2 - TAU), (lo / hi) ** (2 - TAU)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    axes[0].plot(x, surv, ".", ms=3, label=f"{s.size} accepted clusters")
    axes[0].plot([1, x_min], [0, 1], "k--", label="truncated s^(2 - tau), tau = 5/2")
    axes[0].set_xlabel("(s / s_max)^(2 - tau)")
    axes[0].set_ylabel("P(S >= s)")
    beta = size_exponent(s, lo, hi)
    axes[1].loglog(s, surv, lw=2, label="accepted clusters")
    g = np.geomspace(lo, hi, 100)
    for b, style, label in ((TAU - 1, "k--", "tau = 5/2"), (beta, "r:", f"maximum likelihood, slope {1 - beta:.3f}")):
        axes[1].loglog(g, (g ** (1 - b) - hi ** (1 - b)) / (lo ** (1 - b) - hi ** (1 - b)), style, label=label)
    axes[1].set_xlabel("cluster size s")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.2)
    return save_figure(fig, path)


def sigma_figure(runs: list[dict[str, Any]], path: Path) -> Path:
    """sigma_k against cluster size; residual ln L - ln max(n / sigma_k, 1)^-1/2 against n / sigma_k (median and
    16-84% over clusters)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = np.concatenate([r["sizes"] for r in runs])
    sigma = np.concatenate([r["sigma"] for r in runs])
    axes[0].loglog(sizes, sigma, ".", ms=3, alpha=0.5)
    axes[0].set_xlabel("cluster size s_k")
    axes[0].set_ylabel("sigma_k (training sites per DOF)")
    x = np.concatenate([r["n_conv"] / r["sigma"][:, None] for r in runs]).ravel()
    y = np.concatenate([r["loss_conv"] for r in runs]).ravel()
    keep = (x > 0) & (y > 0)
    resid = np.log(y[keep]) + 0.5 * np.log(np.maximum(x[keep], 1.0))
    edges = np.geomspace(x[keep].min(), x[keep].max(), 25)
    mid, bands = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        sel = (x[keep] >= a) & (x[keep] < b)
        if sel.sum() >= 10:
            mid.append(np.sqrt(a * b))
            bands.append(np.percentile(resid[sel], [16, 50, 84]))
    bands = np.array(bands)
    axes[1].fill_between(mid, bands[:, 0], bands[:, 2], alpha=0.3, label="16-84% over clusters")
    axes[1].semilogx(mid, bands[:, 1], "o-", ms=3, label="median")
    axes[1].axhline(0.0, color="k", lw=1)
    axes[1].set_xlabel("training sites / sigma_k (DOF)")
    axes[1].set_ylabel("ln L - ln max(n / sigma_k, 1)^-1/2")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(True, which="both", alpha=0.2)
    return save_figure(fig, path)


def per_cluster_figure(run: dict[str, Any], path: Path, panels: int = 6) -> Path:
    """One seed's clusters at ranks spread over the list: loss against training sites, with the fitted
    max(n / sigma_k, 1)^-1/2."""
    ranks = np.unique(np.linspace(0, len(run["sizes"]) - 1, panels).astype(int))
    fig, axes = plt.subplots(2, (len(ranks) + 1) // 2, figsize=(12, 6.5), sharey=True)
    for ax, k in zip(axes.ravel(), ranks, strict=False):
        n, loss, sigma = run["n_conv"][k], run["loss_conv"][k], run["sigma"][k]
        ok = (n > 0) & (loss > 0)
        ax.loglog(n[ok], loss[ok], "o", ms=3, label="simulation")
        g = np.geomspace(1.0, max(2.0, n.max()), 100)
        ax.loglog(g, np.maximum(g / sigma, 1.0) ** -0.5, "k--", label=f"fit, sigma_k = {sigma:.2f}")
        ax.set_title(f"rank {k + 1}: {run['sizes'][k]} sites", fontsize=9)
        ax.set_xlabel("training sites n")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.2)
    return save_figure(fig, path)


def single_seed_figure(grid: np.ndarray, run: dict[str, Any], path: Path) -> Path:
    """One seed's model- and data-scaling losses against the parameter-free theory."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, fn, label in ((axes[0], "model", th.model_scaling_loss, "N (DOF)"),
                               (axes[1], "data", th.data_scaling_loss, "D (samples, in DOF)")):
        ax.loglog(grid, run[key], "o", ms=4, label=f"seed {run['seed']}")
        ax.loglog(grid, fn(grid, 1.0, 0.5), "k-", label="theory (no fitted parameter)")
        ax.set_xlabel(label)
        ax.set_ylabel("test loss")
        ax.set_title(f"{key} scaling, one seed", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.2)
    return save_figure(fig, path)


def sigma_table(runs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """sigma_k quartiles in four bins of cluster size (quartiles of the sizes)."""
    sizes = np.concatenate([r["sizes"] for r in runs])
    sigma = np.concatenate([r["sigma"] for r in runs])
    edges = np.quantile(sizes, [0, 0.25, 0.5, 0.75, 1.0])
    rows = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        sel = (sizes >= a) & (sizes <= b)
        q = np.percentile(sigma[sel], [25, 50, 75])
        rows.append({"sizes from": float(a), "sizes to": float(b), "clusters": int(sel.sum()),
                     "sigma_k 25%": float(q[0]), "median": float(q[1]), "75%": float(q[2])})
    return rows
