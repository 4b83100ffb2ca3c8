"""The self-contained HTML report of an experiment (figures embedded), plus its PNGs and fits.json.

Every string on the page goes through Jinja2's autoescaping: experiment names, spec values and column names are
user data.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader

from scalinglab import __version__
from scalinglab.contracts import Measurement
from scalinglab.errors import SpecError


def environment() -> Environment:
    """The templates of ``report/templates``, every value escaped (``autoescape=True``, whatever the name)."""
    return Environment(loader=PackageLoader("scalinglab.report", "templates"), autoescape=True)


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a folder to write into: refused (SpecError) when it exists and is not a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SpecError(f"{out} exists and is not a folder", param="out")
    return out


def write_report(measurements: list[Measurement], fits: dict[str, Any], out: str | Path) -> Path:
    """Write ``out/report.html``, ``out/fits.json`` and the PNGs; return the HTML path."""
    from scalinglab.fit.regimes import Grid
    from scalinglab.report import plots

    out = check_out_dir(out)
    out.mkdir(parents=True, exist_ok=True)
    measurements = Grid.of(measurements)
    pngs = {
        "vs_data": plots.slice_figure(measurements, fits, "data", out / "slices_vs_data.png"),
        "vs_size": plots.slice_figure(measurements, fits, "size", out / "slices_vs_size.png"),
    }
    if fits.get("regimes"):
        pngs["regimes"] = plots.regime_panels(measurements, fits, out / "regimes.png")
        pngs["loss_vs_data"] = plots.loss_curves(measurements, fits, "data", out / "loss_vs_data.png")
        pngs["loss_vs_model"] = plots.loss_curves(measurements, fits, "model", out / "loss_vs_model.png")
    images = {k: base64.b64encode(p.read_bytes()).decode() for k, p in pngs.items() if p is not None}
    html = environment().get_template("report.html.j2").render(fits=fits, images=images, version=__version__)
    (out / "fits.json").write_text(json.dumps(fits, indent=2))
    path = out / "report.html"
    path.write_text(html)
    return path
