"""Trained networks in specs (``[model] kind = "mlp"``) on the hypercube teacher-student and on real data: the
example spec end to end through the CLI, stored and resumed, and one-line errors naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from conftest import invoke, one_error_line, write_spec
from scalinglab.errors import SpecError
from scalinglab.sweep.runner import pending_seeds, run_sweep
from scalinglab.sweep.spec import parse_spec
from scalinglab.sweep.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mlp-hypercube.toml"


def _example() -> dict:
    return tomllib.loads(EXAMPLE.read_text())


def _mean_by_data_size(ms) -> tuple[np.ndarray, np.ndarray]:
    ds = np.array(sorted({m.data_size for m in ms}))
    return ds, np.array([np.mean([m.test_loss for m in ms if m.data_size == d]) for d in ds])


def test_example_spec_runs_through_the_cli_and_losses_fall_with_data(tmp_path):
    store = tmp_path / "runs.sqlite"
    first = invoke("run", EXAMPLE, "--store", store, "--workers", "1", "--quiet")
    assert first.exit_code == 0, first.output
    spec = parse_spec(_example())
    with Store(store) as st:
        ms = st.measurements(spec.name)
        assert pending_seeds(spec, st) == []
    grid = {(d, w, s) for d in spec.grid.data.values() for w in spec.grid.size.values() for s in range(spec.seeds)}
    assert {(m.data_size, m.model_size, m.seed) for m in ms} == grid
    assert all(m.extra["steps"] == spec.model.max_steps for m in ms)  # tol = 0: every network trains max_steps
    ds, loss = _mean_by_data_size(ms)
    # Resolution-limited data scaling on the square predicts L ~ D^-2 (4/d); an untrained or broken student
    # would give a flat curve. The students here are small and briefly trained, so ask for a clear fall only.
    assert loss[-1] < 0.2 * loss[0]
    slope = np.polyfit(np.log(ds), np.log(loss), 1)[0]
    assert slope < -0.7, slope
    again = invoke("run", EXAMPLE, "--store", store, "--workers", "1")
    assert again.exit_code == 0 and "0 new points" in again.stdout


def test_mlp_on_real_data_is_stored_and_resumes(tmp_path):
    spec = parse_spec({
        "name": "mlp-digits", "seeds": 2,
        "task": {"kind": "real", "dataset": "digits"},
        "model": {"kind": "mlp", "depth": 1, "optimizer": "adam", "learning_rate": 0.01, "max_steps": 150,
                  "tol": 0.0, "eval_every": 50, "n_test": 500},
        "grid": {"data": {"min": 40, "max": 640, "num": 3}, "size": {"min": 32, "max": 32, "num": 1}}})
    with Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(spec, st, workers=1) == 6
        assert run_sweep(spec, st, workers=1) == 0
        ms = st.measurements(spec.name)
    ds, loss = _mean_by_data_size(ms)
    assert list(ds) == [40, 160, 640]
    # The networks start from outputs of variance ~ sigma_w^2 per class (NTK parameterisation), which training on
    # more examples removes from more of the input space: the test loss falls steadily with D.
    assert loss[0] > loss[1] > loss[2] and loss[2] < 0.6 * loss[0]


def _mlp_spec(**model) -> dict:
    d = _example()
    d["model"].update(model)
    return d


@pytest.mark.parametrize(("change", "needle"), [
    ({"model": {"kind": "mlp", "activation": "gelu"}}, "model.activation"),
    ({"model": {"kind": "mlp", "parameterization": "mup"}}, "model.parameterization"),
    ({"model": {"kind": "mlp", "width": 64}}, "model.width: unknown key"),
    ({"model": {"kind": "mlp", "learning_rate": -1.0}}, "model.learning_rate"),
    ({"model": {"kind": "mlp", "linearized": True, "batch_size": 8, "optimizer": "adam"}}, "model.linearized"),
    ({"model": {"kind": "random_features"}}, "model.kind: random_features needs task.kind teacher_student"),
    ({"task": {"kind": "real", "dataset": "cifar10"}}, "task.path"),
    ({"task": {"kind": "real", "dataset": "digits", "n": 5000}}, "task.n"),
    ({"task": {"kind": "real", "dataset": "digits"}, "grid": {"data": {"min": 16, "max": 1500},
                                                             "size": {"min": 8, "max": 8}}}, "grid.data.max"),
    ({"task": {"kind": "hypercube", "dim": 0}}, "task.dim"),
])
def test_spec_errors_are_one_line_naming_the_key(tmp_path, change, needle):
    data = _example()
    for key, value in change.items():
        data[key] = value
    with pytest.raises(SpecError, match=needle.replace(".", r"\.")):
        parse_spec(data)
    one_error_line(invoke("run", write_spec(tmp_path / "bad.toml", data), "--store", tmp_path / "s.sqlite"),
                   needle)


def test_mlp_width_is_not_bounded_by_the_teacher_student_features():
    spec = parse_spec({"name": "ts-mlp", "seeds": 1,
                       "task": {"kind": "teacher_student", "features": 32},
                       "model": {"kind": "mlp", "n_test": 10},
                       "grid": {"data": {"min": 8, "max": 64}, "size": {"min": 16, "max": 128}}})
    assert spec.model.kind == "mlp"


def _batched_spec(per_job: int) -> dict:
    """Minibatch Adam, so that each seed's batch draws matter too."""
    return {"name": "mlp-blocks", "seeds": 3,
            "task": {"kind": "hypercube", "dim": 2, "width": 8},
            "model": {"kind": "mlp", "depth": 1, "optimizer": "adam", "learning_rate": 0.01, "batch_size": 8,
                      "max_steps": 40, "tol": 0.0, "eval_every": 20, "n_test": 100, "seeds_per_job": per_job},
            "grid": {"data": {"min": 8, "max": 32, "num": 3}, "size": {"min": 4, "max": 16, "num": 3}}}


