"""Property-based bad input: generated malformed specs (for `scalinglab run`) and CSV files (for `scalinglab fit`)
each give exactly one error line and exit status 2, never a traceback, and never change or create a store.

Every generated input is malformed by construction (a required key removed, an unknown key added, a value of the
wrong type or out of range, broken TOML or encoding; a missing column, a non-numeric, non-finite or non-positive
value, a ragged row, too few distinct sizes), so exit status 0 is a failure too. The generator is derandomized:
the same 500 specs and 500 CSVs on every run.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import TINY
from scalinglab.cli import app
from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import dump_toml, parse_spec
from scalinglab.sweep.store import Store

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
EXAMPLES = 500
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _check_one_line_error(result) -> str:
    err = ANSI.sub("", result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 2, (result.exit_code, err, result.stdout)
    assert "Traceback" not in err and "Traceback" not in result.stdout
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def _invoke(args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "60"})


# ---------------------------------------------------------------------------------------------- bad specs

WORDS = st.text(alphabet=string.ascii_letters, min_size=1, max_size=8).filter(
    lambda s: s.lower() not in {"inf", "nan", "infinity", "true", "false", "yes", "no", "on", "off", "t", "f",
                                "y", "n"})
NOT_A_TABLE = st.one_of(WORDS, st.integers(-5, 5), st.lists(st.integers(0, 3), max_size=3))
NOT_AN_INT = st.one_of(WORDS, st.floats(0.1, 0.9).map(lambda f: 3 + f), st.just([1]), st.just({"a": 1}))
NOT_A_FLOAT = st.one_of(WORDS, st.just([1.0]), st.just({"a": 1.0}), st.just(math.nan), st.just(math.inf))
NOT_A_BOOL = st.one_of(WORDS, st.integers(2, 99), st.floats(0.1, 0.9), st.just([True]))
BAD_NAME = st.one_of(st.just(""), st.text(alphabet=" /!@#$%^&*()[]{}é\\'\"", min_size=1, max_size=5).map(
    lambda s: "tiny" + s), st.integers(0, 9), st.just(["tiny"]))

# (path, strategy of invalid values); every value drawn is invalid for that key
INVALID_VALUES: list[tuple[tuple[str, ...], st.SearchStrategy]] = [
    (("name",), BAD_NAME),
    (("seeds",), st.one_of(st.integers(-10**6, 0), st.integers(10_001, 10**9), NOT_AN_INT)),
    (("task",), NOT_A_TABLE),
    (("model",), NOT_A_TABLE),
    (("grid",), NOT_A_TABLE),
    (("task", "kind"), st.one_of(WORDS.filter(lambda s: s != "teacher_student"), st.integers(), st.just([]))),
    (("model", "kind"), st.one_of(WORDS.filter(lambda s: s != "random_features"), st.integers())),
    (("task", "features"), st.one_of(st.integers(-10**6, 63), NOT_AN_INT)),
    (("task", "spectrum_exponent"), st.one_of(st.floats(-1e6, 0.0), st.just(-math.inf), NOT_A_FLOAT)),
    (("task", "noise"), st.one_of(st.floats(-1e6, -1e-9), NOT_A_FLOAT)),
    (("task", "average_teacher"), NOT_A_BOOL),
    (("task", "teacher_seed"), st.one_of(st.integers(-10**6, -1), NOT_AN_INT)),
    (("model", "ridge"), st.one_of(st.floats(-1e6, -1e-12), NOT_A_FLOAT)),
    (("grid", "data"), NOT_A_TABLE),
    (("grid", "size"), NOT_A_TABLE),
    (("grid", "data", "min"), st.one_of(st.integers(-10**6, 0), st.integers(65, 10**6), NOT_AN_INT)),
    (("grid", "size", "max"), st.one_of(st.integers(-10**6, 7), NOT_AN_INT)),
    (("grid", "data", "num"), st.one_of(st.integers(-100, 0), st.integers(201, 10**6), NOT_AN_INT)),
]
REQUIRED = [("name",), ("task",), ("model",), ("grid",), ("task", "kind"), ("model", "kind"), ("grid", "data"),
            ("grid", "size"), ("grid", "data", "min"), ("grid", "data", "max"), ("grid", "size", "min")]
TABLES = [(), ("task",), ("model",), ("grid",), ("grid", "data"), ("grid", "size")]
KNOWN_KEYS = {"name", "seeds", "task", "model", "grid", "kind", "features", "spectrum_exponent", "noise",
              "average_teacher", "teacher_seed", "ridge", "data", "size", "min", "max", "num"}


def _at(d: dict, path: tuple[str, ...]) -> dict:
    for key in path:
        d = d[key]
    return d


@st.composite
def bad_spec_dicts(draw) -> dict:
    spec = copy.deepcopy(TINY)
    kind = draw(st.sampled_from(["value", "missing", "unknown"]))
    if kind == "value":
        path, values = draw(st.sampled_from(INVALID_VALUES))
        _at(spec, path[:-1])[path[-1]] = draw(values)
    elif kind == "missing":
        path = draw(st.sampled_from(REQUIRED))
        del _at(spec, path[:-1])[path[-1]]
    else:
        table = draw(st.sampled_from(TABLES))
        key = draw(st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=10).filter(
            lambda k: k not in KNOWN_KEYS))
        _at(spec, table)[key] = draw(st.one_of(st.integers(0, 9), WORDS))
    return spec


VALID_TEXT = dump_toml(TINY)


@st.composite
def bad_spec_files(draw) -> bytes:
    """Bytes of a spec file: a malformed spec written as TOML, or valid TOML text broken at the byte level."""
    how = draw(st.sampled_from(["dict", "dict", "truncate", "bytes", "empty"]))
    if how == "dict":
        return dump_toml(draw(bad_spec_dicts())).encode("utf-8", "surrogatepass")
    text = VALID_TEXT.encode()
    if how == "truncate":  # always loses the closing brace of the last inline table, at least
        return text[: draw(st.integers(0, len(text.rstrip()) - 1))]
    if how == "bytes":  # NUL, a control character or a byte that is not UTF-8, anywhere
        at = draw(st.integers(0, len(text)))
        junk = draw(st.lists(st.sampled_from([b"\x00", b"\x01", b"\x7f", b"\xff", b"\xc3", b"\x80"]), min_size=1,
                             max_size=3))
        return text[:at] + b"".join(junk) + text[at:]
    return draw(st.sampled_from([b"", b"\n", b"   \n\t\n", b"# only a comment\n"]))


def test_generated_specs_are_malformed():
    """Guard on the generator itself: the dict mutations are rejected by the validator (else they would run)."""
    from scalinglab.errors import SpecError

    @FUZZ
    @given(bad_spec_dicts())
    def check(spec):
        with pytest.raises(SpecError):
            parse_spec(spec)

    check()


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A store holding the tiny spec, and its digest."""
    path = tmp_path_factory.mktemp("fuzz") / "store.sqlite"
    with Store(path) as st_:
        run_sweep(parse_spec(TINY), st_, workers=1)
    return path


