"""64 small MLPs (16 widths log-spaced from 16 to 1024, 4 seeds each) trained batched against one by one.

Both sides train the same networks (two hidden ReLU layers, NTK parameterisation, MSE on centred one-hot digits
labels, D training examples shared by all networks) for the same number of full-batch gradient-descent steps:

1. batched   ``models.mlp.train`` on groups of networks: ``exact`` = one group per width (its 4 seeds stacked),
             ``padded`` = widths bucketed so that a group's largest is at most twice its smallest, padded with
             unit masks;
2. loop      a plain torch loop: for each network an ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` with the same
             weights (scales folded in), ``torch.optim.SGD``, ``loss.backward()`` per step.

It checks that the batched and the looped networks end at the same training loss (same initial weights, same
steps; float32 tolerance), and prints the ratio. A second grid with small widths only (16 to 128), where per-step
overhead rather than arithmetic dominates, is timed the same way. Other processes' CPU use during each phase is
reported (``ForeignLoad``); rerun a phase when it is high.

3. matmuls   the machine's matrix-multiply throughput on the same work: every matrix product that the batched
             run computes (forward, both backward products per layer, the loss evaluations and the final
             prediction), float32, the same shapes and layouts (shared first-layer input as one wide product,
             the hidden and output layers as batched products, weight gradients from transposed views), into
             preallocated outputs and nothing else. Its time over the batched run's time is the fraction of the
             attainable matmul throughput that training reaches; also printed: the GFLOP/s of both and of one
             1024^3 float32 product, the peak of a large square multiply.

Run from the repository root:

    python benchmarks/bench_mlp.py [--threads N] [--steps S] [--data D] [--repeats K] [--clock wall|cpu] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

try:
    import scalinglab  # noqa: F401
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
import torch
from bench_random_features import ForeignLoad, machine_info

from scalinglab.models.mlp import Architecture, Params, TrainConfig, buckets, mse, predict, train
from scalinglab.tasks.real import load_dataset

ARCH = Architecture(depth=2, activation="relu", weight_variance=2.0)


def init_all(widths: list[int], seeds: int, in_features: int, out_features: int) -> dict[int, Params]:
    """Initial parameters of every (width, seed) network, one Params of ``seeds`` networks per width."""
    return {w: ARCH.init(in_features, w, out_features, torch.Generator().manual_seed(w), n=seeds) for w in widths}


def _stack(groups: list[Params]) -> Params:
    """Several equal-width Params padded to the largest width of the list and stacked into one group."""
    wmax = max(p.widths[0] for p in groups)
    padded = []
    for p in groups:
        w = p.widths[0]
        pad = wmax - w
        weights = [torch.nn.functional.pad(p.weights[0], (0, pad))]
        weights += [torch.nn.functional.pad(W, (0, pad, 0, pad)) for W in p.weights[1:-1]]
        weights += [torch.nn.functional.pad(p.weights[-1], (0, 0, 0, pad))]
        biases = [torch.nn.functional.pad(b, (0, pad)) for b in p.biases[:-1]] + [p.biases[-1]]
        mask = (torch.arange(wmax) < w).float().expand(p.n, 1, wmax)
        padded.append((weights, biases, p.scales, mask, p.widths))
    cat = lambda k, i: torch.cat([g[k][i] for g in padded])  # noqa: E731
    n_layers = len(groups[0].weights)
    masks = tuple(torch.cat([g[3] for g in padded]) for _ in range(n_layers - 1)) + (None,)
    if all(p.widths[0] == wmax for p in groups):
        masks = (None,) * n_layers
    return Params(tuple(cat(0, i) for i in range(n_layers)), tuple(cat(1, i) for i in range(n_layers)),
                  tuple(cat(2, i) for i in range(n_layers)), groups[0].bias_scale, masks,
                  tuple(w for g in padded for w in g[4]))


def run_batched(params: dict[int, Params], x, y, steps: int, rate: float, ratio: float) -> dict[int, np.ndarray]:
    config = TrainConfig(learning_rate=rate, max_steps=steps, tol=0, eval_every=steps)
    out = {}
    for bucket in buckets(list(params), ratio):
        group = _stack([params[w] for w in bucket])
        trained, log = train(ARCH, group, x, y, config)
        losses = mse(predict(ARCH, trained, x), y).numpy()
        for k, w in enumerate(bucket):
            n = params[w].n
            out[w] = losses[k * n:(k + 1) * n]
    return out


def run_loop(params: dict[int, Params], x, y, steps: int, rate: float) -> dict[int, np.ndarray]:
    out = {}
    for w, p in params.items():
        losses = []
        for i in range(p.n):
            layers = []
            for k, (W, b, s) in enumerate(zip(p.weights, p.biases, p.scales, strict=True)):
                lin = torch.nn.Linear(W.shape[1], W.shape[2])
                with torch.no_grad():
                    lin.weight.copy_((W[i] * s[i]).T)
                    lin.bias.copy_(b[i, 0] * p.bias_scale)
                layers += [lin] if k == len(p.weights) - 1 else [lin, torch.nn.ReLU()]
            net = torch.nn.Sequential(*layers)
            # The NTK parameterisation's gradient in the folded weights is the standard one times s^2: use a
            # per-layer rate so that the loop follows exactly the same trajectory as the batched run.
            linears = [m for m in layers if isinstance(m, torch.nn.Linear)]
            groups = [{"params": [m.weight], "lr": rate * float(s[i]) ** 2} for m, s in zip(linears, p.scales,
                                                                                             strict=True)]
            groups += [{"params": [m.bias], "lr": rate * p.bias_scale ** 2} for m in linears]
            opt = torch.optim.SGD(groups, lr=rate)
            for _ in range(steps):
                opt.zero_grad()
                loss = ((net(x) - y) ** 2).mean()
                loss.backward()
                opt.step()
            with torch.no_grad():
                losses.append(float(((net(x) - y) ** 2).mean()))
        out[w] = np.array(losses)
    return out


def products(widths: list[int], seeds: int, batch: int, in_f: int, out_f: int, ratio: float) -> list[tuple]:
    """(a, b, out) of every matrix product of one training step of the batched run, per bucket, float32."""
    g = torch.Generator().manual_seed(0)
    rnd = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    step = []
    for bucket in buckets(widths, ratio):
        n, w = len(bucket) * seeds, max(bucket)
        x, h1, h2 = rnd(batch, in_f), rnd(n, batch, w), rnd(n, batch, w)
        g1, g2, g3 = rnd(batch, n * w), rnd(n, batch, w), rnd(n, batch, out_f)
        W0, W1, W2 = rnd(in_f, n * w), rnd(n, w, w), rnd(n, w, out_f)
        fwd = [(x, W0), (h1, W1), (h2, W2)]
        bwd = [(h2.transpose(1, 2), g3), (g3, W2.transpose(1, 2)),  # output layer: dW2, dh2
               (h1.transpose(1, 2), g2), (g2, W1.transpose(1, 2)),  # hidden layer: dW1, dh1
               (x.T, g1)]  # first layer: dW0 (shared input, all networks side by side)
        step.append(([(a, b, torch.empty(*a.shape[:-1], b.shape[-1])) for a, b in fwd],
                     [(a, b, torch.empty(*a.shape[:-1], b.shape[-1])) for a, b in bwd]))
    return step


def run_products(step: list[tuple], steps: int) -> float:
    """Replays ``steps`` forward + backward passes and 3 forward passes (two loss evaluations, the prediction);
    returns the floating-point operations done."""
    flops = 0.0
    for fwd, bwd in step:
        for reps, prods in ((steps + 3, fwd), (steps, bwd)):
            for _ in range(reps):
                for a, b, out in prods:
                    torch.matmul(a, b, out=out)
            flops += reps * sum(2.0 * out.numel() * a.shape[-1] for a, _, out in prods)
    return flops


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def timed(fn):
    load = ForeignLoad()
    t = clock()
    res = fn()
    return clock() - t, load.seconds(), res


def compare(name: str, widths: list[int], seeds: int, x, y, steps: int, rate: float, repeats: int) -> dict:
    """Every phase ``repeats`` times, interleaved; the fastest repeat of each is kept with its foreign load."""
    params = init_all(widths, seeds, x.shape[1], y.shape[1])
    row: dict = {"grid": name, "networks": len(widths) * seeds, "widths": widths}
    phases = (("batched_exact", lambda: run_batched(params, x, y, steps, rate, 1.0)),
              ("batched_padded", lambda: run_batched(params, x, y, steps, rate, 2.0)),
              ("loop", lambda: run_loop(params, x, y, steps, rate)))
    for _ in range(repeats):
        for label, fn in phases:
            seconds, foreign, res = timed(fn)
            print(f"{name:>7} {label:>15}: {seconds:8.2f} s  (other processes: {foreign:.1f} CPU s)", flush=True)
            if label not in row or seconds < row[label]["seconds"]:
                row[label] = {"seconds": seconds, "foreign_cpu_seconds": foreign}
                row[label + "_losses"] = res
    replay = {ratio: products(widths, seeds, x.shape[0], x.shape[1], y.shape[1], ratio) for ratio in (1.0, 2.0)}
    for label, ratio in (("batched_exact", 1.0), ("batched_padded", 2.0)):
        best = None
        for _ in range(repeats):
            seconds, foreign, flops = timed(lambda: run_products(replay[ratio], steps))  # noqa: B023
            if best is None or seconds < best[0]:
                best = (seconds, foreign, flops)
        seconds, foreign, flops = best
        row[label]["matmul_only_seconds"] = seconds
        row[label]["matmul_only_foreign_cpu_seconds"] = foreign
        row[label]["gflops"] = flops / 1e9
        row[label]["fraction_of_matmul_throughput"] = seconds / row[label]["seconds"]
        print(f"{name:>7} {label:>15}: its matrix products alone {seconds:.2f} s (other processes: {foreign:.1f} "
              f"CPU s), {flops / 1e9 / seconds:.1f} GFLOP/s; training {flops / 1e9 / row[label]['seconds']:.1f} "
              f"GFLOP/s = {100 * row[label]['fraction_of_matmul_throughput']:.0f}% of that")
    for label in ("batched_exact", "batched_padded"):
        gap = max(float(np.max(np.abs(row[label + "_losses"][w] - row["loop_losses"][w])
                                / row["loop_losses"][w])) for w in widths)
        row[label]["max_relative_loss_gap_vs_loop"] = gap
        row[label]["speedup_vs_loop"] = row["loop"]["seconds"] / row[label]["seconds"]
        print(f"{name:>6} {label:>15}: {row[label]['speedup_vs_loop']:.2f}x faster than the loop, "
              f"largest relative gap in final training loss {gap:.1e}")
        assert gap < 1e-3, f"{label} and the loop disagree: {gap}"
    for key in [k for k in row if k.endswith("_losses")]:
        del row[key]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--data", type=int, default=100, help="training examples shared by every network")
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--clock", choices=sorted(CLOCK), default="wall",
                    help="wall time, or CPU seconds of this process (with --threads 1, robust to other load)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    global clock
    clock = CLOCK[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_dataset("digits", standardise="dataset")
    x = torch.as_tensor(data.X[:args.data], dtype=torch.float32)
    y = torch.as_tensor(np.eye(10)[data.y[:args.data]] - 0.1, dtype=torch.float32)
    info = machine_info() | {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                             "steps": args.steps, "data": args.data, "clock": args.clock}
    print(json.dumps(info))
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    out = torch.empty(1024, 1024)
    t = clock()
    for _ in range(20):
        torch.matmul(a, b, out=out)
    info["square_1024_float32_gflops"] = 20 * 2 * 1024**3 / (clock() - t) / 1e9
    print(f"one 1024^3 float32 product: {info['square_1024_float32_gflops']:.1f} GFLOP/s")
    widths = sorted({int(round(w)) for w in np.geomspace(16, 1024, 16)})
    small = sorted({int(round(w)) for w in np.geomspace(16, 128, 16)})
    rows = [compare("16-1024", widths, 4, x, y, args.steps, args.rate, args.repeats),
            compare("16-128", small, 4, x, y, args.steps, args.rate, args.repeats)]
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
