"""Inference shared by the designs: robust variances, multiplicity adjustments."""

from impacteval.inference.multiplicity import adjust_p_values, romano_wolf
from impacteval.inference.variance import SE_TYPES, fit_ols
from impacteval.inference.wild import WildBootstrapResult, wild_cluster_bootstrap
from impacteval.inference.wild_frame import wild_bootstrap_regression

__all__ = ["SE_TYPES", "adjust_p_values", "fit_ols", "romano_wolf"]
__all__ += ["WildBootstrapResult", "wild_bootstrap_regression", "wild_cluster_bootstrap"]
