"""Random-feature learning curve on the demo grid: the nested one-draw solver against a plain sklearn loop.

Times, in one run and under the same BLAS thread limit:

1. ours      ``RandomFeatures().learning_curve`` on the whole demo grid (13 x 13 points, S = 8192) for one seed,
             best of ``--repeats``; its setup products in the S-dimensional latent space are timed separately
             so that "ours minus setup" (the per-grid-point work) can be read off;
2. baseline  a plain loop over the same grid: one draw of F (max D), proj (max P) and a test set of latent
             features, then ``sklearn.linear_model.Ridge(fit_intercept=False)`` on Phi[:D, :P] at every point,
             scored by the MSE on the test set; the whole thing (draws included) is timed once;
3. limit     the single largest ridge solve (D = P = 1024) given its feature matrix (Gram, Cholesky, solve),
             and the time to build that feature matrix, F @ proj.T with S = 8192.

It also checks that both methods agree, on the same draw of F and proj: the sklearn test MSE against our
exact single-teacher population loss (within the sampling error of the test set, relative sqrt(2 / n_test)),
and the exact population loss of the sklearn coefficients against ours at every grid point.

Run from the repository root:

    python benchmarks/bench_random_features.py [--threads N] [--repeats K] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

try:
    import scalinglab  # noqa: F401
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
import scipy
import sklearn
from scipy import linalg
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from threadpoolctl import threadpool_info, threadpool_limits

from scalinglab.models.random_features import RandomFeatures
from scalinglab.sweep.spec import demo_spec
from scalinglab.tasks.teacher_student import TeacherStudent

RIDGE = 1e-8  # relative ridge, the RandomFeatures default: penalty = RIDGE * mean squared feature-vector norm


class ForeignLoad:
    """CPU seconds used on this machine by other processes while the benchmark ran (Linux /proc/stat).

    Timings are only meaningful when this stays near zero; it is printed and written with the results.
    """

    def __init__(self) -> None:
        self.start = self._snapshot()

    @staticmethod
    def _snapshot() -> tuple[float, float] | None:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return busy / os.sysconf("SC_CLK_TCK"), own

    def seconds(self) -> float | None:
        end = self._snapshot()
        if self.start is None or end is None:
            return None
        return max(0.0, (end[0] - self.start[0]) - (end[1] - self.start[1]))


def best_of(fn, repeats: int) -> tuple[float, object]:
    """Smallest wall time of ``repeats`` calls of fn() and the result of that call."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        res = fn()
        dt = time.perf_counter() - t
        if dt < best:
            best, out = dt, res
    return best, out


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = sorted({f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '-')}, "
                   f"{i.get('threading_layer', '-')})" for i in threadpool_info() if i.get("user_api") == "blas"})
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "blas": blas,
        "loadavg_start": os.getloadavg()[0],
    }


