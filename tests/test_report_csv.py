"""`report --csv`: the HTML page of a fit to anyone's measurements carries the numbers `fit` gives on the same data.

The page's fit.json must equal what `scalinglab fit --json` writes with the same options, byte for byte; the page
shows the parameters formatted as `fit` prints them, every candidate form, and the allocation of a joint fit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
import typer
from typer.testing import CliRunner

from conftest import ANSI, invoke, one_error_line
from scalinglab.cli._app import guard
from scalinglab.cli.fit import FIT_OPTION_NAMES, FitOptions, fit_csv_analysis, report_csv
from scalinglab.errors import SpecError

DATA = Path(__file__).parent / "data" / "external"
CHINCHILLA = (DATA / "chinchilla_epoch_svg_extracted.csv",
              dict(y="loss", x=["N", "D"], define=["N=`Model Size`", "D=`Training FLOP`/(6*N)"], drop_highest=5,
                   form="chinchilla", bootstrap=100))
BNSL = (DATA / "bnsl_4digit_addition.csv",
        dict(y="test_cross_entropy", x=["dataset_size"], form="auto", holdout_largest=3, bootstrap=50))


def _cli_args(options: dict) -> list[str]:
    args = []
    for key, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            args += ["--" + key.replace("_", "-"), str(item)]
    return args


def _page_and_cli(tmp_path_factory, case) -> tuple[Path, str, str]:
    """report_csv's page and fit.json, and the fit.json of `scalinglab fit` with the same options."""
    data, options = case
    tmp = tmp_path_factory.mktemp("report")
    html = report_csv(data, tmp / "page", **options)
    result = invoke("fit", data, *_cli_args(options), "--json", tmp / "cli.json")
    assert result.exit_code == 0, result.output
    return html, (tmp / "page" / "fit.json").read_text(), (tmp / "cli.json").read_text()


@pytest.fixture(scope="module")
def chinchilla(tmp_path_factory):
    return _page_and_cli(tmp_path_factory, CHINCHILLA)


@pytest.fixture(scope="module")
def bnsl(tmp_path_factory):
    return _page_and_cli(tmp_path_factory, BNSL)


def _assert_parameters_as_printed(html: str, result: dict) -> None:
    for name, value in result["params"].items():
        lo, hi = result["ci95"][name]
        for text in (f"<td>{value:.5g}</td>", f"<td>{result['se'][name]:.3g}</td>", f"<td>[{lo:.4g}, {hi:.4g}]</td>"):
            assert text in html, (name, text)
    for name, d in result["derived"].items():
        assert f"<td>{d['value']:.5g}</td>" in html, name


def _assert_self_contained(html_path: Path) -> None:
    html = html_path.read_text()
    assert "data:image/png;base64," in html
    assert 'src="http' not in html and "<link" not in html and "<script" not in html
    assert (html_path.parent / "fit.png").stat().st_size > 0


def test_chinchilla_page_has_the_numbers_of_fit(chinchilla):
    html_path, page_json, cli_json = chinchilla
    assert page_json == cli_json
    result = json.loads(page_json)
    html = html_path.read_text()
    _assert_self_contained(html_path)
    _assert_parameters_as_printed(html, result)
    assert f"{result['params']['alpha']:.5g}" == "0.34731"  # Besiroglu et al. 2024: alpha = 0.347
    assert "Compute-optimal allocation" in html and (html_path.parent / "allocation.png").exists()
    for r in result["allocation"]:
        lo, hi = r["tokens_per_parameter_ci95"]
        row = (f"<td>{r['C']:.3g}</td><td>{r['N']:.3g}</td>", f"<td>{r['D']:.3g}</td>",
               f"<td>{r['tokens_per_parameter']:.3g}</td><td>[{lo:.3g}, {hi:.3g}]</td>")
        for text in row:
            assert text in html, text
    assert "240 rows" in html and "too many to list" in html  # a summary, not 240 table rows
    assert "--define &#39;N=`Model Size`&#39;" in html  # the command line that gives the same numbers


def test_auto_form_page_lists_every_candidate_and_the_regime(bnsl):
    html_path, page_json, cli_json = bnsl
    assert page_json == cli_json
    result = json.loads(page_json)
    html = html_path.read_text()
    _assert_self_contained(html_path)
    _assert_parameters_as_printed(html, result)
    assert result["selection"]["chosen"] == result["form"] == "broken_power_law"
    for name, score in result["selection"]["holdout_rmse_log"].items():
        assert f'<td class="name">{name}' in html and f"<td>{score:.3g}</td>" in html, name
    assert f"<td class=\"name\">{result['form']} &#10003; chosen</td>" in html
    r = result["regime"]
    assert r["regime"].replace("_", " ") in html and f"<td>{r['z_vs_1']:.2f}</td>" in html
    assert f"<td>[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]</td>" in html
    assert f"Held-out RMSE of log loss: <b>{result['holdout_rmse_log']:.4g}</b>" in html
    assert html.count('<tr class="held">') == 3 and html.count('<tr class="fitted">') == 14  # all 17 rows listed
    assert "Compute-optimal allocation" not in html  # one size column: a regime, no allocation


