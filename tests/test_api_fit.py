"""The notebook API: scalinglab.fit with a real signature, FitResult.predict/plot/summary/save/load, and
`scalinglab fit --save` + `scalinglab extrapolate` giving FitResult.predict's numbers."""

from __future__ import annotations

import inspect
import json
import pydoc
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import scalinglab
from conftest import invoke, one_error_line
from scalinglab.errors import DataError, SpecError
from scalinglab.fit.laws import LAWS

EXTERNAL = Path(__file__).parent / "data" / "external"
CHINCHILLA_CSV = EXTERNAL / "chinchilla_epoch_svg_extracted.csv"
CHINCHILLA = dict(y="loss", x=["N", "D"], define=["N=`Model Size`", "D=`Training FLOP`/(6*N)"], drop_highest=5)
CLI_ARGS = ["--y", "loss", "--x", "N", "--x", "D", "--define", "N=`Model Size`", "--define",
            "D=`Training FLOP`/(6*N)", "--drop-highest", "5", "--form", "chinchilla"]


@pytest.fixture(scope="module")
def chinchilla():
    return scalinglab.fit(CHINCHILLA_CSV, form="chinchilla", bootstrap=100, **CHINCHILLA)


def test_help_shows_every_parameter():
    text = pydoc.render_doc(scalinglab.fit, renderer=pydoc.plaintext)
    params = list(inspect.signature(scalinglab.fit).parameters)
    assert {"data", "y", "x", "form", "loss", "drop_highest", "holdout", "group", "bootstrap"} <= set(params)
    for name in params:
        assert f"{name}:" in text or f"{name} :" in text or f", {name}" in text, name  # in the signature
        assert name in scalinglab.fit.__doc__, name  # and documented


def test_the_subpackages_still_import():
    import scalinglab.fit.laws as laws
    import scalinglab.fit.select

    assert laws.LAWS is LAWS and scalinglab.fit.laws.LAWS is LAWS and callable(scalinglab.fit)
    assert scalinglab.fit.select.select_form is not None and scalinglab.fit.fit_power_law is not None
    assert inspect.isfunction(scalinglab.fit) and scalinglab.fit.__doc__.startswith("Fit a scaling law")


def test_a_string_form_and_a_law_give_the_same_fit(chinchilla):
    by_law = scalinglab.fit(CHINCHILLA_CSV, form=LAWS["chinchilla"], bootstrap=100, **CHINCHILLA)
    assert by_law.params == chinchilla.params and by_law.ci95 == chinchilla.ci95
    with pytest.raises(SpecError, match="unknown law 'chinchila'"):
        scalinglab.fit(CHINCHILLA_CSV, form="chinchila", **CHINCHILLA)
    with pytest.raises(SpecError, match="takes 1 size column"):
        scalinglab.fit(CHINCHILLA_CSV, form="power_law", **CHINCHILLA)


def test_the_api_and_the_cli_give_the_same_numbers(tmp_path, chinchilla):
    out = tmp_path / "fit.json"
    result = invoke("fit", CHINCHILLA_CSV, *CLI_ARGS, "--bootstrap", "100", "--json", out)
    assert result.exit_code == 0, result.output
    cli = json.loads(out.read_text())
    assert cli["params"] == chinchilla.params
    assert {k: tuple(v) for k, v in cli["ci95"].items()} == chinchilla.ci95


def test_a_dict_of_arrays_fits_like_its_csv():
    x = np.geomspace(10, 1e4, 10)
    y = 1.0 + 5 * x**-0.5
    a = scalinglab.fit({"N": x, "loss": y}, y="loss", x="N", form="power_law_offset", bootstrap=0)
    assert a.params["alpha"] == pytest.approx(0.5, abs=1e-6) and a.params["E"] == pytest.approx(1.0, abs=1e-6)


def test_predict_by_name_has_nested_intervals(chinchilla):
    p = chinchilla.predict(N=7e10, D=1.4e12)
    assert p.loss == pytest.approx(chinchilla.predict(np.array([[7e10, 1.4e12]]))[0], rel=1e-15)
    assert p.prediction[0] < p.confidence[0] < p.loss < p.confidence[1] < p.prediction[1]
    many = chinchilla.predict(N=np.array([7e10, 1e9]), D=np.array([1.4e12, 1e12]))
    assert many.loss.shape == (2,) and many.prediction[0][0] == p.prediction[0]  # each point's own draws
    with pytest.raises(SpecError, match="missing D"):
        chinchilla.predict(N=7e10)
    with pytest.raises(SpecError, match="unknown T"):
        chinchilla.predict(N=7e10, D=1e12, T=3)


