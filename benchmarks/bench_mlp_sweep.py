"""An mlp sweep (examples/mlp-hypercube.toml with 4 seeds): seeds trained together in one job against one job per
seed, through ``run_sweep`` into a fresh store, one worker (torch and BLAS on one thread).

``per_job = 1`` is the obvious baseline: each seed's grid trained in its own batched runs, one after the other.
``per_job = 4`` trains the four seeds' networks in the same batched runs (``MLP.learning_curves``). Both store the
same points with the same losses up to float32 rounding (checked). Other processes' CPU use during each phase is
reported (``ForeignLoad``); rerun when it is high.

Run from the repository root:

    python benchmarks/bench_mlp_sweep.py [--seeds 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tomllib
from pathlib import Path

from _common import ForeignLoad, machine_info

from scalinglab.sweep.runner import run_sweep
from scalinglab.sweep.spec import parse_spec
from scalinglab.sweep.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mlp-hypercube.toml"


def sweep(data: dict, per_job: int) -> tuple[float, float | None, dict]:
    spec = parse_spec({**data, "model": {**data["model"], "seeds_per_job": per_job}})
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.sqlite") as st:
        load = ForeignLoad()
        t = time.perf_counter()
        run_sweep(spec, st, workers=1)
        seconds = time.perf_counter() - t
        losses = {(m.data_size, m.model_size, m.seed): m.test_loss for m in st.measurements(spec.name)}
    return seconds, load.seconds(), losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    data = tomllib.loads(EXAMPLE.read_text()) | {"seeds": args.seeds}
    print(json.dumps(machine_info()))
    best: dict[int, tuple[float, float | None, dict]] = {}
    for _ in range(args.repeats):
        for per_job in (1, args.seeds):
            seconds, foreign, losses = sweep(data, per_job)
            print(f"seeds_per_job {per_job}: {seconds:6.2f} s (other processes: {foreign:.1f} CPU s)", flush=True)
            if per_job not in best or seconds < best[per_job][0]:
                best[per_job] = (seconds, foreign, losses)
    alone, together = best[1], best[args.seeds]
    gap = max(abs(together[2][k] - v) / v for k, v in alone[2].items())
    assert together[2].keys() == alone[2].keys() and gap < 1e-4, f"the stored losses differ: {gap}"
    print(f"{args.seeds} seeds per job: {alone[0] / together[0]:.2f}x faster than one seed per job "
          f"(largest relative gap in stored test loss {gap:.1e})")


if __name__ == "__main__":
    main()