def test_fit_csv_analysis_keeps_what_the_page_needs():
    from scalinglab.fit.select import select_form

    data, options = BNSL
    analysis = fit_csv_analysis(data, **{**options, "bootstrap": 0})
    assert analysis.X.shape == (17, 1) and analysis.Y.shape == (17,) and analysis.held_out.sum() == 3
    assert list(analysis.rows) == list(range(2, 19))  # line numbers in the CSV
    assert analysis.fit.form == analysis.result["form"] and analysis.verdict is not None
    assert analysis.result["regime"] == analysis.verdict.to_dict() and analysis.allocation is None
    # the selection is select_form's, and every candidate's fit is kept with its held-out error
    assert analysis.selection.to_dict() == select_form(analysis.X, analysis.Y, 3, n_boot=0).to_dict()
    assert set(analysis.candidates) == set(analysis.selection.scores)
    for name, fit in analysis.candidates.items():
        assert fit.holdout_rmse_log == analysis.selection.scores[name]


def _report_app() -> typer.Typer:
    """A `report --csv` command built as the real one is meant to be: the fit options shared, not copied."""
    app = typer.Typer()

    @app.command()
    @guard
    def report(csv: Path = typer.Option(..., "--csv"), out: Path = typer.Option(..., "--out"),
               y: Optional[str] = FitOptions.y, x: Optional[list[str]] = FitOptions.x, form: str = FitOptions.form,
               loss: str = FitOptions.loss, delta: float = FitOptions.delta, bootstrap: int = FitOptions.bootstrap,
               resample: str = FitOptions.resample, holdout_largest: int = FitOptions.holdout_largest,
               define: Optional[list[str]] = FitOptions.define, where: Optional[list[str]] = FitOptions.where,
               drop_highest: int = FitOptions.drop_highest, group: Optional[str] = FitOptions.group,
               predicted: Optional[float] = FitOptions.predicted, compute: Optional[str] = FitOptions.compute
               ) -> None:
        given = locals()
        path = report_csv(csv, out, **{name: given[name] for name in FIT_OPTION_NAMES})
        print(f"report: {path}")

    return app


LOSS, SIZE = "<script>alert(1)</script>", "[/x]<b>size</b>"


def test_column_names_are_escaped_in_the_page_and_in_the_terminal(tmp_path):
    csv = tmp_path / "runs.csv"
    csv.write_text(f"{SIZE},{LOSS}\n" + "".join(f"{n},{2.0 + 30 * n ** -0.6:.6f}\n"
                                               for n in (10, 20, 50, 100, 200, 500, 1000)))
    out = tmp_path / "page"
    result = CliRunner().invoke(_report_app(), ["--csv", str(csv), "--out", str(out), "--y", LOSS, "--x", SIZE,
                                                "--form", "power_law_offset", "--bootstrap", "30"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    assert f"report: {out / 'report.html'}" in result.stdout
    printed = ANSI.sub("", result.stdout)
    assert LOSS in printed and SIZE in printed  # printed literally, not read as rich markup
    html = (out / "report.html").read_text()
    assert LOSS not in html and "<b>size</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "[/x]&lt;b&gt;size&lt;/b&gt;" in html
    assert json.loads((out / "fit.json").read_text())["n_points"] == 7
    # `fit` prints the same names without tripping over rich markup
    fitted = invoke("fit", csv, "--y", LOSS, "--x", SIZE, "--form", "power_law", "--bootstrap", "0", columns=200)
    assert fitted.exit_code == 0 and SIZE in ANSI.sub("", fitted.stdout)


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("")
    with pytest.raises(SpecError, match="--out: .* is a file"):
        report_csv(tmp_path / "no-such.csv", taken, y="loss", x=["N"])  # the missing CSV is never read
    with pytest.raises(SpecError, match="--out: .* is a file"):
        report_csv(tmp_path / "no-such.csv", taken / "sub", y="loss", x=["N"])
    (tmp_path / "page" / "report.html").mkdir(parents=True)
    with pytest.raises(SpecError, match="report.html is a folder"):
        report_csv(tmp_path / "no-such.csv", tmp_path / "page", y="loss", x=["N"])
    result = CliRunner().invoke(_report_app(), ["--csv", str(tmp_path / "no-such.csv"), "--out", str(taken),
                                                "--y", "loss", "--x", "N"], env={"COLUMNS": "60"})
    one_error_line(result, "--out", "is a file")


def test_the_figures_leave_matplotlib_backend_and_pyplot_alone(tmp_path):
    code = ("import sys, matplotlib, numpy as np; from scalinglab.report import fit_page, fitplots; "
            "fitplots.plot_allocation([{'C': 1e20, 'N': 1e9, 'D': 2e10}, {'C': 1e22, 'N': 1e10, 'D': 2e11}], "
            f"np.array([[1e8, 1e9], [1e9, 1e10]]), {str(tmp_path / 'a.png')!r}, ['N', 'D']); "
            "assert 'matplotlib.pyplot' not in sys.modules; print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MPLBACKEND": "svg"})
    assert out.stdout.strip() == "svg" and (tmp_path / "a.png").stat().st_size > 0
