"""Which runs to pay for: each `plan` strategy on the Chinchilla runs at a fraction of their total cost.

The law (chinchilla, Huber on log loss) is fitted to the cheapest ``--initial`` runs (``--bootstrap`` refits,
the prior); each strategy picks from all runs, with their losses, within ``--fraction`` of the total cost
6 N D; the law is refitted on the initial and picked runs and its forecast at the largest run's sizes compared
with the all-data fit's (point and 95% prediction interval). Random is the baseline (``--seeds`` seeds).

    python benchmarks/bench_plan.py [--fraction 0.1] [--initial 20] [--bootstrap 100] [--seeds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from scalinglab.fit.data import prepare, read_table
from scalinglab.fit.estimate import FitData, fit_law
from scalinglab.fit.laws import get_law
from scalinglab.fit.plan import STRATEGIES, plan

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "external" / "chinchilla_epoch_svg_extracted.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--initial", type=int, default=20)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=5)
    args = ap.parse_args()
    X, Y, _, _ = prepare(read_table(DATA), y="loss", x=["N", "D"], define=["N=`Model Size`",
                         "D=`Training FLOP`/(6*N)"], drop_highest=5, path=str(DATA))
    cost = 6 * X[:, 0] * X[:, 1]
    first = np.argsort(cost)[: args.initial]
    law = get_law("chinchilla")
    fit0 = fit_law(law, X[first], Y[first], n_boot=args.bootstrap, rng=np.random.default_rng(0))
    fit0 = dataclasses.replace(fit0, data=FitData(X=X[first], y=Y[first], held_out=np.zeros(len(first), bool),
                                                  inputs=("N", "D"), target="loss"))
    full = fit_law(law, X, Y, n_boot=200, rng=np.random.default_rng(0))
    big = int(np.argmax(cost))
    t = {"N": X[big, 0], "D": X[big, 1]}
    ref = full.predict(N=t["N"], D=t["D"])
    print(f"all {len(Y)} runs: forecast {ref.loss:.4f}, 95% PI [{ref.prediction[0]:.4f}, {ref.prediction[1]:.4f}];"
          f" cheapest {args.initial} alone: {float(fit0.predict(N=t['N'], D=t['D']).loss):.4f}")
    print("| strategy | runs | cost spent | refit forecast | abs. error vs all-data | in 95% PI | plan s |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for strategy in STRATEGIES:
        seeds = range(args.seeds) if strategy == "random" else [0]
        out = []
        for seed in seeds:
            t0 = time.perf_counter()
            p = plan(fit0, {"N": X[:, 0], "D": X[:, 1], "loss": Y}, cost="6*N*D", budget=args.fraction * cost.sum(),
                     target=t, strategy=strategy, batch=args.batch, rng=np.random.default_rng(seed))
            dt = time.perf_counter() - t0
            keep = np.concatenate([first, p.rows])
            f = float(fit_law(law, X[keep], Y[keep], n_boot=0).predict(np.array([[t["N"], t["D"]]]))[0])
            out.append((len(p.rows), p.spent / cost.sum(), f, abs(f - ref.loss), ref.prediction[0] <= f
                        <= ref.prediction[1], dt))
        a = np.array([o[:4] + (o[5],) for o in out], float)
        inside = sum(o[4] for o in out)
        m = a.mean(axis=0)
        label = f"{strategy} (mean of {len(out)} seeds)" if len(out) > 1 else strategy
        print(f"| {label} | {m[0]:.1f} | {100 * m[1]:.1f}% | {m[2]:.4f} | {m[3]:.4f} | {inside}/{len(out)} | "
              f"{m[4]:.2f} |")


if __name__ == "__main__":
    main()
