"""Fitting published scaling measurements: our estimator against scipy.optimize.curve_fit from one start.

For each data set of tests/data/external and its protocol, in one run:

- ours      ``fit_law`` (grid of starts with the linear parameters solved exactly, best refinements by
            L-BFGS-B, Huber loss on log residuals), no bootstrap; best of ``--repeats``;
- baseline  ``scipy.optimize.curve_fit`` of log L from one generic starting point (the obvious thing to write),
            best of ``--repeats``; a failed baseline is reported as failed;

and the held-out RMSE of log predictions of both. Then the issue's target: the 240 Chinchilla runs with
``--bootstrap`` (1000) bootstrap refits, timed as a whole; and side by side with it, interleaved
(``--peer-repeats`` of each in turn, medians of CPU seconds, one BLAS thread each side), simple-scaling-laws'
``fit(frame, law="separable-power", n_draws=1000)`` on the same 240 runs (E + A N^-alpha + B D^-beta, its
wild cluster bootstrap). The peer needs Python >= 3.12: ``--peer-python`` names an interpreter that has it;
otherwise a scratch virtual environment outside the repository is built with ``python3.12`` (PATH or pyenv)
and ``pip install simple-scaling-laws``, and removed after. Each peer repeat is a fresh process that times
its own ``fit`` call (imports and data loading excluded).

    python benchmarks/bench_fit.py [--repeats 3] [--bootstrap 1000] [--peer-python PY] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _common import ForeignLoad, best_of, machine_info
from scipy.optimize import curve_fit
from threadpoolctl import threadpool_limits

from scalinglab.fit.data import prepare, read_csv
from scalinglab.fit.estimate import fit_law
from scalinglab.fit.laws import LAWS
from scalinglab.fit.select import holdout_mask

EXTERNAL = Path(__file__).resolve().parents[1] / "tests" / "data" / "external"

# One generic starting point per law, as a user without a grid would pick it.
P0 = {
    "chinchilla": [1.0, 100.0, 0.3, 100.0, 0.3],
    "broken_power_law": [0.1, 1.0, 0.1, 1000.0, 0.5, 1.0],
    "power_law_offset": [0.1, 1.0, 0.3],
}


def datasets():
    """(name, law, X, y, held-out mask) following each file's protocol (tests/data/external/README.md)."""
    cols = read_csv(EXTERNAL / "chinchilla_epoch_svg_extracted.csv")
    X, y, _, _ = prepare(cols, y="loss", x=["N", "D"], define=["N=`Model Size`", "D=`Training FLOP`/(6*N)"],
                         drop_highest=5)
    yield "Chinchilla (240 runs), top 10% compute held out", "chinchilla", X, y, holdout_mask(X, 24)
    cols = read_csv(EXTERNAL / "misfitting_open_lm_last_ckpt.csv")
    X, y, _, _ = prepare(cols, y="loss", x=["N", "D"])
    yield "open_lm (261 runs), top 10% compute held out", "chinchilla", X, y, holdout_mask(X, 26)
    cols = read_csv(EXTERNAL / "bnsl_4digit_addition.csv")
    X, y, _, _ = prepare(cols, y="test_cross_entropy", x=["dataset_size"])
    yield "BNSL 4-digit addition, last 3 held out", "broken_power_law", X, y, holdout_mask(X, 3)
    cols = read_csv(EXTERNAL / "nmt_learning_curves.csv")
    for model in sorted(set(cols["model"])):
        X, y, _, _ = prepare(cols, y="log_perplexity", x=["seen_examples"], where=[f"model == '{model}'"])
        held = cols["training"][cols["model"] == model] == 0
        yield f"NMT {model}, training = 0 held out", "power_law_offset", X, y, held


