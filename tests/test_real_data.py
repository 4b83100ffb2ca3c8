"""Real-data loaders: digits, MNIST-1D, IDX, CIFAR-10 batches, user files; pooling, superclasses, noise, download."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
import sys

import numpy as np
import pytest

from scalinglab.errors import DataError
from scalinglab.tasks.real import (
    RealDataset,
    add_input_noise,
    average_pool,
    download,
    load_dataset,
    merge_classes,
)


def _check_scaled(d: RealDataset) -> None:
    assert d.X.dtype == np.float64 and d.X.ndim == 2
    assert np.issubdtype(d.y.dtype, np.integer) and d.y.shape == (d.X.shape[0],)
    assert abs(d.X.mean()) < 1e-10 and abs(d.X.std() - 1) < 1e-10
    assert set(np.unique(d.y)) <= set(range(d.n_classes))


def test_digits_shape_scaling_and_subset():
    d = load_dataset("digits", standardise="dataset")
    _check_scaled(d)
    assert d.X.shape == (1797, 64) and d.n_classes == 10 and d.image_shape == (8, 8)
    a, b = load_dataset("digits", n=200, seed=3), load_dataset("digits", n=200, seed=3)
    assert a.X.shape == (200, 64) and np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    c = load_dataset("digits", n=200, seed=4)
    assert not np.array_equal(a.y, c.y)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]


def test_mnist1d_generated_locally_and_global_random_state_kept():
    pytest.importorskip("mnist1d")
    state = np.random.get_state()[1].copy()
    d = load_dataset("mnist1d", n=300, standardise="dataset")
    assert np.array_equal(np.random.get_state()[1], state)
    _check_scaled(d)
    assert d.X.shape == (300, 40) and d.n_classes == 10 and d.image_shape == (40,)


def test_mnist1d_missing_package_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    import scalinglab.tasks.real as real

    real._mnist1d_cached.cache_clear()
    with pytest.raises(DataError, match="mnist1d"):
        load_dataset("mnist1d")


def _write_idx(path, arr: np.ndarray, gz: bool) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    payload = header + arr.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as fh:
            fh.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    tr = rng.integers(0, 256, (30, 6, 5))
    te = rng.integers(0, 256, (10, 6, 5))
    _write_idx(tmp_path / "train-images-idx3-ubyte", tr, gz)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(30) % 10, gz)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", te, gz)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(10) % 10, gz)
    d = load_dataset("idx", path=tmp_path, standardise="dataset")
    _check_scaled(d)
    assert d.image_shape == (6, 5) and d.X.shape == (40, 30)
    raw = np.concatenate([tr, te]).reshape(40, -1).astype(float)
    np.testing.assert_allclose(d.X, (raw - raw.mean()) / raw.std())
    np.testing.assert_array_equal(d.y, np.concatenate([np.arange(30) % 10, np.arange(10) % 10]))


def test_idx_errors(tmp_path):
    with pytest.raises(DataError, match="train-images"):
        load_dataset("idx", path=tmp_path)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x01\x02\x08\x03")
    for stem in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        _write_idx(tmp_path / stem, np.zeros(3), False)
    with pytest.raises(DataError, match="magic"):
        load_dataset("idx", path=tmp_path)
    with pytest.raises(DataError, match="needs path"):
        load_dataset("idx")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("idx", path=tmp_path / "nope")


def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, (7, 3072), dtype=np.uint8)
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [0, 1, 2, 3, 4, 5, 6]}, fh)
    d = load_dataset("cifar10", path=tmp_path, standardise="dataset")
    _check_scaled(d)
    assert d.image_shape == (32, 32, 3) and d.X.shape == (7, 3072) and d.n_classes == 7
    # channel-major storage becomes (h, w, c): pixel (0, 0) of the red channel is byte 0, green is byte 1024
    raw = data.astype(float)
    scaled = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(d.X[:, 0], scaled[:, 0])
    np.testing.assert_allclose(d.X[:, 1], scaled[:, 1024])
    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump({b"data": data[:, :100], b"labels": [0] * 7}, fh)
    with pytest.raises(DataError, match="3072"):
        load_dataset("cifar10", path=tmp_path)


def test_user_files(tmp_path):
    X = np.arange(24, dtype=float).reshape(8, 3)
    y = np.array([3, 3, 7, 7, 9, 9, 3, 7])
    np.savez(tmp_path / "a.npz", X=X, y=y)
    d = load_dataset("file", path=tmp_path / "a.npz")
    _check_scaled(d)
    assert d.n_classes == 3 and list(d.y) == [0, 0, 1, 1, 2, 2, 0, 1] and d.image_shape is None
    np.savetxt(tmp_path / "a.csv", np.column_stack([X, y]), delimiter=",", header="a,b,c,label", comments="")
    e = load_dataset("file", path=tmp_path / "a.csv")
    np.testing.assert_allclose(e.X, d.X)
    np.testing.assert_array_equal(e.y, d.y)
    np.savez(tmp_path / "b.npz", X=X)
    with pytest.raises(DataError, match="'y'"):
        load_dataset("file", path=tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", X=X, y=y[:5])
    with pytest.raises(DataError, match="do not match"):
        load_dataset("file", path=tmp_path / "c.npz")
    (tmp_path / "d.txt").write_text("1,2")
    with pytest.raises(DataError, match="unknown file type"):
        load_dataset("file", path=tmp_path / "d.txt")
    with pytest.raises(DataError, match="more than"):
        load_dataset("file", path=tmp_path / "a.npz", n=9)


def test_unknown_name():
    with pytest.raises(DataError, match="'mnist'.*unknown"):
        load_dataset("mnist")


def test_average_pool_2d_1d_and_channels():
    X = np.arange(2 * 16, dtype=float).reshape(2, 16)
    out, shape = average_pool(X, (4, 4), 2)
    assert shape == (2, 2)
    np.testing.assert_allclose(out[0], [np.mean([0, 1, 4, 5]), np.mean([2, 3, 6, 7]),
                                        np.mean([8, 9, 12, 13]), np.mean([10, 11, 14, 15])])
    out1, shape1 = average_pool(np.arange(10.0)[None], (10,), 3)
    assert shape1 == (3,)
    np.testing.assert_allclose(out1[0], [1, 4, 7])
    Xc = np.random.default_rng(0).standard_normal((3, 4 * 4 * 3))
    outc, shapec = average_pool(Xc, (4, 4, 3), 4)
    assert shapec == (1, 1, 3)
    np.testing.assert_allclose(outc, Xc.reshape(3, 16, 3).mean(axis=1))
    with pytest.raises(DataError, match="image_shape"):
        average_pool(X, (3, 3), 1)
    with pytest.raises(DataError, match="pool"):
        average_pool(X, (4, 4), 5)


def test_merge_classes_balanced_and_consistent():
    y = np.repeat(np.arange(10), 5)
    s = merge_classes(y, 2, seed=0)
    assert set(s) == {0, 1}
    for c in range(10):  # a class maps to one superclass
        assert len(set(s[y == c])) == 1
    assert np.bincount(s).tolist() == [25, 25]
    assert np.array_equal(merge_classes(y, 10, seed=0)[np.argsort(y)], merge_classes(y, 10, seed=0)[np.argsort(y)])
    assert len(set(merge_classes(y, 10))) == 10
    with pytest.raises(DataError, match="n_super"):
        merge_classes(y, 11)


def test_add_input_noise_statistics():
    X = np.zeros((400, 50))
    noisy = add_input_noise(X, 0.5, np.random.default_rng(0))
    assert np.all(X == 0)
    # std of 20,000 normal draws: relative standard error 1/sqrt(2 * 20000) = 0.005
    assert abs(noisy.std() - 0.5) < 0.5 * 4 * 0.005
    with pytest.raises(DataError, match="std"):
        add_input_noise(X, -1.0, np.random.default_rng(0))


def test_download_checks_sha256(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"scaling laws" * 100)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    dest = tmp_path / "sub" / "dest.bin"
    assert download(src.as_uri(), dest, digest) == dest
    assert dest.read_bytes() == src.read_bytes()
    # a second call uses the existing file
    src.unlink()
    assert download(src.as_uri(), dest, digest) == dest
    # wrong checksum: a fresh download is refused and removed, an existing file is refused
    other = tmp_path / "other.bin"
    other.write_bytes(b"tampered")
    dest2 = tmp_path / "dest2.bin"
    with pytest.raises(DataError, match="SHA-256"):
        download(other.as_uri(), dest2, digest)
    assert not dest2.exists() and not list(tmp_path.glob("*.part"))
    with pytest.raises(DataError, match="SHA-256"):
        download(other.as_uri(), dest, "0" * 64)
    with pytest.raises(DataError, match="cannot download"):
        download((tmp_path / "missing").as_uri(), tmp_path / "m.bin", digest)
    with pytest.raises(DataError, match="sha256"):
        download(other.as_uri(), dest2, "xyz")


def test_real_task_draws_distinct_examples():
    from scalinglab.tasks.real import RealTask

    task = RealTask(load_dataset("digits", n=100))
    X, Y = task.sample(100, np.random.default_rng(0))
    assert Y.shape == (100, 10) and np.allclose(Y.sum(1), 0)
    assert len({row.tobytes() for row in X}) == len(np.unique(task.data.X, axis=0))
    with pytest.raises(DataError, match="101"):
        task.sample(101, np.random.default_rng(0))
    with pytest.raises(NotImplementedError):
        task.population_loss(None)


def test_standardise_per_dataset_or_per_feature():
    from scalinglab.sweep.spec import RealSpec
    from scalinglab.tasks.real import load_dataset

    whole = load_dataset("digits", standardise="dataset")
    per = load_dataset("digits")  # per feature by default, as in a spec
    assert RealSpec(kind="real").standardise == "feature"
    assert abs(whole.X.mean()) < 1e-12 and abs(whole.X.std() - 1) < 1e-12
    assert np.ptp(whole.X.std(axis=0)) > 0.5  # pixels keep their relative scales
    live = per.X.std(axis=0) > 0
    np.testing.assert_allclose(per.X.std(axis=0)[live], 1.0)
    np.testing.assert_allclose(per.X.mean(axis=0), 0.0, atol=1e-12)
    with pytest.raises(DataError, match="standardise"):
        load_dataset("digits", standardise="pixel")


def test_fashion_mnist_reads_its_idx_files_from_the_debian_folder_or_a_path(tmp_path, monkeypatch):
    """Fashion-MNIST is IDX files (the Debian package dataset-fashion-mnist ships them, gzipped): read from the
    package's folder by default, or from ``path``; a missing folder names the package."""
    from scalinglab.tasks import real

    rng = np.random.default_rng(1)
    tr, te = rng.integers(0, 256, (20, 4, 4)), rng.integers(0, 256, (5, 4, 4))
    for stem, arr in zip(real.IDX_FILES, (tr, np.arange(20) % 10, te, np.arange(5) % 10), strict=True):
        _write_idx(tmp_path / stem, arr, True)
    d = load_dataset("fashion-mnist", path=tmp_path, standardise="dataset")
    assert d.X.shape == (25, 16) and d.image_shape == (4, 4)
    monkeypatch.setattr(real, "FASHION_MNIST_DIR", tmp_path)
    np.testing.assert_array_equal(load_dataset("fashion-mnist", standardise="dataset").X, d.X)
    from scalinglab.sweep.spec import RealSpec

    task = RealSpec(kind="real", dataset="fashion-mnist", path=str(tmp_path), standardise="dataset").build()
    np.testing.assert_array_equal(task.data.X, d.X)  # a spec names it too
    monkeypatch.setattr(real, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_real_task_with_given_targets_draws_their_rows():
    """A teacher on the same inputs: ``targets`` rows travel with their inputs; a wrong shape is refused."""
    from scalinglab.tasks.real import RealTask

    data = load_dataset("digits", n=50)
    f = np.column_stack([data.X[:, 10], 2 * data.X[:, 20]])
    X, Y = RealTask(data, targets=f).sample(30, np.random.default_rng(0))
    np.testing.assert_array_equal(Y[:, 0], X[:, 10])
    np.testing.assert_array_equal(Y[:, 1], 2 * X[:, 20])
    with pytest.raises(DataError, match="targets"):
        RealTask(data, targets=f[:10])
