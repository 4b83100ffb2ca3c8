"""Optional dependencies: which extra of ``pyproject.toml`` brings each, and one error when one is missing."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from scalinglab.errors import SpecError

EXTRAS = {"torch": "nn", "mlflow": "io", "pandas": "io", "distributed": "dask"}  # module -> extra
MODEL_MODULES = {"mlp": "torch"}  # spec model kind -> the optional module it needs


def missing(module: str, what: str) -> SpecError:
    """The one-line error for ``what`` needing ``module``, naming the extra to install."""
    extra = EXTRAS.get(module)
    hint = f"pip install 'scalinglab[{extra}]'" if extra else f"pip install {module}"
    return SpecError(f"{what} needs {module}, which is not installed: {hint}")


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise ``missing(module, what)``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing(module, what) from None


def check_spec(spec) -> None:
    """Refuse, before anything runs, a spec whose model needs a module that is not installed (a job would
    otherwise fail the same way on every seed and every retry)."""
    module = MODEL_MODULES.get(spec.model.kind)
    if module and (sys.modules.get(module, True) is None or importlib.util.find_spec(module) is None):
        raise missing(module, f"model kind {spec.model.kind!r}")