@FUZZ
@given(data=bad_spec_files(), existing=st.booleans())
def test_bad_spec_files_give_one_line_and_status_2_store_unchanged(tmp_path_factory, stored, data, existing):
    folder = tmp_path_factory.mktemp("spec", numbered=True)
    spec_path = folder / "spec.toml"
    spec_path.write_bytes(data)
    store = stored if existing else folder / "new.sqlite"
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in stored.parent.iterdir()}
    _check_one_line_error(_invoke(["run", spec_path, "--store", store, "--workers", "1"]))
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in stored.parent.iterdir()}
    assert after == before
    assert not (folder / "new.sqlite").exists()


# ---------------------------------------------------------------------------------------------- bad CSVs

SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048]
GOOD_ROWS = [[str(n), repr(2.0 * n ** -0.5 + 0.01), str(seed)] for seed in (0, 1) for n in SIZES]
HEADER = ["N", "loss", "seed"]
NON_NUMBER = WORDS
NOT_FINITE = st.sampled_from(["", "nan", "NaN", "inf", "-inf", "Infinity", " "])
NOT_POSITIVE = st.one_of(st.just("0"), st.just("-0.0"), st.floats(-1e9, -1e-300).map(repr))


def _csv(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


@st.composite
def bad_csvs(draw) -> bytes:
    header, rows = list(HEADER), [list(r) for r in GOOD_ROWS]
    how = draw(st.sampled_from(["cell", "cell", "cell", "column", "ragged", "distinct", "rows", "bytes", "junk"]))
    if how == "cell":  # one bad value in the loss or the size column
        row, col = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from([0, 1]))
        rows[row][col] = draw(st.one_of(NON_NUMBER, NOT_FINITE, NOT_POSITIVE))
    elif how == "column":  # the loss or size column missing or renamed
        col = draw(st.sampled_from([0, 1]))
        if draw(st.booleans()):
            header[col] = draw(WORDS.filter(lambda w: w not in HEADER))
        else:
            header.pop(col)
            rows = [r[:col] + r[col + 1:] for r in rows]
    elif how == "ragged":  # a row with a field too many or too few
        row = draw(st.integers(0, len(rows) - 1))
        rows[row] = rows[row] + ["1"] if draw(st.booleans()) else rows[row][:-1]
    elif how == "distinct":  # every size the same: no scaling law
        size = draw(st.sampled_from(SIZES))
        rows = [[str(size), *r[1:]] for r in rows[: draw(st.integers(1, len(rows)))]]
    elif how == "rows":  # no data rows at all, or a single one
        rows = rows[: draw(st.integers(0, 1))]
    if how == "bytes":  # a NUL or a byte that is not UTF-8 inside a loss or size value
        row, col = draw(st.integers(0, len(rows) - 1)), draw(st.sampled_from([0, 1]))
        at = draw(st.integers(0, len(rows[row][col])))
        marker = "\x01MARK\x01"
        rows[row][col] = rows[row][col][:at] + marker + rows[row][col][at:]
        junk = draw(st.sampled_from([b"\x00", b"\xff", b"\xc3(", b"\x80", b"\x00\xff"]))
        return _csv(header, rows).encode().replace(marker.encode(), junk)
    text = _csv(header, rows).encode()
    if how == "junk":  # arbitrary text that has no 'loss' column
        junk = draw(st.text(alphabet=string.printable, max_size=200).filter(lambda t: "loss" not in t))
        return junk.encode()
    return text