def draw(task: TeacherStudent, D: int, P: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """F and proj exactly as ``learning_curve`` draws them from default_rng(seed)."""
    rng = np.random.default_rng(seed)
    F = task.sample_features(D, rng)
    proj = rng.standard_normal((P, task.features))
    return F, proj


def time_setup(task: TeacherStudent, D: int, P: int, seed: int, repeats: int) -> dict[str, float]:
    """The setup of ``learning_curve`` (draws and latent-space products), each step timed on its own."""
    lam, w = task.eigenvalues, task.teacher
    rng = np.random.default_rng(seed)
    steps: dict[str, float] = {}
    steps["draw F (D x S)"], F = best_of(lambda: task.sample_features(D, np.random.default_rng(seed)), repeats)
    steps["draw proj (P x S)"], proj = best_of(lambda: rng.standard_normal((P, task.features)), repeats)
    proj_lam = proj * lam
    FL = F * lam
    products = {
        "Phi = F proj^T": lambda: F @ proj.T,
        "G = F (proj lam)^T": lambda: F @ proj_lam.T,
        "K_F = F F^T": lambda: F @ F.T,
        "H = (proj lam) proj^T": lambda: proj_lam @ proj.T,
        "K2 = (F lam) F^T": lambda: FL @ F.T,
        "H2 = (proj lam)(proj lam)^T": lambda: proj_lam @ proj_lam.T,
        "elementwise (y, proj lam, F lam, proj lam w)": lambda: (F @ w, proj * lam, F * lam, proj_lam @ w),
    }
    for name, fn in products.items():
        steps[name], _ = best_of(fn, repeats)
    return steps


def time_largest(task: TeacherStudent, D: int, P: int, seed: int, repeats: int) -> dict[str, float]:
    """The one ridge solve at (D, P) given its features, and the cost of building those features."""
    F, proj = draw(task, D, P, seed)
    y = F @ task.teacher
    build, A = best_of(lambda: F @ proj.T, repeats)

    def gram():
        return A @ A.T if D <= P else A.T @ A

    def chol_solve(K):
        r = RIDGE * float(np.trace(K)) / D
        c = linalg.cho_factor(K + r * np.eye(K.shape[0]), lower=True, check_finite=False)
        rhs = y if D <= P else A.T @ y
        return linalg.cho_solve(c, rhs, check_finite=False)

    n = max(repeats, 10)
    t_gram, K = best_of(gram, n)
    t_chol, _ = best_of(lambda: chol_solve(K), n)
    t_solve, _ = best_of(lambda: chol_solve(gram()), n)
    return {"build_features": build, "gram": t_gram, "cholesky_solve": t_chol, "solve": t_solve}


def time_ours(task, ds, ps, seed, repeats):
    model = RandomFeatures(ridge=RIDGE)
    return best_of(lambda: model.learning_curve(task, ds, ps, np.random.default_rng(seed)), repeats)


def run_baseline(task: TeacherStudent, ds, ps, seed: int, n_test: int) -> dict:
    """The plain loop, timed as a whole (draws and test features included) and its fit loop alone."""
    w = task.teacher
    D, P = max(ds), max(ps)
    t0 = time.perf_counter()
    F, proj = draw(task, D, P, seed)
    y = F @ w
    Phi = F @ proj.T
    test_rng = np.random.default_rng([seed, 1])  # independent of the training draw
    Phi_test = np.empty((n_test, P))
    y_test = np.empty(n_test)
    for lo in range(0, n_test, 2000):  # in chunks: the full latent test set would be n_test x S
        hi = min(lo + 2000, n_test)
        Ft = task.sample_features(hi - lo, test_rng)
        Phi_test[lo:hi] = Ft @ proj.T
        y_test[lo:hi] = Ft @ w
    t1 = time.perf_counter()
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
    t2 = time.perf_counter()
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
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="BLAS/OpenMP threads (default: library default)")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the timed calls (best is reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test-size", type=int, default=10_000, help="test points of the sklearn baseline")
    ap.add_argument("--baseline-repeats", type=int, default=1, help="runs of the baseline (best is reported)")
    ap.add_argument("--retries", type=int, default=3,
                    help="reruns of a phase during which other processes used CPU (the fastest run is kept)")
    ap.add_argument("--foreign-tolerance", type=float, default=0.3, metavar="SECONDS",
                    help="CPU seconds other processes may use during a phase before it is rerun")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    args = ap.parse_args(argv)

    spec = demo_spec()
    ds, ps = spec.grid.data.values(), spec.grid.size.values()
    task = TeacherStudent(features=spec.task.features, spectrum_exponent=spec.task.spectrum_exponent)
    D, P, S = max(ds), max(ps), task.features
    info = machine_info()

    foreign, retried = {}, {}
    with threadpool_limits(limits=args.threads):
        info["blas_threads"] = sorted({i["num_threads"] for i in threadpool_info()})
        task.eigenvalues, task.teacher  # noqa: B018 - cached, keep out of the timings
        time_ours(task, [16], [16], args.seed, 1)  # warm-up (imports, BLAS thread start)

        def phase(name, fn, seconds):
            """Run a timed phase; rerun it (up to --retries times) while other processes took CPU during it."""
            best = None
            for attempt in range(args.retries + 1):
                load = ForeignLoad()
                out = fn()
                other = load.seconds()
                if best is None or seconds(out) < seconds(best[0]):
                    best = (out, other, attempt)
                if other is not None and other < args.foreign_tolerance:
                    break
            foreign[name] = best[1]
            retried[name] = attempt
            return best[0]

        t_ours, ms = phase("ours", lambda: time_ours(task, ds, ps, args.seed, args.repeats), lambda r: r[0])
        setup = phase("setup", lambda: time_setup(task, D, P, args.seed, args.repeats), lambda r: sum(r.values()))
        largest = phase("largest", lambda: time_largest(task, D, P, args.seed, args.repeats), lambda r: r["solve"])
        base = phase("baseline",
                     lambda: min((run_baseline(task, ds, ps, args.seed, args.test_size)
                                  for _ in range(args.baseline_repeats)), key=lambda b: b["total"]),
                     lambda r: r["total"])
    info["loadavg_end"] = os.getloadavg()[0]

    t_setup = sum(setup.values())
    t_grid = t_ours - t_setup
    # Each Measurement's wall_seconds is its own solve plus an equal share of the setup, so the sum less the
    # (separately timed) setup approximates the per-point solves; the rest is the limits and nested products.
    t_points = sum(m.wall_seconds for m in ms) - t_setup
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
    check_points = [(1024, 16), (1024, 128), (1024, 512), (512, 64), (362, 181), (256, 128), (128, 32)]
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
        "repeats": args.repeats,
        "baseline_repeats": args.baseline_repeats,
        "foreign_cpu_s": foreign,
        "phase_reruns": retried,
        "ours_s": t_ours,
        "ours_setup_s": t_setup,
        "ours_setup_steps_s": setup,
        "ours_minus_setup_s": t_grid,
        "ours_per_point_solves_s_approx": t_points,
        "ours_limits_and_block_products_s_approx": t_grid - t_points,
        "baseline_s": base["total"],
        "baseline_setup_s": base["setup"],
        "baseline_loop_s": base["loop"],
        "baseline_test_size": args.test_size,
        "baseline_warnings": base["warnings"],
        "baseline_warning_kinds": base["warning_kinds"],
        "largest_build_features_s": largest["build_features"],
        "largest_gram_s": largest["gram"],
        "largest_cholesky_solve_s": largest["cholesky_solve"],
        "largest_solve_s": largest["solve"],
        "ratio_baseline_over_ours": base["total"] / t_ours,
        "ratio_baseline_loop_over_ours_minus_setup": base["loop"] / t_grid,
        "ratio_ours_over_largest_solve": t_ours / largest["solve"],
        "ratio_ours_minus_setup_over_largest_solve": t_grid / largest["solve"],
        "ratio_ours_over_build_plus_solve": t_ours / (largest["build_features"] + largest["solve"]),
        "target_grid_le_3x_largest_solve_met": t_ours <= 3 * largest["solve"],
        "target_met_without_setup": t_grid <= 3 * largest["solve"],
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
    print(f"grid: {len(ds)} x {len(ps)} = {npts} points, D, P in {ds[0]}..{ds[-1]}, S = {S}, seed {args.seed}")
    print(f"load average (1 min) at start {info['loadavg_start']:.2f}, at end {info['loadavg_end']:.2f}; "
          "CPU seconds used by other processes during the kept run of: "
          + ", ".join(f"{k} {'n/a' if v is None else f'{v:.1f}'}" for k, v in foreign.items())
          + f" (reruns: {', '.join(f'{k} {v}' for k, v in retried.items())})")
    print()
    print(f"{'timing':<66}{'seconds':>10}")
    rows = [
        (f"ours: learning_curve, whole grid (best of {args.repeats})", t_ours),
        ("  setup: draws + latent-space products (sum of below)", t_setup),
        *[(f"    {k}", v) for k, v in setup.items()],
        ("  ours minus setup (all 169 grid points + limits)", t_grid),
        ("    per-point solves (sum of wall_seconds less setup, approx.)", t_points),
        ("    limits + nested block products (rest, approx.)", t_grid - t_points),
        (f"baseline: sklearn Ridge loop, total (n_test = {args.test_size})", base["total"]),
        ("  draws, Phi, test features", base["setup"]),
        ("  fit + score loop", base["loop"]),
        (f"largest problem D = P = {D}: build features F proj^T (S = {S})", largest["build_features"]),
        ("largest ridge solve: Gram + Cholesky + solve", largest["solve"]),
        ("  Gram Phi Phi^T", largest["gram"]),
        ("  Cholesky + triangular solves", largest["cholesky_solve"]),
    ]
    for name, v in rows:
        print(f"{name:<66}{v:>10.4f}")
    print()
    print(f"baseline / ours                         {res['ratio_baseline_over_ours']:8.2f}x")
    print(f"baseline loop / (ours minus setup)      {res['ratio_baseline_loop_over_ours_minus_setup']:8.2f}x")
    print(f"ours / largest solve                    {res['ratio_ours_over_largest_solve']:8.1f}x  "
          f"(target <= 3x: {'met' if res['target_grid_le_3x_largest_solve_met'] else 'NOT met'})")
    print(f"(ours minus setup) / largest solve      {res['ratio_ours_minus_setup_over_largest_solve']:8.1f}x  "
          f"(<= 3x: {'met' if res['target_met_without_setup'] else 'NOT met'})")
    print(f"ours / (build features + largest solve) {res['ratio_ours_over_build_plus_solve']:8.1f}x")
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
