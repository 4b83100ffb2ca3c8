"""Every figure of both papers and what reproduces it: a recipe id, or "not reproduced" with the reason.

``PAPER_FIGURES`` is the one table: ``scalinglab reproduce list`` prints it and the recipes' index page shows it.
Recipes that extend a paper (a figure's measurement on other data) are listed as rows of their own.
"""

from __future__ import annotations

import dataclasses

from scalinglab.errors import SpecError


@dataclasses.dataclass(frozen=True)
class PaperFigure:
    """One figure of a paper: ``recipe`` (a registered id) reproduces it, or ``reason`` says why nothing does."""

    paper: str
    figure: str
    shows: str
    recipe: str | None = None
    reason: str = ""


BAHRI, BRILL, QUANTA = "Bahri et al. 2024", "Brill 2024", "Michaud et al. 2023"
_CPU = "on 2 CPU cores in about an hour"
PAPER_FIGURES: tuple[PaperFigure, ...] = (
    PaperFigure(BAHRI, "Fig. 1a", "four scaling regimes in trained deep networks", "bahri-fig1a"),
    PaperFigure(BAHRI, "Fig. 1b", "teacher-student on hypercubes: 4/alpha_D against d", "bahri-fig1b"),
    PaperFigure(BAHRI, "Fig. 2", "random-feature models on pooled MNIST: four regimes, alpha_D = alpha_P = alpha_K",
                "bahri-fig2"),
    PaperFigure(BAHRI, "Fig. 2b (extension)", "the duality alpha_D = alpha_P = alpha_K on synthetic manifolds",
                "bahri-fig2b-manifolds"),
    PaperFigure(BAHRI, "Fig. 3", "superclasses leave alpha_D unchanged, input noise changes it", "bahri-fig3"),
    PaperFigure(BAHRI, "Fig. S1", "loss and error, final and early-stopped: similar exponents", "bahri-figS1"),
    PaperFigure(BAHRI, "Fig. S2", "teacher-student learning curves for d = 2..9 behind Fig. 1b (quick: d = 2..6)",
                "bahri-fig1b"),
    PaperFigure(BAHRI, "Fig. S3", "cross-entropy against D for convolutional networks on image sets",
                reason="the paper trains convolutional networks on CIFAR-10/100 and SVHN at 32x32 to convergence "
                "over a data-size sweep, thousands of GPU-hours; of such image sets only Fashion-MNIST ships offline "
                "(Debian package dataset-fashion-mnist, used by bahri-fig2), and a CNN data-size sweep on it cannot "
                f"be trained to convergence {_CPU}"),
    PaperFigure(BAHRI, "Fig. S4", "alpha_P against input dimension", "bahri-figS4"),
    PaperFigure(BAHRI, "Fig. S5", "aspect ratio: depth and width multiplier of a residual network",
                reason="the paper sweeps depth and width of wide ResNets on CIFAR-10 on GPUs; a sweep of a small "
                f"convolutional network large enough to reach the critical width does not fit {_CPU}"),
    PaperFigure(BAHRI, "Figs. S6, S7", "linear readouts on frozen pretrained features: L against D and P",
                "bahri-figS6"),
    PaperFigure(BRILL, "Fig. 1", "site percolation on a 10x10x10 cubic lattice at p = 0.1, 0.3116, 0.6",
                "brill-fig1"),
    PaperFigure(BRILL, "Fig. 2", "theoretical model scaling L(N)", "brill-fig2"),
    PaperFigure(BRILL, "Fig. 3", "theoretical data scaling L(D)", "brill-fig3"),
    PaperFigure(BRILL, "Fig. 4", "exponent ratios against lattice dimension d", "brill-fig4"),
    PaperFigure(BRILL, "Fig. 5", "loss over the DOF allocation (b, k_br) at N = 500", "brill-fig5"),
    PaperFigure(BRILL, "Fig. 6", "simulated model and data scaling against theory, median over seeds", "brill-fig6"),
    PaperFigure(BRILL, "Fig. 7", "cluster-size CDF, per-cluster curves, sigma_k histogram", "brill-fig7"),
    PaperFigure(BRILL, "App.: cluster sizes", "accepted cluster sizes against (s/s_max)^(2 - tau)", "brill-fig7"),
    PaperFigure(BRILL, "App.: sigma diagnostics", "conversion factors sigma_k against cluster size and fit residuals",
                "brill-fig7"),
    PaperFigure(BRILL, "App.: per-cluster curves", "each cluster's loss against training sites with its fit",
                "brill-fig7"),
    PaperFigure(BRILL, "App.: example clusters", "small accepted clusters drawn, sites coloured by value",
                "brill-fig7"),
    PaperFigure(BRILL, "App.: single-seed curves", "model and data scaling of one seed against theory", "brill-fig6"),
    PaperFigure(BRILL, "App.: Chinchilla d_model", "d_model against parameters for the Chinchilla models, "
                "d_model = 0.57 P^0.387",
                reason="needs the Chinchilla model table (d_model of each model, Hoffmann et al. 2022, Table A9); "
                "the published Chinchilla data held here (the replication's points from Figure 4) has parameter "
                "counts and losses only, no d_model"),
    PaperFigure(QUANTA, "quanta model (related)", "multitask sparse parity: exponents against the quanta theory",
                "quanta-zipf"),
    PaperFigure("Li et al. 2026", "Table 2 (related)", "runs chosen within a budget: target-region R^2 on ScaleBench",
                "plan-scalebench"),
)


def figure_rows() -> list[dict[str, str]]:
    """The table's rows: paper, figure, shows, and "recipe ID" or "not reproduced: REASON"."""
    return [{"paper": f.paper, "figure": f.figure, "shows": f.shows,
             "reproduced by": f.recipe if f.recipe else f"not reproduced: {f.reason}"} for f in PAPER_FIGURES]


def check_figures(recipe_ids: set[str]) -> None:
    """SpecError unless every figure names a registered recipe or a reason, and every recipe reproduces a figure."""
    for f in PAPER_FIGURES:
        if (f.recipe is None) == (not f.reason.strip()) or (f.recipe is not None and f.recipe not in recipe_ids):
            raise SpecError(f"{f.paper} {f.figure}: give a registered recipe id or a reason, not both")
    missing = recipe_ids - {f.recipe for f in PAPER_FIGURES}
    if missing:
        raise SpecError(f"recipes reproducing no listed figure: {', '.join(sorted(missing))}")
