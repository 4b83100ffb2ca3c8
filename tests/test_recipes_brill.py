"""Recipe registry, the summary/HTML contract, the Brill recipes and the percolation CLI commands."""

import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from scalinglab import recipes
from scalinglab.cli import app
from scalinglab.errors import SpecError
from scalinglab.recipes import brill

runner = CliRunner()


def test_registry_lists_the_seven_figures_and_rejects_unknown_ids():
    ids = [r.id for r in recipes.all_recipes()]
    assert [i for i in ids if i.startswith("brill-")] == [f"brill-fig{k}" for k in range(1, 8)]
    assert recipes.get("brill-fig6").paper == "Brill 2024"
    with pytest.raises(SpecError, match="brill-fig1"):
        recipes.get("brill-fig9")


def test_outputs_follow_the_contract_and_keep_failures(tmp_path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2])
    fig.savefig(tmp_path / "a.png")
    plt.close(fig)
    recipe = recipes.Recipe("demo-x", "Nobody 2000", "a demo", lambda out, quick, **kw: None)
    checks = [recipes.check("close", 1.04, 1.0, 0.05, basis="5%"),
              recipes.check("far <b>", 1.3, 1.0, 0.15, relative=True, basis="15% & more")]
    result = recipes.RecipeResult(checks=checks, figures={"fig": tmp_path / "a.png"}, notes=["<script>x</script>"])
    summary = recipes.write_outputs(tmp_path, recipe, True, result)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == summary
    assert set(on_disk) == {"id", "paper", "quick", "checks", "passed", "figures"} and on_disk["quick"] is True
    assert [c["ok"] for c in on_disk["checks"]] == [True, False] and on_disk["passed"] == 1
    assert set(on_disk["checks"][0]) == {"name", "measured", "predicted", "tolerance", "ok", "basis"}
    assert on_disk["checks"][1]["basis"] == "15% & more" and on_disk["figures"] == {"fig": "a.png"}
    html = (tmp_path / "index.html").read_text()
    assert "data:image/png;base64," in html and "FAIL" in html and "1 of 2 checks pass" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "far &lt;b&gt;" in html and "15% &amp; more" in html
    with pytest.raises(TypeError, match="RecipeResult"):
        recipes.write_outputs(tmp_path, recipe, True, {"checks": checks})


@pytest.mark.parametrize("rid", ["brill-fig1", "brill-fig2", "brill-fig3"])
def test_fast_recipes_pass_their_checks(tmp_path, rid):
    summary = recipes.reproduce(rid, tmp_path, quick=True)
    assert summary["checks"] and all(c["ok"] for c in summary["checks"]), summary["checks"]
    assert list(tmp_path.glob("*.png")) and (tmp_path / "index.html").exists()
    for c in summary["checks"]:  # no identity checks; the anchors are labelled as the author's code, not the paper
        assert "identity" not in c["basis"] and "(paper:" not in c["name"], c
        assert ("author's code" in c["basis"]) == ("author's code" in c["name"]), c


def test_fig4_plots_identities_and_keeps_no_check(tmp_path):
    summary = recipes.reproduce("brill-fig4", tmp_path, quick=True)
    assert summary["checks"] == [] and summary["passed"] == 0 and list(tmp_path.glob("*.png"))
    assert "0 of 0 checks pass" in (tmp_path / "index.html").read_text()


def test_conversion_factors_are_at_least_one_and_recover_sigma():
    """sigma_k >= 1 is a constraint of the fit (a unit test, not a recipe check): losses of an exact
    max(n / sigma, 1)^-1/2 law give back sigma, and losses already below 1 at n = 1 give sigma = 1."""
    from scalinglab.tasks.percolation.estimators import conversion_factors

    n = np.tile(np.geomspace(1.0, 900.0, 30), (3, 1))
    sigma = np.array([4.0, 20.0, 1.0])
    loss = np.maximum(n / sigma[:, None], 1.0) ** -0.5
    loss[2] *= 0.5  # below the law's value everywhere: the best sigma is the bound 1
    got = conversion_factors(n, loss, np.full(3, 1000.0))
    assert np.all(got >= 1.0)
    np.testing.assert_allclose(got[:2], sigma[:2], rtol=0.02)
    assert got[2] == pytest.approx(1.0)


TINY = dataclasses.replace(brill.QUICK, min_size=30, max_size=3000, n_clusters=10, seeds=2, n_max=100, n_points=6,
                           fractions=8, scan_points=6, scan_seeds=1)


def test_one_seed_of_a_tiny_configuration():
    r = brill.run_seed(TINY, 0)
    assert r["sizes"].shape == (10,) and np.all(r["sigma"] >= 1)
    assert r["n_conv"].shape == r["loss_conv"].shape == (10, 8)
    assert r["model"].shape == r["data"].shape == (6,)
    assert np.all((r["model"] > 0) & (r["model"] < 1.5))
    assert r["model"][-1] < r["model"][0] and r["data"][-1] < r["data"][0]
    again = brill.run_seed(TINY, 0)
    np.testing.assert_array_equal(again["model"], r["model"])  # seeded from the configuration's fingerprint
    paper = brill.run_seed(dataclasses.replace(TINY, p_test=0.05), 0)  # the paper's p_test test sites
    assert np.all(np.isfinite(paper["model"])) and paper["model"][-1] < paper["model"][0]


