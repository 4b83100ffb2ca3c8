"""Random-feature learning curve on the demo grid: the nested one-draw solver against a plain sklearn loop.

Times, in one run, interleaved (one repeat of each in turn) and under the same BLAS thread limit, in CPU
seconds of this process by default (``--clock wall`` for wall time); medians of ``--repeats``:

1. ours      ``RandomFeatures().learning_curve`` on the demo grid for one seed: 13 x 13 log-spaced sizes from
             16 to ``--max`` (1024, the demo spec, by default), S = 8192; its setup (the draws and the
             products in the S-dimensional latent space) is timed separately, so that "ours minus setup" (the
             per-grid-point work) can be read off;
2. baseline  a plain loop over the same grid: one draw of F (max D), proj (max P) and a test set of latent
             features, then ``sklearn.linear_model.Ridge(fit_intercept=False)`` on Phi[:D, :P] at every point,
             scored by the MSE on the test set; the whole thing (draws included) is timed once;
3. limit     the single largest ridge solve (D = P = max) given its feature matrix (Gram, Cholesky, solve),
             and the time to build that feature matrix, F @ proj.T with S = 8192; their sum is
             ``largest_build_solve_s``.

It also checks that both methods agree, on the same draw of F and proj: the sklearn test MSE against our
exact single-teacher population loss (within the sampling error of the test set, relative sqrt(2 / n_test)),
and the exact population loss of the sklearn coefficients against ours at every grid point.

Run from the repository root:

    python benchmarks/bench_random_features.py [--threads N] [--max N] [--repeats K] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _common import ForeignLoad, machine_info
from scipy import linalg
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from threadpoolctl import threadpool_info, threadpool_limits

from scalinglab.models.random_features import RandomFeatures
from scalinglab.sweep.spec import Range, demo_spec
from scalinglab.tasks.teacher_student import TeacherStudent

RIDGE = 1e-8  # relative ridge, the RandomFeatures default: penalty = RIDGE * mean squared feature-vector norm
CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time


def timed(fn):
    """(seconds on the chosen clock, result) of one call."""
    t = clock()
    out = fn()
    return clock() - t, out


def best_of(fn, repeats: int):
    """Smallest time of ``repeats`` calls on the chosen clock, and that call's result."""
    return min((timed(fn) for _ in range(repeats)), key=lambda r: r[0])


