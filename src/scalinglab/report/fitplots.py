"""Figures of a law fitted to measurements: data, fit, bands, held-out points, log residuals; iso-loss contours
and the compute-optimal allocation for joint fits.

Drawn on ``matplotlib.figure.Figure`` with the Agg canvas directly: importing this module leaves pyplot and
matplotlib's global backend alone.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scalinglab.fit.estimate import FitResult


def _label(name: str) -> str:
    """A column name as literal text (a ``$`` would start mathtext)."""
    return str(name).replace("$", r"\$")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _clamp_log(auto: tuple[float, float], values: np.ndarray) -> tuple[float, float]:
    """Log-axis limits around ``values`` with a margin, inside the automatic ones: a band that widens without
    bound beyond the data does not squash the data into a corner."""
    values = values[np.isfinite(values) & (values > 0)]
    if not values.size:
        return auto
    lo, hi = np.log(values.min()), np.log(values.max())
    pad = max(0.15 * (hi - lo), np.log(1.1))
    return max(auto[0], float(np.exp(lo - pad))), min(auto[1], float(np.exp(hi + pad)))


def log_residuals(fit: FitResult, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log(observed / fitted) at every row, held-out rows included."""
    with np.errstate(all="ignore"):
        return np.log(np.asarray(y, dtype=float)) - np.log(fit.predict(X))


def plot_fit(fit: FitResult, X: np.ndarray, y: np.ndarray, held_out: np.ndarray, path: str | Path,
             x_names: list[str], y_name: str, allocation: list[dict] | None = None, *, residuals: bool = False,
             candidates: dict[str, FitResult] | None = None, scores: dict[str, float] | None = None) -> Path:
    """One-size laws: loss against size with the 95% confidence and prediction bands. Joint laws: loss
    against the first size coloured by the second, and iso-loss contours with the compute-optimal frontier.

    ``residuals`` adds panels of log(observed / fitted) against each size, with the bands relative to the fit;
    ``candidates`` (one-size laws) draws other fitted forms as dashed lines, labelled with ``scores``.
    """
    path = Path(path)
    X = np.asarray(X, dtype=float).reshape(len(y), -1)
    y = np.asarray(y, dtype=float)
    held_out = np.asarray(held_out, dtype=bool)
    if X.shape[1] == 1:
        _plot_one(fit, X, y, held_out, path, x_names, y_name, residuals, candidates or {}, scores or {})
    else:
        _plot_joint(fit, X, y, held_out, path, x_names, y_name, allocation, residuals)
    return path


def _plot_one(fit, X, y, held_out, path, x_names, y_name, residuals, candidates, scores) -> None:
    fig = _figure(7.2 if residuals else 6.4, 6.6 if residuals else 4.6)
    if residuals:
        grid_spec = fig.add_gridspec(2, 1, height_ratios=(3, 1.4))
        ax = fig.add_subplot(grid_spec[0])
        axr = fig.add_subplot(grid_spec[1], sharex=ax)
    else:
        ax, axr = fig.add_subplot(), None
    _draw_one(ax, axr, fit, X, y, held_out, x_names, y_name, candidates, scores)
    _save(fig, path)


