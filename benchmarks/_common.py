"""Shared by the benchmark scripts: wall-time helpers, the CPU use of other processes, the machine."""

from __future__ import annotations

import os
import platform
import sys
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
import scipy
import sklearn
from threadpoolctl import threadpool_info


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
