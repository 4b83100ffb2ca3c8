"""Training runs of the quanta-zipf recipe (torch, imported only when the recipe runs)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from scalinglab.models.mlp import Architecture, TrainConfig, buckets, predict, train
from scalinglab.recipes.quanta.config import CHANCE, LEARNED, QuantaConfig
from scalinglab.tasks.quanta import MultitaskSparseParity
from scalinglab.theory import quanta as th


def _train_eval(task: MultitaskSparseParity, x: torch.Tensor, y: torch.Tensor, widths: list[int],
                sizes: list[int], config: QuantaConfig, steps: int, gen: torch.Generator) -> tuple[np.ndarray, dict]:
    """Train one network per (width, data size) pair in one batched computation; per-subtask test errors
    (n, n_tasks) and the training log's summary."""
    arch = Architecture(depth=1, activation="relu", parameterization="standard")
    params = arch.init(x.shape[1], widths, 2, gen)
    rows = max(sizes)
    mask = (torch.arange(rows)[None, :] < torch.tensor(sizes)[:, None]).to(x.dtype)
    cfg = TrainConfig(optimizer="adam", learning_rate=config.learning_rate, max_steps=steps,
                      batch_size=config.batch_size, loss="cross_entropy", tol=0.0, eval_every=steps)
    trained, log = train(arch, params, x[:rows], y[:rows], cfg, sample_mask=mask, generator=gen)
    X_test, y_test, t_test = task.test_set()
    with torch.no_grad():
        label = predict(arch, trained, torch.from_numpy(X_test.copy())).argmax(-1).numpy()
    wrong = (label != y_test[None, :]).astype(float)
    per_task = np.stack([np.bincount(t_test, weights=w, minlength=task.n_tasks) for w in wrong])
    return per_task / np.bincount(t_test, minlength=task.n_tasks), log.summary()


def run_zipf(config: QuantaConfig, zipf_exponent: float, seed: int) -> list[dict[str, Any]]:
    """Both sweeps for one Zipf exponent and one seed: a row per trained network."""
    task = MultitaskSparseParity(n_tasks=config.n_tasks, n_bits=config.n_bits, k=config.k,
                                 zipf_exponent=zipf_exponent, seed=0, test_per_task=config.test_per_task)
    ss = np.random.SeedSequence(20230410, spawn_key=(int(round(100 * zipf_exponent)), seed))
    rng = np.random.default_rng(ss)
    gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
    steps = config.steps_for(zipf_exponent)
    n_in = task.input_dim
    rows = []
    pool = max(config.param_pool, max(config.data_sizes))
    X, y = task.sample(pool, rng)
    x_t, y_t = torch.as_tensor(X), torch.nn.functional.one_hot(torch.as_tensor(y), 2).to(torch.float32)
    jobs = [("params", ws, [config.param_pool] * len(ws), steps) for ws in buckets(config.widths, 2.0)]
    jobs.append(("data", [config.data_width] * len(config.data_sizes), list(config.data_sizes),
                 int(round(steps * config.data_steps_factor))))
    for sweep, widths, sizes, n_steps in jobs:
        t0 = time.perf_counter()
        errors, summary = _train_eval(task, x_t, y_t, widths, sizes, config, n_steps, gen)
        share = (time.perf_counter() - t0) / len(widths)
        for w, d, err in zip(widths, sizes, errors, strict=True):
            loss = float(task.frequencies @ err)
            rows.append({"zipf_exponent": zipf_exponent, "seed": seed, "sweep": sweep, "width": w, "data": d,
                         "parameters": (n_in + 1) * w + (w + 1) * 2, "loss": loss,
                         "loss_untruncated": float(th.untruncated_loss(loss, zipf_exponent - 1.0, task.n_tasks,
                                                                       CHANCE)),
                         "learned": int(np.sum(err < LEARNED)), "errors": err, "steps": n_steps,
                         "seconds": share, "diverged": summary["stops"]["diverged"]})
    return rows


def zipf_job(config: QuantaConfig, zipf_index: int, seed: int) -> dict[str, Any]:
    """One job of the recipe: ``run_zipf`` for the ``zipf_index``-th Zipf exponent, on one torch thread (tiny
    matmuls: threads only add synchronisation on shared cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return {"rows": run_zipf(config, config.zipf_exponents[zipf_index], seed)}
    finally:
        torch.set_num_threads(threads)
