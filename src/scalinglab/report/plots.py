"""Figures of a four-regime experiment (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from scalinglab.contracts import Measurement  # noqa: E402
from scalinglab.fit.regimes import Grid  # noqa: E402
from scalinglab.report.analysis import seed_summary  # noqa: E402

LABELS = {
    "variance_limited_data": ("D", "L(D, P) - L(inf, P)"),
    "variance_limited_model": ("P", "L(D, P) - L(D, inf)"),
    "resolution_limited_data": ("D", "L(D, P)"),
    "resolution_limited_model": ("P", "L(D, P)"),
}


def _pick(values: list[int], k: int = 5) -> list[int]:
    idx = np.unique(np.round(np.linspace(0, len(values) - 1, min(k, len(values)))).astype(int))
    return [values[i] for i in idx]


def loss_curves(measurements: list[Measurement], fits: dict[str, Any], axis: str, path: Path) -> Path:
    """Loss against D for several P (axis="data"), or against P for several D, with the closed-form limit."""
    ds, ps = fits["grid"]["data"], fits["grid"]["size"]
    xs, others = (ds, ps) if axis == "data" else (ps, ds)
    limit_key = "loss_model_limit" if axis == "data" else "loss_data_limit"
    fig, ax = plt.subplots(figsize=(8.4, 4.8))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(_pick(others))))
    for color, other in zip(colors, _pick(others), strict=False):
        x, mean, lo, hi = seed_summary(measurements, axis, other, xs)
        if x.size == 0:
            continue
        name = "P" if axis == "data" else "D"
        ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o-", ms=3.5, lw=1, color=color, capsize=2,
                    label=f"{name} = {other}")
        for row in fits["slices"]["vs_data" if axis == "data" else "vs_model"]:
            if row["fixed"] == other:  # the free-offset fit of this slice's variance-limited part
                fx = np.geomspace(min(row["fit"]["x"]), max(row["fit"]["x"]), 40)
                p = row["fit"]["params"]
                ax.plot(fx, p["E"] + p["A"] * fx ** -p["alpha"], "--", color=color, lw=2, alpha=0.6)
    grid = Grid.of(measurements)  # the limit at each x: its mean over the points measured there
    along = 1 if axis == "data" else 2
    cube, measured = grid.extra(limit_key), ~np.isnan(grid.loss)
    lx = grid.data if axis == "data" else grid.size
    ly = np.array([np.mean(np.take(cube, i, axis=along)[np.take(measured, i, axis=along)]) for i in range(lx.size)])
    other_name = "P" if axis == "data" else "D"
    ax.plot(lx, ly, "k--", lw=1.2, label=f"{other_name} = inf (closed form)")
    ax.plot([], [], "--", color="gray", lw=2, alpha=0.6, label="fit E + A x^-a (variance-limited part)")
    alpha = fits["spectrum_exponent"]
    ref = ly[0] * (lx / lx[0]) ** -alpha
    ax.plot(lx, ref, ":", color="gray", lw=1.2, label=f"slope -{alpha:g} (predicted)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    # The interpolation peaks at D = P (ridgeless double descent) reach far above the curves: clip them.
    top = 4.0 * float(np.nanmax(ly))
    ax.set_ylim(0.5 * float(np.nanmin(ly)), top)
    ax.set_xlabel("data size D" if axis == "data" else "model size P (random features)")
    ax.set_ylabel("population loss (mean over seeds, 16-84%)")
    ax.set_title(f"loss against {'D' if axis == 'data' else 'P'} (interpolation peaks at D = P clipped)", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def regime_panels(measurements: list[Measurement], fits: dict[str, Any], path: Path) -> Path:
    """The four regimes, each with its fitted power law and the predicted slope."""
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 7.5))
    order = ["variance_limited_data", "variance_limited_model", "resolution_limited_data", "resolution_limited_model"]
    for ax, name in zip(axes.flat, order, strict=False):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.2)
        xlabel, ylabel = LABELS[name]
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        r = fits["regimes"].get(name)
        if r is None:
            ax.set_title(f"{name}: not measured", fontsize=9)
            continue
        f = r["fit"]
        x = np.array(f["x"])
        # grid sizes themselves (default log labels collide on less than a decade), at most 6 of them: a label per
        # size of a large grid is unreadable and costs seconds of layout
        ax.set_xticks(_pick([float(v) for v in x], 6))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        sx, mean, lo, hi = seed_summary(measurements, r["axis"], r["fixed"], [int(v) for v in x], r["subtract"])
        ax.errorbar(sx, mean, yerr=[mean - lo, hi - mean], fmt="o", ms=4, capsize=2, color="C0", label="measured")
        p = f["params"]
        xx = np.geomspace(x.min(), x.max(), 50)
        ax.plot(xx, p["E"] + p["A"] * xx ** -p["alpha"], "C1-", label=f"fit: {r['exponent']:.3f}")
        mid = np.sqrt(x.min() * x.max())
        ymid = p["E"] + p["A"] * mid ** -p["alpha"]
        ax.plot(xx, p["E"] + (ymid - p["E"]) * (xx / mid) ** -r["predicted"], "k:",
                label=f"predicted: {r['predicted']:g}")
        lo_ci, hi_ci = r["ci95"]
        ax.set_title(f"{name.replace('_', ' ')}\nexponent {r['exponent']:.3f} [{lo_ci:.3f}, {hi_ci:.3f}]", fontsize=9)
        ax.legend(fontsize=7.5)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def slice_figure(measurements: list[Measurement], fits: dict[str, Any], axis: str, path: Path) -> Path | None:
    """Loss against D (axis "data") or the model size for a few values of the other size, mean over seeds with
    16-84% bars; on each slice of ``fits["rows"]`` along this axis the fitted law with its 95% band and the
    prediction (theory's curve where it gives one, else its slope through the fit's middle); below, the log
    residuals of those fits. None when the axis has fewer than 2 sizes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ds, ps = fits["grid"]["data"], fits["grid"]["size"]
    xs, others = (ds, ps) if axis == "data" else (ps, ds)
    if len(xs) < 2:
        return None
    size_name = "D" if axis == "data" else "N"
    other_name = "N" if axis == "data" else "D"
    rows = [r for r in fits.get("rows", []) if r["axis"] in ((axis,) if axis == "data" else ("size", "model"))
            and r.get("subtract") is None and "fit" in r]
    fig = Figure(figsize=(8.6, 6.4))
    FigureCanvasAgg(fig)
    ax, res = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    shown = sorted(set(_pick(others)) | {r["fixed"] for r in rows})
    colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(shown)))
    mode = "data" if axis == "data" else "model"
    plotted: list[float] = []
    for color, other in zip(colors, shown, strict=True):
        x, mean, lo, hi = seed_summary(measurements, mode, other, xs)
        if x.size == 0:
            continue
        ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o-", ms=3.5, lw=0.8, color=color, capsize=2,
                    label=f"{other_name} = {other}")
        plotted += list(mean)
        for r in rows:
            if r["fixed"] != other:
                continue
            band, p = r["band"], r["fit"]["params"]
            bx = np.array(band["x"])
            ax.plot(bx, p["E"] + p["A"] * bx ** -p["alpha"], "-", color="C3", lw=1.8,
                    label=f"fit {r['law']}: alpha = {r['exponent']:.3f}")
            if np.all(np.isfinite(band["lo"])):
                ax.fill_between(bx, band["lo"], band["hi"], color="C3", alpha=0.18, lw=0)
            pred = r.get("prediction") or {}
            fx = np.array(r["fit"]["x"])
            if pred.get("curve"):
                ax.plot(fx, pred["curve"], "k:", lw=1.6, label=f"theory: alpha = {r['predicted']:.3f}")
            elif r.get("predicted") is not None:
                mid = float(np.sqrt(fx.min() * fx.max()))
                e0 = p["E"] if r["offset"] is None else r["offset"]
                ymid = p["E"] + p["A"] * mid ** -p["alpha"]
                ax.plot(bx, e0 + (ymid - e0) * (bx / mid) ** -r["predicted"], "k:", lw=1.6,
                        label=f"predicted slope {r['predicted']:.3g}")
            fitted = p["E"] + p["A"] * fx ** -p["alpha"]
            res.plot(fx, np.log(np.array(r["fit"]["y"]) / fitted), "o-", color=color, ms=4,
                     label=f"{other_name} = {other}")
    for a in (ax, res):
        a.set_xscale("log")
        a.grid(True, which="both", alpha=0.2)
    ax.set_yscale("log")
    if plotted:  # interpolation peaks (D = P, ridgeless) reach far above the curves: clip them
        ax.set_ylim(top=4.0 * float(np.nanpercentile(plotted, 90)))
    ax.set_ylabel("test loss (mean over seeds, 16-84%)")
    ax.set_title(f"loss against {size_name}; fits and predictions on the slices of the table", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    res.axhline(0.0, color="gray", lw=0.8)
    res.set_ylabel("log(mean / fit)")
    res.set_xlabel("data size D" if axis == "data" else "model size N")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