def test_summary_and_html(chinchilla):
    pytest.importorskip("pandas")
    table = chinchilla.summary()
    assert list(table.index) == [*chinchilla.params, *chinchilla.derived]
    assert table.loc["alpha", "value"] == chinchilla.params["alpha"]
    assert table.loc["beta", "ci95_high"] == chinchilla.ci95["beta"][1]
    html = chinchilla._repr_html_()
    assert "<table>" in html and f"{chinchilla.params['alpha']:.5g}" in html


def test_save_and_load_predict_the_same(tmp_path, chinchilla):
    path = chinchilla.save(tmp_path / "fit.json")
    loaded = scalinglab.FitResult.load(path)
    assert loaded.params == chinchilla.params and loaded.derived == chinchilla.derived
    np.testing.assert_array_equal(loaded.draws, chinchilla.draws)
    assert loaded.predict(N=7e10, D=1.4e12) == chinchilla.predict(N=7e10, D=1.4e12)
    saved = json.loads(path.read_text())
    assert saved["format"] == "scalinglab.fit" and saved["version"] == 1
    (tmp_path / "newer.json").write_text(json.dumps({**saved, "version": 99}))
    with pytest.raises(DataError, match="version 99"):
        scalinglab.FitResult.load(tmp_path / "newer.json")
    (tmp_path / "other.json").write_text('{"params": {}}')
    with pytest.raises(DataError, match="not a saved fit"):
        scalinglab.FitResult.load(tmp_path / "other.json")


def test_extrapolate_prints_fit_result_predict(tmp_path, chinchilla):
    saved, out = tmp_path / "fit.json", tmp_path / "pred.json"
    result = invoke("fit", CHINCHILLA_CSV, *CLI_ARGS, "--bootstrap", "100", "--save", saved)
    assert result.exit_code == 0, result.output
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("D,N\n1e12,1e9\n")
    result = invoke("extrapolate", saved, "--at", "N=7e10,D=1.4e12", "--sizes", sizes, "--json", out, columns=200)
    assert result.exit_code == 0, result.output
    expected = [chinchilla.predict(N=7e10, D=1.4e12), chinchilla.predict(N=1e9, D=1e12)]
    assert json.loads(out.read_text()) == [p.to_dict() for p in expected]
    p = expected[0]
    assert f"{p.loss:.5g}" in result.stdout and f"[{p.prediction[0]:.5g}, {p.prediction[1]:.5g}]" in result.stdout
    one_error_line(invoke("extrapolate", saved, "--at", "N=7e10"), "--at", "lacks D")
    one_error_line(invoke("extrapolate", saved, "--at", "N=7e10,D=-1"), "--at", "positive")
    one_error_line(invoke("extrapolate", CHINCHILLA_CSV, "--at", "N=1,D=1"), "not a saved fit")


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"scalinglab {scalinglab.__version__}"


def test_regime_verdict_is_printed_only_with_regime(tmp_path):
    path = tmp_path / "runs.csv"
    x = np.geomspace(10, 1e4, 8)
    path.write_text("N,loss\n" + "".join(f"{n:g},{1 + 3 / n:.8f}\n" for n in x))
    args = ("fit", path, "--y", "loss", "--x", "N", "--form", "power_law_offset", "--bootstrap", "30")
    plain, with_regime = invoke(*args), invoke(*args, "--regime", columns=200)
    assert plain.exit_code == with_regime.exit_code == 0
    assert "regime:" not in plain.stdout
    assert "regime: does the exponent" in with_regime.stdout and "regime: variance_limited" in with_regime.stdout


PLOT_SCRIPT = """
import matplotlib
matplotlib.use("svg")
import scalinglab, scalinglab.report.fitplots, scalinglab.report.fit_page
res = scalinglab.fit({csv!r}, y="test_cross_entropy", x="dataset_size", form="power_law_offset", bootstrap=30)
ax = res.plot()
from matplotlib.axes import Axes
assert isinstance(ax, Axes), type(ax)
assert len(ax.figure.axes) == 2  # the law and its residual panel
assert len(ax.lines) >= 2 and len(ax.collections) >= 2  # data, law, two bands
print(matplotlib.get_backend())
"""


def test_plot_returns_an_axes_and_leaves_the_backend_alone():
    script = PLOT_SCRIPT.format(csv=str(EXTERNAL / "bnsl_4digit_addition.csv"))
    src = str(Path(scalinglab.__file__).parent.parent)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin", "MPLBACKEND": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "svg"
