"""Figures of a law fitted to measurements: data, fit, bands, held-out points; iso-loss contours for joint fits."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from scalinglab.fit.estimate import FitResult  # noqa: E402


def plot_fit(fit: FitResult, X: np.ndarray, y: np.ndarray, held_out: np.ndarray, path: str | Path,
             x_names: list[str], y_name: str, allocation: list[dict] | None = None) -> Path:
    """One-size laws: loss against size with the 95% confidence and prediction bands. Joint laws: loss
    against the first size coloured by the second, and iso-loss contours with the compute-optimal frontier."""
    path = Path(path)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    if X.shape[1] == 1:
        fig, ax = plt.subplots(figsize=(6.4, 4.6))
        x = X[:, 0]
        grid = np.geomspace(x.min(), x.max() * 1.5, 200)
        lo, hi = fit.band(grid, prediction=True)
        ax.fill_between(grid, lo, hi, color="C0", alpha=0.12, label="95% prediction band")
        lo, hi = fit.band(grid)
        ax.fill_between(grid, lo, hi, color="C0", alpha=0.3, label="95% confidence band")
        ax.plot(grid, fit.predict(grid), "C0-", lw=1.5, label=f"{fit.form}")
        ax.plot(x[~held_out], y[~held_out], "ko", ms=4, label="fitted")
        if held_out.any():
            ax.plot(x[held_out], y[held_out], "rs", ms=6, mfc="none", mew=1.5,
                    label=f"held out (RMSE log {fit.holdout_rmse_log:.3g})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(x_names[0])
        ax.set_ylabel(y_name)
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.2)
    else:
        fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
        N, D = X[:, 0], X[:, 1]
        sc = ax.scatter(N, y, c=np.log10(D), cmap="viridis", s=14, label="fitted")
        if held_out.any():
            ax.scatter(N[held_out], y[held_out], facecolors="none", edgecolors="r", s=50, label="held out")
        for d in np.geomspace(D.min(), D.max(), 4):
            grid = np.geomspace(N.min(), N.max(), 100)
            ax.plot(grid, fit.predict(np.column_stack([grid, np.full_like(grid, d)])), "-",
                    color=plt.cm.viridis((np.log10(d) - np.log10(D.min())) / max(np.ptp(np.log10(D)), 1e-12)),
                    lw=1)
        fig.colorbar(sc, ax=ax, label=f"log10 {x_names[1]}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(x_names[0])
        ax.set_ylabel(y_name)
        ax.legend(fontsize=8)
        ax.set_title(f"{fit.form}: lines at fixed {x_names[1]}", fontsize=10)
        gn = np.geomspace(N.min() / 3, N.max() * 3, 120)
        gd = np.geomspace(D.min() / 3, D.max() * 3, 120)
        GN, GD = np.meshgrid(gn, gd)
        Z = fit.predict(np.column_stack([GN.ravel(), GD.ravel()])).reshape(GN.shape)
        cs = ax2.contour(GN, GD, Z, levels=12, cmap="magma")
        ax2.clabel(cs, fontsize=7, fmt="%.2f")
        ax2.scatter(N, D, s=8, c="k", alpha=0.5, label="runs")
        if allocation:
            ax2.plot([r["N"] for r in allocation], [r["D"] for r in allocation], "b-", lw=2,
                     label="compute-optimal frontier")
        ax2.set_xscale("log")
        ax2.set_yscale("log")
        ax2.set_xlim(gn[0], gn[-1])
        ax2.set_ylim(gd[0], gd[-1])
        ax2.set_xlabel(x_names[0])
        ax2.set_ylabel(x_names[1])
        ax2.set_title("iso-loss contours", fontsize=10)
        ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
