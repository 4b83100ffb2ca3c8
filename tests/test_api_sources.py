"""A local MLflow tracking folder, made by mlflow itself, fits as `fit FOLDER` (last values) and with --step-col
(every logged step, the best or last checkpoint per run)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import scalinglab
from conftest import invoke

SIZES = (10, 30, 100, 300, 1000, 3000)


def _final(n: float) -> float:
    return 1.0 + 5.0 * n**-0.5


@pytest.fixture(scope="module")
def mlruns(tmp_path_factory):
    mlflow = pytest.importorskip("mlflow")
    folder = tmp_path_factory.mktemp("tracking") / "mlruns"
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 writes a folder only when asked to
    try:
        mlflow.set_tracking_uri(folder.as_uri())
        mlflow.set_experiment("scaling")
        for n in SIZES:
            with mlflow.start_run(run_name=f"width-{n}"):
                mlflow.log_param("N", n)
                for step in (1, 2, 3):  # the loss falls to its final value, except a late spike
                    loss = _final(n) * (1 + 0.2 * (3 - step)) if step < 3 else _final(n) * 1.5
                    mlflow.log_metric("loss", loss, step=step)
                    if step == 2:
                        best = loss
                mlflow.log_metric("best", best)
    finally:
        mp.undo()
        mlflow.set_tracking_uri("")
    return folder


def test_an_mlflow_folder_fits(tmp_path, mlruns):
    out = tmp_path / "fit.json"
    result = invoke("fit", mlruns, "--y", "best", "--x", "N", "--form", "power_law_offset", "--bootstrap", "0",
                    "--json", out)
    assert result.exit_code == 0, result.output
    fitted = json.loads(out.read_text())
    assert fitted["n_points"] == len(SIZES)
    assert fitted["params"]["alpha"] == pytest.approx(0.5, abs=1e-3)  # best = 1.2 (1 + 5 N^-0.5)


def test_an_mlflow_history_gives_the_best_checkpoint_per_run(mlruns):
    best = scalinglab.fit(mlruns, y="loss", x="N", form="power_law_offset", step="step", checkpoint="best",
                          bootstrap=0)
    last = scalinglab.fit(mlruns, y="loss", x="N", form="power_law_offset", step="step", checkpoint="last",
                          bootstrap=0)
    for fit, factor in ((best, 1.2), (last, 1.5)):
        order = np.argsort(fit.data.X[:, 0])
        np.testing.assert_array_equal(fit.data.X[order, 0], SIZES)
        np.testing.assert_allclose(fit.data.y[order], [factor * _final(n) for n in SIZES], rtol=1e-12)
    assert best.params["alpha"] == pytest.approx(0.5, abs=1e-3) and last.params["alpha"] == pytest.approx(0.5, abs=1e-3)
