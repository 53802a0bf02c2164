"""Synthetic difference in differences (Arkhangelsky, Athey, Hirshberg, Imbens & Wager 2021),
with its synthetic-control and DiD special cases, as R ``synthdid``."""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_choice,
    check_level,
    check_positive_int,
    check_rng,
    short_repr,
)
from impacteval.exceptions import DataValidationError, ImpactEvalWarning
from impacteval.results import EffectEstimate, Provenance, fingerprint
from impacteval.synth._sdid_core import BlockFit, fit_block
from impacteval.synth._sdid_data import SdidPanel, build_panel
from impacteval.synth._sdid_variance import (
    aggregate,
    bootstrap_draws,
    jackknife_cohorts,
    placebo_draws,
    run_replications,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["SyntheticDiD", "synthetic_did"]

_METHODS = ("sdid", "sc", "did")
#: Unit weights at or below this count as zero for the jackknife's one-donor check
#: (Frank-Wolfe leaves weights of order 1e-13 where the optimum has exact zeros).
_TINY = 1e-10
_SE = ("placebo", "bootstrap", "jackknife")
_NAMES = {
    "sdid": "synthetic difference in differences",
    "sc": "synthetic control (synthdid weights)",
    "did": "difference in differences",
}


@dataclass(frozen=True, kw_only=True, repr=False)
class SyntheticDiD(EffectEstimate):
    """An :class:`~impacteval.results.EffectEstimate` plus the synthetic-DiD weights.

    Attributes
    ----------
    unit_weights : pandas.Series
        Weight of each control unit (omega; non-negative, summing to one). With staggered
        adoption the index is (cohort, unit), one set of weights per cohort.
    time_weights : pandas.Series
        Weight of each pre-treatment period (lambda; non-negative, summing to one; all zero
        for ``method="sc"``). With staggered adoption the index is (cohort, time).
    cohorts : pandas.DataFrame
        One row per adoption period: ``estimate``, ``std_error``, ``n_treated``, ``n_pre``,
        ``n_post``, ``weight`` (share of treated unit-periods, the aggregation weight),
        ``noise_level``, ``zeta_omega``, ``zeta_lambda``. One row under block treatment.
    trajectories : pandas.DataFrame
        Per cohort and period: the treated units' mean outcome, the unit-weighted control
        mean (``synthetic``) and the time weight (what :meth:`plot` draws).
    replicates : numpy.ndarray
        The placebo or bootstrap replicate estimates (empty for jackknife or no SE).
    """

    unit_weights: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    time_weights: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    cohorts: pd.DataFrame = field(default_factory=pd.DataFrame)
    trajectories: pd.DataFrame = field(default_factory=pd.DataFrame)
    replicates: np.ndarray = field(default_factory=lambda: np.empty(0))

    def plot(self, ax: Axes | None = None, *, cohort: object = None) -> Axes:  # type: ignore[override]
        """Treated and synthetic-control trajectories with the time weights, as
        ``synthdid::synthdid_plot``.

        The unit-weighted control path is drawn as is (synthdid's ``overlay = 0``); the
        parallelogram joins the lambda-weighted pre-period and the post-period means, and the
        arrow is the effect. Time weights are the shaded bars along the bottom.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        cohort : optional
            The adoption period to draw (staggered adoption); default the largest cohort.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from impacteval.synth._sdid_plot import plot_sdid

        return plot_sdid(self, ax=ax, cohort=cohort)


def _cohort_label(times: pd.Index, col: int) -> Any:
    value = times[col]
    return value.item() if isinstance(value, np.generic) else value


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
    n1 = len(panel.adoption)
    _check_se_defined(se, panel, cohort_rows)

    fits = [
        fit_block(panel.y[np.concatenate([np.arange(panel.n0), rows])], panel.n0, int(a), method)
        for a, rows in zip(panel.cohorts, cohort_rows, strict=True)
    ]
    n_tr = np.array([len(r) for r in cohort_rows], dtype=float)
    n_post = np.array([panel.y.shape[1] - int(a) for a in panel.cohorts], dtype=float)
    taus = np.array([f.estimate for f in fits])
    estimate = float(aggregate(taus[None, :], n_tr[None, :], n_post)[0])

    caught: list[str] = []
    std_error = float("nan")
    cohort_se = np.full(len(fits), np.nan)
    replicates = np.empty(0)
    draws_info: list[np.ndarray] = []
    if se in ("placebo", "bootstrap"):
        make = placebo_draws if se == "placebo" else bootstrap_draws
        draws, draws_info = make(panel.n0, cohort_rows, n_reps, gen)
        cohort_reps = run_replications(
            panel.y, fits, draws, n_jobs=n_jobs, progress=progress, desc=f"{se} replications"
        )
        counts = np.array(
            [[len(d[0]) - d[1] if d is not None else 0 for d in draw] for draw in draws],
            dtype=float,
        )
        replicates = aggregate(cohort_reps, counts, n_post)
        std_error = _rep_se(replicates)
        cohort_se = np.array(
            [_rep_se(cohort_reps[~np.isnan(cohort_reps[:, c]), c]) for c in range(len(fits))]
        )
    elif se == "jackknife":
        if method == "sc":
            caught.append(
                "the jackknife is not recommended for synthetic control (Arkhangelsky et al. "
                "2021, section 5): it can be badly biased; prefer se='placebo' or 'bootstrap'"
            )
        if any(np.count_nonzero(f.omega > _TINY) <= 1 for f in fits):
            caught.append(
                "jackknife SE undefined: a single control carries all the unit weight "
                "(synthdid returns NA); std_error is NaN"
            )
        else:
            std_error, cohort_se = jackknife_cohorts(panel.y, panel.n0, cohort_rows, fits)
    for message in caught:
        warnings.warn(message, ImpactEvalWarning, stacklevel=2)

    return _build_result(
        data=data,
        panel=panel,
        fits=fits,
        cohort_rows=cohort_rows,
        estimate=estimate,
        std_error=std_error,
        cohort_se=cohort_se,
        replicates=replicates,
        draws_info=draws_info,
        method=method,
        se=se,
        n_reps=n_reps,
        level=level,
        n_jobs=n_jobs,
        seed=seed,
        columns=(outcome, unit, time, treatment),
        warnings_=tuple(caught),
        n_treated=n1,
    )


def _rep_se(values: np.ndarray) -> float:
    """synthdid's replication SE: sqrt((R - 1) / R) x sd, i.e. the n-denominator sd."""
    return float(np.std(values, ddof=0)) if values.size > 1 else float("nan")


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
                    f"cohort; cohort {_cohort_label(panel.times, int(a))!r} has one. Use "
                    "se='placebo' or 'bootstrap'"
                )


