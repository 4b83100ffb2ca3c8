"""fit.plan_benchmark and `scalinglab benchmark-plan`: each plan strategy simulated on a candidate pool."""

import json

import numpy as np
import pytest

from conftest import invoke, one_error_line
from scalinglab.errors import SpecError
from scalinglab.fit.benchmark import LOSS, N_STARTS, PAPER_5_PERCENT, PAPER_FRACTION, Dataset, target_r2
from scalinglab.fit.estimate import fit_law
from scalinglab.fit.laws import LAWS
from scalinglab.fit.plan_benchmark import benchmark_plan, initial_design

TRUE = {"E": 1.0, "A": 5.0, "alpha": 0.5}  # L = 1 + 5 x^-0.5, the synthetic truth
SYNTH = "synthetic_scaling_law"
REGISTRY = {SYNTH: Dataset(SYNTH, ("loss",), {"power_law_offset": ("x",)}, "x", "a known law")}


def _truth(x):
    return TRUE["E"] + TRUE["A"] * x ** -TRUE["alpha"]


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """60 runs at x = 1..3000 (log-spaced) with 0.2% lognormal noise, cost x; the target region x = 4e3..3e4,
    noise-free, where the loss still falls by 0.05, 25 times the noise, so a law pinned by the larger runs scores
    near 1. The cheapest runs (x < 3) leave the offset E barely determined, so their fit alone misses it."""
    folder = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 3000, 60)
    y = _truth(x) * np.exp(0.002 * rng.standard_normal(x.size))
    xt = np.geomspace(4e3, 3e4, 8)
    for split, xs, ys in (("train", x, y), ("test", xt, _truth(xt))):
        lines = ["group,x,loss"] + [f"all,{float(a)!r},{float(b)!r}" for a, b in zip(xs, ys, strict=True)]
        (folder / f"{SYNTH}_{split}.csv").write_text("\n".join(lines) + "\n")
    return dict(folder=folder, x=x, y=y, xt=xt)


def _run(pool, **kw):
    kw.setdefault("fractions", [0.05, 0.5])
    return benchmark_plan([SYNTH], registry=REGISTRY, folder=pool["folder"], laws={SYNTH: "power_law_offset"},
                          paper_fractions=False, **kw)


def test_json_schema(pool):
    out = json.loads(json.dumps(_run(pool, seeds=2, strategies=["random", "v-optimal"]).to_dict()))
    task = out["tasks"][SYNTH]
    assert set(task) >= {"paper_r2_at_5pct", "paper_fraction", "law", "all_data_r2", "strategies"}
    assert task["paper_r2_at_5pct"] is None and task["law"] == "power_law_offset"
    assert set(task["strategies"]) == {"random", "v-optimal"}
    for strategy, cells in task["strategies"].items():
        assert set(cells) == {"0.05", "0.5"}
        for fraction, cell in cells.items():
            assert set(cell) == {"r2_median", "r2_seeds", "runs", "spent_fraction"}
            assert len(cell["r2_seeds"]) == (2 if strategy == "random" else 1)
            assert cell["r2_median"] == pytest.approx(float(np.median(cell["r2_seeds"])))
            assert all(-1 <= r <= 1 for r in cell["r2_seeds"])
            assert 0 < cell["spent_fraction"] <= float(fraction) * (1 + 1e-9)  # never over the budget
            assert cell["runs"] >= 1


def test_v_optimal_more_budget_is_no_worse_and_the_picks_count(pool):
    cells = _run(pool, seeds=1, strategies=["v-optimal"]).tasks[SYNTH].strategies["v-optimal"]
    # what the fit of the initial design alone scores: ignoring the picks would score this at every budget
    x, y = pool["x"], pool["y"]
    first = initial_design(x, x[:, None], len(LAWS["power_law_offset"].params), 0.5 * x.sum())
    alone = fit_law(LAWS["power_law_offset"], x[first, None], y[first], loss=LOSS, n_starts=N_STARTS, n_boot=0,
                    rng=np.random.default_rng([0, 0]))
    r2_alone = target_r2(_truth(pool["xt"]), alone.predict(pool["xt"][:, None]))
    assert cells[0.5].runs > len(first)
    assert cells[0.5].r2_median >= cells[0.05].r2_median
    assert cells[0.5].r2_median > r2_alone


def test_initial_design_stays_within_the_budget_and_varies_every_size():
    cost = np.array([1.0, 1.0, 1.0, 2.0, 5.0, 50.0])
    X = np.array([[1, 1], [1, 2], [1, 3], [2, 1], [3, 1], [4, 4]], float)
    rows = initial_design(cost, X, n_params=3, budget=9.0)
    assert cost[rows].sum() <= 9.0
    assert all(np.unique(X[rows, j]).size >= 2 for j in range(2))
    assert len(rows) == 4  # n_params + 1 where the budget allows
    assert len(initial_design(cost, X, n_params=3, budget=2.5)) == 2  # never past the budget


def test_paper_figures_in_one_place():
    assert set(PAPER_FRACTION) == set(PAPER_5_PERCENT)
    assert PAPER_FRACTION["sparsity_scaling_law"] == 0.35 and PAPER_FRACTION["farseer_scaling_law"] == 0.05


@pytest.mark.parametrize("kw, param", [({"names": ["nope"]}, "names"), ({"fractions": [0.0]}, "fractions"),
                                       ({"fractions": [1.5]}, "fractions"), ({"seeds": 0}, "seeds"),
                                       ({"strategies": ["best"]}, "strategies")])
def test_library_refuses_bad_options(kw, param):
    with pytest.raises(SpecError) as err:
        benchmark_plan(**kw)
    assert err.value.param == param


@pytest.mark.parametrize("args, needle", [(["--data", "nope"], "--data"), (["--fractions", "0"], "--fractions"),
                                          (["--fractions", "0.05,1.5"], "--fractions"),
                                          (["--fractions", "five"], "--fractions"), (["--seeds", "0"], "--seeds"),
                                          (["--strategy", "best"], "--strategy")])
def test_cli_bad_input_is_one_line_and_status_2(args, needle):
    one_error_line(invoke("benchmark-plan", *args), needle)



def test_recipe_checks_the_best_strategy_against_the_paper(tmp_path, monkeypatch):
    """plan-scalebench on one small task at its paper budget (two strategies): the check holds the best median
    R^2 of the table, the paper's figure, tolerance 0, and passes exactly when measured >= paper."""
    from scalinglab import recipes
    from scalinglab.recipes import scalebench

    monkeypatch.setattr(scalebench, "QUICK", scalebench.ScaleBenchConfig(("parallel_scaling_law",), (), 1,
                                                                         ("cheapest", "v-optimal")))
    summary = recipes.reproduce("plan-scalebench", tmp_path, quick=True)
    assert (tmp_path / "runs.sqlite").is_file() and len(summary["checks"]) == 1
    row = summary["checks"][0]
    assert row["predicted"] == PAPER_5_PERCENT["parallel_scaling_law"] and row["tolerance"] == 0
    assert row["ok"] == (row["measured"] >= row["predicted"])
    from scalinglab.sweep.jobs import Jobs
    from scalinglab.sweep.store import Store

    with Store(tmp_path / "runs.sqlite") as store:  # read back from the store, not run again
        result = scalebench.plan_scalebench(tmp_path, True, Jobs(store))
    (table,) = result.tables.values()
    assert row["measured"] == pytest.approx(max(table[0]["cheapest"], table[0]["v-optimal"]), abs=5e-4)  # 3 digits
    assert (tmp_path / "plan-scalebench.png").is_file() and (tmp_path / "index.html").is_file()
