"""The registry of the papers' figures: each maps to a registered recipe or says why none reproduces it."""

from __future__ import annotations

import dataclasses

import pytest
from typer.testing import CliRunner

from scalinglab import recipes
from scalinglab.cli import app
from scalinglab.errors import SpecError
from scalinglab.recipes import figures


def test_every_figure_has_a_registered_recipe_or_a_reason_and_every_recipe_appears():
    ids = {r.id for r in recipes.all_recipes()}
    figures.check_figures(ids)
    for f in figures.PAPER_FIGURES:
        assert (f.recipe in ids and not f.reason) or (f.recipe is None and len(f.reason.strip()) > 20), f
    assert ids <= {f.recipe for f in figures.PAPER_FIGURES}
    keys = [(f.paper, f.figure) for f in figures.PAPER_FIGURES]
    assert len(keys) == len(set(keys))
    assert {f.figure for f in figures.PAPER_FIGURES if f.paper == figures.BAHRI} >= {
        "Fig. 1a", "Fig. 1b", "Fig. 2", "Fig. 3", "Fig. S1", "Fig. S2", "Fig. S3", "Fig. S4", "Fig. S5",
        "Figs. S6, S7"}
    assert {f.figure for f in figures.PAPER_FIGURES if f.paper == figures.BRILL} >= {
        f"Fig. {k}" for k in range(1, 8)}


def test_check_figures_rejects_an_unknown_id_a_missing_reason_and_an_unlisted_recipe(monkeypatch):
    ids = {r.id for r in recipes.all_recipes()}
    with pytest.raises(SpecError, match="reproducing no listed figure: zz-new"):
        figures.check_figures(ids | {"zz-new"})
    base = figures.PAPER_FIGURES
    for bad in (dataclasses.replace(base[0], recipe="brill-fig99"), dataclasses.replace(base[0], recipe=None),
                dataclasses.replace(base[0], reason="both")):
        monkeypatch.setattr(figures, "PAPER_FIGURES", (bad, *base[1:]))
        with pytest.raises(SpecError, match="Fig. 1a"):
            figures.check_figures(ids)


def test_cli_list_and_the_index_page_show_every_figure(tmp_path):
    res = CliRunner().invoke(app, ["reproduce", "list"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    for row in figures.figure_rows():
        assert row["figure"] in res.stdout
    assert res.stdout.count("not reproduced:") == sum(f.recipe is None for f in figures.PAPER_FIGURES)
    summary = recipes.reproduce("brill-fig4", tmp_path / "brill-fig4", quick=True)
    html = (tmp_path / "index.html").read_text() if recipes.write_index(tmp_path, [summary], True) else ""
    assert "Fig. S3" in html and "Chinchilla" in html and html.count("not reproduced:") == sum(
        f.recipe is None for f in figures.PAPER_FIGURES)