def _build_result(
    *,
    data: pd.DataFrame,
    panel: SdidPanel,
    fits: list[BlockFit],
    cohort_rows: list[np.ndarray],
    estimate: float,
    std_error: float,
    cohort_se: np.ndarray,
    replicates: np.ndarray,
    draws_info: list[np.ndarray],
    method: str,
    se: str | None,
    n_reps: int,
    level: float,
    n_jobs: int | None,
    seed: int | None,
    columns: tuple[str, str, str, str],
    warnings_: tuple[str, ...],
    n_treated: int,
) -> SyntheticDiD:
    staggered = len(fits) > 1
    labels = [_cohort_label(panel.times, int(a)) for a in panel.cohorts]
    controls = panel.units[: panel.n0]
    n_t = panel.y.shape[1]
    unit_parts, time_parts, traj_parts, rows_out = [], [], [], []
    weights = np.array(
        [len(r) * (n_t - int(a)) for a, r in zip(panel.cohorts, cohort_rows, strict=True)]
    )
    for c, (a, rows, fit) in enumerate(zip(panel.cohorts, cohort_rows, fits, strict=True)):
        t0 = int(a)
        unit_parts.append(pd.Series(fit.omega, index=controls))
        time_parts.append(pd.Series(fit.lam, index=panel.times[:t0]))
        lam_full = np.concatenate([fit.lam, np.zeros(n_t - t0)])
        traj_parts.append(
            pd.DataFrame(
                {
                    "cohort": labels[c],
                    "time": panel.times,
                    "treated": panel.y[rows].mean(axis=0),
                    "synthetic": fit.omega @ panel.y[: panel.n0],
                    "time_weight": lam_full,
                    "post": np.arange(n_t) >= t0,
                }
            )
        )
        rows_out.append(
            {
                "cohort": labels[c],
                "estimate": fit.estimate,
                "std_error": float(cohort_se[c]),
                "n_treated": len(rows),
                "n_pre": t0,
                "n_post": n_t - t0,
                "weight": float(weights[c] / weights.sum()),
                "noise_level": fit.options.noise_level,
                "zeta_omega": fit.options.zeta_omega if method != "did" else float("nan"),
                "zeta_lambda": fit.options.zeta_lambda if method == "sdid" else float("nan"),
            }
        )
    if staggered:
        unit_weights = pd.concat(unit_parts, keys=labels, names=["cohort", panel.units.name])
        time_weights = pd.concat(time_parts, keys=labels, names=["cohort", panel.times.name])
    else:
        unit_weights, time_weights = unit_parts[0], time_parts[0]
    unit_weights.name, time_weights.name = "unit_weight", "time_weight"
    se_name = {None: "no SE", "placebo": "placebo SE", "bootstrap": "bootstrap SE"}.get(
        se, "jackknife SE"
    )
    treated_units = panel.units[panel.n0 :]
    details: dict[str, Any] = {
        "treated_units": tuple(treated_units.tolist()),
        "staggered": staggered,
        "n_iter": {
            lab: (f.n_iter_omega, f.n_iter_lambda) for lab, f in zip(labels, fits, strict=True)
        },
    }
    if se == "placebo":
        details["placebo_units"] = [tuple(panel.units[d].tolist()) for d in draws_info]
    elif se == "bootstrap":
        details["bootstrap_units"] = [tuple(panel.units[d].tolist()) for d in draws_info]
    base = EffectEstimate.from_wald(
        estimate,
        std_error,
        level=level,
        df=None,
        estimand="ATT",
        method=f"{_NAMES[method]} ({se_name})",
        n_obs=int(panel.y.size),
        n_treated=n_treated,
        n_control=panel.n0,
        outcome=columns[0],
        n_dropped=panel.n_dropped,
        warnings=warnings_,
        provenance=Provenance(
            options={
                "method": method,
                "se": se,
                "n_reps": n_reps if se in ("placebo", "bootstrap") else None,
                "level": level,
                "n_jobs": n_jobs,
                "outcome": columns[0],
                "unit": columns[1],
                "time": columns[2],
                "treatment": columns[3],
            },
            data_fingerprint=fingerprint(data, columns),
            seed=seed,
        ),
        details=details,
    )
    fields_ = {name: getattr(base, name) for name in base.__dataclass_fields__}
    return SyntheticDiD(
        **fields_,
        unit_weights=unit_weights,
        time_weights=time_weights,
        cohorts=pd.DataFrame(rows_out),
        trajectories=pd.concat(traj_parts, ignore_index=True),
        replicates=replicates,
    )
