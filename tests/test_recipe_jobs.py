"""Recipes on the sweep's runner and store (``sweep.jobs``): results read back exactly, nothing computed twice,
the same numbers whatever the executor, and a reproduction killed with SIGKILL resumes to the same summary."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scalinglab.errors import DataError
from scalinglab.recipes import brill
from scalinglab.sweep.jobs import Jobs, config_fingerprint, decode, encode
from scalinglab.sweep.store import Store

TINY = dataclasses.replace(brill.QUICK, min_size=30, max_size=3000, n_clusters=10, seeds=6, n_max=100, n_points=6,
                           fractions=8, scan_points=6, scan_seeds=1)
SEEDS = [(s,) for s in range(TINY.seeds)]


def _same(a, b) -> None:
    """Two job results equal bit for bit (arrays by dtype, shape and bytes)."""
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
            assert a[k].tobytes() == b[k].tobytes(), k
        else:
            assert a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]), k


def _strip_seconds(results):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


def test_encode_decode_is_exact():
    rng = np.random.default_rng(0)
    payload = {"x": rng.standard_normal((3, 4)), "tiny": np.array([5e-324, 1e308, -0.0, np.nan, np.inf]),
               "i": np.arange(6, dtype=np.int32).reshape(2, 3), "b": np.array([True, False]),
               "f32": rng.standard_normal(5).astype(np.float32), "n": 3, "v": 0.1 + 0.2, "s": "text",
               "rows": [{"e": np.array([1.5, 2.5]), "k": 1}], "none": None, "scalar": np.float64(1 / 3)}
    back = decode(encode(payload))
    for k in ("x", "tiny", "i", "b", "f32"):
        assert back[k].dtype == payload[k].dtype and back[k].tobytes() == payload[k].tobytes(), k
    assert back["n"] == 3 and back["v"] == 0.1 + 0.2 and back["s"] == "text" and back["none"] is None
    assert back["scalar"] == 1 / 3 and back["rows"][0]["e"].tolist() == [1.5, 2.5]
    with pytest.raises(DataError, match="dtype"):
        encode({"o": np.array(["a"], dtype=object)})
    with pytest.raises(DataError, match="set"):
        encode({"o": {1, 2}})


def test_the_fingerprint_and_seeds_of_a_configuration_are_those_of_the_sweep_rule():
    from scalinglab.sweep.runner import job_rng

    fp = config_fingerprint(TINY)
    assert len(fp) == 16 and fp == TINY.fingerprint()
    assert config_fingerprint(dataclasses.replace(TINY, seeds=7)) != fp
    a = job_rng(fp, 3).random(4)
    b = np.random.default_rng(np.random.SeedSequence(int(fp, 16), spawn_key=(3,))).random(4)
    assert a.tolist() == b.tolist()


def test_jobs_are_stored_once_and_read_back_whatever_the_worker_count(tmp_path):
    calls = []
    with Store(tmp_path / "one.sqlite") as st:
        one = Jobs(st, workers=1, progress=lambda d, t, label: calls.append((d, t))).map(
            "brill", brill.run_seed, TINY, SEEDS, "seeds")
        assert calls[0] == (0, 6) and calls[-1] == (6, 6)
        calls.clear()
        again = Jobs(st, workers=1, progress=lambda d, t, label: calls.append((d, t))).map(
            "brill", brill.run_seed, TINY, SEEDS, "seeds")
        assert calls == [(6, 6)]  # everything read from the store, nothing computed
        for a, b in zip(one, again, strict=True):
            _same(a, b)
        assert st.result_keys(TINY.fingerprint()) and len(st.result_keys(TINY.fingerprint())) == 6
    with Store(tmp_path / "two.sqlite") as st:
        two = Jobs(st, workers=2).map("brill", brill.run_seed, TINY, SEEDS, "seeds")
    for a, b in zip(_strip_seconds(one), _strip_seconds(two), strict=True):
        _same(a, b)
    direct = brill.run_seed(TINY, 4)  # what the job computes, before the store
    _same({k: v for k, v in direct.items() if k != "seconds"}, _strip_seconds(one)[4])


def test_jobs_on_a_dask_cluster_give_the_same_numbers(tmp_path):
    pytest.importorskip("distributed")
    from scalinglab.sweep.executors import dask_executor

    with Store(tmp_path / "a.sqlite") as st:
        local = Jobs(st, workers=1).map("brill", brill.run_seed, TINY, SEEDS[:3], "seeds")
    with dask_executor(local_workers=2) as ex, Store(tmp_path / "b.sqlite") as st:
        dask = Jobs(st, executor=ex).map("brill", brill.run_seed, TINY, SEEDS[:3], "seeds")
    for a, b in zip(_strip_seconds(local), _strip_seconds(dask), strict=True):
        _same(a, b)


def _fails_on_seed_two(config, seed):
    if seed == 2:
        raise ValueError("no clusters")
    return {"seed": seed}


def test_a_failing_job_is_retried_then_named_and_the_others_are_stored(tmp_path):
    with Store(tmp_path / "s.sqlite") as st:
        with pytest.raises(DataError, match=r"seeds: job \[2\] failed 3 time\(s\): ValueError: no clusters"):
            Jobs(st, workers=1).map("t", _fails_on_seed_two, TINY, SEEDS[:4], "seeds")
        assert len(st.result_keys(TINY.fingerprint())) == 3


def test_an_older_store_is_migrated_and_a_read_only_one_has_no_results(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store(path) as st:
        pass
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE results")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with Store(path, readonly=True) as st:
        assert st.result_keys("0" * 16) == set() and st.results(["x"]) == {}
    with Store(path) as st:
        assert st.migrated_from == 2
        Jobs(st).map("brill", brill.run_seed, TINY, SEEDS[:1], "seeds")
        assert len(st.result_keys(TINY.fingerprint())) == 1


SCRIPT = """
import dataclasses, json, sys
from scalinglab.recipes import brill
from scalinglab.sweep.jobs import Jobs
from scalinglab.sweep.store import Store
config = dataclasses.replace(brill.QUICK, **json.loads(sys.argv[2]))
with Store(sys.argv[1]) as st:
    out = Jobs(st, workers=2).map("brill", brill.run_seed, config, [(s,) for s in range(config.seeds)], "seeds")
