"""Scaling-law forms: small pure functions of the size x and named parameters."""

from __future__ import annotations

import numpy as np


def power_law(x: np.ndarray, A: float, alpha: float) -> np.ndarray:
    """L = A x^-alpha (Kaplan et al. 2020, Eq. 1.1-1.3 form without offset)."""
    return A * np.asarray(x, dtype=float) ** -alpha


def power_law_offset(x: np.ndarray, E: float, A: float, alpha: float) -> np.ndarray:
    """L = E + A x^-alpha: a power law approaching the irreducible loss E (Hoffmann et al. 2022, Eq. 2 in one
    variable; Bahri et al. 2024, the four regimes as L - L_limit ~ x^-alpha)."""
    return E + power_law(x, A, alpha)


LAWS = {"power_law": power_law, "power_law_offset": power_law_offset}
