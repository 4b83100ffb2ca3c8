"""What a scaling-law form is to the fitter: ``Param`` (bounds, log scale, linear) and ``Law`` (a function of the
size columns and named parameters, its gradient, its held parameters). The forms themselves are in ``fit.laws``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Param:
    """A law parameter: bounds, whether it is optimised on a log scale, and whether it enters linearly."""

    name: str
    lower: float
    upper: float
    log: bool = False
    linear: bool = False
    grid: tuple[float, ...] = ()


@dataclasses.dataclass(frozen=True)
class Law:
    """A named law: its function of the input columns and its parameters.

    Parameters marked ``linear`` enter the law linearly; the fitter solves them exactly for each starting value
    of the others (variable projection). ``scale_grid`` maps log-scale parameters whose starting values are
    spread over the range of an input column (its index) instead of a fixed grid.
    """

    name: str
    func: Callable
    params: tuple[Param, ...]
    inputs: int
    source: str
    offset: str | None = None
    scale_grid: dict[str, int] = dataclasses.field(default_factory=dict)
    grad: Callable | None = None  # (columns, **params) -> (L, [dL/dp per parameter]); None: finite differences
    held: dict[str, float] = dataclasses.field(default_factory=dict)  # parameters held fixed (``fix``)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def fix(self, values: dict[str, float]) -> Law:
        """This law with the parameters in ``values`` held at those values: a law of the others only (its
        ``held`` says which were fixed, at what), whose gradient leaves the held ones out. The fitter optimises,
        bootstraps and conditions it on the free parameters alone (``fit_law(..., fixed=...)``)."""
        if not values:
            return self
        held = {**self.held, **{k: float(v) for k, v in values.items()}}
        free = tuple(p for p in self.params if p.name not in values)
        keep = [j for j, p in enumerate(self.params) if p.name not in values]
        func, grad, fixed = self.func, self.grad, dict(values)

        def held_func(*cols, **params):
            return func(*cols, **params, **fixed)

        def held_grad(*cols, **params):
            L, parts = grad(*cols, **params, **fixed)
            return L, [parts[j] for j in keep]

        return dataclasses.replace(
            self, func=held_func, params=free, offset=None if self.offset in values else self.offset,
            scale_grid={k: v for k, v in self.scale_grid.items() if k not in values},
            grad=held_grad if grad is not None else None, held=held)

    @property
    def logscale(self) -> np.ndarray:
        """Which parameters the fitter varies on a log scale: log parameters, and positive linear ones other than
        the offset (the optimisation variables u of ``fit.estimate``)."""
        return np.array([p.log or (p.linear and p.name != self.offset) for p in self.params])

    def log_jacobian(self, X: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """d log L / d u at sizes X (n, inputs), shape (n, p), u the fitter's variables (``logscale``): from the
        closed-form ``grad`` where the law has one, else central differences (non-finite entries set to 0)."""
        X = np.asarray(X, dtype=float)
        logscale = self.logscale
        theta = np.array([params[n] for n in self.names], dtype=float)
        if self.grad is not None:
            L, parts = self.value_and_grad(X, {n: np.array([v]) for n, v in zip(self.names, theta, strict=True)})
            return (parts[:, :, 0] / L[:, 0]).T * np.where(logscale, theta, 1.0)
        u = np.where(logscale, np.log(np.maximum(np.abs(theta), 1e-300)), theta)
        h = 1e-5 * np.maximum(1.0, np.abs(u))
        U = np.vstack([u + np.diag(h), u - np.diag(h)])  # (2p, p)
        V = np.where(logscale, np.sign(theta) * np.exp(U), U)
        with np.errstate(all="ignore"):
            logL = np.log(self(X, {n: V[:, j] for j, n in enumerate(self.names)}))  # (n, 2p)
        J = (logL[:, : u.size] - logL[:, u.size :]) / (2 * h)
        return np.where(np.isfinite(J), J, 0.0)

    def __call__(self, X: np.ndarray, params: dict[str, np.ndarray | float]) -> np.ndarray:
        """Evaluate at sizes X of shape (n, inputs); parameters may be arrays of shape (k,) giving (n, k)."""
        X = np.asarray(X, dtype=float)
        cols = [X[:, j : j + 1] if np.ndim(next(iter(params.values()))) else X[:, j] for j in range(self.inputs)]
        return self.func(*cols, **params)

    def value_and_grad(self, X: np.ndarray, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """L and its partial derivatives at sizes X (n, inputs) for parameter arrays of shape (k,): shapes (n, k)
        and (p, n, k), in the order of ``params``. Only for laws with a closed-form ``grad``."""
        X = np.asarray(X, dtype=float)
        L, parts = self.grad(*(X[:, j : j + 1] for j in range(self.inputs)), **params)
        return L, np.stack([np.broadcast_to(g, L.shape) for g in parts])