print(json.dumps([r["model"].tolist() + r["data"].tolist() + r["sigma"].tolist() for r in out]))
"""


def _results(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_numbers(tmp_path):
    """The driver (and with it its pool) killed with SIGKILL three times, after 1, 3 and 5 of 12 jobs are
    stored and a random extra moment (fixed seed): the resumed runs end with the uninterrupted run's numbers."""
    overrides = json.dumps({"min_size": 30, "max_size": 30000, "n_clusters": 20, "seeds": 12, "n_max": 300,
                            "n_points": 8, "fractions": 8})
    env = {**os.environ, "PYTHONHASHSEED": "0"}

    def start(store: Path) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", SCRIPT, str(store), overrides], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    clean = start(tmp_path / "clean.sqlite")
    reference, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err
    store, rng = tmp_path / "killed.sqlite", np.random.default_rng(7)
    counts = []
    for after in (1, 3, 5):
        proc = start(store)
        deadline = time.monotonic() + 300
        while _results(store) < after and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        counts.append(_results(store))
    assert counts[0] < 12, "the first run finished before it was killed; the test kills nothing"
    final = start(store)
    resumed, err = final.communicate(timeout=600)
    assert final.returncode == 0, err
    assert json.loads(resumed) == json.loads(reference)
    assert _results(store) == 12  # nothing duplicated


def _reproduce(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scalinglab.cli", "reproduce", "brill-fig6", "--quick", "--out",
                             str(out), "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_reproduce_brill_fig6_killed_three_times_resumes_to_the_same_summary(tmp_path):
    """The done-criterion of the recipes on the store: `reproduce brill-fig6 --quick --workers 2` killed with SIGKILL
    at three random moments and rerun each time ends with the summary.json of an uninterrupted run, and
    `--dask-local 2` gives the same numbers."""
    clean = _reproduce(tmp_path / "clean", "--workers", "2")
    _, err = clean.communicate(timeout=1800)
    assert clean.returncode == 0, err
    reference = (tmp_path / "clean" / "summary.json").read_text()
    jobs = _results(tmp_path / "clean" / "runs.sqlite")  # each seed's all-sites job and its paper-protocol job
    assert jobs >= brill.QUICK.seeds
    out, rng = tmp_path / "killed", np.random.default_rng(11)
    for after in sorted(rng.choice(np.arange(1, jobs - 1), size=3, replace=False)):
        proc = _reproduce(out, "--workers", "2")
        while _results(out / "runs.sqlite") < after and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(float(rng.uniform(0.0, 2.0)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert _results(out / "runs.sqlite") < jobs, "the runs finished before the last kill; nothing was tested"
    final = _reproduce(out, "--workers", "2")
    _, err = final.communicate(timeout=1800)
    assert final.returncode == 0, err
    assert (out / "summary.json").read_text() == reference
    assert _results(out / "runs.sqlite") == jobs  # nothing lost, nothing duplicated
    pytest.importorskip("distributed")
    dask = _reproduce(tmp_path / "dask", "--dask-local", "2")
    _, err = dask.communicate(timeout=1800)
    assert dask.returncode == 0, err
    assert (tmp_path / "dask" / "summary.json").read_text() == reference
