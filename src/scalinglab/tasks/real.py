"""Real data sets for scaling experiments: loaders, pooling, superclasses and input noise (Bahri et al., Figs. 2-3).

``load_dataset(name, ...)`` returns a :class:`RealDataset` with float64 inputs scaled to zero mean and unit
variance (per input coordinate by default, as in a spec; ``standardise="dataset"``: one mean and one standard
deviation for the whole data set, so relative pixel intensities are kept) and integer labels. Names:

- ``"digits"``: scikit-learn's bundled 8 x 8 handwritten digits (1,797 images), no file needed;
- ``"mnist1d"``: MNIST-1D generated locally by the ``mnist1d`` package (5,000 sequences of length 40, more on
  request);
- ``"idx"``: MNIST or Fashion-MNIST IDX files in the directory ``path`` (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally ``.gz``);
- ``"fashion-mnist"``: Fashion-MNIST (70,000 28 x 28 images, Xiao et al. 2017) from its IDX files in ``path``,
  by default where the Debian package ``dataset-fashion-mnist`` installs them (``FASHION_MNIST_DIR``);
- ``"cifar10"``: the CIFAR-10 python pickle batches (``data_batch_1..5``, ``test_batch``) in ``path``, read with an
  unpickler that builds only arrays, lists and scalars (any other global in the file is refused);
- ``"file"``: an ``.npz`` with arrays ``X`` and ``y``, or a ``.csv`` whose last column is the label.

No loader reaches the network; :func:`download` fetches a file once and refuses it unless its SHA-256 matches.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import pickle
import random
import shutil
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

from scalinglab.errors import DataError
from scalinglab.tasks import sample_count

DATASETS = ("digits", "mnist1d", "idx", "fashion-mnist", "cifar10", "file")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian: apt install dataset-fashion-mnist
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclasses.dataclass(frozen=True)
class RealDataset:
    """Inputs ``X`` (float64, (n, features), zero mean / unit variance), labels ``y`` (int, (n,))."""

    X: np.ndarray
    y: np.ndarray
    name: str
    n_classes: int
    image_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.X.ndim != 2 or self.y.shape != (self.X.shape[0],):
            raise DataError(f"dataset {self.name!r}: X must be (n, features) and y (n,), got {self.X.shape} "
                            f"and {self.y.shape}")
        if self.image_shape is not None and int(np.prod(self.image_shape)) != self.X.shape[1]:
            raise DataError(f"dataset {self.name!r}: image_shape {self.image_shape} does not match "
                            f"{self.X.shape[1]} features")

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    def one_hot(self) -> np.ndarray:
        """Labels as centred one-hot targets (n, n_classes): entries 1 - 1/C and -1/C (Bahri et al.'s MSE targets)."""
        Y = np.full((self.n, self.n_classes), -1.0 / self.n_classes)
        Y[np.arange(self.n), self.y] += 1.0
        return Y


STANDARDISE = ("dataset", "feature")
DEFAULT_STANDARDISE = "feature"  # the spec's default too (sweep.spec.RealSpec)


def _standardise(X: np.ndarray, how: str) -> np.ndarray:
    """Zero mean and unit variance: over the whole data set (keeps relative pixel intensities, so pooling and
    spectra see the images as they are), or per feature (each input coordinate on its own scale)."""
    X = np.asarray(X, dtype=np.float64)
    if how == "feature":
        sd = X.std(axis=0)
        return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    std = X.std()
    return (X - X.mean()) / (std if std > 0 else 1.0)


def _finish(X: np.ndarray, y: np.ndarray, name: str, image_shape: tuple[int, ...] | None, n: int | None,
            seed: int, standardise: str) -> RealDataset:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        X = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise DataError(f"dataset {name!r}: inputs {X.shape} and labels {y.shape} do not match")
    if X.shape[0] == 0:
        raise DataError(f"dataset {name!r}: no examples")
    if not np.issubdtype(y.dtype, np.integer):
        yf = np.asarray(y, dtype=float)
        if not np.all(np.isfinite(yf)) or np.any(yf != np.round(yf)):
            raise DataError(f"dataset {name!r}: labels must be integers")
        y = yf.astype(np.int64)
    classes, y = np.unique(y, return_inverse=True)
    if n is not None:
        if int(n) != n or n < 1:
            raise DataError(f"n: must be a positive integer, got {n!r}")
        if n > X.shape[0]:
            raise DataError(f"n: {n} is more than the {X.shape[0]} examples of {name!r}")
        idx = np.random.default_rng(seed).permutation(X.shape[0])[: int(n)]
        X, y = X[idx], y[idx]
    X = _standardise(X, standardise)
    if not np.all(np.isfinite(X)):
        raise DataError(f"dataset {name!r}: inputs contain NaN or infinity")
    return RealDataset(X=X, y=y.astype(np.int64), name=name, n_classes=int(len(classes)), image_shape=image_shape)


def _need_path(name: str, path: str | Path | None) -> Path:
    if path is None:
        raise DataError(f"dataset {name!r}: needs path")
    p = Path(path)
    if not p.exists():
        raise DataError(f"dataset {name!r}: {p} does not exist")
    return p


def _load_digits() -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data, d.target, (8, 8)


def _load_mnist1d(n: int | None) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    return _mnist1d_cached(max(5000, -(-int(n) // 10) * 10) if n is not None else 5000)


@functools.lru_cache(maxsize=2)
def _mnist1d_cached(num_samples: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """The canonical MNIST-1D (the package's default arguments and seed 42); more than its 5,000 examples when
    ``n`` asks for them (then the examples differ from the canonical ones)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise DataError("dataset 'mnist1d': needs the package mnist1d (pip install mnist1d)") from None
    args = get_dataset_args()
    args.num_samples = num_samples
    # the generator seeds numpy's and Python's global random state: restore both afterwards
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    X = np.concatenate([data["x"], data["x_test"]])
    y = np.concatenate([data["y"], data["y_test"]])
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y, (X.shape[1],)


def _read_idx(path: Path) -> np.ndarray:
    """One IDX file (big-endian header: zero, zero, type code, rank, then the dimensions)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: cannot read IDX file ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    code, rank = raw[2], raw[3]
    if code not in dtypes:
        raise DataError(f"{path}: unknown IDX type code {code:#x}")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(v) for v in np.frombuffer(raw, ">u4", rank, 4))
    dtype = np.dtype(dtypes[code])
    count = int(np.prod(shape)) if shape else 0
    if len(raw) - header != count * dtype.itemsize:
        raise DataError(f"{path}: IDX payload has {len(raw) - header} bytes, header says shape {shape}")
    return np.frombuffer(raw, dtype, count, header).reshape(shape)


def _find(directory: Path, stem: str, name: str = "idx") -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"dataset {name!r}: {directory} has no {stem} (or {stem}.gz)")


def _load_idx(path: Path, name: str = "idx") -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    if not path.is_dir():
        hint = " (install the Debian package dataset-fashion-mnist, or give its path)" if name != "idx" else ""
        raise DataError(f"dataset {name!r}: {path} is not a directory{hint}")
    tr_x, tr_y, te_x, te_y = (_read_idx(_find(path, stem, name)) for stem in IDX_FILES)
    for images, labels, which in ((tr_x, tr_y, "train"), (te_x, te_y, "t10k")):
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DataError(f"dataset {name!r}: {which} images {images.shape} and labels {labels.shape} do not match")
    if tr_x.shape[1:] != te_x.shape[1:]:
        raise DataError(f"dataset {name!r}: train images {tr_x.shape[1:]} and t10k images {te_x.shape[1:]} differ")
    X = np.concatenate([tr_x, te_x]).reshape(tr_x.shape[0] + te_x.shape[0], -1)
    return X, np.concatenate([tr_y, te_y]), tuple(tr_x.shape[1:])


# The only globals a genuine CIFAR-10 python batch (or a re-saved one, protocol 2 to 5) refers to: numpy's array,
# dtype and scalar reconstruction, and _codecs.encode (bytes pickled by Python 3 at protocol 2). Anything else in
# a pickle could run code as it loads, so it is refused.
_CIFAR_GLOBALS = frozenset({
    *((f"{core}.multiarray", name) for core in ("numpy.core", "numpy._core") for name in ("_reconstruct", "scalar")),
    *((f"{core}.numeric", "_frombuffer") for core in ("numpy.core", "numpy._core")),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    *((mod, name) for mod in ("builtins", "__builtin__") for name in ("set", "frozenset", "bytearray", "complex")),
})


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, scalars and numpy arrays; any other global is a DataError."""

    def __init__(self, fh, source: Path):
        super().__init__(fh, encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _CIFAR_GLOBALS:
            shown = " ".join(f"{module}.{name}".split())[:120]
            raise DataError(f"{self._source}: refused to load {shown!r} (CIFAR-10 batches hold only arrays and "
                            "lists)")
        return super().find_class(module, name)


def _load_cifar10(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    if not path.is_dir():
        raise DataError(f"dataset 'cifar10': {path} is not a directory")
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    found = [path / n for n in names if (path / n).is_file()]
    if not found:
        raise DataError(f"dataset 'cifar10': {path} has none of the batches {', '.join(names)}")
    xs, ys = [], []
    for f in found:
        try:
            with open(f, "rb") as fh:
                batch = _BatchUnpickler(fh, f).load()
        except DataError:
            raise
        except Exception as err:  # a corrupt pickle can raise nearly anything
            raise DataError(f"{f}: cannot read CIFAR-10 batch ({type(err).__name__})") from None
        if not isinstance(batch, dict):
            raise DataError(f"{f}: not a CIFAR-10 batch (holds a {type(batch).__name__}, not a dict)")
        data, labels = batch.get(b"data"), batch.get(b"labels")
        if data is None or labels is None:
            raise DataError(f"{f}: CIFAR-10 batch lacks 'data' or 'labels'")
        data = np.asarray(data)
        if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != len(labels):
            raise DataError(f"{f}: CIFAR-10 batch data has shape {data.shape}, expected (n, 3072)")
        # stored channel-major (3, 32, 32); store images as (32, 32, 3)
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(-1, 3072))
        ys.append(np.asarray(labels))
    return np.concatenate(xs), np.concatenate(ys), (32, 32, 3)


def _load_file(path: Path) -> tuple[np.ndarray, np.ndarray, None]:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                if "X" not in z or "y" not in z:
                    raise DataError(f"{path}: .npz needs arrays 'X' and 'y', has {sorted(z.files)}")
                X, y = z["X"], z["y"]
        except (OSError, ValueError) as err:
            raise DataError(f"{path}: cannot read .npz ({err})") from None
    elif path.suffix == ".csv":
        try:
            table = np.loadtxt(path, delimiter=",", ndmin=2)
        except ValueError:
            try:
                table = np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)
            except ValueError as err:
                raise DataError(f"{path}: CSV must be numeric with the label in the last column ({err})") from None
        if table.shape[1] < 2:
            raise DataError(f"{path}: CSV needs at least one feature column and a label column")
        X, y = table[:, :-1], table[:, -1]
    else:
        raise DataError(f"{path}: unknown file type {path.suffix!r} (expected .npz or .csv)")
    if np.asarray(X).ndim < 2:
        raise DataError(f"{path}: X must have shape (n, features), got {np.asarray(X).shape}")
    return X, y, None


def load_dataset(name: str, *, path: str | Path | None = None, n: int | None = None, seed: int = 0,
                 standardise: str = DEFAULT_STANDARDISE) -> RealDataset:
    """Load a data set by name (see the module docstring); ``n`` keeps a random subset of n examples (from ``seed``);
    ``standardise`` is "dataset" (one mean and scale) or "feature" (per input coordinate).

    Raises DataError for an unknown name, a missing file or a
    malformed one.
    """
    if standardise not in STANDARDISE:
        raise DataError(f"standardise: must be one of {', '.join(STANDARDISE)}, got {standardise!r}")
    if name == "digits":
        X, y, shape = _load_digits()
    elif name == "mnist1d":
        X, y, shape = _load_mnist1d(n)
    elif name == "idx":
        X, y, shape = _load_idx(_need_path(name, path))
    elif name == "fashion-mnist":
        X, y, shape = _load_idx(Path(path) if path is not None else FASHION_MNIST_DIR, name)
    elif name == "cifar10":
        X, y, shape = _load_cifar10(_need_path(name, path))
    elif name == "file":
        X, y, shape = _load_file(_need_path(name, path))
    else:
        raise DataError(f"dataset {name!r}: unknown; known: {', '.join(DATASETS)}")
    return _finish(X, y, name, shape, n, seed, standardise)


def average_pool(X: np.ndarray, image_shape: tuple[int, ...], pool: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Average-pool flattened images by non-overlapping ``pool`` x ``pool`` windows (Bahri et al., Fig. 2).

    ``image_shape`` is (h, w), (h, w, channels) or (length,) for 1-D signals; a trailing partial window is
    dropped. Returns the pooled inputs, flattened, and their image shape.
    """
    X = np.asarray(X, dtype=np.float64)
    if int(pool) != pool or pool < 1:
        raise DataError(f"pool: must be a positive integer, got {pool!r}")
    pool = int(pool)
    shape = tuple(int(s) for s in image_shape)
    if X.ndim != 2 or int(np.prod(shape)) != X.shape[1]:
        raise DataError(f"image_shape: {shape} does not match inputs of shape {X.shape}")
    spatial = shape[:2] if len(shape) >= 2 else shape[:1]
    if any(pool > s for s in spatial):
        raise DataError(f"pool: {pool} is larger than the image {spatial}")
    n = X.shape[0]
    if len(shape) == 1:
        m = shape[0] // pool
        out = X[:, : m * pool].reshape(n, m, pool).mean(axis=2)
        return out, (m,)
    h, w = shape[0] // pool, shape[1] // pool
    rest = shape[2:]
    imgs = X.reshape((n,) + shape)[:, : h * pool, : w * pool]
    pooled = imgs.reshape((n, h, pool, w, pool) + rest).mean(axis=(2, 4))
    new_shape = (h, w) + rest
    return pooled.reshape(n, -1), new_shape


def merge_classes(y: np.ndarray, n_super: int, seed: int = 0) -> np.ndarray:
    """Merge classes into ``n_super`` superclasses by a random balanced partition (Bahri et al., Fig. 3).

    Class c goes to superclass perm[c] mod n_super with perm a random permutation of the classes from ``seed``.
    """
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"y: must be a 1-D integer array, got {y.dtype} of shape {y.shape}")
    classes, inverse = np.unique(y, return_inverse=True)
    if int(n_super) != n_super or not 1 <= n_super <= len(classes):
        raise DataError(f"n_super: must be an integer in [1, {len(classes)}], got {n_super!r}")
    perm = np.random.default_rng(seed).permutation(len(classes))
    return (perm[inverse] % int(n_super)).astype(np.int64)


def add_input_noise(X: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """X plus i.i.d. Gaussian noise of standard deviation ``std`` (Bahri et al., Fig. 3); X itself is unchanged."""
    if not np.isfinite(std) or std < 0:
        raise DataError(f"std: must be non-negative, got {std!r}")
    X = np.asarray(X, dtype=np.float64)
    return X + std * rng.standard_normal(X.shape)


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: str | Path, sha256: str) -> Path:
    """Fetch ``url`` to ``dest`` unless ``dest`` already holds the file; either way check its SHA-256.

    A file whose checksum differs is never used: an existing one raises DataError, a freshly fetched one is
    deleted and raises DataError.
    """
    dest = Path(dest)
    expected = str(sha256).lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise DataError(f"sha256: not a hex SHA-256 digest: {sha256!r}")
    if dest.exists():
        got = sha256_of(dest)
        if got != expected:
            raise DataError(f"{dest}: SHA-256 {got} differs from the expected {expected}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False, suffix=".part") as tmp:
        tmp_path = Path(tmp.name)
        try:
            with urllib.request.urlopen(url) as resp:  # noqa: S310 (the checksum guards the content)
                shutil.copyfileobj(resp, tmp)
        except (OSError, ValueError) as err:
            tmp.close()
            tmp_path.unlink(missing_ok=True)
            raise DataError(f"{url}: cannot download ({err})") from None
    got = sha256_of(tmp_path)
    if got != expected:
        tmp_path.unlink(missing_ok=True)
        raise DataError(f"{url}: SHA-256 {got} differs from the expected {expected}")
    tmp_path.replace(dest)
    return dest


@dataclasses.dataclass(frozen=True)
class RealTask:
    """A real data set as a task: ``sample(n, rng)`` draws n distinct examples (inputs and centred one-hot
    targets, or the rows of ``targets`` where given, e.g. a teacher drawn on the same inputs), so a model's
    training and test points, drawn in one call, never overlap. A finite data set has no population loss; models
    measure on held-out examples."""

    data: RealDataset
    name: str = "real"
    targets: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.targets is not None and (self.targets.ndim != 2 or len(self.targets) != self.data.n):
            raise DataError(f"targets: must be ({self.data.n}, outputs), got {self.targets.shape}", param="targets")

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = sample_count(n)
        if n > self.data.n:
            raise DataError(f"n: {n} examples asked of {self.data.name!r}, which has {self.data.n}")
        idx = rng.choice(self.data.n, int(n), replace=False)
        return self.data.X[idx], (self.data.one_hot() if self.targets is None else self.targets)[idx]

    def population_loss(self, predictor) -> float:
        raise NotImplementedError("a finite data set has no population loss; use held-out examples")

    def properties(self) -> dict[str, float]:
        return {"n": float(self.data.n), "features": float(self.data.X.shape[1]),
                "n_classes": float(self.data.n_classes)}