def test_paper_protocol_uses_the_same_clusters_with_its_own_test_sites():
    """run_paper_protocol rebuilds run_seed's clusters and sigma_k (same site count, and run_seed's numbers are
    unchanged by it) and estimates the loss on round(0.001 s_k) test sites instead of every untrained site."""
    cfg = dataclasses.replace(TINY, min_size=600, max_size=6000)  # every cluster gets test sites at p_test = 0.001
    mine, paper = brill.run_seed(cfg, 0), brill.run_paper_protocol(cfg, 0)
    assert paper["sites"] == mine["sites"] and paper["model"].shape == mine["model"].shape
    assert np.all(np.isfinite(paper["model"])) and np.all(np.isfinite(paper["data"]))
    assert not np.allclose(paper["model"], mine["model"])
    np.testing.assert_array_equal(brill.run_seed(cfg, 0)["model"], mine["model"])


def test_scaling_checks_flag_a_wrong_curve():
    grid = brill.QUICK.grid()
    model = np.tile(brill.th.model_scaling_loss(grid, 1.0, 0.5), (5, 1))
    data = np.tile(brill.th.data_scaling_loss(grid, 1.0, 0.5), (5, 1)) * 1.3
    checks, rows = brill.scaling_checks(grid, model, data, 100)
    ok = {c.name.split(":")[0] + c.name.split(":")[1][:6]: c.passed for c in checks}
    assert [c.passed for c in checks] == [True, True, False, True], ok
    assert all(c.basis for c in checks)
    assert rows and {"measured slope", "predicted local slope"} <= set(rows[0])


@pytest.mark.slow
def test_quick_configuration_matches_theory(tmp_path):
    """The done-criterion: median all-sites losses within 15% of theory at every N >= 30; the cluster checks. The
    paper's-test-sites rows and the Fig. 5 check are measured (finite) and kept whether or not they pass."""
    for rid in ("brill-fig6", "brill-fig7", "brill-fig5"):
        summary = recipes.reproduce(rid, tmp_path / rid, quick=True, workers=2)
        kept = [c for c in summary["checks"] if rid != "brill-fig5" and not c["name"].startswith("paper's")]
        assert all(c["ok"] for c in kept), summary["checks"]
        assert all(np.isfinite(c["measured"]) for c in summary["checks"]) and summary["checks"]


def test_cli_theory_json():
    res = runner.invoke(app, ["theory", "brill", "--tau", "2.5", "--c", "2", "--D", "4", "--N", "1,10,100", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    np.testing.assert_allclose(out["k_br"], [1.7074, 4.829, 19.63], atol=5e-3)
    np.testing.assert_allclose(out["L_model"], [1.0, 0.685, 0.334], atol=5e-4)
    np.testing.assert_allclose(out["L_data"], [1.0, 0.680, 0.330], atol=5e-4)


def test_cli_percolate_json_bethe_and_hypercubic():
    res = runner.invoke(app, ["percolate", "--lattice", "bethe", "--d", "3", "--clusters", "400",
                              "--max-size", "5000", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    for key in ("p_c", "tau", "fractal_dimension"):
        assert set(out[key]) == {"value", "ci95"} and out[key]["ci95"][0] <= out[key]["value"] <= out[key]["ci95"][1]
    assert out["p_c"]["ci95"][0] <= 0.2 <= out["p_c"]["ci95"][1]
    res = runner.invoke(app, ["percolate", "--lattice", "hypercubic", "--d", "2", "--L", "128", "--samples", "2",
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["p_c"]["ci95"][0] <= 0.592746 <= out["p_c"]["ci95"][1]
    res = runner.invoke(app, ["percolate", "--lattice", "hypercubic", "--d", "2", "--L", "64", "--samples", "1"])
    assert res.exit_code == 0 and "estimates" in res.stdout


@pytest.mark.parametrize("args, key", [
    (["percolate", "--p", "1.5"], "--p"),
    (["percolate", "--d", "0"], "--d"),
    (["percolate", "--min-size", "100", "--max-size", "10"], "--min-size"),
    (["percolate", "--lattice", "hypercubic", "--d", "6", "--L", "2000"], "L"),
    (["percolate", "--lattice", "square"], "--lattice"),
    (["percolate", "--clusters", "1000000000", "--max-size", "1000000000"], "clusters"),
    (["theory", "brill", "--tau", "3.5"], "tau"),
    (["theory", "kaplan"], "paper"),
    (["reproduce", "brill-fig9"], "brill-fig9"),
    (["reproduce", "brill-fig2", "--workers", "0"], "--workers"),
])
def test_cli_bad_parameters_fail_on_one_line_before_work(args, key):
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and key in lines[0], res.output


def test_cli_reproduce_list_and_run(tmp_path):
    res = runner.invoke(app, ["reproduce", "--list"])
    assert res.exit_code == 0 and "brill-fig7" in res.stdout
    res = runner.invoke(app, ["reproduce", "brill-fig3", "--quick", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["id"] == "brill-fig3" and summary["quick"] is True and all(c["ok"] for c in summary["checks"])


def test_index_of_several_recipes_links_each_and_counts_checks(tmp_path):
    summaries = [recipes.reproduce(rid, tmp_path / rid, quick=True) for rid in ("brill-fig2", "brill-fig4")]
    summaries[0]["checks"][0]["ok"] = False  # a failed check must show in the counts
    combined = recipes.write_index(tmp_path, summaries, quick=True)
    n = sum(len(s["checks"]) for s in summaries)
    assert combined["checks"] == n and combined["checks_passed"] == n - 1
    assert [s["id"] for s in json.loads((tmp_path / "summary.json").read_text())["recipes"]] == [
        "brill-fig2", "brill-fig4"]
    html = (tmp_path / "index.html").read_text()
    assert 'href="brill-fig2/index.html"' in html and 'href="brill-fig4/index.html"' in html
    assert f"{n - 1} of {n} checks pass" in html
