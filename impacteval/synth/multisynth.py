"""Synthetic control with staggered adoption: the partially pooled estimator of
Ben-Michael, Feller & Rothstein (2022), as R ``augsynth::multisynth``; the entry point.

:func:`multisynth` checks the options, builds the panel (:mod:`._multisynth_data`), fits
the weights (:mod:`._multisynth_core`), runs the jackknife
(:mod:`._multisynth_inference`) and builds the :class:`MultiSynth`
(:mod:`._multisynth_result`).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_bool,
    check_choice,
    check_level,
    check_n_jobs,
    check_rng,
    short_repr,
)
from impacteval._warn import WarningLog
from impacteval.exceptions import ConvergenceWarning, DataValidationError, SmallSampleWarning
from impacteval.results import Provenance, fingerprint
from impacteval.synth._multisynth_core import default_leads_lags, fit_multisynth
from impacteval.synth._multisynth_data import build_staggered_panel
from impacteval.synth._multisynth_inference import jackknife
from impacteval.synth._multisynth_result import MultiSynth, build_multisynth

__all__ = ["MultiSynth", "multisynth"]

_INFERENCE = ("jackknife", "none")


def multisynth(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    nu: float | None = None,
    fixedeff: bool = False,
    n_leads: int | None = None,
    n_lags: int | None = None,
    ridge: float = 0.0,
    inference: str = "jackknife",
    level: float = 0.95,
    rng: int | np.random.Generator | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
) -> MultiSynth:
    """Partially pooled synthetic control for several treated units adopting at different
    times (Ben-Michael, Feller & Rothstein 2022).

    Parameters
    ----------
    data : pandas.DataFrame
        Balanced long panel, one row per unit and period.
    outcome, unit, time : str
        Outcome, unit and period columns (periods must sort in time order).
    treatment : str
        0/1 column, 1 for treated units in treated periods; absorbing. A unit's first
        1 is its adoption period; units never 1 are never treated.
    nu : float in [0, 1], optional
        Pooling: 0 fits a separate synthetic control per treated unit, 1 balances only
        the average over treated units. None (default): the paper's heuristic, the
        ratio of the pooled to the summed unit imbalance of the separate fit.
    fixedeff : bool
        Intercept shift: demean every unit's outcomes by its mean over the treated
        unit's pre-treatment periods before balancing (unit fixed effects).
    n_leads : int, optional
        Post-treatment event times estimated (``0..n_leads-1``); default the periods
        after the last adoption (so every treated unit has every event time), at most
        the periods after the first adoption. Donors of a unit adopting at ``T_j`` are the units
        never treated or first treated after ``T_j + n_leads`` (augsynth's rule).
    n_lags : int, optional
        Pre-treatment lags balanced; default every period before the last adoption.
    ridge : float
        Ridge penalty ``lambda`` on the weights (default 0, as augsynth).
    inference : {"jackknife", "none"}
        Leave-one-unit-out jackknife standard errors (every unit, treated or donor, left
        out in turn; ``nu`` held fixed) or none (NaN).
    level : float
        Confidence level of the normal intervals.
    rng : int or numpy.random.Generator, optional
        Recorded in the provenance; the jackknife draws nothing at random.
    n_jobs : int, optional
        joblib workers for the jackknife refits (None: 1; -1: all cores).
    progress : bool
        Show a tqdm bar over the jackknife refits.

    Returns
    -------
    MultiSynth
        An :class:`~impacteval.results.EffectTable` by event time whose ``overall`` is the
        average over treated units of their average post-treatment effect; plus
        ``unit_effects`` (unit x event time), ``unit_averages``, ``weights``,
        ``imbalance``, ``nu``, ``pooled_imbalance`` and ``separate_imbalance``.

    Raises
    ------
    DataValidationError
        An unbalanced panel, duplicate unit-periods, a treatment that is not 0/1, not
        absorbing, never 1 or 1 from the first period; a treated unit without donors;
        ``nu`` outside [0, 1], ``n_leads`` / ``n_lags`` not positive ints within the
        panel, a negative ``ridge``, an unknown ``inference``.

    Notes
    -----
    For treated unit ``j`` adopting at ``T_j`` with weights ``gamma_j`` on the simplex of
    its donors, the imbalance at lag ``l`` is ``d_jl = Y_{j,T_j-l} - sum_i gamma_ij
    Y_{i,T_j-l}`` for ``l = 1..L_j``, ``L_j = min(T_j, L)`` (zero for ``l > L_j``). The
    pooled and separate imbalances are

    .. math:: q^{pool}(\\Gamma)^2 = \\frac1L \\sum_{l=1}^L \\Big(\\frac1J \\sum_j
       d_{jl}\\Big)^2, \\qquad q^{sep}(\\Gamma)^2 = \\frac1J \\sum_j \\frac1{L_j}
       \\sum_{l} d_{jl}^2,

    and the weights solve

    .. math:: \\min_{\\gamma_j \\in \\Delta} \\; \\nu
       \\frac{q^{pool}(\\Gamma)^2}{q^{pool}(\\hat\\Gamma^{sep})^2} + (1-\\nu)
       \\frac{q^{sep}(\\Gamma)^2}{q^{sep}(\\hat\\Gamma^{sep})^2}
       + \\lambda \\sum_j \\lVert\\gamma_j\\rVert^2,

    each term scaled by its value at the separate fit ``nu = 0`` (as augsynth). The
    default ``nu`` is ``||sum_j d_j|| / sum_j ||d_j||`` at the separate fit (in [0, 1]
    by the triangle inequality). The problem is solved by exact block coordinate
    descent over the treated units (convex, so it converges to the optimum). With
    ``fixedeff`` the outcomes of every unit are first reduced by their mean over
    periods ``< T_j`` (for treated unit ``j``). The effect of unit ``j`` at event time
    ``e`` is ``Y_{j,T_j+e} - sum_i gamma_ij Y_{i,T_j+e}`` (demeaned likewise); the
    event-time effect averages it over the treated units observed at ``e``; the overall
    effect averages each unit's mean over ``e = 0..n_leads-1``.

    Identification: each unit's untreated outcome follows a model (e.g. a linear factor
    model) that its synthetic control reproduces when the pre-treatment fit is good; no
    anticipation; donors unaffected by treatment. Pooling trades unit-level bias for
    the average's bias (the paper's error bound).

    References
    ----------
    Ben-Michael, E., Feller, A. & Rothstein, J. (2022). Synthetic controls with
    staggered adoption. Journal of the Royal Statistical Society B 84(2), 351-381.
    R: ``augsynth::multisynth`` (``summary(..., inf_type = "jackknife")``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import impacteval as ie
    >>> rng = np.random.default_rng(0)
    >>> n, t = 20, 12
    >>> trend = rng.normal(size=(n, 1)) * np.arange(t) / t
    >>> y = rng.normal(size=(n, 1)) + trend + rng.normal(scale=0.1, size=(n, t))
    >>> start = np.array([6, 6, 8, 9] + [t] * (n - 4))       # 4 treated, staggered
    >>> treated = np.arange(t)[None, :] >= start[:, None]
    >>> y = y + 1.0 * treated                                  # effect 1
    >>> panel = pd.DataFrame({"unit": np.repeat(np.arange(n), t),
    ...                       "period": np.tile(np.arange(t), n),
    ...                       "y": y.ravel(), "d": treated.ravel().astype(int)})
    >>> res = ie.synth.multisynth(panel, outcome="y", unit="unit", time="period",
    ...                           treatment="d")
    >>> bool(abs(res.estimate - 1.0) < 0.3), bool(0 <= res.nu <= 1)
    (True, True)
    >>> res.weights.sum().round(12).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    inference = check_choice(inference, "inference", _INFERENCE)
    level = check_level(level)
    _, seed = check_rng(rng)
    n_jobs = check_n_jobs(n_jobs)
    fixedeff = check_bool(fixedeff, "fixedeff")
    nu = _check_unit_interval(nu)
    ridge = _check_ridge(ridge)
    panel = build_staggered_panel(data, outcome=outcome, unit=unit, time=time, treatment=treatment)
    leads, lags, max_leads = default_leads_lags(panel.adoption, panel.treated, panel.n_times)
    n_leads = _check_count(n_leads, "n_leads", leads, max_leads, "after the first adoption")
    n_lags = _check_count(n_lags, "n_lags", lags, lags, "before the last adoption")
    names = [str(panel.units[int(r)]) for r in panel.treated]
    fit = fit_multisynth(
        panel.y,
        panel.adoption,
        panel.treated,
        nu=nu,
        n_leads=n_leads,
        n_lags=n_lags,
        fixedeff=fixedeff,
        lam=ridge,
        unit_names=names,
    )
    log = WarningLog()
    if not fit.converged:
        log.warn(
            f"multisynth: the weights solver stopped after {fit.n_sweeps} sweeps without "
            "meeting its tolerance; the weights are close to, not at, the optimum",
            ConvergenceWarning,
        )
    jk = None
    if inference == "jackknife":
        jk = jackknife(
            panel.y,
            panel.adoption,
            panel.treated,
            nu=fit.nu,
            n_leads=n_leads,
            n_lags=n_lags,
            fixedeff=fixedeff,
            ridge=ridge,
            n_jobs=n_jobs,
            progress=progress,
        )
        if jk.n_skipped > (len(panel.treated) == 1):
            log.warn(
                f"multisynth jackknife: {jk.n_skipped} of {panel.y.shape[0]} leave-one-out "
                "refits were skipped (a treated unit left without donors); the standard "
                "errors use the others",
                SmallSampleWarning,
            )
        if jk.n_unconverged:
            log.warn(
                f"multisynth jackknife: the weights solver stopped short of its tolerance in "
                f"{jk.n_unconverged} leave-one-out refits; their estimates are close to, not "
                "at, the optimum",
                ConvergenceWarning,
            )
    options = {
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "treatment": treatment,
        "nu": nu,
        "nu_used": fit.nu,
        "fixedeff": fixedeff,
        "n_leads": n_leads,
        "n_lags": n_lags,
        "ridge": ridge,
        "inference": inference,
        "level": level,
        "n_jobs": n_jobs,
    }
    provenance = Provenance(
        options=options,
        data_fingerprint=fingerprint(data, (outcome, unit, time, treatment)),
        seed=seed,
    )
    return build_multisynth(
        panel=panel,
        fit=fit,
        jk=jk,
        level=level,
        options=options,
        provenance=provenance,
        warnings=log.messages,
    )


def _check_unit_interval(nu: object) -> float | None:
    if nu is None:
        return None
    if isinstance(nu, bool) or not isinstance(nu, numbers.Real) or not 0.0 <= float(nu) <= 1.0:
        raise DataValidationError(
            f"`nu` must be None (the default heuristic) or a number in [0, 1]; received "
            f"{short_repr(nu)}"
        )
    return float(nu)


def _check_ridge(ridge: object) -> float:
    if (
        isinstance(ridge, bool)
        or not isinstance(ridge, numbers.Real)
        or not np.isfinite(float(ridge))
        or float(ridge) < 0
    ):
        raise DataValidationError(
            f"`ridge` must be a finite number >= 0; received {short_repr(ridge)}"
        )
    return float(ridge)


def _check_count(value: object, param: str, default: int, maximum: int, what: str) -> int:
    if value is None:
        return default
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 1 <= int(value) <= maximum
    ):
        raise DataValidationError(
            f"`{param}` must be None or an int from 1 to {maximum} (the periods {what}); received "
            f"{short_repr(value)}"
        )
    return int(value)
