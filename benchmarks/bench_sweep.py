"""Sweep throughput of the demo spec on 1 and 2 worker processes.

Each run computes every point of the demo spec (13 x 13 grid, all its seeds) into a fresh store in a temporary
directory with ``run_sweep(spec, Store(path), workers=N)``. Reported: wall time, points per second, and the
parallel efficiency of 2 workers, time(1 worker) / (2 * time(2 workers)).

With one worker everything runs in this process and BLAS uses its default number of threads (all cores, unless
``--threads`` limits it); with N > 1 workers ``run_sweep`` gives each worker process cores / N BLAS threads.

Run from the repository root:

    python benchmarks/bench_sweep.py [--workers 1 2] [--seeds K] [--threads N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

try:
    import scalinglab  # noqa: F401
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (sys.path[0], os.environ.get("PYTHONPATH")) if p
    )  # for worker processes that are spawned rather than forked

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import DEMO_SPEC, parse_spec
from scalinglab.sweep.store import Store


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds of the spec (default: the demo spec's)")
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
        runs.append({"workers": workers, "blas_threads_per_worker": threads, "seconds": dt, "points": total,
                     "points_per_s": total / dt, "seeds_per_s": spec.seeds / dt, "loadavg_start": load,
                     "foreign_cpu_s": foreign_s})

    by_w = {r["workers"]: r["seconds"] for r in runs}
    eff = by_w[1] / (2 * by_w[2]) if 1 in by_w and 2 in by_w else None

    print(f"demo spec: {per_seed} points per seed x {spec.seeds} seeds = {total} points; "
          f"{os.cpu_count()} cores, numpy {np.__version__}")
    print(f"{'workers':>8}{'BLAS thr/worker':>17}{'seconds':>10}{'points/s':>10}{'seeds/s':>9}{'load@start':>12}"
          f"{'other CPU s':>13}")
    for r in runs:
        thr = ",".join(map(str, r["blas_threads_per_worker"]))
        print(f"{r['workers']:>8}{thr:>17}{r['seconds']:>10.2f}{r['points_per_s']:>10.1f}{r['seeds_per_s']:>9.3f}"
              f"{r['loadavg_start']:>12.2f}"
              f"{'n/a' if r['foreign_cpu_s'] is None else format(r['foreign_cpu_s'], '.1f'):>13}")
    if eff is not None:
        print(f"parallel efficiency time1 / (2 * time2) = {eff:.2f}  (speed-up {by_w[1] / by_w[2]:.2f}x)")

    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"spec": spec.name, "seeds": spec.seeds, "points": total,
                                               "cores": os.cpu_count(), "runs": runs,
                                               "parallel_efficiency": eff}, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
