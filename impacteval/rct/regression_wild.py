"""The wild cluster bootstrap of :func:`impacteval.rct.regression` (``inference="wild"``).

The regression is fitted as usual; this module bootstraps the treatment coefficient of the
same design and :func:`~impacteval.inference.wild_frame.apply_wild_bootstrap` puts the
bootstrap p-value and interval on the result.

* No covariates, or ``adjustment="additive"``: the data-frame front end
  :func:`~impacteval.inference.wild_frame.wild_bootstrap_regression` on the estimation
  sample (fixed effects nested in the clusters absorbed, exactly: see that module).
* Lin's interacted adjustment, or a design with collinear terms dropped: the estimator's
  own design matrix (intercept, treatment, centred covariates and their interactions with
  treatment, fixed-effect dummies; only the columns kept by the fit) in
  :func:`~impacteval.inference.wild.wild_cluster_bootstrap`. The covariate means are
  treated as fixed, as the analytic variance treats them.

With observation weights both run weighted least squares (columns and outcome multiplied
by ``sqrt(w)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from impacteval.exceptions import DataValidationError
from impacteval.inference.wild import WildBootstrapResult, wild_cluster_bootstrap
from impacteval.inference.wild_frame import wild_bootstrap_regression

__all__ = ["regression_wild_bootstrap"]


def regression_wild_bootstrap(
    frame: pd.DataFrame,
    *,
    x: np.ndarray,
    names: Sequence[str],
    kept: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    codes: np.ndarray | None,
    options: Mapping[str, Any],
    wild: Mapping[str, Any],
) -> WildBootstrapResult:
    """Wild cluster bootstrap of the treatment coefficient of one ``regression`` fit.

    Parameters
    ----------
    frame : pandas.DataFrame
        The estimation sample (rows with missing values already dropped).
    x : ndarray (n, k)
        The regression's design matrix, ``names`` its column names, ``kept`` the columns
        the fit kept (collinear ones dropped).
    y : ndarray (n,)
        Outcome; ``w`` the observation weights or None; ``codes`` the cluster codes.
    options : mapping
        The regression's options (outcome, treatment, covariates, adjustment, cluster,
        fixed_effects, weights, level).
    wild : mapping
        Keyword arguments of the bootstrap (from ``check_wild_options``).

    Returns
    -------
    WildBootstrapResult
    """
    if codes is None or options["cluster"] is None:
        raise DataValidationError(
            "`inference`: 'wild' is the wild *cluster* bootstrap and needs `cluster` (the "
            "column whose clusters are resampled); received cluster=None"
        )
    treatment = str(options["treatment"])
    covs = list(options["covariates"])
    if (options["adjustment"] == "additive" or not covs) and bool(np.all(kept)):
        return wild_bootstrap_regression(
            frame,
            outcome=str(options["outcome"]),
            treatment=treatment,
            covariates=covs,
            cluster=str(options["cluster"]),
            fixed_effects=list(options["fixed_effects"]) or None,
            weights=options["weights"],
            level=float(options["level"]),
            **wild,
        )
    xs = x[:, np.asarray(kept, dtype=bool)]
    kept_names = [nm for nm, k in zip(names, kept, strict=True) if k]
    ys = y
    if w is not None:
        root = np.sqrt(w)
        xs, ys = xs * root[:, None], y * root
    return wild_cluster_bootstrap(
        xs,
        ys,
        codes,
        coef=treatment,
        coef_names=kept_names,
        level=float(options["level"]),
        **wild,
    )