def _losses(ms) -> dict:
    return {(m.data_size, m.model_size, m.seed): (m.train_loss, m.test_loss) for m in ms}


def test_seeds_trained_together_get_the_numbers_they_get_alone(tmp_path):
    """Blocks of seeds in one job: the same points, the same losses up to float32 rounding, whatever the block
    size; a resumed run computes a block again but stores only its missing seeds."""
    alone, together = parse_spec(_batched_spec(1)), parse_spec(_batched_spec(2))
    assert alone.fingerprint() == together.fingerprint()
    with Store(tmp_path / "a.sqlite") as a, Store(tmp_path / "b.sqlite") as b:
        assert run_sweep(alone, a, workers=1) == 27
        first = run_sweep(parse_spec({**_batched_spec(2), "seeds": 1}), b, workers=1)
        assert first == 9  # seed 0 alone
        assert run_sweep(together, b, workers=1) == 18  # block (0, 1) stores seed 1 only; then block (2,)
        la, lb = _losses(a.measurements("mlp-blocks")), _losses(b.measurements("mlp-blocks"))
    assert la.keys() == lb.keys()
    for key, values in la.items():
        np.testing.assert_allclose(lb[key], values, rtol=1e-4, err_msg=str(key))


def test_a_failing_block_records_only_its_missing_seeds(tmp_path, monkeypatch):
    from scalinglab.sweep import runner

    with Store(tmp_path / "s.sqlite") as st:
        assert run_sweep(parse_spec({**_batched_spec(2), "seeds": 1}), st, workers=1) == 9

        def broken(spec, seeds, blas_threads=None):
            raise RuntimeError(f"block {seeds} fails [on purpose]")

        monkeypatch.setattr(runner, "run_seeds", broken)
        assert run_sweep(parse_spec(_batched_spec(2)), st, workers=1, retries=1) == 0
        failed = {f["seed"]: f for f in st.failures("mlp-blocks")}
    assert set(failed) == {1, 2}  # seed 0 is stored; its block's failure is not its own
    assert failed[1]["attempts"] == 2 and "block (0, 1) fails" in failed[1]["error"]
    assert "block (2,) fails" in failed[2]["error"]