def rmse(pred: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        r = np.log(pred) - np.log(y)
    return float(np.sqrt(np.mean(r**2))) if np.all(np.isfinite(r)) else float("inf")


def baseline(law_name: str, X: np.ndarray, y: np.ndarray):
    law = LAWS[law_name]

    def f(xcols, *theta):
        with np.errstate(all="ignore"):
            return np.log(np.maximum(law(xcols.T, dict(zip(law.names, theta, strict=True))), 1e-300))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            theta, _ = curve_fit(f, X.T, np.log(y), p0=P0[law_name], maxfev=20_000)
        except (RuntimeError, ValueError):
            return None
    return dict(zip(law.names, theta, strict=True))


def robustness(trials: int) -> dict[str, int]:
    """How often each method reaches the noise floor on Chinchilla-law data with random true parameters."""
    law = LAWS["chinchilla"]
    N, D = np.geomspace(1e7, 1e10, 8), np.geomspace(1e8, 1e11, 8)
    X = np.array([(n, d) for n in N for d in D])
    hits = {"ours": 0, "baseline": 0}
    for trial in range(trials):
        rng = np.random.default_rng(trial)
        truth = {"E": rng.uniform(1, 3), "A": 10 ** rng.uniform(2, 4), "alpha": rng.uniform(0.2, 0.6),
                 "B": 10 ** rng.uniform(2, 4), "beta": rng.uniform(0.2, 0.6)}
        y = law(X, truth) * np.exp(0.01 * rng.standard_normal(len(X)))
        ours = fit_law(law, X, y, n_boot=0).params
        base = baseline("chinchilla", X, y)
        hits["ours"] += rmse(law(X, ours), y) < 0.015
        hits["baseline"] += base is not None and rmse(law(X, base), y) < 0.015
    return hits


ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "POLARS_MAX_THREADS")}

# Run by the peer's interpreter: reads {"N", "D", "loss", "draws"} on stdin, prints its CPU seconds and fit.
PEER_SCRIPT = """
import json, sys, time
import polars as pl
import simple_scaling_laws as ssl
a = json.load(sys.stdin)
frame = pl.DataFrame({"training_run_id": [str(i) for i in range(len(a["N"]))], "model_size__N": a["N"],
                      "dataset_size__D": a["D"], "test_loss__loss": a["loss"]})
t = time.process_time()
model = ssl.fit(frame, law="separable-power", n_draws=a["draws"], seed=0)
cpu = time.process_time() - t
draws = model.draws["test_loss__loss"].params.shape[0]
print(json.dumps({"cpu_s": cpu, "version": ssl.__version__, "draws": int(draws),
                  "params": {k: float(v) for k, v in model.params("test_loss__loss").items()}}))
"""


