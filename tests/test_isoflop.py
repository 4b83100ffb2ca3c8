"""IsoFLOP analysis (fit.isoflop, `scalinglab isoflop`): known exponents on synthetic grids, Porian et al.'s
published exponents on their own runs, and the warnings for narrow and off-centre grids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke, one_error_line
from scalinglab.fit.data import read_csv
from scalinglab.fit.isoflop import isoflop

EXTERNAL = Path(__file__).parent / "data" / "external"
E, A, ALPHA, B, BETA = 1.69, 406.4, 0.34, 410.7, 0.28  # Hoffmann et al. 2022, Eq. 10
A_TRUE = BETA / (ALPHA + BETA)  # N_opt ~ C^a (Eq. 4)


def _n_opt(C: float) -> float:
    """The exact minimiser of E + A N^-alpha + B (C / 6N)^-beta over N (Hoffmann et al. 2022, Eq. 4)."""
    G = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    return G * (C / 6) ** A_TRUE


def _grid(budgets=np.geomspace(1e18, 1e21, 7), points=9, span=30.0, centre=1.0, noise=0.0, seed=0):
    """Runs of each budget at ``points`` sizes spanning ``span`` around centre * N_opt(C), on the Chinchilla
    surface, log loss perturbed by Gaussian noise of sd ``noise``."""
    rng = np.random.default_rng(seed)
    C, N = [], []
    for c in budgets:
        n = centre * _n_opt(c) * np.geomspace(span**-0.5, span**0.5, points)
        C += [c] * points
        N += list(n)
    C, N = np.array(C), np.array(N)
    loss = (E + A * N**-ALPHA + B * (C / (6 * N)) ** -BETA) * np.exp(noise * rng.standard_normal(len(N)))
    return C, N, loss


@pytest.mark.parametrize("method", ["akima", "parabola"])
def test_noiseless_chinchilla_grid_gives_its_exponent(method):
    """Without noise the only error is the interpolation's: a within 0.01 of beta / (alpha + beta), and
    b = 1 - a exactly when D = C / 6N."""
    r = isoflop(*_grid(), method=method, n_boot=0)
    assert r.a["value"] == pytest.approx(A_TRUE, abs=0.01)
    assert r.b["value"] == pytest.approx(1 - r.a["value"], abs=1e-9)
    assert not r.warnings and not r.dropped


@pytest.mark.parametrize("method", ["akima", "parabola"])
def test_noisy_grid_interval_holds_the_exponent(method):
    """Noise of 0.3% in the loss (Porian et al.'s seed-to-seed level): the 95% interval holds the truth and is
    not vacuous (narrower than 0.5, half the range of a); the pooled noise estimate is within a factor 2."""
    r = isoflop(*_grid(noise=0.003, seed=3), method=method, n_boot=400, rng=np.random.default_rng(1))
    lo, hi = r.a["ci95"]
    assert lo <= A_TRUE <= hi and hi - lo < 0.5, (lo, hi)
    assert 0.0015 < r.noise_log < 0.006


def test_narrow_grid_is_warned():
    r = isoflop(*_grid(span=3.0, points=5), n_boot=0)
    assert sum("narrow grid" in w for w in r.warnings) == 7


def test_off_centre_grid_is_warned_and_an_unbracketed_budget_dropped():
    """A grid over a factor 30 centred at 4 N_opt puts the optimum at 0.09 of its log span (under
    EDGE_FRACTION); centred at 12 N_opt the optimum lies below its smallest size, which has the least loss:
    that budget is dropped."""
    r = isoflop(*_grid(centre=4.0), n_boot=0)
    assert sum("off-centre grid" in w for w in r.warnings) == 7 and not r.dropped
    C, N, loss = _grid(centre=4.0)
    C2, N2, loss2 = _grid(budgets=[1e22], centre=12.0)
    r = isoflop(np.r_[C, C2], np.r_[N, N2], np.r_[loss, loss2], n_boot=0)
    assert list(r.dropped) == ["1e+22"] and "smallest size" in r.dropped["1e+22"]


# Porian et al. 2024, Table 1 ("a estimation"): their bootstrap-median, weighted fits of each configuration.
PORIAN_A = {
    "rw|hp=base|warmup=long|decay=kaplan|params=kaplan|loss=train": 0.835,
    "rw|hp=base|warmup=long|decay=kaplan|params=standard|loss=val": 0.707,
    "rw|hp=base|warmup=short|decay=kaplan|params=standard|loss=val": 0.602,
    "rw|hp=base|warmup=short|decay=chinchilla|params=standard|loss=val": 0.572,
    "rw|hp=tuned|warmup=short|decay=const|params=standard|loss=val": 0.497,
    "owt2|hp=base|warmup=long|decay=kaplan|params=kaplan|loss=train": 0.864,
    "owt2|hp=base|warmup=long|decay=kaplan|params=standard|loss=val": 0.699,
    "owt2|hp=base|warmup=short|decay=kaplan|params=standard|loss=val": 0.603,
    "owt2|hp=base|warmup=short|decay=chinchilla|params=standard|loss=val": 0.574,
    "owt2|hp=tuned|warmup=short|decay=const|params=standard|loss=val": 0.518,
    "rw|hp=base|warmup=long|decay=kaplan|params=attention|loss=train": 0.717,
    "rw|hp=base|warmup=short|decay=kaplan|params=attention|loss=train": 0.622,
    "rw|hp=base|warmup=short|decay=chinchilla|params=attention|loss=train": 0.577,
    "rw|hp=tuned|warmup=short|decay=const|params=attention|loss=train": 0.505,
    "rw|hp=tuned|warmup=long|decay=const|params=kaplan|loss=train": 0.712,
}


@pytest.fixture(scope="module")
def porian():
    return read_csv(EXTERNAL / "porian_isoflop_points.csv")


@pytest.mark.parametrize("method, tol", [("akima", 0.03), ("parabola", 0.035)])
def test_porian_exponents_agree_with_the_published_ones(porian, method, tol):
    """Their 15 configurations: a within 0.03 of the published value with their estimator (an Akima spline
    through each budget), within 0.035 with the local parabola; the corrected setups near 0.5, the
    Kaplan-style ones above 0.8."""
    assert set(porian["config"]) == set(PORIAN_A)
    got = {}
    for config, published in PORIAN_A.items():
        m = porian["config"] == config
        got[config] = isoflop(porian["flops"][m], porian["N"][m], porian["loss"][m], porian["tokens"][m],
                              method=method, n_boot=0).a["value"]
        assert got[config] == pytest.approx(published, abs=tol), config
    assert got["rw|hp=base|warmup=long|decay=kaplan|params=kaplan|loss=train"] > 0.8
    assert got["rw|hp=tuned|warmup=short|decay=const|params=standard|loss=val"] < 0.53


def test_cli_isoflop_by_group_writes_a_and_b_with_intervals(tmp_path, porian):
    m = np.isin(porian["config"], list(PORIAN_A)[:2])
    lines = ["config,flops,N,loss"] + [f"{c},{f},{n},{v}" for c, f, n, v in
                                        zip(porian["config"][m], porian["flops"][m], porian["N"][m],
                                            porian["loss"][m], strict=True)]
    data = tmp_path / "runs.csv"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "iso.json"
    result = invoke("isoflop", data, "--compute", "flops", "--x", "N", "--y", "loss", "--by", "config",
                    "--bootstrap", "100", "--json", out)
    assert result.exit_code == 0, result.output
    groups = json.loads(out.read_text())["groups"]
    assert set(groups) == set(list(PORIAN_A)[:2])
    for config, g in groups.items():
        assert g["a"]["ci95"][0] <= g["a"]["value"] <= g["a"]["ci95"][1]
        assert g["a"]["value"] == pytest.approx(PORIAN_A[config], abs=0.03)
        assert g["b"]["value"] == pytest.approx(1 - g["a"]["value"], abs=1e-9)  # D = C / 6N


@pytest.mark.parametrize("args, needles", [
    (["--compute", "C", "--x", "N", "--y", "loss"], ["no column 'C'"]),
    (["--compute", "flops", "--x", "N", "--y", "loss", "--method", "spline"], ["--method", "spline"]),
    (["--compute", "flops", "--x", "N", "--y", "loss", "--bootstrap", "-1"], ["--bootstrap"]),
])
def test_cli_isoflop_bad_input_is_one_line(tmp_path, args, needles):
    data = tmp_path / "runs.csv"
    data.write_text("flops,N,loss\n1e18,1e8,3.0\n1e18,2e8,2.9\n1e18,4e8,3.1\n")
    one_error_line(invoke("isoflop", data, *args, columns=40), *needles)


def test_cli_isoflop_too_few_budgets_is_one_line(tmp_path):
    data = tmp_path / "runs.csv"
    data.write_text("flops,N,loss\n1e18,1e8,3.0\n1e18,2e8,2.9\n1e18,4e8,3.1\n2e18,1e8,2.9\n2e18,2e8,2.8\n")
    one_error_line(invoke("isoflop", data, "--compute", "flops", "--x", "N", "--y", "loss", columns=40),
                   "usable compute budgets")
