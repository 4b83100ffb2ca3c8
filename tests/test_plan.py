"""fit.plan and `scalinglab plan` on the Chinchilla runs (Besiroglu et al. 2024's reconstruction)."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import scalinglab
from conftest import invoke, one_error_line
from scalinglab.errors import SpecError
from scalinglab.fit.data import prepare, read_table
from scalinglab.fit.estimate import FitData, fit_law
from scalinglab.fit.laws import get_law
from scalinglab.fit.plan import STRATEGIES, Z95, plan

DATA = Path(__file__).parent / "data" / "external" / "chinchilla_epoch_svg_extracted.csv"
N_INITIAL = 20  # the cheapest runs fitted first: four per parameter of the Chinchilla law


@pytest.fixture(scope="module")
def runs():
    """Sizes, losses and costs (6 N D) of the runs, as the README's fit reads them; the fit of the cheapest
    runs (with its data, as `fit` keeps it) and of all of them."""
    X, Y, _, _ = prepare(read_table(DATA), y="loss", x=["N", "D"], define=["N=`Model Size`",
                         "D=`Training FLOP`/(6*N)"], drop_highest=5, path=str(DATA))
    cost = 6 * X[:, 0] * X[:, 1]
    first = np.argsort(cost)[:N_INITIAL]
    law = get_law("chinchilla")
    initial = fit_law(law, X[first], Y[first], n_boot=100, rng=np.random.default_rng(0))
    initial = dataclasses.replace(initial, data=FitData(X=X[first], y=Y[first], held_out=np.zeros(N_INITIAL, bool),
                                                        inputs=("N", "D"), target="loss"))
    full = fit_law(law, X, Y, n_boot=200, rng=np.random.default_rng(0))
    big = int(np.argmax(cost))
    return dict(X=X, Y=Y, cost=cost, first=first, initial=initial, full=full, law=law,
                target={"N": X[big, 0], "D": X[big, 1]}, candidates={"N": X[:, 0], "D": X[:, 1], "loss": Y})


def _plan(runs, strategy, seed=0, **kw):
    return plan(runs["initial"], runs["candidates"], cost="6*N*D", budget=0.1 * runs["cost"].sum(),
                target=runs["target"], strategy=strategy, rng=np.random.default_rng(seed), **kw)


def _variance(width, loss):
    """The variance of log L behind a linearised 95% width: width = L (e^(z sd) - e^(-z sd))."""
    return (np.arcsinh(width / (2 * loss)) / Z95) ** 2


def test_v_optimal_refit_forecast_lies_in_the_all_data_interval(runs):
    p = _plan(runs, "v-optimal")
    keep = np.concatenate([runs["first"], p.rows])
    refit = fit_law(runs["law"], runs["X"][keep], runs["Y"][keep], n_boot=0, rng=np.random.default_rng(0))
    t = runs["target"]
    forecast = float(refit.predict(N=t["N"], D=t["D"]).loss)
    lo, hi = runs["full"].predict(N=t["N"], D=t["D"]).prediction
    assert lo <= forecast <= hi, (forecast, lo, hi)
    # the fit of the cheapest runs alone misses the largest run by more than the all-data interval's half-width
    alone = float(runs["initial"].predict(N=t["N"], D=t["D"]).loss)
    assert not lo <= alone <= hi
    assert p.picks[-1]["width_after"] < p.width_initial


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "sequential"] + ["sequential"])
def test_each_strategy_respects_the_budget_and_never_repeats(runs, strategy):
    kw = {"batch": 15} if strategy == "sequential" else {}
    p = _plan(runs, strategy, **kw)
    budget = 0.1 * runs["cost"].sum()
    assert p.picks and p.spent <= budget * (1 + 1e-12)
    assert np.isclose(p.spent, runs["cost"][p.rows].sum(), rtol=1e-12)
    assert len(set(p.rows.tolist())) == len(p.rows)
    assert not set(p.rows.tolist()) & set(runs["first"].tolist())  # the fitted runs are not proposed again
    assert p.skipped == N_INITIAL
    # stops only when nothing left is affordable
    left = np.setdiff1d(np.arange(len(runs["cost"])), np.concatenate([p.rows, runs["first"]]))
    assert np.all(runs["cost"][left] > budget - p.spent)


def test_v_optimal_beats_random(runs):
    """Greedy V-optimal's first pick maximises the fall of the linearised target variance per unit cost, so no
    random first pick does better; over five seeds random's final variance is no smaller on average."""
    t = runs["target"]
    L_t = float(runs["initial"].predict(np.array([[t["N"], t["D"]]]))[0])
    v = _plan(runs, "v-optimal")

    def first_gain(p):
        q = p.picks[0]
        return (_variance(q["width_before"], L_t) - _variance(q["width_after"], L_t)) / q["cost"]

    randoms = [_plan(runs, "random", seed) for seed in range(5)]
    assert all(first_gain(v) >= first_gain(r) * (1 - 1e-9) for r in randoms)
    final = [_variance(r.picks[-1]["width_after"], L_t) for r in randoms]
    assert _variance(v.picks[-1]["width_after"], L_t) <= np.mean(final)


