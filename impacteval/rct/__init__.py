"""Randomised trials: difference in means, regression adjustment, randomisation inference,
power and minimum detectable effects, attrition bounds, Romano-Wolf p-values for several
outcomes."""

from impacteval.rct.difference_in_means import difference_in_means
from impacteval.rct.lee import LeeBounds, lee_bounds
from impacteval.rct.power import PowerResult, minimum_detectable_effect, power
from impacteval.rct.randomization import randomization_inference
from impacteval.rct.regression import regression
from impacteval.rct.romano_wolf import romano_wolf

__all__ = [
    "LeeBounds",
    "PowerResult",
    "difference_in_means",
    "lee_bounds",
    "minimum_detectable_effect",
    "power",
    "randomization_inference",
    "regression",
    "romano_wolf",
]
