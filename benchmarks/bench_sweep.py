"""Sweep throughput of the demo spec on 1 and 2 worker processes, and on a 2-worker Dask LocalCluster.

Each run computes every point of the demo spec (13 x 13 grid, all its seeds) into a fresh store in a temporary
directory with ``run_sweep(spec, Store(path), workers=N)``, or ``executor=Client(LocalCluster(N workers, 1
thread each))`` for the Dask rows. Reported: wall time, points per second, and the parallel efficiency of N
workers, time(1 worker) / (N * time(N workers)). A LocalCluster's start-up (spawning its worker processes) is
timed apart and not included in the sweep time; its workers run with one BLAS thread (Dask's default
environment for worker processes).

With one worker everything runs in this process and BLAS uses its default number of threads (all cores, unless
``--threads`` limits it); with N > 1 workers ``run_sweep`` gives each worker process cores / N BLAS threads.

Run from the repository root:

    python benchmarks/bench_sweep.py [--workers 1 2] [--dask 2] [--seeds K] [--threads N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ForeignLoad
from threadpoolctl import threadpool_info, threadpool_limits

from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import DEMO_SPEC, parse_spec
from scalinglab.sweep.store import Store


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def _time_dask(spec, workers: int) -> dict:
    """One sweep on a fresh Dask LocalCluster of ``workers`` one-thread worker processes (start-up timed apart)."""
    import logging

    from distributed import Client, LocalCluster

    total = len(spec.grid.data.values()) * len(spec.grid.size.values()) * spec.seeds
    t = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        startup = time.perf_counter() - t
        blas = sorted(set(client.run(lambda: max([i["num_threads"] for i in threadpool_info()] or [0])).values()))
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.sqlite") as store:
            load = os.getloadavg()[0]
            workers_cpu = sum(client.run(_cpu_seconds).values())
            foreign = ForeignLoad()
            t = time.perf_counter()
            run_sweep(spec, store, executor=client)
            dt = time.perf_counter() - t
            foreign_s = foreign.seconds()
            # the worker processes are this run's own, but ForeignLoad counts only reaped children
            workers_cpu = sum(client.run(_cpu_seconds).values()) - workers_cpu
            foreign_s = None if foreign_s is None else max(0.0, foreign_s - workers_cpu)
            stored = store.count(spec.name)
    return {"executor": "dask local", "workers": workers, "blas_threads_per_worker": blas, "seconds": dt,
            "points": total, "points_per_s": total / dt, "seeds_per_s": spec.seeds / dt, "loadavg_start": load,
            "foreign_cpu_s": foreign_s, "startup_s": startup, "points_stored": stored}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds of the spec (default: the demo spec's)")
    ap.add_argument("--dask", type=int, nargs="*", default=[2],
                    help="Dask LocalCluster worker counts to time (default 2; none: --dask with no value)")
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads of the 1-worker (in-process) run")
    ap.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT")
    args = ap.parse_args(argv)

    data = dict(DEMO_SPEC)
    if args.seeds is not None:
        data["seeds"] = args.seeds
    spec = parse_spec(data)
    per_seed = len(spec.grid.data.values()) * len(spec.grid.size.values())
    total = per_seed * spec.seeds

    runs = []
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=args.threads if workers == 1 else None):
            threads = (sorted({i["num_threads"] for i in threadpool_info()}) if workers == 1
                       else [max(1, (os.cpu_count() or 1) // workers)])
            store = Store(Path(tmp) / "bench.sqlite")
            load = os.getloadavg()[0]
            foreign = ForeignLoad()
            t = time.perf_counter()
            added = run_sweep(spec, store, workers=workers)
            dt = time.perf_counter() - t
            foreign_s = foreign.seconds()
            stored = store.count(spec.name)
            store.close()
        if added != total or stored != total:
            print(f"workers={workers}: stored {stored} points, expected {total}", file=sys.stderr)
            return 1
        runs.append({"executor": "in-process" if workers == 1 else "process pool", "workers": workers,
                     "blas_threads_per_worker": threads, "seconds": dt, "points": total, "points_per_s": total / dt,
                     "seeds_per_s": spec.seeds / dt, "loadavg_start": load, "foreign_cpu_s": foreign_s,
                     "startup_s": 0.0})
    for workers in args.dask or []:
        run = _time_dask(spec, workers)
        if run["points_stored"] != total:
            print(f"dask workers={workers}: stored {run['points_stored']} points, expected {total}", file=sys.stderr)
            return 1
        runs.append(run)

    t1 = next((r["seconds"] for r in runs if r["workers"] == 1 and r["executor"] == "in-process"), None)
    for r in runs:
        r["parallel_efficiency"] = t1 / (r["workers"] * r["seconds"]) if t1 and r["workers"] > 1 else None
    eff = next((r["parallel_efficiency"] for r in runs if r["executor"] == "process pool" and r["workers"] == 2),
               None)

    print(f"demo spec: {per_seed} points per seed x {spec.seeds} seeds = {total} points; "
          f"{os.cpu_count()} cores, numpy {np.__version__}")
    print(f"{'executor':>13}{'workers':>8}{'BLAS thr/worker':>17}{'start s':>9}{'seconds':>10}{'points/s':>10}"
          f"{'efficiency':>12}{'load@start':>12}{'other CPU s':>13}")
    for r in runs:
        thr = ",".join(map(str, r["blas_threads_per_worker"]))
        e = "" if r["parallel_efficiency"] is None else f"{r['parallel_efficiency']:.2f}"
        print(f"{r['executor']:>13}{r['workers']:>8}{thr:>17}{r['startup_s']:>9.2f}{r['seconds']:>10.2f}"
              f"{r['points_per_s']:>10.1f}{e:>12}{r['loadavg_start']:>12.2f}"
              f"{'n/a' if r['foreign_cpu_s'] is None else format(r['foreign_cpu_s'], '.1f'):>13}")
    print("parallel efficiency = time(1 worker, in-process) / (workers * time(workers))")

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"spec": spec.name, "seeds": spec.seeds, "points": total,
                                               "cores": os.cpu_count(), "runs": runs,
                                               "parallel_efficiency": eff}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
