"""Real data sets for scaling experiments: scikit-learn's handwritten digits and MNIST-1D (generated locally by
the ``mnist1d`` package), standardised, with the task modifications of Bahri et al. (2024), section 4:
classes merged into superclasses and Gaussian input noise; average pooling for images.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from scalinglab.errors import DataError, SpecError

DATASETS = ("digits", "mnist1d")


@dataclasses.dataclass(frozen=True)
class RealDataset:
    """Inputs ``X`` (n, features), float64, each feature standardised; integer labels ``y`` (n,)."""

    X: np.ndarray
    y: np.ndarray
    name: str
    n_classes: int
    image_shape: tuple[int, ...] | None = None


def _standardise(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def load_dataset(name: str, *, path: str | None = None, n: int | None = None, seed: int = 0) -> RealDataset:
    """Load ``name`` ("digits": 1797 8x8 images; "mnist1d": ``n`` (default 5000) length-40 sequences generated
    from ``seed``). ``n`` keeps a random subset of that size."""
    if name == "digits":
        from sklearn.datasets import load_digits

        data = load_digits()
        X, y, shape = data.data, data.target, (8, 8)
    elif name == "mnist1d":
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.num_samples = int(n or 5000)
        args.seed = int(seed)
        d = make_dataset(args)
        X, y, shape = np.concatenate([d["x"], d["x_test"]]), np.concatenate([d["y"], d["y_test"]]), (40,)
    else:
        raise SpecError(f"task.dataset: unknown {name!r} (expected one of {', '.join(DATASETS)})")
    y = np.asarray(y, dtype=np.int64)
    if n is not None:
        if int(n) != n or n < 1 or n > len(y):
            raise SpecError(f"task.n: must be an integer in [1, {len(y)}], got {n!r}")
        keep = np.sort(np.random.default_rng(seed).choice(len(y), int(n), replace=False))
        X, y = X[keep], y[keep]
    return RealDataset(_standardise(X), y, name, int(y.max()) + 1, shape)


def average_pool(X: np.ndarray, image_shape: tuple[int, ...], pool: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Average-pool every image of ``X`` (n, prod(image_shape)) over non-overlapping pool^k blocks (edges that do
    not fill a block are dropped); returns the pooled rows and their shape."""
    if int(pool) != pool or pool < 1:
        raise SpecError(f"pool: must be a positive integer, got {pool!r}")
    imgs = np.asarray(X).reshape((-1, *image_shape))
    new_shape = tuple(s // pool for s in image_shape)
    if min(new_shape) < 1:
        raise SpecError(f"pool: {pool} is larger than the image shape {image_shape}")
    slices = (slice(None),) + tuple(slice(0, s * pool) for s in new_shape)
    imgs = imgs[slices]
    blocked = imgs.reshape((imgs.shape[0], *[v for s in new_shape for v in (s, pool)]))
    pooled = blocked.mean(axis=tuple(range(2, 2 + 2 * len(new_shape), 2)))
    return pooled.reshape(len(pooled), -1), new_shape


def merge_classes(y: np.ndarray, n_super: int, seed: int = 0) -> np.ndarray:
    """Labels of ``n_super`` superclasses: the classes, in a random order drawn from ``seed``, split into
    ``n_super`` groups as equal as possible (Bahri et al. 2024, Fig. 3)."""
    y = np.asarray(y)
    classes = np.unique(y)
    if int(n_super) != n_super or not 1 <= n_super <= len(classes):
        raise SpecError(f"n_super: must be an integer in [1, {len(classes)}], got {n_super!r}")
    order = np.random.default_rng(seed).permutation(classes)
    mapping = {int(c): i % int(n_super) for i, c in enumerate(order)}
    return np.array([mapping[int(v)] for v in y], dtype=np.int64)


def add_input_noise(X: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """X plus independent Gaussian noise of standard deviation ``std`` on every feature."""
    if not np.isfinite(std) or std < 0:
        raise DataError(f"noise std: must be non-negative, got {std!r}")
    return np.asarray(X, dtype=np.float64) + std * rng.standard_normal(np.shape(X))