def _draw_one(ax, axr, fit, X, y, held_out, x_names, y_name, candidates=None, scores=None) -> None:
    """A one-size law on ``ax`` (and its log residuals on ``axr`` unless None)."""
    candidates, scores = candidates or {}, scores or {}
    x = X[:, 0]
    grid = np.geomspace(x.min(), x.max() * 1.5, 200)
    pred = fit.predict(grid)
    bands = {"prediction": fit.band(grid, prediction=True), "confidence": fit.band(grid)}
    ax.fill_between(grid, *bands["prediction"], color="C0", alpha=0.12, label="95% prediction band")
    ax.fill_between(grid, *bands["confidence"], color="C0", alpha=0.3, label="95% confidence band")
    ax.plot(grid, pred, "C0-", lw=1.5, label=f"{fit.form}")
    ax.plot(x[~held_out], y[~held_out], "ko", ms=4, label="fitted")
    if held_out.any():
        ax.plot(x[held_out], y[held_out], "rs", ms=6, mfc="none", mew=1.5,
                label=f"held out (RMSE log {fit.holdout_rmse_log:.3g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ylim = _clamp_log(ax.get_ylim(), np.concatenate([y, pred]))
    for i, (name, other) in enumerate(candidates.items()):
        if name == fit.form:
            continue
        score = f" ({scores[name]:.3g})" if name in scores else ""
        ax.plot(grid, other.predict(grid), "--", color=f"C{(i + 1) % 10}", lw=1, label=f"{name}{score}")
    ax.set_ylim(ylim)  # a poor candidate does not stretch the axis
    ax.set_ylabel(_label(y_name))
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.2)
    if axr is None:
        ax.set_xlabel(_label(x_names[0]))
    else:
        r = log_residuals(fit, X, y)
        with np.errstate(all="ignore"):
            for key, alpha in (("prediction", 0.12), ("confidence", 0.3)):
                lo, hi = bands[key]
                axr.fill_between(grid, np.log(lo / pred), np.log(hi / pred), color="C0", alpha=alpha)
            fitted_x = x[~held_out] if (~held_out).any() else x
            inside = (grid >= fitted_x.min()) & (grid <= fitted_x.max())
            spread = np.abs(np.log(np.array(bands["prediction"])[:, inside] / pred[inside])).ravel()
        lim = 1.4 * max(np.abs(r[np.isfinite(r)]).max(initial=1e-4), spread[np.isfinite(spread)].max(initial=0.0))
        axr.set_ylim(-lim, lim)  # the residuals and the noise where fitted, not the band beyond the data
        axr.axhline(0.0, color="C0", lw=1)
        axr.plot(x[~held_out], r[~held_out], "ko", ms=4)
        if held_out.any():
            axr.plot(x[held_out], r[held_out], "rs", ms=6, mfc="none", mew=1.5)
        axr.set_xlabel(_label(x_names[0]))
        axr.set_ylabel("log(observed / fitted)", fontsize=8)
        axr.grid(True, which="both", alpha=0.2)
        ax.tick_params(which="both", labelbottom=False)


def _plot_joint(fit, X, y, held_out, path, x_names, y_name, allocation, residuals) -> None:
    fig = _figure(12, 9.6 if residuals else 4.8)
    rows = 2 if residuals else 1
    ax, ax2 = fig.add_subplot(rows, 2, 1), fig.add_subplot(rows, 2, 2)
    _draw_joint(ax, fit, X, y, held_out, x_names, y_name, residuals)
    N, D = X[:, 0], X[:, 1]
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
    ax2.set_xlabel(_label(x_names[0]))
    ax2.set_ylabel(_label(x_names[1]))
    ax2.set_title("iso-loss contours", fontsize=10)
    ax2.legend(fontsize=8)
    if residuals:
        r = log_residuals(fit, X, y)
        pred = fit.predict(X)
        with np.errstate(all="ignore"):
            lo, hi = (np.log(b / pred) for b in fit.band(X, prediction=True))
        for j, axr in enumerate((fig.add_subplot(2, 2, 3), fig.add_subplot(2, 2, 4))):
            size, other = X[:, j], np.log10(X[:, 1 - j])
            axr.vlines(size, lo, hi, color="0.6", lw=0.8, alpha=0.6, label="95% prediction interval")
            axr.axhline(0.0, color="k", lw=0.8)
            pts = axr.scatter(size, r, c=other, cmap="viridis", s=14)
            if held_out.any():
                axr.scatter(size[held_out], r[held_out], facecolors="none", edgecolors="r", s=50, label="held out")
            fig.colorbar(pts, ax=axr, label=f"log10 {_label(x_names[1 - j])}")
            axr.set_xscale("log")
            axr.set_xlabel(_label(x_names[j]))
            axr.set_ylabel("log(observed / fitted)")
            axr.set_title(f"log residuals against {_label(x_names[j])}", fontsize=10)
            axr.legend(fontsize=8)
            axr.grid(True, which="both", alpha=0.2)
    _save(fig, path)


