"""scalinglab.open_store refuses a missing file; scalinglab.run runs a spec and returns its store; a model whose
optional module is missing fails once, naming the extra, before anything is stored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import scalinglab
from conftest import invoke, one_error_line, spec_dict
from scalinglab.errors import DataError, SpecError

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_open_store_refuses_a_missing_file(tmp_path):
    typo = tmp_path / "typo.sqlite"
    with pytest.raises(DataError, match="no such store"):
        scalinglab.open_store(typo)
    assert not typo.exists()
    with scalinglab.open_store(typo, create=True) as st:
        assert st.experiments() == []
    assert typo.exists()


def test_run_then_read_the_store_as_a_dataframe(tmp_path):
    pytest.importorskip("pandas")
    store = tmp_path / "runs.sqlite"
    with scalinglab.run(spec_dict(seeds=2), store, progress=False) as st:
        assert st.experiments() == ["tiny"]
        frame = st.to_pandas("tiny")
        with pytest.raises(DataError, match="'other'"):
            st.to_pandas("other")
    assert len(frame) == 2 * 16 and {"data_size", "model_size", "seed", "test_loss"} <= set(frame.columns)
    before = store.read_bytes()
    with scalinglab.run(spec_dict(seeds=2), store, progress=False) as st:  # nothing left to run
        assert len(st.to_pandas()) == 32
    assert scalinglab.open_store(store, readonly=True).count("tiny") == 32 and store.read_bytes() == before


def test_an_mlp_sweep_without_torch_fails_once_naming_the_extra(tmp_path, monkeypatch):
    store = tmp_path / "runs.sqlite"
    with scalinglab.open_store(store, create=True):
        pass
    before = store.read_bytes()
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    one_error_line(invoke("run", EXAMPLES / "mlp-hypercube.toml", "--store", store), "torch",
                   "pip install 'scalinglab[nn]'")
    assert store.read_bytes() == before  # nothing registered, no failure recorded
    with pytest.raises(SpecError, match=r"scalinglab\[nn\]"):
        scalinglab.run(EXAMPLES / "mlp-hypercube.toml", tmp_path / "other.sqlite", progress=False)
    assert not (tmp_path / "other.sqlite").exists()