def peer_python(given: str | None, scratch: Path) -> str:
    """An interpreter with simple-scaling-laws: ``given``, or a scratch venv built with python3.12 and pip."""
    if given:
        return given
    candidates = [shutil.which("python3.12"), shutil.which("python3.13")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        candidates += [str(p) for p in sorted(Path(root, "versions").glob("3.1[2-9]*/bin/python"))]
    check = "import sys; sys.exit(sys.version_info < (3, 12))"
    base = next((c for c in candidates if c and subprocess.run([c, "-c", check], capture_output=True).returncode == 0),
                None)  # a pyenv shim without that version selected fails the check
    if base is None:
        raise RuntimeError("no Python >= 3.12 found (PATH or pyenv); pass --peer-python")
    subprocess.run([base, "-m", "venv", str(scratch / "venv")], check=True)
    py = str(scratch / "venv" / "bin" / "python")
    subprocess.run([py, "-m", "pip", "install", "--quiet", "simple-scaling-laws"], check=True)
    return py


def peer_comparison(X: np.ndarray, y: np.ndarray, draws: int, repeats: int, given: str | None) -> dict:
    """Ours (fit_law with ``draws`` bootstrap refits) against simple-scaling-laws, interleaved, CPU seconds."""
    scratch = Path(tempfile.mkdtemp(prefix="ssl-peer-"))
    try:
        py = peer_python(given, scratch)
        payload = json.dumps({"N": X[:, 0].tolist(), "D": X[:, 1].tolist(), "loss": y.tolist(), "draws": draws})
        ours, peer = [], []
        for _ in range(repeats):
            with threadpool_limits(limits=1):
                t = time.process_time()
                fit = fit_law(LAWS["chinchilla"], X, y, n_boot=draws)
                ours.append(time.process_time() - t)
            out = subprocess.run([py, "-c", PEER_SCRIPT], input=payload, capture_output=True, text=True,
                                 check=True, env={**os.environ, **ONE_THREAD})
            res = json.loads(out.stdout.strip().splitlines()[-1])
            peer.append(res["cpu_s"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    row = {"draws": draws, "repeats": repeats, "ours_cpu_s": statistics.median(ours),
           "peer_cpu_s": statistics.median(peer), "all_ours_cpu_s": ours, "all_peer_cpu_s": peer,
           "ours_successful": len(fit.draws), "peer_draws": res["draws"], "peer_version": res["version"],
           "ours_params": fit.params, "peer_params": res["params"]}
    row["speedup"] = row["peer_cpu_s"] / row["ours_cpu_s"]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=20, help="random parameter sets in the robustness check")
    ap.add_argument("--peer-python", help="a Python >= 3.12 with simple-scaling-laws installed")
    ap.add_argument("--peer-repeats", type=int, default=3, help="interleaved repeats of ours and the peer")
    ap.add_argument("--peer", choices=("yes", "no", "only"), default="yes",
                    help="the simple-scaling-laws comparison: also, skipped, or alone")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    rows, robust, boot = [], None, None
    if args.peer != "only":
        print(f"{'data set':52s} {'law':18s} {'ours s':>8s} {'curve_fit s':>11s} {'ratio':>6s} "
              f"{'ours RMSE':>9s} {'c_f RMSE':>9s}")
        for name, law_name, X, y, held in datasets():
            law = LAWS[law_name]
            load = ForeignLoad()
            t_ours, ours = best_of(lambda: fit_law(law, X[~held], y[~held], n_boot=0), args.repeats)  # noqa: B023
            t_base, base = best_of(lambda: baseline(law_name, X[~held], y[~held]), args.repeats)  # noqa: B023
            row = {"data": name, "law": law_name, "ours_s": t_ours, "baseline_s": t_base,
                   "ours_holdout_rmse_log": rmse(ours.predict(X[held]), y[held]),
                   "baseline_holdout_rmse_log": rmse(law(X[held], base), y[held]) if base else None,
                   "foreign_cpu_s": load.seconds()}
            rows.append(row)
            b = row["baseline_holdout_rmse_log"]
            print(f"{name:52s} {law_name:18s} {t_ours:8.3f} {t_base:11.3f} {t_ours / t_base:6.1f} "
                  f"{row['ours_holdout_rmse_log']:9.4f} {'failed' if b is None else f'{b:9.4f}':>9s}")

        robust = robustness(args.trials)
        print(f"\nChinchilla law, {args.trials} random true parameter sets, 1% noise on an 8 x 8 (N, D) grid: "
              f"fits that reach the noise floor (in-sample RMSE of log < 0.015): ours {robust['ours']}, "
              f"curve_fit {robust['baseline']}")

    _, _, X, y, _ = next(datasets())  # the 240 Chinchilla runs
    if args.peer != "only":
        load = ForeignLoad()
        t = time.perf_counter()
        fit = fit_law(LAWS["chinchilla"], X, y, n_boot=args.bootstrap)
        t_boot = time.perf_counter() - t
        boot = {"runs": len(y), "bootstrap": args.bootstrap, "seconds": t_boot, "n_successful": len(fit.draws),
                "foreign_cpu_s": load.seconds(), "params": fit.params, "ci95": fit.ci95}
        print(f"\nChinchilla, all {len(y)} runs, {args.bootstrap} bootstrap refits: {t_boot:.1f} s "
              f"({len(fit.draws)} successful; other processes used {boot['foreign_cpu_s']:.1f} CPU s)")
    peer = None
    if args.peer != "no":
        load = ForeignLoad()
        try:
            peer = peer_comparison(X, y, args.bootstrap, args.peer_repeats, args.peer_python)
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            print(f"\nsimple-scaling-laws comparison skipped: {exc}", file=sys.stderr)
        else:
            peer["foreign_cpu_s"] = load.seconds()
            print(f"\nSide by side, one BLAS thread each, medians of {args.peer_repeats} interleaved: ours "
                  f"(fit + {args.bootstrap} bootstrap refits) {peer['ours_cpu_s']:.2f} CPU s, simple-scaling-laws "
                  f"{peer['peer_version']} ({peer['peer_draws']} draws) {peer['peer_cpu_s']:.2f} CPU s: "
                  f"{peer['speedup']:.1f}x (other processes used {peer['foreign_cpu_s']:.1f} CPU s)")
            for who in ("ours", "peer"):
                print(f"  {who} estimates: " + ", ".join(f"{k} {v:.4g}" for k, v in peer[f"{who}_params"].items()))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine_info(), "rows": rows, "robustness": robust,
                                          "bootstrap": boot, "simple_scaling_laws": peer}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
