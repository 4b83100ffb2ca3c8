"""Scaling-law fits with uncertainty."""

from scalinglab.fit.estimate import FitResult, fit_power_law
from scalinglab.fit.laws import power_law, power_law_offset

__all__ = ["FitResult", "fit_power_law", "power_law", "power_law_offset"]
