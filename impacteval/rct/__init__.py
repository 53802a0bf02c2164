"""Randomised trials: difference in means, regression adjustment, randomisation inference,
power, attrition bounds."""

from impacteval.rct.difference_in_means import difference_in_means
from impacteval.rct.randomization import randomization_inference
from impacteval.rct.regression import regression

__all__ = ["difference_in_means", "randomization_inference", "regression"]