@FUZZ
@given(data=bad_csvs())
def test_bad_csvs_give_one_line_and_status_2(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("csv", numbered=True) / "data.csv"
    path.write_bytes(data)
    # --strict: blank and non-finite cells are refused (by default their rows are dropped with a warning)
    line = _check_one_line_error(_invoke(["fit", path, "--y", "loss", "--x", "N", "--bootstrap", "20", "--strict"]))
    assert "data.csv" in line or "--" in line or "fit:" in line, line


# ---------------------------------------------------------------------------------------------- the long run

SLOW_FUZZ = settings(FUZZ, max_examples=1000)


@pytest.mark.slow
@SLOW_FUZZ
@given(data=bad_spec_files(), existing=st.booleans())
def test_bad_spec_files_slow_size(tmp_path_factory, stored, data, existing):
    """1,000 more generated specs (other draws than the default run's)."""
    test_bad_spec_files_give_one_line_and_status_2_store_unchanged.hypothesis.inner_test(
        tmp_path_factory, stored, data, existing)


@pytest.mark.slow
@SLOW_FUZZ
@given(data=bad_csvs())
def test_bad_csvs_slow_size(tmp_path_factory, data):
    """1,000 more generated CSVs."""
    test_bad_csvs_give_one_line_and_status_2.hypothesis.inner_test(tmp_path_factory, data)
