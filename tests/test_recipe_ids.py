"""Recipe ids: one package per paper, Bahri ids named after the paper's figures, earlier ids kept as aliases."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scalinglab import recipes
from scalinglab.cli import app
from scalinglab.errors import SpecError

ALIASES = {"bahri-four-regimes-nn": "bahri-fig1a", "bahri-teacher-student-4d": "bahri-fig1b",
           "bahri-random-features": "bahri-fig2", "bahri-duality": "bahri-fig2b-manifolds",
           "bahri-superclass-noise": "bahri-fig3", "bahri-pretrained-duality": "bahri-figS6"}
PACKAGE = Path(recipes.__file__).parent


def test_bahri_ids_name_the_figures_and_the_old_ids_are_aliases():
    ids = [r.id for r in recipes.all_recipes()]
    bahri = [i for i in ids if i.startswith("bahri-")]
    assert set(ALIASES.values()) <= set(bahri)
    assert all(re.fullmatch(r"bahri-fig(\d+[ab]?|S\d+)(-[a-z]+)?", i) for i in bahri), bahri  # the paper's figures
    assert not set(ALIASES) & set(ids)
    for old, new in ALIASES.items():
        assert recipes.get(old) is recipes.get(new) and recipes.alias_of(old) == new
        assert old in recipes.get(new).aliases
    assert recipes.alias_of("bahri-fig2") is None
    with pytest.raises(SpecError, match="registered twice"):
        recipes.register(recipes.Recipe("bahri-duality", "x", "x", lambda out, quick, jobs: None))
    with pytest.raises(SpecError, match="registered twice"):
        recipes.register(recipes.Recipe("new-id", "x", "x", lambda out, quick, jobs: None, aliases=("brill-fig6",)))


def test_every_id_is_written_literally_where_it_is_registered():
    """`grep '"ID"'` finds each recipe's registration: the id is a string literal in a register(Recipe(...)) call."""
    literal: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Recipe" and node.args:
                if isinstance(node.args[0], ast.Constant):
                    literal.add(node.args[0].value)
    assert {r.id for r in recipes.all_recipes()} <= literal


def test_one_package_per_paper_no_file_over_500_lines_no_private_import_across_modules():
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} >= {
        "bahri", "brill", "quanta"}
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert len(text.splitlines()) <= 500, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scalinglab"):
                assert not [a.name for a in node.names if a.name.startswith("_")], (path, node.module)


def test_cli_list_shows_the_new_ids_and_an_alias_runs_its_recipe(tmp_path, monkeypatch):
    from scalinglab.recipes.bahri import data

    runner = CliRunner()
    for args in (["reproduce", "list"], ["reproduce", "--list"]):
        res = runner.invoke(app, args, env={"COLUMNS": "250"})
        assert res.exit_code == 0 and "bahri-fig1a" in res.stdout and "bahri-figS6" in res.stdout, res.output
    tiny = data.DualityConfig(dataset="mnist1d", n=1500, width=32, pretrain_steps=30, data_sizes=(4, 8, 16, 32, 64),
                              feature_counts=(4, 8, 16, 32), peak_at=16, fit_max=16, seeds=2, n_test=200, n_val=100,
                              ridges=(1e-8, 1.0))
    monkeypatch.setattr(data, "QUICK_DUALITY", tiny)
    res = runner.invoke(app, ["reproduce", "bahri-pretrained-duality", "--quick", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "bahri-pretrained-duality is an alias of bahri-figS6" in res.output
    assert json.loads((tmp_path / "summary.json").read_text())["id"] == "bahri-figS6"
