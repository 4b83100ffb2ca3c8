"""The one way figures are written (tight layout, PNG, figure closed). No backend is set here: the command line
chooses the non-interactive one, a notebook keeps its own."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt


def save_figure(fig, path: Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` as PNG after a tight layout, close it, and return the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
