"""CIFAR-10 batches are read with a restricted unpickler: a crafted pickle cannot run code, a genuine batch loads."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from scalinglab.errors import DataError
from scalinglab.tasks.real import load_dataset


class _WritesMarker:
    """Unpickling this calls os.system (protocol 0-2: GLOBAL 'posix system' or 'os system')."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpensMarker:
    """Unpickling this calls builtins.open(marker, 'w'), creating the file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("payload", [_WritesMarker, _OpensMarker])
@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("nested", [False, True])
def test_crafted_batch_is_refused_and_runs_nothing(tmp_path, payload, protocol, nested):
    marker = tmp_path / "pwned"
    evil = payload(marker)
    obj = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [evil]} if nested else evil
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "data_batch_1", "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", path=tmp_path / "data")
    message = str(err.value)
    assert "\n" not in message and "data_batch_1" in message and "refused to load" in message
    assert ("system" in message) if payload is _WritesMarker else ("open" in message)
    assert not marker.exists()


def test_refusal_names_the_file_and_the_global(tmp_path):
    with open(tmp_path / "test_batch", "wb") as fh:
        pickle.dump(_WritesMarker(tmp_path / "pwned"), fh, protocol=2)
    with pytest.raises(DataError, match=r"test_batch: refused to load '(os|posix)\.system' \(CIFAR-10 batches hold"):
        load_dataset("cifar10", path=tmp_path)


def test_a_pickle_that_is_not_a_dict_is_one_line(tmp_path):
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump([1, 2, 3], fh, protocol=2)
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        load_dataset("cifar10", path=tmp_path)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_genuine_format_batches_load(tmp_path, protocol):
    rng = np.random.default_rng(3)
    batches = {"data_batch_1": 6, "data_batch_2": 5, "test_batch": 4}
    for name, n in batches.items():
        batch = {b"batch_label": b"training batch 1 of 5", b"labels": [int(v) for v in rng.integers(0, 10, n)],
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
        with open(tmp_path / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=protocol)
    d = load_dataset("cifar10", path=tmp_path)
    assert d.X.shape == (15, 3072) and d.y.shape == (15,) and d.image_shape == (32, 32, 3)


def test_numpy_labels_and_a_python2_style_batch_load(tmp_path):
    """Labels as numpy scalars (protocol 2) or a numpy array (protocol 4) load too."""
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    with open(tmp_path / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": data, b"labels": [np.int64(1), np.int64(2)]}, fh, protocol=2)
    with open(tmp_path / "data_batch_2", "wb") as fh:
        pickle.dump({b"data": data, b"labels": np.array([3, 4])}, fh, protocol=4)
    d = load_dataset("cifar10", path=tmp_path)
    assert d.X.shape == (4, 3072) and d.y.shape == (4,) and d.n_classes == 4
