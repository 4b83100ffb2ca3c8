"""Inputs a user can get wrong: each is one line on stderr naming the option, column, file or value, exit status 2,
no traceback, and nothing written. Output paths are checked before the data is read."""

from __future__ import annotations

import json
import time

import pytest

from conftest import invoke, one_error_line

GOOD = "N,loss\n10,2.0\n100,1.2\n1000,0.9\n10000,0.8\n"
JOINT = "N,D,loss\n10,100,3.0\n100,100,2.5\n10,1000,2.4\n100,1000,2.0\n1000,10000,1.5\n"


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*"))


def _fit(tmp_path, args, text: str = GOOD, x=("N",), name: str = "runs.csv", columns: int = 40):
    """`fit` on ``text`` in a narrow terminal; the result and the files under tmp_path before it ran."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    before = _files(tmp_path)
    xs = [a for c in x for a in ("--x", c)]
    return invoke("fit", path, "--y", "loss", *xs, "--bootstrap", "0", *args, columns=columns), before


def _refused(tmp_path, args, *needles, **kw):
    result, before = _fit(tmp_path, args, **kw)
    line = one_error_line(result, *needles)
    assert _files(tmp_path) == before, "a refused command wrote something"
    return line


# ------------------------------------------------------------------------------------------- output paths


@pytest.mark.parametrize("option, target, needles", [
    ("--json", "missing/fit.json", ["--json", "missing", "does not exist"]),
    ("--json", "adir", ["--json", "adir", "is a folder"]),
    ("--plot", "missing/fit.png", ["--plot", "missing", "does not exist"]),
    ("--plot", "adir", ["--plot", "adir", "is a folder"]),
    ("--plot", "fit.unknownext", ["--plot", "fit.unknownext", "unknown format", "png"]),
    ("--plot", "fit", ["--plot", "no suffix", "png"]),
])
def test_bad_output_paths_are_refused_before_any_work(tmp_path, option, target, needles):
    (tmp_path / "adir").mkdir()
    # the data is bad too: the output path is checked first, so its error is the one reported
    _refused(tmp_path, [option, str(tmp_path / target)], *needles, text="N,loss\n10,oops\n")


def test_plot_and_json_into_good_paths_are_written(tmp_path):
    result, _ = _fit(tmp_path, ["--form", "power_law", "--json", str(tmp_path / "fit.json"),
                                "--plot", str(tmp_path / "fit.svg")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "fit.json").read_text())["form"] == "power_law"
    assert (tmp_path / "fit.svg").read_text().lstrip().startswith("<?xml")


def test_export_out_into_a_missing_folder_is_refused(tmp_path):
    from scalinglab.sweep.store import Store

    store = tmp_path / "store.sqlite"
    with Store(store):
        pass
    before = _files(tmp_path)
    one_error_line(invoke("export", "--store", store, "--out", tmp_path / "missing" / "rows.csv", columns=40),
                   "--out", "missing", "does not exist")
    one_error_line(invoke("export", "--store", store, "--out", tmp_path, columns=40), "--out", "is a folder")
    assert _files(tmp_path) == before


# ------------------------------------------------------------------------------------------- option values


@pytest.mark.parametrize("value, needle", [("abc", "'abc'"), ("1e21,", "''"), ("-1", "'-1'"), ("nan", "'nan'"),
                                           ("0", "'0'"), ("1e21,inf", "'inf'")])
def test_bad_compute_budgets_are_refused(tmp_path, value, needle):
    _refused(tmp_path, ["--compute", value], "--compute", needle, text=JOINT, x=("N", "D"))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_predicted_exponent_is_refused(tmp_path, value):
    _refused(tmp_path, ["--predicted", value], "--predicted", value.lstrip("-"))


def test_the_same_size_column_twice_is_refused(tmp_path):
    _refused(tmp_path, [], "--x: D given twice", text=JOINT, x=("D", "D"))


# ------------------------------------------------------------------------------------------- --define


@pytest.mark.parametrize("define, needles", [
    ("N=1/0", ["--define N", "'1/0'", "not finite", "row 2"]),
    ("N=10**400", ["--define N", "not finite", "row 2"]),
    ("N=(-1)**0.5", ["--define N", "not finite", "row 2"]),
    ("N=0**-1", ["--define N", "not finite", "row 2"]),
    ("N=1/(N-100)", ["--define N", "not finite", "row 3"]),  # 1/0 at the second data row only
    ("N='abc'", ["--define N", "text"]),
    ("N=N > 'a'", ["--define N", "column 'N'", "'a'", "text", "number"]),
    ("N=N*1e400", ["--define N", "constant", "limit of 1e+300"]),
    ("N=N*2**5000", ["--define N", "exponent 5000", "limit of 1000"]),
])
def test_bad_definitions_name_the_definition(tmp_path, define, needles):
    _refused(tmp_path, ["--define", define], *needles)


def test_a_huge_power_fails_fast_naming_the_limit(tmp_path):
    start = time.monotonic()
    _refused(tmp_path, ["--define", "N=N*9**9**9"], "--define N", "exponent", "limit of 1000")
    assert time.monotonic() - start < 2


def test_a_definition_over_a_missing_value_in_a_filtered_row_is_not_an_error(tmp_path):
    text = "N,loss,split\n10,2.0,fit\n100,1.2,fit\n,5.0,test\n1000,0.9,fit\n10000,0.8,fit\n"
    out = tmp_path / "fit.json"
    result, _ = _fit(tmp_path, ["--define", "M=N*2", "--where", "split == 'fit'", "--form", "power_law",
                                "--json", str(out)], text=text, x=("M",))
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["n_points"] == 4


# ------------------------------------------------------------------------------------------- --where and the CSV


def test_where_comparing_a_text_column_with_a_number_names_the_column(tmp_path):
    text = "N,loss,split\n10,2.0,a\n100,1.2,b\n1000,0.9,a\n10000,0.8,b\n"
    _refused(tmp_path, ["--where", "split > 1"], "--where", "column 'split'", "text", "number", text=text)


def test_where_on_a_numeric_column_compares_numbers(tmp_path):
    out = tmp_path / "fit.json"
    result, _ = _fit(tmp_path, ["--where", "N >= 100", "--form", "power_law", "--json", str(out)],
                     text=GOOD + "100000,0.75\n")
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["n_points"] == 4


def test_a_duplicated_header_names_the_column(tmp_path):
    _refused(tmp_path, [], "column 'N'", "more than once", text="N,N,loss\n10,10,2.0\n100,100,1.2\n")


def test_a_byte_order_mark_does_not_hide_the_first_column(tmp_path):
    out = tmp_path / "fit.json"
    result, _ = _fit(tmp_path, ["--form", "power_law", "--json", str(out)], text="\ufeff" + GOOD)
    assert result.exit_code == 0, result.stderr
    assert json.loads(out.read_text())["n_points"] == 4


# ------------------------------------------------------------------------------------------- rich markup


def test_markup_in_column_names_and_paths_is_printed_literally(tmp_path):
    text = GOOD.replace("N,loss", "[/n],loss")
    out = tmp_path / "[b]fit.json"
    result, _ = _fit(tmp_path, ["--form", "power_law", "--json", str(out)], text=text, x=("[/n]",),
                     name="a[/x]runs.csv", columns=400)  # a folder "a[" and a file "x]runs.csv": markup "[/x]"
    assert result.exit_code == 0, result.stderr
    assert "against [/n] in" in result.stdout and "a[/x]runs.csv" in result.stdout
    assert json.loads(out.read_text())["n_points"] == 4


def test_markup_in_an_error_line_is_printed_literally(tmp_path):
    text = "N,loss,[/n]\n10,2.0,1\n100,1.2,2\n1000,0.9,3\n10000,0.8,4\n"
    _refused(tmp_path, ["--where", "`[/n]` > 'a'"], "column '[/n]'", "text", "number", text=text)
    _refused(tmp_path, ["--y", "[/missing]"], "no column '[/missing]'", text=text)


def test_an_interval_of_nan_is_printed_not_read_as_markup(tmp_path):
    result, _ = _fit(tmp_path, ["--form", "power_law"], columns=200)  # no bootstrap: the intervals are nan
    assert result.exit_code == 0, result.stderr
    assert "[nan, nan]" in result.stdout
