"""`scalinglab fit DATA.csv`: bad measurements give one line naming the row or column, and exit status 2."""

from __future__ import annotations

import json

import pytest

from conftest import invoke, one_error_line

GOOD = "N,loss\n10,2.0\n100,1.2\n1000,0.9\n10000,0.8\n"


def _fit(tmp_path, text: str, *args: str):
    """`scalinglab fit` on ``text`` as a CSV, in a narrow terminal (to catch wrapped error lines)."""
    path = tmp_path / "runs.csv"
    path.write_text(text)
    return invoke("fit", path, "--y", "loss", "--x", "N", "--bootstrap", "0", *args, columns=40)


@pytest.mark.parametrize("text, needles", [
    ("N,loss\n10,2.0\n100,nan\n1000,0.9\n10000,0.8\n", ["'loss'", "row 3", "not finite"]),
    ("N,loss\n10,2.0\n100,\n1000,0.9\n10000,0.8\n", ["'loss'", "row 3", "missing"]),
    ("N,loss\n10,2.0\n0,1.2\n1000,0.9\n10000,0.8\n", ["'N'", "row 3", "not positive"]),
    ("N,loss\n10,2.0\n-5,1.2\n1000,0.9\n10000,0.8\n", ["'N'", "row 3", "not positive"]),
    ("N,err\n10,2.0\n100,1.2\n1000,0.9\n", ["no column 'loss'"]),
    ("N,loss\n10,2.0\n10,1.2\n10,0.9\n", ["'N'", "single distinct value"]),
    ("N,loss\n10,2.0\n100,one\n1000,0.9\n", ["'loss'", "row 3", "'one' is not a number"]),
    ("N,loss\n10,2.0\n100\n1000,0.9\n", ["row 3", "1 fields"]),
    ("", ["empty file"]),
])
def test_bad_csv_is_one_line_with_status_2(tmp_path, text, needles):
    one_error_line(_fit(tmp_path, text, "--strict"), *needles)  # without --strict a blank cell drops its row


@pytest.mark.parametrize("args, needle", [
    (["--define", "M=N*"], "--define M: cannot parse"),
    (["--define", "M=foo(N)"], "not allowed"),
    (["--where", "K > 3"], "unknown column 'K'"),
    (["--where", "N + 1"], "is not a condition"),
    (["--form", "cubic"], "unknown law 'cubic'"),
    (["--loss", "l1"], "--loss"),
    (["--resample", "pairs"], "--resample"),
    (["--holdout-largest", "3"], "--holdout-largest"),
    (["--drop-highest", "-1"], "--drop-highest"),
])
def test_bad_options_are_one_line_with_status_2(tmp_path, args, needle):
    one_error_line(_fit(tmp_path, GOOD, *args), needle)


def test_define_where_and_drop_highest_select_the_rows(tmp_path):
    text = "C,N,loss,split\n" + "".join(
        f"{6 * n * 20},{n},{2.0 + 50 * n ** -0.5:.6f},{'fit' if n < 5000 else 'test'}\n"
        for n in (10, 30, 100, 300, 1000, 3000, 10000)) + "600,5,99.0,fit\n"
    path = tmp_path / "runs.csv"
    path.write_text(text)
    out = tmp_path / "fit.json"
    result = invoke("fit", path, "--y", "loss", "--x", "D", "--define", "D=C/(6*N)*N", "--where", "split == 'fit'",
                    "--drop-highest", "1", "--form", "power_law_offset", "--bootstrap", "0", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["n_points"] == 6  # 7 fit rows, the outlier dropped; the 'test' row filtered out
    assert data["params"]["alpha"] == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("args, expected", [([], "residuals"), (["--loss", "ls"], "residuals"),
                                            (["--loss", "asymmetric"], "rows"),
                                            (["--loss", "ls", "--resample", "rows"], "rows")])
def test_the_bootstrap_resamples_residuals_but_rows_under_the_asymmetric_loss(tmp_path, args, expected):
    out = tmp_path / "fit.json"
    result = _fit(tmp_path, GOOD, "--form", "power_law", "--bootstrap", "30", "--json", str(out), *args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["resample"] == expected and data["n_bootstrap"] == 30
