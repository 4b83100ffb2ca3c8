"""Scaling-law fits with uncertainty: laws, robust estimation with bootstrap, model selection, regimes."""

from scalinglab.fit.curves import CurveFit, fit_power_law
from scalinglab.fit.laws import LAWS, Law, get_law, power_law, power_law_offset

__all__ = ["LAWS", "CurveFit", "Law", "fit_power_law", "get_law", "power_law", "power_law_offset"]