def _draw_joint(ax, fit, X, y, held_out, x_names, y_name, bands: bool) -> None:
    """A joint law on ``ax``: loss against the first size coloured by the second, with lines (and, if ``bands``,
    95% confidence bands) at four values of the second size."""
    viridis = matplotlib.colormaps["viridis"]
    N, D = X[:, 0], X[:, 1]
    logd = np.log10(D)
    span = max(np.ptp(logd), 1e-12)
    sc = ax.scatter(N, y, c=logd, cmap="viridis", s=14, label="fitted")
    if held_out.any():
        ax.scatter(N[held_out], y[held_out], facecolors="none", edgecolors="r", s=50, label="held out")
    for d in np.geomspace(D.min(), D.max(), 4):
        grid = np.geomspace(N.min(), N.max(), 100)
        colour = viridis((np.log10(d) - logd.min()) / span)
        at = np.column_stack([grid, np.full_like(grid, d)])
        if bands:
            ax.fill_between(grid, *fit.band(at), color=colour, alpha=0.25, lw=0)
        ax.plot(grid, fit.predict(at), "-", color=colour, lw=1)
    ax.figure.colorbar(sc, ax=ax, label=f"log10 {_label(x_names[1])}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(_label(x_names[0]))
    ax.set_ylabel(_label(y_name))
    ax.legend(fontsize=8)
    ax.set_title(f"{fit.form}: lines at fixed {_label(x_names[1])}"
                 + (" (95% confidence bands)" if bands else ""), fontsize=10)


def plot_on(fit: FitResult, ax=None, *, residuals: bool = True):
    """``FitResult.plot``: the fit and its data on ``ax`` (a new pyplot figure when None, so that Jupyter shows
    it), with a panel of log residuals appended below; returns the main Axes. The backend and rcParams are left
    as they are."""
    from scalinglab.errors import SpecError

    data = fit.data
    if data is None:
        raise SpecError("plot: this fit has no data attached (fit with scalinglab.fit, or load a saved fit)")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 6.0 if residuals else 4.6))
    axr = None
    if residuals:
        from mpl_toolkits.axes_grid1 import make_axes_locatable

        axr = make_axes_locatable(ax).append_axes("bottom", size="35%", pad=0.1, sharex=ax)
    X, y, held = np.asarray(data.X, dtype=float), np.asarray(data.y, dtype=float), np.asarray(data.held_out, bool)
    names, target = list(data.inputs), data.target
    if X.shape[1] == 1:
        _draw_one(ax, axr, fit, X, y, held, names, target)
        return ax
    _draw_joint(ax, fit, X, y, held, names, target, bands=True)
    if axr is not None:
        r = log_residuals(fit, X, y)
        axr.axhline(0.0, color="k", lw=0.8)
        axr.scatter(X[:, 0], r, c=np.log10(X[:, 1]), cmap="viridis", s=10)
        if held.any():
            axr.scatter(X[held, 0], r[held], facecolors="none", edgecolors="r", s=40)
        axr.set_xlabel(_label(names[0]))
        axr.set_ylabel("log(observed / fitted)", fontsize=8)
        axr.grid(True, which="both", alpha=0.2)
        ax.set_xlabel("")
        ax.tick_params(which="both", labelbottom=False)
    return ax


def plot_allocation(allocation: list[dict], X: np.ndarray, path: str | Path, x_names: list[str]) -> Path:
    """N* and D* against the compute budget C = 6 N D, with their 95% intervals and the runs' (C, N), (C, D)."""
    path = Path(path)
    X = np.asarray(X, dtype=float)
    fig = _figure(6.4, 4.6)
    ax = fig.add_subplot()
    C = np.array([r["C"] for r in allocation])
    C_runs = 6 * X[:, 0] * X[:, 1]
    for key, name, colour in (("N", x_names[0], "C0"), ("D", x_names[1], "C1")):
        ax.scatter(C_runs, X[:, 0 if key == "N" else 1], s=6, color=colour, alpha=0.25, label=f"runs: {_label(name)}")
        ax.plot(C, [r[key] for r in allocation], "o-", color=colour, lw=1.5, ms=4,
                label=f"{key}* (optimal {_label(name)})")
        bands = [r.get(f"{key}_ci95") for r in allocation]
        if all(b is not None for b in bands):
            ax.fill_between(C, [b[0] for b in bands], [b[1] for b in bands], color=colour, alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute budget C = 6 N D")
    ax.set_ylabel("compute-optimal size")
    ax.set_title("compute-optimal allocation (95% intervals shaded)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.2)
    return _save(fig, path)
