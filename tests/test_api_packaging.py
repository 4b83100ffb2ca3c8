"""The wheel that `python -m build` makes installs into a fresh virtual environment and runs there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def test_license_and_typing_marker_are_in_the_source():
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "src" / "scalinglab" / "py.typed").exists()


@pytest.mark.slow
def test_the_wheel_installs_and_runs_in_a_fresh_venv(tmp_path):
    pytest.importorskip("build")
    source = tmp_path / "source"  # a copy: building writes build/ and egg-info beside the sources
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, source],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = dist.glob("scalinglab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("scalinglab/py.typed", "scalinglab/report/templates/fit_report.html.j2",
                   "scalinglab/cli/extrapolate.py"):
        assert needed in names, needed
    assert any(n.endswith("licenses/LICENSE") or n.endswith("/LICENSE") for n in names)

    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    bin_dir = env / "bin"
    site = Path(subprocess.run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies come from this environment's site-packages (offline); its .pth files are not run, so the
    # development install of scalinglab stays out of the fresh environment
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    done = subprocess.run([bin_dir / "python", "-m", "pip", "install", "--no-deps", "--no-index", wheel],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    work = tmp_path / "work"
    work.mkdir()
    run = dict(capture_output=True, text=True, timeout=300, cwd=work, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    version = subprocess.run([bin_dir / "scalinglab", "--version"], **run)
    assert version.returncode == 0 and version.stdout.startswith("scalinglab "), version.stderr
    where = subprocess.run([bin_dir / "python", "-c", "import scalinglab; print(scalinglab.__file__)"], **run)
    assert where.stdout.strip().startswith(str(env)), where.stdout
    (work / "runs.csv").write_text("N,loss\n" + "".join(f"{n},{1 + 5 * n ** -0.5}\n" for n in (10, 100, 1000, 1e4)))
    fit = subprocess.run([bin_dir / "scalinglab", "fit", "runs.csv", "--y", "loss", "--x", "N", "--form",
                          "power_law_offset", "--bootstrap", "0", "--save", "fit.json"], **run)
    assert fit.returncode == 0, fit.stderr
    assert (work / "fit.json").exists()