def draw(task: TeacherStudent, D: int, P: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """F and proj exactly as ``learning_curve`` draws them from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    F = task.sample_features(D, rng)
    proj = rng.standard_normal((P, task.features))
    return F, proj


def time_setup(task: TeacherStudent, D: int, P: int, seed: int) -> dict[str, float]:
    """The setup of ``learning_curve`` (draws and latent-space products, as it forms them), each step timed."""
    lam, w = task.eigenvalues, task.teacher
    root = np.sqrt(lam)
    rng = np.random.default_rng(seed)
    steps: dict[str, float] = {}
    steps["draw F (D x S)"], F = timed(lambda: task.sample_features(D, rng))
    steps["draw proj (P x S)"], proj = timed(lambda: rng.standard_normal((P, task.features)))
    steps["elementwise (F lam^1/2, proj lam^1/2, proj lam, y, proj lam w)"], (Fs, Ps, Pl) = timed(
        lambda: (F * root, proj * root, proj * lam, F @ w, (proj * lam) @ w)[:3])
    products = {
        "Phi = F proj^T (gemm)": lambda: F @ proj.T,
        "G = F (proj lam)^T (gemm)": lambda: F @ Pl.T,
        "K_F = F F^T (syrk)": lambda: F @ F.T,
        "H = (proj lam^1/2)(proj lam^1/2)^T (syrk)": lambda: Ps @ Ps.T,
        "K2 = (F lam^1/2)(F lam^1/2)^T (syrk)": lambda: Fs @ Fs.T,
        "H2 = (proj lam)(proj lam)^T (syrk)": lambda: Pl @ Pl.T,
    }
    for name, fn in products.items():
        steps[name], _ = timed(fn)
    return steps


def time_largest(task: TeacherStudent, D: int, P: int, seed: int, repeats: int) -> dict[str, float]:
    """The one ridge solve at (D, P) given its features, and the cost of building those features."""
    F, proj = draw(task, D, P, seed)
    y = F @ task.teacher
    build, A = timed(lambda: F @ proj.T)

    def gram():
        return A @ A.T if D <= P else A.T @ A

    def chol_solve(K):
        r = RIDGE * float(np.trace(K)) / D
        c = linalg.cho_factor(K + r * np.eye(K.shape[0]), lower=True, check_finite=False)
        rhs = y if D <= P else A.T @ y
        return linalg.cho_solve(c, rhs, check_finite=False)

    t_gram, K = best_of(gram, repeats)
    t_chol, _ = best_of(lambda: chol_solve(K), repeats)
    t_solve, _ = best_of(lambda: chol_solve(gram()), repeats)
    return {"build_features": build, "gram": t_gram, "cholesky_solve": t_chol, "solve": t_solve}


def run_baseline(task: TeacherStudent, ds, ps, seed: int, n_test: int) -> dict:
    """The plain loop, timed as a whole (draws and test features included) and its fit loop alone."""
    w = task.teacher
    D, P = max(ds), max(ps)
    t0 = clock()
    F, proj = draw(task, D, P, seed)
    y = F @ w
    Phi = F @ proj.T
    del F
    test_rng = np.random.default_rng([seed, 1])  # independent of the training draw
    Phi_test = np.empty((n_test, P))
    y_test = np.empty(n_test)
    for lo in range(0, n_test, 2000):  # in chunks: the full latent test set would be n_test x S
        hi = min(lo + 2000, n_test)
        Ft = task.sample_features(hi - lo, test_rng)
        Phi_test[lo:hi] = Ft @ proj.T
        y_test[lo:hi] = Ft @ w
    t1 = clock()
    mse, coefs = {}, {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for d in ds:
            for p in ps:
                X = Phi[:d, :p]
                alpha = RIDGE * float(np.einsum("ij,ij->", X, X)) / d  # same relative ridge as ours
                m = Ridge(alpha=alpha, fit_intercept=False).fit(X, y[:d])
                mse[d, p] = mean_squared_error(y_test, m.predict(Phi_test[:, :p]))
                coefs[d, p] = m.coef_
    t2 = clock()
    return {
        "total": t2 - t0,
        "setup": t1 - t0,
        "loop": t2 - t1,
        "mse": mse,
        "coefs": coefs,
        "proj": proj,
        "warnings": len(caught),
        "warning_kinds": sorted({type(c.message).__name__ for c in caught}),
    }


def main(argv: list[str] | None = None) -> int:
    global clock
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (default: library default)")
    ap.add_argument("--max", type=int, default=None, metavar="N",
                    help="largest D and P of the 13 x 13 grid (default: the demo spec's, 1024)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repeats of ours and the largest solve "
                    "(medians are reported)")
    ap.add_argument("--baseline-repeats", type=int, default=None,
                    help="runs of the sklearn baseline, interleaved with the first ones of ours (default --repeats)")
    ap.add_argument("--clock", choices=sorted(CLOCK), default="cpu",
                    help="CPU seconds of this process (default; one BLAS thread makes it the work done) or wall")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=int, default=10_000, help="test points of the sklearn baseline")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    args = ap.parse_args(argv)
    clock = CLOCK[args.clock]
    n_base = args.repeats if args.baseline_repeats is None else args.baseline_repeats

    spec = demo_spec()
    axis = spec.grid.data
    if args.max is not None:
        if args.max <= axis.min:
            ap.error(f"--max must exceed the grid's smallest size {axis.min}, got {args.max}")
        axis = Range(min=axis.min, max=args.max, num=axis.num)
    ds = ps = axis.values()
    task = TeacherStudent(features=spec.task.features, spectrum_exponent=spec.task.spectrum_exponent)
    D, P, S = max(ds), max(ps), task.features
    info = machine_info()

    foreign: dict[str, float] = {}

    def phase(name, fn):
        load = ForeignLoad()
        out = fn()
        other = load.seconds()
        if other is not None:
            foreign[name] = foreign.get(name, 0.0) + other
        return out

    model = RandomFeatures(ridge=RIDGE)
    t_ours_all, t_largest_all, bases = [], [], []
    with threadpool_limits(limits=args.threads):
        info["blas_threads"] = sorted({i["num_threads"] for i in threadpool_info()})
        task.eigenvalues, task.teacher  # noqa: B018 - cached, keep out of the timings
        model.learning_curve(task, [16], [16], np.random.default_rng(0))  # warm-up (imports, BLAS start)
        for i in range(max(args.repeats, n_base)):
            if i < args.repeats:
                t, ms = phase("ours", lambda: timed(
                    lambda: model.learning_curve(task, ds, ps, np.random.default_rng(args.seed))))
                t_ours_all.append(t)
                t_largest_all.append(phase("largest", lambda: time_largest(task, D, P, args.seed, 3)))
            if i < n_base:
                bases.append(phase("baseline", lambda: run_baseline(task, ds, ps, args.seed, args.test_size)))
        setup = phase("setup", lambda: time_setup(task, D, P, args.seed))
    info["loadavg_end"] = os.getloadavg()[0]

    def med(values):
        return float(statistics.median(values))

    t_ours = med(t_ours_all)
    largest = {k: med([x[k] for x in t_largest_all]) for k in t_largest_all[0]}
    t_build_solve = med([x["build_features"] + x["solve"] for x in t_largest_all])
    base = min(bases, key=lambda b: b["total"])  # its draws and fits are the same every run: any one serves
    t_base = med([b["total"] for b in bases])
    base_setup, base_loop = med([b["setup"] for b in bases]), med([b["loop"] for b in bases])
    t_setup = sum(setup.values())
    t_grid = t_ours - t_setup
    npts = len(ds) * len(ps)
    ours = {(m.data_size, m.model_size): m for m in ms}

    # Agreement: exact population loss of the sklearn coefficients vs ours, at every grid point.
    proj = base["proj"]
    rel_exact = {}
    for (d, p), coef in base["coefs"].items():
        mine = ours[d, p].extra["loss_single_teacher"]
        theirs = task.population_loss(proj[:p].T @ coef)
        rel_exact[d, p] = abs(theirs - mine) / mine
    under = [v for (d, p), v in rel_exact.items() if p < d]
    over = [v for (d, p), v in rel_exact.items() if p >= d]
    # Sampled check: test MSE vs our exact loss, at a few points of the least-squares region (P < D).
    se = np.sqrt(2.0 / args.test_size)  # relative std of a mean of n squared Gaussians
    check_points = [(ds[i], ps[j]) for i, j in [(12, 0), (12, 6), (12, 10), (10, 4), (9, 7), (8, 6), (6, 2)]]
    checks = []
    for d, p in check_points:
        mine = ours[d, p].extra["loss_single_teacher"]
        mse = base["mse"][d, p]
        z = (mse - mine) / (mine * se)
        checks.append({"D": d, "P": p, "ours": mine, "sklearn_test_mse": mse, "rel_diff": (mse - mine) / mine,
                       "z": z})
    agree = all(abs(c["z"]) < 4 for c in checks)

    res = {
        "machine": info,
        "grid": {"data_sizes": ds, "model_sizes": ps, "points": npts, "latent_features": S},
        "seed": args.seed,
        "clock": args.clock,
        "repeats": args.repeats,
        "baseline_repeats": n_base,
        "foreign_cpu_s": foreign,
        "ours_s": t_ours,
        "ours_all_s": t_ours_all,
        "ours_setup_s": t_setup,
        "ours_setup_steps_s": setup,
        "ours_minus_setup_s": t_grid,
        "baseline_s": t_base,
        "baseline_all_s": [b["total"] for b in bases],
        "baseline_setup_s": base_setup,
        "baseline_loop_s": base_loop,
        "baseline_test_size": args.test_size,
        "baseline_warnings": base["warnings"],
        "baseline_warning_kinds": base["warning_kinds"],
        "largest_build_solve_s": t_build_solve,
        "largest_build_features_s": largest["build_features"],
        "largest_gram_s": largest["gram"],
        "largest_cholesky_solve_s": largest["cholesky_solve"],
        "largest_solve_s": largest["solve"],
        "ratio_baseline_over_ours": t_base / t_ours,
        "ratio_baseline_loop_over_ours_minus_setup": base_loop / t_grid,
        "ratio_ours_over_largest_build_solve": t_ours / t_build_solve,
        "ratio_ours_minus_setup_over_largest_solve": t_grid / largest["solve"],
        "ratio_setup_over_largest_build_solve": t_setup / t_build_solve,
        "target_le_3x_largest_build_solve_met": t_ours <= 3 * t_build_solve,
        "agreement_sampled": checks,
        "agreement_sampled_ok": agree,
        "agreement_exact_max_rel_P_lt_D": max(under),
        "agreement_exact_median_rel_P_lt_D": float(np.median(under)),
        "agreement_exact_max_rel_P_ge_D": max(over),
        "agreement_exact_median_rel_P_ge_D": float(np.median(over)),
    }

    thr = args.threads if args.threads else f"default ({','.join(map(str, info['blas_threads']))})"
    print(f"machine: {info['cpu']}, {info['cores']} cores, BLAS threads {thr}; numpy {info['numpy']}, "
          f"scipy {info['scipy']}, sklearn {info['sklearn']}")
    print(f"BLAS: {'; '.join(info['blas'])}")
    print(f"grid: {len(ds)} x {len(ps)} = {npts} points, D, P in {ds[0]}..{ds[-1]}, S = {S}, seed {args.seed}; "
          f"{args.clock} seconds, medians of {args.repeats} (baseline {n_base}), interleaved")
    print(f"load average (1 min) at start {info['loadavg_start']:.2f}, at end {info['loadavg_end']:.2f}; "
          "CPU seconds used by other processes during: "
          + ", ".join(f"{k} {v:.1f}" for k, v in foreign.items()))
    print()
    print(f"{'timing':<70}{'seconds':>10}")
    rows = [
        ("ours: learning_curve, whole grid", t_ours),
        ("  setup: draws + latent-space products (sum of below, one run)", t_setup),
        *[(f"    {k}", v) for k, v in setup.items()],
        (f"  ours minus setup ({npts} grid points + limits)", t_grid),
        (f"baseline: sklearn Ridge loop, total (n_test = {args.test_size})", t_base),
        ("  draws, Phi, test features", base_setup),
        ("  fit + score loop", base_loop),
        (f"largest build + solve, D = P = {D}", t_build_solve),
        (f"  build features F proj^T (S = {S})", largest["build_features"]),
        ("  ridge solve: Gram + Cholesky + solve", largest["solve"]),
        ("    Gram Phi Phi^T", largest["gram"]),
        ("    Cholesky + triangular solves", largest["cholesky_solve"]),
    ]
    for name, v in rows:
        print(f"{name:<70}{v:>10.4f}")
    print()
    print(f"baseline / ours                         {res['ratio_baseline_over_ours']:8.2f}x")
    print(f"baseline loop / (ours minus setup)      {res['ratio_baseline_loop_over_ours_minus_setup']:8.2f}x")
    print(f"ours / (largest build + solve)          {res['ratio_ours_over_largest_build_solve']:8.2f}x  "
          f"(target <= 3x: {'met' if res['target_le_3x_largest_build_solve_met'] else 'NOT met'})")
    print(f"setup alone / (largest build + solve)   {res['ratio_setup_over_largest_build_solve']:8.2f}x")
    print()
    print(f"agreement, same F/proj draw; sklearn test MSE on {args.test_size} points "
          f"(relative sampling error {se:.2%}) vs our exact single-teacher loss:")
    print(f"{'D':>6}{'P':>6}{'ours':>14}{'sklearn MSE':>14}{'rel diff':>10}{'z':>7}")
    for c in checks:
        print(f"{c['D']:>6}{c['P']:>6}{c['ours']:>14.6g}{c['sklearn_test_mse']:>14.6g}{c['rel_diff']:>10.2%}"
              f"{c['z']:>7.2f}")
    print(f"sampled agreement (|z| < 4 at every point): {'ok' if agree else 'FAILED'}")
    ex = {k.removeprefix("agreement_exact_"): v for k, v in res.items() if k.startswith("agreement_exact_")}
    print(f"exact population loss of the sklearn coefficients vs ours, relative difference: "
          f"P < D max {ex['max_rel_P_lt_D']:.1e} (median {ex['median_rel_P_lt_D']:.1e}), "
          f"P >= D max {ex['max_rel_P_ge_D']:.1e} (median {ex['median_rel_P_ge_D']:.1e})")
    if base["warnings"]:
        print(f"sklearn emitted {base['warnings']} warnings during the loop: {', '.join(base['warning_kinds'])}")

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=2, default=float) + "\n")
        print(f"wrote {args.json}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