@pytest.mark.parametrize("kw, param", [({"budget": -1.0}, "budget"), ({"strategy": "greedy"}, "strategy"),
                                       ({"cost": "6*N*tokens"}, "cost"), ({"batch": 0}, "batch"),
                                       ({"target": {"N": 1e9}}, "target")])
def test_library_errors_name_the_parameter(runs, kw, param):
    args = dict(cost="6*N*D", budget=1e20, target=runs["target"], strategy="v-optimal") | kw
    with pytest.raises(SpecError) as err:
        plan(runs["initial"], runs["candidates"], **args)
    assert err.value.param == param


def test_package_exports_plan():
    assert scalinglab.plan is plan and "plan" in scalinglab.__all__


@pytest.fixture(scope="module")
def files(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("plan")
    runs["initial"].save(folder / "fit.json")
    c = runs["candidates"]
    rows = zip(c["N"], c["D"], c["loss"], strict=True)
    lines = ["N,D,loss"] + [f"{float(n)!r},{float(d)!r},{float(y)!r}" for n, d, y in rows]
    (folder / "grid.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_cli_writes_the_picks(runs, files, tmp_path):
    out, js = tmp_path / "picks.csv", tmp_path / "plan.json"
    budget = 0.1 * runs["cost"].sum()
    target = f"N={float(runs['target']['N'])!r},D={float(runs['target']['D'])!r}"
    r = invoke("plan", "--fit", files / "fit.json", "--candidates", files / "grid.csv", "--cost", "6*N*D",
               "--budget", repr(float(budget)), "--target", target,
               "--out", out, "--json", js, columns=160)
    assert r.exit_code == 0, r.stderr
    rows = read_table(out)
    expected = _plan(runs, "v-optimal")
    assert np.array_equal(rows["row"].astype(int), expected.rows)
    assert np.all(np.diff(rows["cumulative_cost"]) > 0) and rows["cumulative_cost"][-1] <= budget * (1 + 1e-9)
    assert "v-optimal plan" in r.stdout


@pytest.mark.parametrize("args, needles", [(("--budget", "-1"), ("--budget", "positive")),
                                           (("--strategy", "greedy"), ("--strategy", "greedy")),
                                           (("--cost", "6*N*tokens"), ("--cost", "tokens"))])
def test_cli_bad_input_is_one_line_and_writes_nothing(files, tmp_path, args, needles):
    base = {"--cost": "6*N*D", "--budget": "1e20", "--strategy": "v-optimal"}
    base[args[0]] = args[1]
    out = tmp_path / "picks.csv"
    flat = [v for kv in base.items() for v in kv]
    one_error_line(invoke("plan", "--fit", files / "fit.json", "--candidates", files / "grid.csv",
                          "--target", "N=7e10,D=1.4e12", "--out", out, *flat, columns=200), *needles)
    assert not out.exists()


def test_closed_form_jacobian_matches_central_differences(runs):
    """The law's grad, mapped to the fitter's variables, equals central differences of log L in them."""

    law, params = runs["law"], runs["initial"].params
    X = runs["X"][::20]
    exact = law.log_jacobian(X, params)
    numeric = dataclasses.replace(law, grad=None).log_jacobian(X, params)
    assert np.allclose(exact, numeric, rtol=1e-6, atol=1e-8 * np.abs(exact).max())


def test_cli_fits_data_first(runs, files, tmp_path):
    c, first = runs["candidates"], runs["first"]
    lines = ["N,D,loss"] + [f"{float(c['N'][i])!r},{float(c['D'][i])!r},{float(c['loss'][i])!r}" for i in first]
    (tmp_path / "runs.csv").write_text("\n".join(lines) + "\n")
    js = tmp_path / "plan.json"
    budget = 0.05 * runs["cost"].sum()
    r = invoke("plan", "--data", tmp_path / "runs.csv", "--y", "loss", "--x", "N", "--x", "D", "--form", "chinchilla",
               "--bootstrap", "50", "--candidates", files / "grid.csv", "--cost", "6*N*D", "--budget",
               repr(float(budget)), "--target", "N=7e10,D=1.4e12", "--json", js, "-q")
    assert r.exit_code == 0, r.stderr
    out = json.loads(js.read_text())
    assert out["skipped"] == N_INITIAL and out["picks"] and out["spent"] <= budget * (1 + 1e-12)
    assert out["target"] == {"N": 7e10, "D": 1.4e12}


def test_cli_data_needs_a_bootstrap(files):
    one_error_line(invoke("plan", "--data", files / "grid.csv", "--y", "loss", "--x", "N", "--x", "D",
                          "--bootstrap", "0", "--candidates", files / "grid.csv", "--cost", "6*N*D", "--budget",
                          "1e20", "--target", "N=7e10,D=1.4e12", columns=200), "--bootstrap", "at least 3")
