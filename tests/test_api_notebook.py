"""examples/quickstart.ipynb runs top to bottom in a Jupyter kernel, and its Chinchilla fit is the CLI's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import invoke

ROOT = Path(__file__).parent.parent
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
CSV = "chinchilla_epoch_svg_extracted.csv"


@pytest.mark.slow  # a kernel, a bootstrap of 200 and a figure: about 20 s on two shared cores
def test_quickstart_runs_and_its_fit_is_the_clis(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # the notebook's own layout (examples/ beside tests/data/external), in a scratch folder it may write in
    (tmp_path / "examples").mkdir()
    (tmp_path / "tests" / "data" / "external").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "data" / "external" / CSV, tmp_path / "tests" / "data" / "external" / CSV)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "stored without outputs"
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path / "examples")}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the plot is shown"
    assert any("text/html" in o.get("data", {}) and "chinchilla" in o["data"]["text/html"] for o in outputs)

    saved = json.loads((tmp_path / "examples" / "chinchilla-fit.json").read_text())
    out = tmp_path / "cli.json"
    result = invoke("fit", ROOT / "tests" / "data" / "external" / CSV, "--y", "loss", "--x", "N", "--x", "D",
                    "--define", "N=`Model Size`", "--define", "D=`Training FLOP`/(6*N)", "--drop-highest", "5",
                    "--form", "chinchilla", "--bootstrap", "200", "--json", out)
    assert result.exit_code == 0, result.output
    cli = json.loads(out.read_text())
    for key in ("params", "se", "ci95", "derived"):
        assert saved[key] == cli[key], key


def test_importing_the_plotting_modules_keeps_the_users_backend():
    """A notebook chooses its backend; the library's plotting modules must not switch it (only the CLI picks Agg)."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg')\n"
            "import scalinglab.report.plots, scalinglab.report.figures, scalinglab.report.fitplots\n"
            "import scalinglab.recipes.brill.plots, scalinglab.recipes.bahri.plots\n"
            "print(matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "svg", out.stdout + out.stderr
