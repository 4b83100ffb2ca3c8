"""The self-contained HTML report of an experiment (figures embedded), plus its PNGs and fits.json."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from scalinglab import __version__
from scalinglab.contracts import Measurement
from scalinglab.report import plots


def write_report(measurements: list[Measurement], fits: dict[str, Any], out: str | Path) -> Path:
    """Write ``out/report.html``, ``out/fits.json`` and the PNGs; return the HTML path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pngs = {
        "regimes": plots.regime_panels(measurements, fits, out / "regimes.png"),
        "loss_vs_data": plots.loss_curves(measurements, fits, "data", out / "loss_vs_data.png"),
        "loss_vs_model": plots.loss_curves(measurements, fits, "model", out / "loss_vs_model.png"),
    }
    images = {k: base64.b64encode(p.read_bytes()).decode() for k, p in pngs.items()}
    env = Environment(loader=PackageLoader("scalinglab.report", "templates"), autoescape=select_autoescape())
    html = env.get_template("report.html.j2").render(fits=fits, images=images, version=__version__)
    (out / "fits.json").write_text(json.dumps(fits, indent=2))
    path = out / "report.html"
    path.write_text(html)
    return path
