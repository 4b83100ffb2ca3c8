"""The trained-network experiments behind the ``bahri-*`` neural-network recipes (Bahri et al. 2024).

Each function trains every network of its sweep in a few batched runs (``models.mlp.train``) and returns per-seed
losses; ``recipes.bahri.networks`` fits them and states the checks. Conventions: labels of real data are centred one-hot
vectors and losses are mean squared errors over examples and classes.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np
import torch

from scalinglab.errors import DataError
from scalinglab.models.mlp import Architecture, Params, TrainConfig, classification_error, mse, predict, train
from scalinglab.tasks.real import RealDataset


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with ``n`` torch threads (tiny networks are fastest single-threaded on shared cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Centred one-hot targets: e_y - 1/k, so that a constant zero output has loss (k - 1)/k^2 per class."""
    return np.eye(n_classes)[y] - 1.0 / n_classes


def _repeat(params: Params, index: torch.Tensor) -> Params:
    """Networks ``index`` of ``params`` (repeating an initialisation across several training sets)."""
    return dataclasses.replace(
        params, weights=tuple(t[index] for t in params.weights), biases=tuple(t[index] for t in params.biases),
        scales=tuple(t[index] for t in params.scales),
        masks=tuple(None if m is None else m[index] for m in params.masks),
        widths=tuple(params.widths[i] for i in index.tolist()))


def _t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=float), dtype=dtype)


def mirror_readout(params: Params) -> Params:
    """The same networks with the readout layer negated (weights and bias): f -> -f at initialisation, the same
    hidden layers and tangent kernel. Gaussian initialisations are symmetric under this map, so a network and
    its mirror are an antithetic pair with the distribution of two independent draws on average."""
    return dataclasses.replace(params, weights=params.weights[:-1] + (-params.weights[-1],),
                               biases=params.biases[:-1] + (-params.biases[-1],))


