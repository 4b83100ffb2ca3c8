"""Limits on what a user can ask for: `run --max-memory`, the nesting depth of a spec, and the length, nesting and
running time of a `--define`/`--where` expression. Each refusal is one line naming the option or key, exit status
2, and no store created."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY, invoke, one_error_line, spec_dict, write_spec
from scalinglab.cli.sweep import parse_size
from scalinglab.errors import DataError, SpecError
from scalinglab.fit import data
from scalinglab.fit.data import MAX_LENGTH, evaluate
from scalinglab.sweep.spec import MAX_DEPTH, memory_estimate, parse_spec


@pytest.mark.parametrize("text, expected", [("8G", 8 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", 1.5 * 2**30),
                                            ("2 T", 2 * 2**40), ("1000", 1000.0), ("64kb", 64 * 2**10),
                                            ("100B", 100.0), ("1e6", 1e6)])
def test_sizes_parse_in_binary_multiples(text, expected):
    assert parse_size(text, "--max-memory") == expected


@pytest.mark.parametrize("value", ["8X", "-1G", "0", "0M", "abc", "", "1e400", "nan", "inf", "8iB", "G"])
def test_a_bad_max_memory_is_refused_before_the_store_is_created(tmp_path, value):
    spec = write_spec(tmp_path / "s.toml", TINY)
    store = tmp_path / "s.sqlite"
    result = invoke("run", spec, "--store", store, "--workers", "1", "--max-memory", value)
    one_error_line(result, "--max-memory")
    assert not store.exists()


def test_a_spec_over_max_memory_is_refused_naming_the_key_and_the_estimate(tmp_path):
    spec = write_spec(tmp_path / "s.toml", TINY)
    need = memory_estimate(parse_spec(TINY))[0]
    store = tmp_path / "s.sqlite"
    limit = f"{need / 2 / 2**10:.0f}K"  # half of what its largest point needs
    line = one_error_line(invoke("run", spec, "--store", store, "--workers", "1", "--max-memory", limit),
                          "grid.data.max", "GiB", "--max-memory")
    assert "the largest point needs about" in line
    assert not store.exists()
    result = invoke("run", spec, "--store", store, "--workers", "1", "-q", "--max-memory",
                    f"{2 * need / 2**10:.0f}K")
    assert result.exit_code == 0, result.stderr
    assert store.exists()


def test_a_missing_data_file_is_refused_by_run_before_the_store_is_created(tmp_path):
    spec = write_spec(tmp_path / "s.toml", spec_dict(
        task={"kind": "real", "dataset": "file", "path": str(tmp_path / "no.npz")},
        model={"kind": "kernel_ridge", "n_test": 10},
        grid={"data": {"min": 8, "max": 16}, "size": {"min": 8, "max": 8}}))
    store = tmp_path / "s.sqlite"
    one_error_line(invoke("run", spec, "--store", store, "--workers", "1"), "task.path")
    assert not store.exists()


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200, 5000])
@pytest.mark.parametrize("shape", ["array", "inline", "dotted"])
def test_a_deeply_nested_spec_is_one_line_not_a_recursion_error(tmp_path, depth, shape):
    text = {"array": "x = " + "[" * depth + "]" * depth,
            "inline": "x = " + "{a = " * depth + "1" + "}" * depth,
            "dotted": "[" + ".".join(["a"] * depth) + "]"}[shape]
    path = tmp_path / "deep.toml"
    path.write_text('name = "deep"\n' + text + "\n")
    store = tmp_path / "s.sqlite"
    one_error_line(invoke("run", path, "--store", store, "--workers", "1"), "nested deeper than")
    assert not store.exists()


def test_parse_spec_refuses_deep_data_naming_the_path():
    deep: dict = {}
    inner = deep
    for _ in range(10_000):
        inner["k"] = {}
        inner = inner["k"]
    with pytest.raises(SpecError, match=r"^task\.k\.k.*nested deeper than"):
        parse_spec({**TINY, "task": deep})
    with pytest.raises(SpecError, match="must be a table"):
        parse_spec([TINY])  # type: ignore[arg-type]


COLUMNS = {"N": np.arange(1.0, 101.0)}


def test_a_long_expression_is_refused_before_it_is_parsed():
    with pytest.raises(SpecError, match=rf"exceeds the limit of {MAX_LENGTH}"):
        evaluate("+".join(["N"] * 1000), COLUMNS, "--define")
    assert evaluate("+".join(["N"] * 400), COLUMNS, "--define")[1] == 800.0  # just under the limit: evaluated


@pytest.mark.parametrize("expr", ["-" * 990 + "N", "(" * 300 + "N" + ")" * 300, "N\0"])
def test_deep_nesting_or_a_nul_in_an_expression_is_a_spec_error(expr):
    with pytest.raises(SpecError, match=r"^--where: "):
        evaluate(expr, COLUMNS, "--where")


def test_an_expression_past_its_time_is_refused(monkeypatch):
    monkeypatch.setattr(data, "MAX_SECONDS", -1.0)  # the deadline has passed before the first node
    with pytest.raises(DataError, match=r"^--define: 'N\*2' still evaluating after"):
        evaluate("N*2", COLUMNS, "--define")
    monkeypatch.undo()
    assert evaluate("N*2", COLUMNS, "--define")[0] == 2.0
