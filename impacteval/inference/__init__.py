"""Inference shared by the designs: robust variances, multiplicity adjustments."""

from impacteval.inference.multiplicity import adjust_p_values, romano_wolf
from impacteval.inference.variance import SE_TYPES, fit_ols

__all__ = ["SE_TYPES", "adjust_p_values", "fit_ols", "romano_wolf"]
