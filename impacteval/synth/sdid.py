"""Synthetic difference in differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021),
with its synthetic-control and DiD special cases, as R ``synthdid``: the entry point.

:func:`synthetic_did` checks the options, builds the panel (:mod:`._sdid_data`), fits each
adoption cohort (:mod:`._sdid_core`, Frank-Wolfe in :mod:`._sdid_fw`), estimates the variance
(:mod:`._sdid_variance`) and builds the :class:`SyntheticDiD` (:mod:`._sdid_result`).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_choice,
    check_level,
    check_positive_int,
    check_rng,
    short_repr,
)
from impacteval._warn import WarningLog
from impacteval.exceptions import DataValidationError
from impacteval.synth._sdid_core import fit_cohorts
from impacteval.synth._sdid_data import SdidPanel, build_panel, cohort_label
from impacteval.synth._sdid_result import SyntheticDiD, build_result
from impacteval.synth._sdid_variance import aggregate, sdid_variance

__all__ = ["SyntheticDiD", "synthetic_did"]

_METHODS = ("sdid", "sc", "did")
_SE = ("placebo", "bootstrap", "jackknife")


def synthetic_did(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    method: str = "sdid",
    se: str | None = "placebo",
    n_reps: int = 200,
    rng: int | np.random.Generator | None = None,
    level: float = 0.95,
    n_jobs: int | None = None,
    progress: bool = False,
) -> SyntheticDiD:
    """Synthetic difference in differences on a balanced long panel.

    Parameters
    ----------
    data : pandas.DataFrame
        Long panel, one row per unit and period; balanced (every unit in every period).
    outcome : str
        Numeric outcome column.
    unit, time : str
        Unit and period columns (periods must sort in time order).
    treatment : str
        0/1 column, 1 for treated units in treated periods; absorbing (once 1, 1 in every
        later period). Units never treated are the controls. When all treated units start
        together this is block treatment; otherwise each adoption period is a cohort.
    method : {"sdid", "sc", "did"}
        Synthetic DiD (unit and time weights), synthetic control (unit weights without
        intercept and near-zero ridge, no time weights) or DiD (uniform weights): R
        ``synthdid_estimate``, ``sc_estimate`` and ``did_estimate``.
    se : {"placebo", "bootstrap", "jackknife"} or None
        Variance estimator (Arkhangelsky et al. 2021, Algorithms 4, 2 and 3). Placebo needs
        more controls than treated units and is the only one defined with a single treated
        unit; bootstrap and jackknife need at least two treated units (jackknife: two in
        every cohort). None skips inference (std_error NaN).
    n_reps : int
        Placebo or bootstrap replications.
    rng : int or numpy.random.Generator, optional
        Seed for the placebo or bootstrap draws; the same seed gives the same SE whatever
        ``n_jobs``.
    level : float
        Confidence level of the normal interval.
    n_jobs : int, optional
        joblib workers for the replications (None: 1; -1: all cores).
    progress : bool
        Show a tqdm progress bar over the replications.

    Returns
    -------
    SyntheticDiD
        ``estimate`` is the ATT; ``std_error`` the chosen SE; the interval is
        ``estimate ± z * std_error`` and the p-value normal (``ci_method`` "normal"), as
        synthdid's ``confint``. ``unit_weights``, ``time_weights``, ``cohorts``,
        ``trajectories`` and ``replicates`` as documented on :class:`SyntheticDiD`.

    Raises
    ------
    DataValidationError
        Unbalanced panel, duplicate unit-periods, a treatment that is not 0/1, not absorbing,
        never 1, or 1 for every unit; fewer than two pre-treatment periods; an SE that is
        undefined for the design (bootstrap or jackknife with one treated unit, placebo with
        no more controls than treated units).

    Notes
    -----
    With control rows ``i <= N0`` and pre-periods ``t <= T0`` of the outcome matrix ``Y``,
    the noise level is ``sigma = sd(Y[i, t+1] - Y[i, t])`` over controls and pre-periods,
    and the unit weights solve

    .. math:: \\min_{\\omega_0, \\omega \\in \\Delta} \\sum_{t \\le T_0}
       (\\omega_0 + \\sum_i \\omega_i Y_{it} - \\bar Y_{tr, t})^2
       + \\zeta_\\omega^2 T_0 \\lVert\\omega\\rVert^2,
       \\qquad \\zeta_\\omega = (N_{tr} T_{post})^{1/4} \\sigma,

    the time weights the analogous problem across controls (post-period mean on the
    pre-period outcomes, with intercept) with ``zeta_lambda = 1e-6 sigma``. Both are solved
    by Frank-Wolfe with exact line search, stopping when a step lowers the objective by less
    than ``(1e-5 sigma)^2`` or after 10,000 steps, after a first run of 100 steps whose
    weights at most a quarter of the largest are set to zero (synthdid's ``sparsify``). The
    estimate is the weighted double difference

    .. math:: \\hat\\tau = (\\bar Y_{tr,post} - \\sum_t \\lambda_t \\bar Y_{tr,t})
       - \\sum_i \\omega_i (\\bar Y_{i,post} - \\sum_t \\lambda_t Y_{it}).

    Identification: the weighted controls trend like the treated units would have without
    treatment (parallel trends after unit and time weighting); no anticipation; treatment
    does not spill over to controls.

    Staggered adoption: each adoption period ``a`` is fitted as a block with the
    never-treated units as controls and periods before ``a`` as pre-periods; the ATT is the
    average of the cohort effects weighted by treated unit-periods ``N_a (T - a)``
    (Arkhangelsky et al. 2021, appendix; Clarke et al. 2023).

    Variance: every placebo / bootstrap replication keeps the full-sample ``zeta`` and
    tolerance and restarts the solver from the full-sample weights (synthdid's ``vcov``);
    the SE is ``sqrt((R - 1) / R) sd(replicates)``. The jackknife keeps the weights fixed
    (renormalising omega when a control is left out) and is
    ``sqrt((N - 1) / N sum (u_i - mean u)^2)``; it is NaN, with a warning, when a single
    control carries all the weight (synthdid returns NA then). Where synthdid returns NA
    because an SE is undefined for the design, this function raises instead.

    References
    ----------
    Arkhangelsky, D., Athey, S., Hirshberg, D. A., Imbens, G. W. & Wager, S. (2021).
    Synthetic difference-in-differences. American Economic Review 111(12), 4088-4118.
    Clarke, D., Pailañir, D., Athey, S. & Imbens, G. (2023). On synthetic
    difference-in-differences and related estimation methods in Stata. R: ``synthdid``
    (``synthdid_estimate``, ``vcov.synthdid_estimate``); Stata: ``sdid``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import impacteval as ie
    >>> rng = np.random.default_rng(0)
    >>> units, periods = 12, 8
    >>> y = rng.normal(size=(units, periods)) + np.arange(units)[:, None] * 0.3
    >>> y[:2, 5:] += 2.0                       # units 0 and 1 treated from period 5
    >>> panel = pd.DataFrame({
    ...     "unit": np.repeat(np.arange(units), periods),
    ...     "period": np.tile(np.arange(periods), units),
    ...     "y": y.ravel(),
    ...     "d": ((np.arange(units)[:, None] < 2) & (np.arange(periods) >= 5)).ravel() * 1,
    ... })
    >>> res = ie.synth.synthetic_did(panel, outcome="y", unit="unit", time="period",
    ...                              treatment="d", se="jackknife")
    >>> round(res.estimate, 2), round(res.std_error, 2)   # true effect 2
    (2.33, 0.43)
    >>> round(float(res.unit_weights.sum()), 12), res.time_weights.index.tolist()
    (1.0, [0, 1, 2, 3, 4])
    """
    method = check_choice(method, "method", _METHODS)
    if se is not None:
        se = check_choice(se, "se", _SE)
    n_reps = check_positive_int(n_reps, "n_reps", minimum=2)
    level = check_level(level)
    gen, seed = check_rng(rng)
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0
    ):
        raise DataValidationError(
            "`n_jobs` must be None or a non-zero int (-1 for all cores); received "
            f"{short_repr(n_jobs)}"
        )
    panel = build_panel(data, outcome=outcome, unit=unit, time=time, treatment=treatment)
    cohort_rows = [panel.cohort_rows(int(a)) for a in panel.cohorts]
    _check_se_defined(se, panel, cohort_rows)

    fits = fit_cohorts(panel.y, panel.n0, panel.cohorts, cohort_rows, method)
    n_tr = np.array([len(r) for r in cohort_rows], dtype=float)
    n_post = np.array([panel.y.shape[1] - int(a) for a in panel.cohorts], dtype=float)
    taus = np.array([f.estimate for f in fits])
    estimate = float(aggregate(taus[None, :], n_tr[None, :], n_post)[0])
    log = WarningLog()
    variance = sdid_variance(
        se,
        method,
        panel.y,
        panel.n0,
        cohort_rows,
        fits,
        n_reps=n_reps,
        gen=gen,
        n_jobs=n_jobs,
        progress=progress,
        log=log,
    )

    options = {
        "method": method,
        "se": se,
        "n_reps": n_reps if se in ("placebo", "bootstrap") else None,
        "level": level,
        "n_jobs": n_jobs,
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "treatment": treatment,
    }
    return build_result(
        data=data,
        panel=panel,
        fits=fits,
        cohort_rows=cohort_rows,
        estimate=estimate,
        variance=variance,
        options=options,
        columns=(outcome, unit, time, treatment),
        seed=seed,
        warnings=log.messages,
    )


def _check_se_defined(se: str | None, panel: SdidPanel, cohort_rows: list[np.ndarray]) -> None:
    n1 = len(panel.adoption)
    if se == "placebo" and panel.n0 <= n1:
        raise DataValidationError(
            f"`se`: 'placebo' needs more control units than treated units; received "
            f"{panel.n0} controls and {n1} treated (use se='bootstrap' or 'jackknife')"
        )
    if se in ("bootstrap", "jackknife") and n1 < 2:
        raise DataValidationError(
            f"`se`: {se!r} is undefined with a single treated unit (synthdid returns NA); "
            "received 1 treated unit. Use se='placebo'"
        )
    if se == "jackknife":
        for a, rows in zip(panel.cohorts, cohort_rows, strict=True):
            if len(rows) < 2:
                raise DataValidationError(
                    "`se`: 'jackknife' needs at least two treated units in every adoption "
                    f"cohort; cohort {cohort_label(panel.times, int(a))!r} has one. Use "
                    "se='placebo' or 'bootstrap'"
                )
