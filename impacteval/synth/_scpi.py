"""Prediction intervals for the synthetic control counterfactual (Cattaneo, Feng & Titiunik
2021): the result table :class:`PredictionIntervals` and :func:`prediction_intervals`, which
puts together the in-sample part (:mod:`._scpi_insample`) and the out-of-sample part
(:mod:`._scpi_outsample`) for one treated unit.

Which weights, which features: the paper's theory is for weights that minimise the
pre-period outcome distance over the simplex (scpi's ``scest`` with ``w_constr =
{"name": "simplex"}`` and the outcome as the only feature). For a fit without predictors that
is exactly :func:`~impacteval.synth.synthetic_control`'s fit, and the intervals are scpi's.
For a fit with predictors and a searched V, the intervals are built on the same outcome
features (the donors' outcomes over the fit period, ``Q = B'B / T0``, residuals
``a - B w``) but centred at the result's own weights: an approximation that treats the
V-searched weights as if they solved the outcome problem (documented on the result).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval.results import EffectTable
from impacteval.synth._scpi_insample import (
    hc_sigma,
    insample_bounds,
    local_geometry,
    residual_mean,
)
from impacteval.synth._scpi_outsample import error_design, outsample_bounds

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "PredictionIntervals",
    "ScpiArrays",
    "intervals_table",
    "prediction_intervals",
    "scpi_arrays",
    "symmetric_sqrt",
]


@dataclass(frozen=True, kw_only=True)
class PredictionIntervals(EffectTable):
    """Per-period prediction intervals of the synthetic counterfactual (an
    :class:`~impacteval.results.EffectTable` with index column ``time``).

    ``table`` columns: ``time``; ``estimate`` (the gap, treated minus synthetic),
    ``std_error`` and ``p_value`` (NaN: no standard error or test here), ``ci_lower`` and
    ``ci_upper`` (the effect interval implied by the combined prediction interval:
    ``treated - upper`` to ``treated - lower``); then ``treated``, ``synthetic`` and, for
    the counterfactual outcome ``Y(0)``, ``insample_lower/upper`` (weights uncertainty),
    ``outsample_lower/upper`` (shock uncertainty around the synthetic path) and
    ``lower``/``upper`` (combined).

    ``details``: ``rho``, ``active_donors``, ``n_sims``, ``failed_sims``,
    ``out_of_sample``, ``insample_level`` and ``outsample_level``.
    """

    treated_unit: Hashable = None
    treatment_time: Any = None
    pre_synthetic: pd.Series | None = None
    pre_treated: pd.Series | None = None

    def plot(self, ax: Axes | None = None) -> Axes:
        """Treated path, synthetic path and the combined and in-sample intervals."""
        from impacteval.plotting.scpi import PredictionIntervalsDisplay

        t = self.table
        display = PredictionIntervalsDisplay(
            times=t["time"],
            treated=t["treated"],
            synthetic=t["synthetic"],
            lower=t["lower"],
            upper=t["upper"],
            insample_lower=t["insample_lower"],
            insample_upper=t["insample_upper"],
            pre_treated=self.pre_treated,
            pre_synthetic=self.pre_synthetic,
            treatment_time=self.treatment_time,
            treated_label=str(self.treated_unit),
            level=self.level,
        )
        return display.draw(ax)


def symmetric_sqrt(sigma: np.ndarray) -> np.ndarray:
    """The symmetric square root of a positive semi-definite matrix (negative rounding
    eigenvalues set to zero)."""
    vals, vecs = np.linalg.eigh((sigma + sigma.T) / 2.0)
    return np.asarray((vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T)


@dataclass(frozen=True)
class ScpiArrays:
    """Bounds for ``Y(0)`` minus the synthetic prediction, by post period."""

    insample_lower: np.ndarray
    insample_upper: np.ndarray
    outsample_lower: np.ndarray
    outsample_upper: np.ndarray
    rho: float
    active: np.ndarray
    failed: int


def scpi_arrays(
    pre_treated: np.ndarray,
    pre_donors: np.ndarray,
    post_donors: np.ndarray,
    w: np.ndarray,
    *,
    draws: np.ndarray,
    u_alpha: float,
    e_alpha: float,
    out_of_sample: str,
    rho: float | None,
    rho_max: float,
) -> ScpiArrays:
    """The in-sample and out-of-sample bounds on arrays.

    Parameters
    ----------
    pre_treated : (T0,) treated outcomes over the fit period (``a``).
    pre_donors : (T0, J) donors' outcomes over the fit period (``B``).
    post_donors : (T1, J) donors' outcomes after treatment (rows ``p_t``).
    w : (J,) weights (on the simplex).
    draws : (S, J) standard normal draws (``G = Sigma^{1/2} z``).
    u_alpha, e_alpha : error probabilities of the in-sample and out-of-sample parts.
    out_of_sample : ``"gaussian"``, ``"ls"`` or ``"qreg"``.
    rho, rho_max : regularisation of the local geometry (None: scpi's type-2 rule).
    """
    t0 = pre_donors.shape[0]
    resid = pre_treated - pre_donors @ w
    geom = local_geometry(w, resid, pre_donors, rho, rho_max)
    u = resid - residual_mean(resid, pre_donors[:, geom.active])
    n_nonzero = int((np.abs(w) >= 1e-6).sum())
    sigma = hc_sigma(pre_donors, u, n_nonzero)
    g = draws @ symmetric_sqrt(sigma)
    q = pre_donors.T @ pre_donors / t0
    lo, hi = insample_bounds(w, q, geom.lower, post_donors, g)
    failed = int((~np.isfinite(lo)).sum() + (~np.isfinite(hi)).sum())
    x0, x1 = error_design(pre_donors[:, geom.active], post_donors[:, geom.active])
    e_lo, e_hi = outsample_bounds(resid, x0, x1, out_of_sample, e_alpha)
    return ScpiArrays(
        insample_lower=np.nanquantile(lo, u_alpha / 2.0, axis=0),
        insample_upper=np.nanquantile(hi, 1.0 - u_alpha / 2.0, axis=0),
        outsample_lower=np.asarray(e_lo, dtype=float),
        outsample_upper=np.asarray(e_hi, dtype=float),
        rho=geom.rho,
        active=geom.active,
        failed=failed,
    )


def intervals_table(
    times: pd.Index, treated: np.ndarray, synthetic: np.ndarray, arrays: ScpiArrays
) -> pd.DataFrame:
    """The result table (see :class:`PredictionIntervals`)."""
    lower = synthetic + arrays.insample_lower + arrays.outsample_lower
    upper = synthetic + arrays.insample_upper + arrays.outsample_upper
    nan = np.full(len(times), math.nan)
    return pd.DataFrame(
        {
            "time": np.asarray(times),
            "estimate": treated - synthetic,
            "std_error": nan,
            "ci_lower": treated - upper,
            "ci_upper": treated - lower,
            "p_value": nan,
            "treated": treated,
            "synthetic": synthetic,
            "insample_lower": synthetic + arrays.insample_lower,
            "insample_upper": synthetic + arrays.insample_upper,
            "outsample_lower": synthetic + arrays.outsample_lower,
            "outsample_upper": synthetic + arrays.outsample_upper,
            "lower": lower,
            "upper": upper,
        }
    )


def prediction_intervals(
    y: np.ndarray,
    *,
    treated: int,
    donors: np.ndarray,
    w: np.ndarray,
    fit: np.ndarray,
    post: np.ndarray,
    times: pd.Index,
    level: float,
    out_of_sample: str,
    n_sims: int,
    rho: float | None,
    rho_max: float,
    rng: np.random.Generator,
    meta: dict[str, Any],
) -> PredictionIntervals:
    """Build :class:`PredictionIntervals` for the fit with weights ``w`` (checked input).

    ``y`` is the (T, N) outcome matrix, ``fit`` and ``post`` boolean masks over its rows;
    ``meta`` carries ``treated_unit``, ``treatment_time``, ``provenance``, ``n_obs`` and
    ``warnings`` for the table. The error probability ``1 - level`` is split equally
    between the in-sample and the out-of-sample parts, so the combined interval covers
    ``Y(0)`` with probability at least ``level`` (Cattaneo, Feng & Titiunik 2021, Thm 4.1
    and its corollary).
    """
    alpha = 1.0 - level
    draws = rng.standard_normal((n_sims, donors.size))
    arrays = scpi_arrays(
        y[fit, treated],
        y[np.ix_(fit, donors)],
        y[np.ix_(post, donors)],
        w,
        draws=draws,
        u_alpha=alpha / 2.0,
        e_alpha=alpha / 2.0,
        out_of_sample=out_of_sample,
        rho=rho,
        rho_max=rho_max,
    )
    synthetic = y[:, donors] @ w
    table = intervals_table(times[post], y[post, treated], synthetic[post], arrays)
    details = {
        "rho": arrays.rho,
        "active_donors": int(arrays.active.sum()),
        "n_sims": n_sims,
        "failed_sims": arrays.failed,
        "out_of_sample": out_of_sample,
        "insample_level": 1.0 - alpha / 2.0,
        "outsample_level": 1.0 - alpha / 2.0,
    }
    return PredictionIntervals(
        table=table,
        index_columns=("time",),
        level=level,
        estimand="ATT (per period)",
        method="synthetic control prediction intervals (Cattaneo, Feng & Titiunik 2021)",
        n_obs=meta["n_obs"],
        n_treated=1,
        n_control=int(donors.size),
        ci_method=f"scpi: simulated in-sample + {out_of_sample} out-of-sample bounds",
        warnings=meta["warnings"],
        provenance=meta["provenance"],
        details=details,
        treated_unit=meta["treated_unit"],
        treatment_time=meta["treatment_time"],
        pre_treated=pd.Series(y[~post, treated], index=times[~post], name="treated"),
        pre_synthetic=pd.Series(synthetic[~post], index=times[~post], name="synthetic"),
    )