def width_minus_linearized(data: RealDataset, widths: list[int], seeds: int, n_train: int, arch: Architecture,
                           config: TrainConfig, seed: int = 0, dtype: torch.dtype = torch.float32,
                           antithetic: bool = True) -> dict[str, np.ndarray]:
    """Variance-limited width (Fig. 1a): for each width and initialisation, the test loss of the network minus
    that of its linearisation trained identically (full-batch, fixed steps). Each seed trains on its own
    ``n_train`` examples from a pool; the test set is disjoint from the pool. Returns (seeds, widths) arrays.

    With ``antithetic`` each initialisation is paired with its mirror (``mirror_readout``) on the same examples
    and the per-seed values are the pair's means: the part of L - L_lin odd in the initial function f_0 (its
    product with the test residual, as large as the mean when the random f_0 dominates the residual, as on
    MNIST-1D) cancels, and the expectation is unchanged exactly."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(data.y))
    pool, test = perm[: len(perm) // 2], perm[len(perm) // 2:]
    idx = np.stack([rng.choice(pool, n_train, replace=False) for _ in range(seeds)])
    Y = one_hot(data.y, data.n_classes)
    copies = 2 if antithetic else 1
    x, y = _t(data.X[idx], dtype).repeat(copies, 1, 1), _t(Y[idx], dtype).repeat(copies, 1, 1)
    xt, yt = _t(data.X[test], dtype), _t(Y[test], dtype)
    net_loss, lin_loss = np.zeros((seeds, len(widths))), np.zeros((seeds, len(widths)))
    for j, w in enumerate(widths):
        p0 = arch.init(x.shape[-1], w, y.shape[-1], torch.Generator().manual_seed(seed * 7919 + w), n=seeds,
                       dtype=dtype)
        if antithetic:
            mirror = mirror_readout(p0)
            p0 = dataclasses.replace(p0, weights=tuple(torch.cat(t) for t in zip(p0.weights, mirror.weights,
                                                                                   strict=True)),
                                     biases=tuple(torch.cat(t) for t in zip(p0.biases, mirror.biases, strict=True)),
                                     scales=tuple(t.repeat(2, 1, 1) for t in p0.scales),
                                     masks=tuple(None if m is None else m.repeat(2, 1, 1) for m in p0.masks),
                                     widths=p0.widths * 2)
        net, _ = train(arch, p0, x, y, config)
        lin, _ = train(arch, p0, x, y, dataclasses.replace(config, linearized=True))
        net_loss[:, j] = mse(predict(arch, net, xt), yt).numpy().reshape(copies, seeds).mean(axis=0)
        lin_loss[:, j] = mse(predict(arch, lin, xt, params0=p0), yt).numpy().reshape(copies, seeds).mean(axis=0)
    return {"widths": np.array(widths), "loss": net_loss, "loss_linearized": lin_loss,
            "difference": net_loss - lin_loss}


def data_minus_population(data: RealDataset, data_sizes: list[int], seeds: int, width: int, arch: Architecture,
                          config: TrainConfig, seed: int = 0, dtype: torch.dtype = torch.float32,
                          antithetic: bool = True) -> dict[str, np.ndarray]:
    """Variance-limited data (Fig. 1a) with a small student: the population is the empirical distribution of the
    data set, so D examples drawn with replacement are multinomial weights on its rows, and the D = inf network is
    the one trained on the whole distribution (uniform weights), from the same initialisation and identically.
    Test loss is the population loss (every row, equally weighted). Returns (seeds, sizes) arrays.

    With ``antithetic`` each draw q = counts / D is paired with its mirror 2/n - q about the population (same
    initialisation, same training) and ``difference`` is the pair's mean minus L(D = inf). Trained for a fixed
    time, the networks are not at a minimum of the population loss, so L(D) - L(inf) has a first-order term
    g . (q - 1/n) of mean zero and size D^-1/2 that buries the O(1/D) mean at large D; the pair cancels it and
    every odd order exactly, and its expectation differs from E[L(D)] - L(inf) only through third moments of the
    multinomial, O(D^-2). The mirror's weights are negative on rows drawn more than 2D/n times: the trained
    network must be a smooth function of the weights (full-batch gradient descent at a small rate, not Adam).
    ``difference_single`` is L(D) - L(inf) of the draws alone."""
    rng = np.random.default_rng(seed)
    n = len(data.y)
    Y = one_hot(data.y, data.n_classes)
    per_size = 2 if antithetic else 1
    rows = []
    for _ in range(seeds):
        for d in data_sizes:
            q = rng.multinomial(d, np.full(n, 1.0 / n)) / d
            rows += [n * q, n * (2.0 / n - q)][:per_size]
        rows.append(np.ones(n))
    weights = np.stack(rows)
    per_seed = len(data_sizes) * per_size + 1
    base = arch.init(data.X.shape[1], width, data.n_classes, torch.Generator().manual_seed(seed), n=seeds,
                     dtype=dtype)
    p0 = _repeat(base, torch.arange(seeds).repeat_interleave(per_seed))
    x, y = _t(data.X, dtype), _t(Y, dtype)
    net, log = train(arch, p0, x, y, config, sample_mask=_t(weights, dtype))
    loss = mse(predict(arch, net, x), y).numpy().astype(float).reshape(seeds, per_seed)
    population = loss[:, -1:]
    pairs = loss[:, :-1].reshape(seeds, len(data_sizes), per_size)
    return {"data_sizes": np.array(data_sizes), "loss": pairs[..., 0], "loss_population_trained": population[:, 0],
            "difference": pairs.mean(axis=-1) - population, "difference_single": pairs[..., 0] - population,
            "train_loss_max": float(log.train_loss.max())}


def resolution_sweep(data: RealDataset, data_sizes: list[int], widths: list[int], seeds: int, arch: Architecture,
                     config: TrainConfig, n_test: int, seed: int = 0,
                     dtype: torch.dtype = torch.float32, metrics: bool = False) -> dict[str, np.ndarray]:
    """Test loss on a (D, width) grid, nested training sets per seed drawn without replacement, a disjoint test
    set of ``n_test`` rows; the ``seeds`` networks of one (D, width) are trained in one batched run (one run per
    D, so that no rows are padded). Returns ``loss`` (seeds, len(data_sizes), len(widths)) and the mean steps.

    With ``metrics`` (the same networks, trained identically: evaluating changes no update) also ``error``, the
    final test classification error, and the early-stopped ``loss_early`` and ``error_early``, the lowest test
    loss and the lowest test error among the evaluations of the stopping rule (every ``config.eval_every``
    steps and the last), each (seeds, len(data_sizes), len(widths))."""
    Y, test, orders = nested_split(data, n_test, seeds, max(data_sizes), np.random.default_rng(seed))
    xt, yt = _t(data.X[test], dtype), _t(Y[test], dtype)
    loss = np.zeros((seeds, len(data_sizes), len(widths)))
    steps = np.zeros((len(data_sizes), len(widths)))
    extra = {k: np.zeros_like(loss) for k in ("error", "loss_early", "error_early")} if metrics else {}
    test = {"x_test": xt, "y_test": yt, "test_error": True} if metrics else {}
    for i, d in enumerate(data_sizes):
        x, y = _t(data.X[orders[:, :d]], dtype), _t(Y[orders[:, :d]], dtype)
        for j, w in enumerate(widths):
            p0 = arch.init(x.shape[-1], w, y.shape[-1], torch.Generator().manual_seed(seed * 7919 + w), n=seeds,
                           dtype=dtype)
            trained, log = train(arch, p0, x, y, config, generator=torch.Generator().manual_seed(seed + w), **test)
            pred = predict(arch, trained, xt)
            loss[:, i, j] = mse(pred, yt).numpy()
            steps[i, j] = log.steps.mean()
            if metrics:
                extra["error"][:, i, j] = classification_error(pred, yt).numpy()
                extra["loss_early"][:, i, j] = log.best_test_loss
                extra["error_early"][:, i, j] = log.best_test_error
    return {"data_sizes": np.array(data_sizes), "widths": np.array(widths), "loss": loss, "mean_steps": steps,
            **extra}


def teacher_student(task, data_sizes: list[int], seeds: int, arch: Architecture, width: int, config: TrainConfig,
                    n_test: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, np.ndarray]:
    """Deep students of a hypercube teacher (Fig. 1b): for each D, ``seeds`` students trained together (one
    batched run per D, so no rows are padded), each on its own D examples; the test loss is the lowest evaluated
    during training (early stopping, as in the paper) and the final one. Returns (seeds, sizes) arrays."""
    rng = np.random.default_rng(seed)
    Xt, yt = task.sample(n_test, np.random.default_rng(seed + 10**6))
    xt, ytt = _t(Xt, dtype), _t(yt[:, None], dtype)
    best, final, train_loss = (np.zeros((seeds, len(data_sizes))) for _ in range(3))
    for j, d in enumerate(data_sizes):
        samples = [task.sample(d, rng) for _ in range(seeds)]
        x = _t(np.stack([s[0] for s in samples]), dtype)
        y = _t(np.stack([s[1] for s in samples])[..., None], dtype)
        best[:, j], final[:, j], train_loss[:, j] = early_stopped(arch, width, x, y, xt, ytt, config, seed, d)
    return {"data_sizes": np.array(data_sizes), "loss": best, "final_loss": final, "train_loss": train_loss}


def early_stopped(arch: Architecture, width: int, x: torch.Tensor, y: torch.Tensor, xt: torch.Tensor,
                  yt: torch.Tensor, config: TrainConfig, seed: int, d: int) -> tuple[np.ndarray, ...]:
    """Students of one data size D trained together on x (seeds, D, in): the lowest test loss evaluated during
    training (early stopping, as in the paper), the final test loss and the final training loss, each (seeds,)."""
    p0 = arch.init(x.shape[-1], width, y.shape[-1], torch.Generator().manual_seed(seed * 7919 + d), n=x.shape[0],
                   dtype=x.dtype)
    trained, log = train(arch, p0, x, y, config, generator=torch.Generator().manual_seed(seed + d),
                         x_test=xt, y_test=yt)
    return log.best_test_loss, mse(predict(arch, trained, xt), yt).numpy(), log.train_loss


def nested_split(data: RealDataset, n_test: int, seeds: int, d_max: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred one-hot targets, ``n_test`` test rows, and per seed an order of the other rows whose first D are
    that seed's training set of size D (nested); returns (Y, test rows, orders (seeds, d_max))."""
    perm = rng.permutation(len(data.y))
    test, pool = perm[:n_test], perm[n_test:]
    if d_max > len(pool):
        raise DataError(f"data sizes: up to {d_max} need more than the {len(pool)} training rows")
    orders = np.stack([rng.permutation(pool)[:d_max] for _ in range(seeds)])
    return one_hot(data.y, data.n_classes), test, orders


