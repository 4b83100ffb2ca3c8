"""Shared helpers for the sweep, store, runner and CLI tests: tiny specs that run in milliseconds."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from scalinglab.sweep.spec import Spec, dump_toml, parse_spec

TINY: dict[str, Any] = {
    "name": "tiny",
    "seeds": 3,
    "task": {"kind": "teacher_student", "features": 256, "spectrum_exponent": 0.5},
    "model": {"kind": "random_features"},
    "grid": {"data": {"min": 8, "max": 64, "num": 4}, "size": {"min": 8, "max": 64, "num": 4}},
}


def spec_dict(**top: Any) -> dict[str, Any]:
    """A deep copy of the tiny spec with top-level keys replaced."""
    d = copy.deepcopy(TINY)
    d.update(copy.deepcopy(top))
    return d


def make_spec(**top: Any) -> Spec:
    return parse_spec(spec_dict(**top))


def write_spec(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(dump_toml(data))
    return path


@pytest.fixture
def tiny_spec() -> Spec:
    return make_spec()


@pytest.fixture(scope="session")
def clean_store(tmp_path_factory):
    """A store holding the tiny spec's experiment, built once; tests that damage it work on a copy."""
    from scalinglab.sweep.runner import run_sweep
    from scalinglab.sweep.store import Store

    path = tmp_path_factory.mktemp("clean") / "clean.sqlite"
    with Store(path) as s:
        run_sweep(make_spec(), s, workers=1)
    return path


@pytest.fixture
def one_blas_thread():
    """One BLAS thread: on a small shared machine an oversubscribed BLAS makes tiny solves 10x slower."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def invoke(*args: Any, columns: int = 60):
    """Run the app in-process with a terminal ``columns`` wide; re-raise anything but a normal exit."""
    from typer.testing import CliRunner

    from scalinglab.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def one_error_line(result, *needles: str) -> str:
    """Status 2 and exactly one line on stderr, naming each of ``needles``, and no traceback."""
    err = ANSI.sub("", result.stderr)
    assert result.exit_code == 2, (result.exit_code, err)
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
