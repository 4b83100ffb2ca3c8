"""Kernel benchmarks: the nested-Cholesky learning curve against scikit-learn's KernelRidge fitted at every D, and
the blocked NNGP/NTK computation against a plain whole-matrix NumPy recursion.

Phase 1 (learning curve): a manifold task (4-torus in R^16, Matern target), the depth-2 ReLU NNGP Gram of the
largest training set (computed once, shared by every contender and not timed), 16 log-spaced D from D_max/64 to
D_max, 1,000 test points. Timed: ``nested_cholesky_curve`` (ours: copy, one Cholesky, one forward substitution,
16 backward substitutions and test products), ``scipy.linalg.cholesky`` of the largest Gram plus ridge alone (the
target is ours < 1.5 x this), and ``sklearn.kernel_ridge.KernelRidge(kernel="precomputed")`` fitted and
evaluated at every D. The test losses of ours and scikit-learn's are compared.

Phase 2 (kernel): NNGP and NTK of the same network on N points: ours (tiles of 2,048, upper triangle only, stored
as float32, 1 and 2 threads) against the same recursion on the whole N x N matrices in float64.

Run from the repository root: ``.venv/bin/python benchmarks/bench_kernels.py [--n 16384] [--kernel-n 8192]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_random_features import ForeignLoad, machine_info  # noqa: E402
from scipy import linalg
from sklearn.kernel_ridge import KernelRidge as SkKernelRidge

from scalinglab.models.kernel_ridge import nested_cholesky_curve
from scalinglab.models.kernels import FullyConnected, relu_expectations
from scalinglab.tasks.manifold import ManifoldTask

CPU_SECONDS: dict[int, float] = {}


def timed(fn, retries: int, tolerance: float) -> tuple[float, float | None, object]:
    """Wall time of fn() and the CPU seconds other processes used meanwhile; rerun (keeping the fastest) while
    that foreign load exceeds ``tolerance`` seconds, at most ``retries`` extra times. The process CPU time of the
    kept run is recorded in ``CPU_SECONDS[id(result)]`` (robust to other load with one BLAS thread)."""
    best = (float("inf"), None, None, None)
    for _ in range(retries + 1):
        load = ForeignLoad()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        dt, dc = time.perf_counter() - t, time.process_time() - c
        foreign = load.seconds()
        if dt < best[0]:
            best = (dt, foreign, out, dc)
        if foreign is None or foreign <= tolerance:
            break
    CPU_SECONDS[id(best[2])] = best[3]
    return best[:3]


def plain_kernels(arch: FullyConnected, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The NNGP/NTK recursion on whole matrices in float64: the obvious NumPy implementation."""
    K = arch.weight_var * (X @ X.T) / X.shape[1] + arch.bias_var
    T = K.copy()
    for _ in range(arch.depth):
        diag = np.diag(K).copy()
        value, deriv = relu_expectations(diag[:, None], diag[None, :], K)
        K = arch.weight_var * value + arch.bias_var
        T = K + arch.weight_var * deriv * T
    return K, T


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=16384, help="largest training set D_max")
    ap.add_argument("--points", type=int, default=16)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--kernel-n", type=int, default=8192, help="points of the kernel phase")
    ap.add_argument("--retries", type=int, default=1)
    ap.add_argument("--foreign-tolerance", type=float, default=0.3)
    ap.add_argument("--skip-curve", action="store_true")
    ap.add_argument("--skip-kernel", action="store_true")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (default: the library's default)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
    arch = FullyConnected(depth=2, activation="relu", weight_var=2.0, bias_var=0.0)
    results: dict = {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()}}

    if not args.skip_curve:
        task = ManifoldTask(manifold="torus", intrinsic_dim=4, ambient_dim=16, n_fourier=1024)
        X, y = task.sample(args.n + args.n_test, np.random.default_rng(0))
        t = time.perf_counter()
        K = arch.nngp(X[: args.n], dtype=np.float64)
        Kt = arch.nngp(X[args.n:], X[: args.n], dtype=np.float64)
        gram_s = time.perf_counter() - t
        r = 1e-6 * float(np.mean(np.diag(K)))
        ds = sorted({int(v) for v in np.geomspace(args.n // 64, args.n, args.points)})
        ytr, yte = y[: args.n], y[args.n:]
        ours_s, ours_f, rows = timed(lambda: nested_cholesky_curve(K, Kt, ytr, yte, ds, r), args.retries,
                                     args.foreign_tolerance)
        A = K.copy()
        A[np.diag_indices_from(A)] += r
        chol_s, chol_f, L = timed(lambda: linalg.cholesky(A, lower=True, check_finite=False), args.retries,
                                  args.foreign_tolerance)
        chol_cpu = CPU_SECONDS[id(L)]
        del L
        del A

        def sklearn_curve():
            out = []
            for d in ds:
                m = SkKernelRidge(alpha=r, kernel="precomputed").fit(K[:d, :d], ytr[:d])
                out.append(float(np.mean((m.predict(Kt[:, :d]) - yte) ** 2)))
            return out

        sk_s, sk_f, sk_losses = timed(sklearn_curve, 0, args.foreign_tolerance)
        ours_cpu, sk_cpu = CPU_SECONDS[id(rows)], CPU_SECONDS[id(sk_losses)]
        ours_losses = [te for _, _, te in rows]
        diff = float(np.max(np.abs(np.array(ours_losses) - sk_losses) / np.array(sk_losses)))
        results["curve"] = {"D_max": args.n, "points": len(ds), "data_sizes": ds, "gram_seconds": gram_s,
                            "ours_seconds": ours_s, "ours_foreign_cpu": ours_f, "cholesky_seconds": chol_s,
                            "cholesky_foreign_cpu": chol_f, "sklearn_seconds": sk_s, "sklearn_foreign_cpu": sk_f,
                            "ours_over_cholesky": ours_s / chol_s, "sklearn_over_ours": sk_s / ours_s,
                            "max_relative_loss_difference": diff, "ours_cpu": ours_cpu, "cholesky_cpu": chol_cpu,
                            "sklearn_cpu": sk_cpu}
        print(f"learning curve, {len(ds)} points up to D = {args.n} (Gram {gram_s:.1f} s, not timed)")
        print(f"  ours (nested Cholesky)     {ours_s:8.2f} s wall {ours_cpu:8.2f} s CPU   foreign CPU {ours_f:.1f}")
        print(f"  one Cholesky of D_max      {chol_s:8.2f} s wall {chol_cpu:8.2f} s CPU   foreign CPU {chol_f:.1f}")
        print(f"  sklearn KernelRidge per D  {sk_s:8.2f} s wall {sk_cpu:8.2f} s CPU   foreign CPU {sk_f:.1f}")
        print(f"  wall: ours / Cholesky = {ours_s / chol_s:.2f}, sklearn / ours = {sk_s / ours_s:.2f};   "
              f"CPU: ours / Cholesky = {ours_cpu / chol_cpu:.2f}, sklearn / ours = {sk_cpu / ours_cpu:.2f};   "
              f"max relative loss difference {diff:.1e}")
        del K, Kt

    if not args.skip_kernel:
        rng = np.random.default_rng(1)
        Xk = rng.standard_normal((args.kernel_n, 16))
        plain_s, plain_f, (Kp, Tp) = timed(lambda: plain_kernels(arch, Xk), 0, args.foreign_tolerance)
        res = {"N": args.kernel_n, "plain_seconds": plain_s, "plain_foreign_cpu": plain_f}
        print(f"NNGP + NTK Gram, N = {args.kernel_n}")
        print(f"  plain NumPy float64 whole matrix  {plain_s:8.2f} s   foreign CPU {plain_f:.1f}")
        for workers in (1, 2):
            s, f, (Kb, Tb) = timed(lambda w=workers: arch.kernels(Xk, workers=w), args.retries,
                                   args.foreign_tolerance)
            err = max(float(np.max(np.abs(Kb - Kp)) / np.abs(Kp).max()),
                      float(np.max(np.abs(Tb - Tp)) / np.abs(Tp).max()))
            res[f"blocked_{workers}_seconds"] = s
            res[f"blocked_{workers}_foreign_cpu"] = f
            res[f"plain_over_blocked_{workers}"] = plain_s / s
            res[f"blocked_{workers}_max_error"] = err
            print(f"  blocked float32, {workers} thread(s)         {s:8.2f} s   foreign CPU {f:.1f}   "
                  f"plain / blocked = {plain_s / s:.2f}   max error {err:.1e}")
            del Kb, Tb
        results["kernel"] = res
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
