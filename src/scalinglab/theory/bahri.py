"""Bahri, Dyer, Kaplan, Lee, Sharma, "Explaining Neural Scaling Laws" (PNAS 2024): the four regimes.

| | in D | in P |
|---|---|---|
| variance-limited | L(D, P) - L(D = inf, P) ~ D^-1 for D >> P | L(D, P) - L(D, P = inf) ~ P^-1 for P >> D |
| resolution-limited | L ~ D^-alpha_D for D << P | L ~ P^-alpha_P for P << D |

For the linear random-feature teacher-student model with spectrum lambda_i ~ i^-(1 + alpha), the
resolution-limited exponents are alpha_D = alpha_P = alpha (paper, Eq. 5 and the duality argument); the
variance-limited exponents are 1 (Theorem 1: the trained output fluctuates with variance O(1/D) or O(1/P)).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

REGIMES = (
    "variance_limited_data",
    "variance_limited_model",
    "resolution_limited_data",
    "resolution_limited_model",
)


@dataclasses.dataclass(frozen=True)
class Regime:
    """One regime as a slice of a (D, P) grid, with the quantity to fit and the predicted exponent.

    ``axis`` is the size that varies ("data" or "model"); the other is held at ``fixed``; ``xs`` are the varying
    sizes inside the regime; ``subtract`` names the closed-form limit subtracted before the fit (None: fit the
    loss itself with offset ``offset``).
    """

    name: str
    axis: Literal["data", "model"]
    fixed: int
    xs: tuple[int, ...]
    subtract: str | None
    offset: float
    predicted: float
    description: str


def variance_limited_exponent() -> float:
    """Theorem 1: the loss approaches its D -> inf (or P -> inf) limit as 1/D (1/P)."""
    return 1.0


def resolution_limited_exponents(spectrum_exponent: float) -> dict[str, float]:
    """alpha_D = alpha_P = alpha_K for a kernel spectrum lambda_i ~ i^-(1 + alpha_K) (duality, Eq. 5)."""
    return {"data": float(spectrum_exponent), "model": float(spectrum_exponent)}


def four_regimes(
    data_sizes: list[int],
    model_sizes: list[int],
    spectrum_exponent: float,
    noise: float = 0.0,
    variance_separation: float = 16.0,
    resolution_separation: float = 8.0,
) -> list[Regime]:
    """The four regimes of a (D, P) grid for the teacher-student random-feature model.

    Variance-limited slices hold the other size at its smallest value and keep the sizes at least
    ``variance_separation`` times larger (the 1/D law is asymptotic: at D = 8P the local slope of the exact
    least-squares excess loss, proportional to 1/(D - P - 1), is still 1.14); resolution-limited slices hold the
    other size at its largest value and keep the sizes at least ``resolution_separation`` times smaller.
    Resolution-limited losses approach the noise floor, which is the fixed offset of their fits.
    """
    ds, ps = sorted(set(data_sizes)), sorted(set(model_sizes))
    res = resolution_limited_exponents(spectrum_exponent)
    floor = float(noise) ** 2
    vl = variance_limited_exponent()
    return [
        Regime("variance_limited_data", "data", ps[0], tuple(d for d in ds if d >= variance_separation * ps[0]),
               "loss_data_limit", 0.0, vl, f"L(D, P) - L(inf, P) at P = {ps[0]}, D >> P"),
        Regime("variance_limited_model", "model", ds[0], tuple(p for p in ps if p >= variance_separation * ds[0]),
               "loss_model_limit", 0.0, vl, f"L(D, P) - L(D, inf) at D = {ds[0]}, P >> D"),
        Regime("resolution_limited_data", "data", ps[-1], tuple(d for d in ds if d * resolution_separation <= ps[-1]),
               None, floor, res["data"], f"L(D, P) at P = {ps[-1]}, D << P"),
        Regime("resolution_limited_model", "model", ds[-1], tuple(p for p in ps if p * resolution_separation <= ds[-1]),
               None, floor, res["model"], f"L(D, P) at D = {ds[-1]}, P << D"),
    ]
