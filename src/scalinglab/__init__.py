"""scalinglab: a laboratory for neural scaling laws.

For notebooks: ``scalinglab.fit(data, y=..., x=[...])`` fits a law to your measurements and returns a
``FitResult`` (``predict``, ``plot``, ``summary``, ``save``; ``FitResult.load``); ``scalinglab.open_store(path)``
reads a store of sweeps; ``scalinglab.run(spec)`` runs one; ``scalinglab.plan(fit, candidates, cost=...,
budget=..., target=...)`` chooses the next runs within a budget. The subpackages import as usual
(``from scalinglab.fit.laws import LAWS``, ``import scalinglab.fit.laws as laws``).
"""

__version__ = "0.1.0"

# ``scalinglab.fit`` is both the function below and the subpackage of the same name. The subpackage is imported
# first (so a later submodule import never rebinds the name), and the function's attributes are the subpackage's
# namespace, so ``scalinglab.fit.laws`` and ``import scalinglab.fit.laws as laws`` keep working.
import scalinglab.fit as _fit_package  # noqa: E402
from scalinglab.api import fit, open_store, run  # noqa: E402
from scalinglab.fit.estimate import FitResult  # noqa: E402
from scalinglab.fit.plan import plan  # noqa: E402

fit.__dict__ = _fit_package.__dict__

__all__ = ["FitResult", "__version__", "fit", "open_store", "plan", "run"]
