"""Reading commands on a store of about a million points: `fit --store`, `export`, `store check` and `report`.

Builds (once, cached under --dir) a store of the demo spec's task on a 196 x 196 grid with 25 seeds (960,400
points), its losses drawn from the four-regime closed form L = E + a D^-1/2 + b P^-1/2 (+ the two limits as
extra metrics) with 1% log-normal noise, then runs each command as a subprocess and records its wall time and
peak resident memory (``resource.getrusage`` of the child). The issue's bar: each under 10 s and 1 GB.

    .venv/bin/python benchmarks/bench_store_load.py [--dir DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (import path)
import numpy as np

from scalinglab.contracts import Measurement
from scalinglab.sweep.spec import DEMO_SPEC, parse_spec
from scalinglab.sweep.store import Store

GRID = 196
SEEDS = 25


def build(path: Path) -> str:
    raw = dict(DEMO_SPEC, name="load", seeds=SEEDS, task=dict(DEMO_SPEC["task"], features=1 << 21),
               grid={"data": {"min": 256, "max": 1 << 20, "num": GRID},
                     "size": {"min": 1024, "max": 8000, "num": GRID}})
    spec = parse_spec(raw)
    if path.exists():
        return spec.name
    ds, ps = spec.grid.data.values(), spec.grid.size.values()
    rng = np.random.default_rng(0)
    D, P = np.meshgrid(np.asarray(ds, float), np.asarray(ps, float), indexing="ij")
    dl, ml = 0.05 + 2.0 * P**-0.5, 0.05 + 2.0 * D**-0.5
    clean = 0.05 + 2.0 * D**-0.5 + 2.0 * P**-0.5
    tmp = path.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    with Store(tmp) as st:
        st.register(spec.name, spec.fingerprint(), spec.model_dump_json())
        for seed in range(SEEDS):
            noisy = clean * np.exp(0.01 * rng.standard_normal(clean.shape))
            ms = [Measurement(int(ds[i]), int(ps[j]), seed, float(0.9 * noisy[i, j]), float(noisy[i, j]), 0.01,
                              {"loss_data_limit": float(dl[i, j]), "loss_model_limit": float(ml[i, j])})
                  for i in range(len(ds)) for j in range(len(ps))]
            st.add(spec.name, spec.fingerprint(), ms)
    tmp.rename(path)
    return spec.name


def timed(args: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and exit status of one CLI call in a fresh process."""
    code = ("import resource, sys, runpy; sys.argv = ['scalinglab'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('scalinglab.cli', run_name='__main__')\n"
            "finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.__stderr__)")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120"})
    wall = time.perf_counter() - t
    rss = int(proc.stderr.strip().splitlines()[-1]) / 1024 if proc.stderr.strip() else float("nan")
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return wall, rss, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "scalinglab-load")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    store = args.dir / "load.sqlite"
    t = time.perf_counter()
    name = build(store)
    print(f"store: {store} ({store.stat().st_size / 1e6:.0f} MB), built or found in {time.perf_counter() - t:.1f} s")
    out = args.dir / "out"
    out.mkdir(exist_ok=True)
    commands = {
        "fit --store": ["fit", "--store", str(store), "--experiment", name, "--json", str(out / "fits.json")],
        "export": ["export", "--store", str(store), "--out", str(out / "points.csv")],
        "store check": ["store", "check", str(store)],
        "report": ["report", "--store", str(store), "--experiment", name, "--out", str(out / "report")],
    }
    rows = {}
    for label, cmd in commands.items():
        for p in (out / "points.csv", out / "fits.json"):
            p.unlink(missing_ok=True)
        if (out / "report").exists():
            import shutil
            shutil.rmtree(out / "report")
        wall, rss, rc = timed(cmd)
        rows[label] = {"wall_s": wall, "peak_rss_mb": rss, "exit": rc}
        print(f"{label:12s} {wall:7.1f} s  {rss:7.0f} MB  exit {rc}")
    if args.json:
        args.json.write_text(json.dumps({"points": GRID * GRID * SEEDS, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