def readout_sweep(source: RealDataset, target: RealDataset, width: int, arch: Architecture, config: TrainConfig,
                  data_sizes: list[int], feature_counts: list[int], ridges: list[float], seeds: int, n_test: int,
                  n_val: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Pretrained duality (Figs. S6, S7): one network of ``width`` trained on ``source`` and frozen; per seed a
    random order of its units and of the target's examples; ridge readouts on the first P units and D examples.
    Returns ``test`` (seeds, D, P, ridges) and the same on a validation split (for tuning the ridge)."""
    from scalinglab.models.readout import pretrain, readout_losses

    frozen = pretrain(arch, source.X, one_hot(source.y, source.n_classes), width, config,
                      torch.Generator().manual_seed(seed))
    F = frozen.transform(target.X)
    Y = one_hot(target.y, target.n_classes)
    rng = np.random.default_rng(seed)
    test = np.zeros((seeds, len(data_sizes), len(feature_counts), len(ridges)))
    val = np.zeros_like(test)
    dmax = max(data_sizes)
    for s in range(seeds):
        rows, cols = rng.permutation(len(Y)), rng.permutation(F.shape[1])
        tr, te, va = rows[:dmax], rows[dmax:dmax + n_test], rows[dmax + n_test:dmax + n_test + n_val]
        Fs = F[:, cols]
        test[s] = readout_losses(Fs[tr], Y[tr], Fs[te], Y[te], data_sizes, feature_counts, ridges)[..., 0]
        val[s] = readout_losses(Fs[tr], Y[tr], Fs[va], Y[va], data_sizes, feature_counts, ridges)[..., 0]
    return {"data_sizes": np.array(data_sizes), "feature_counts": np.array(feature_counts),
            "ridges": np.array(ridges), "test": test, "val": val,
            "pretrain_train_loss": float(frozen.log.train_loss[0]) if frozen.log else float("nan")}
