"""Reading commands on a store of about a million points: `fit --store`, `export`, `store check` and `report`.

Builds (once, cached under --dir) a store of the demo spec's task on a 196 x 196 grid with 25 seeds (960,400
points), its losses drawn from the four-regime closed form L = E + a D^-1/2 + b P^-1/2 (+ the two limits as
extra metrics) with 1% log-normal noise, then runs each command as a subprocess and records its wall time, CPU
seconds and peak resident memory (``resource.getrusage`` of the child), and the CPU seconds other processes used
meanwhile. The bar: each under 10 s and 1 GB.

    .venv/bin/python benchmarks/bench_store_load.py [--dir DIR] [--out OUT] [--only fit,export,...] [--json FILE]
        [--baseline SRC]

``--baseline SRC`` runs each command first with the package from the source folder SRC (another checkout's
``src``, for example ``git archive COMMIT src | tar -x -C BASE``), then with this one, side by side in one run.
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

import numpy as np
from _common import ForeignLoad

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


def timed(args: list[str], src: Path | None = None) -> dict[str, float]:
    """Wall seconds, CPU seconds, peak RSS in MB and exit status of one CLI call in a fresh process, and the CPU
    seconds other processes used meanwhile."""
    code = ("import resource, sys, runpy; sys.argv = ['scalinglab'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('scalinglab.cli', run_name='__main__')\n"
            "finally:\n    r = resource.getrusage(resource.RUSAGE_SELF)\n"
            "    print(r.ru_maxrss, r.ru_utime + r.ru_stime, file=sys.__stderr__)")
    foreign = ForeignLoad()
    t = time.perf_counter()
    env = {**os.environ, "COLUMNS": "120"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    last = proc.stderr.strip().splitlines()[-1].split() if proc.stderr.strip() else []
    rss, cpu = (int(last[0]) / 1024, float(last[1])) if len(last) == 2 else (float("nan"), float("nan"))
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss, "exit": proc.returncode,
            "foreign_cpu_s": foreign.seconds()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "scalinglab-load")
    ap.add_argument("--out", type=Path, help="folder for the commands' outputs (default: DIR/out)")
    ap.add_argument("--only", default="fit,export,check,report", help="commands to run: fit, export, check, report")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline", type=Path, help="source folder of the baseline package, run beside this one")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    store = args.dir / "load.sqlite"
    t = time.perf_counter()
    name = build(store)
    print(f"store: {store} ({store.stat().st_size / 1e6:.0f} MB), built or found in {time.perf_counter() - t:.1f} s")
    out = args.out or args.dir / "out"
    out.mkdir(parents=True, exist_ok=True)
    commands = {
        "fit --store": ["fit", "--store", str(store), "--experiment", name, "--json", str(out / "fits.json")],
        "export": ["export", "--store", str(store), "--out", str(out / "points.csv")],
        "store check": ["store", "check", str(store)],
        "report": ["report", "--store", str(store), "--experiment", name, "--out", str(out / "report")],
    }
    only = {"fit": "fit --store", "export": "export", "check": "store check", "report": "report"}
    wanted = [only[k.strip()] for k in args.only.split(",")]
    rows: dict[str, dict] = {}
    here = Path(__file__).resolve().parents[1] / "src"
    for label, cmd in commands.items():
        if label not in wanted:
            continue
        for who, src in ([("baseline", args.baseline)] if args.baseline else []) + [("ours", here)]:
            for p in (out / "points.csv", out / "fits.json"):
                p.unlink(missing_ok=True)
            if (out / "report").exists():
                import shutil
                shutil.rmtree(out / "report")
            rows.setdefault(label, {})[who] = r = timed(cmd, src)
            foreign = "?" if r["foreign_cpu_s"] is None else f"{r['foreign_cpu_s']:.1f}"
            print(f"{label:12s} {who:8s} {r['wall_s']:7.1f} s wall  {r['cpu_s']:7.1f} s CPU  "
                  f"{r['peak_rss_mb']:7.0f} MB  exit {r['exit']}  (other processes: {foreign} CPU s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"points": GRID * GRID * SEEDS, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
