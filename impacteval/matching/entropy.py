"""Entropy balancing (Hainmueller 2012): weights that balance chosen moments exactly.

The entry point checks its input, calls :func:`~impacteval.matching._weights_ebal.fit_entropy`
(the convex dual and the feasibility checks, arrays in and out) and builds an
:class:`EntropyBalance`; the effect's M-estimation sandwich is in ``_weights_mest``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import as_column_list, check_choice, check_level
from impacteval._warn import WarningLog
from impacteval.exceptions import ConvergenceWarning, DataValidationError
from impacteval.matching._weights_ebal import EntropyFit, fit_entropy
from impacteval.matching._weights_input import Arrays, arrays, kish
from impacteval.matching._weights_mest import ebal_att_mestimation
from impacteval.results import EffectEstimate, Provenance, Summary, SummaryDisplay, fingerprint

__all__ = ["EntropyBalance", "entropy_balance"]


@dataclass(frozen=True, kw_only=True, repr=False)
class EntropyBalance(SummaryDisplay):
    """Entropy-balancing weights with their diagnostics (and the effect, if an outcome).

    Attributes
    ----------
    weights : pandas.Series
        One weight per complete row of the input (input index). ATT: treated units 1,
        controls positive and summing to the number treated (as R ``ebal``); ATC: the
        mirror image.
    balance_table : pandas.DataFrame
        By balance feature (``x`` and, with ``moments=2``, ``x^2``): ``target`` (mean in
        the reference arm), ``unweighted`` and ``weighted`` (mean in the weighted arm).
    lambdas : pandas.Series
        Dual coefficients, on the scale of the standardised features.
    converged : bool
    n_iter : int
    max_imbalance : float
        Largest absolute remaining imbalance, in pooled standard deviations.
    ess : float
        Kish effective sample size of the weighted arm, ``(sum w)^2 / sum w^2``.
    max_weight : float
        Largest weight on the scale of ``weights``.
    max_weight_share : float
        Largest weight as a share of the weighted arm's total.
    effect : EffectEstimate or None
        Weighted difference in means, when ``outcome`` was given.
    estimand : str
    moments : int
    n_obs, n_treated, n_control, n_dropped : int
    warnings : tuple of str
    provenance : Provenance
    """

    weights: pd.Series
    balance_table: pd.DataFrame
    lambdas: pd.Series
    converged: bool
    n_iter: int
    max_imbalance: float
    ess: float
    max_weight: float
    max_weight_share: float
    effect: EffectEstimate | None
    estimand: str
    moments: int
    n_obs: int
    n_treated: int
    n_control: int
    n_dropped: int = 0
    warnings: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)

    def to_frame(self) -> pd.DataFrame:
        """The balance table (a fresh copy)."""
        return self.balance_table.copy()

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of convergence, dispersion and balance."""
        arm = "control" if self.estimand == "ATT" else "treated"
        facts = [
            ("Estimand", self.estimand),
            ("Moments balanced", str(self.moments)),
            ("Observations (treated / control)", f"{self.n_treated:,} / {self.n_control:,}"),
            ("Converged", f"{self.converged} ({self.n_iter} iterations)"),
            ("Max remaining imbalance (SD units)", f"{self.max_imbalance:.3g}"),
            (f"Effective sample size ({arm})", f"{self.ess:,.1f}"),
            (
                "Max weight (share of arm total)",
                f"{self.max_weight:.4g} ({self.max_weight_share:.2%})",
            ),
        ]
        if self.effect is not None:
            e = self.effect
            facts.append(("Effect", f"{e.estimate:.4f} (SE {e.std_error:.4f})"))
        table = self.balance_table.copy()
        table.index.name = "feature"
        return Summary(
            title="Entropy balancing", facts=tuple(facts), table=table, notes=self.warnings
        )

    def __repr__(self) -> str:
        return (
            f"EntropyBalance(estimand={self.estimand!r}, moments={self.moments}, "
            f"converged={self.converged}, ess={self.ess:.1f}, max_weight={self.max_weight:.4g})"
        )


def _check_moments(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value not in (1, 2):
        raise DataValidationError(
            f"`moments` must be 1 (means) or 2 (means and variances); received {value!r}"
        )
    return int(value)


def entropy_balance(
    data: pd.DataFrame,
    *,
    treatment: str,
    covariates: Sequence[str],
    moments: int = 1,
    estimand: str = "ATT",
    outcome: str | None = None,
    max_iter: int = 200,
    tol: float = 1e-8,
    level: float = 0.95,
) -> EntropyBalance:
    """Entropy balancing (Hainmueller 2012): weights that balance chosen moments exactly.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    treatment : str
        Binary (0/1) treatment column.
    covariates : sequence of str
        Numeric covariates to balance.
    moments : {1, 2}
        1: means; 2: means and second moments (squares of the non-binary covariates).
    estimand : {"ATT", "ATC"}
        ATT reweights the controls to the treated moments; ATC the treated to the controls'.
    outcome : str, optional
        With an outcome, ``effect`` holds the weighted difference in means.
    max_iter : int
        Iteration limit of the dual optimiser (``scipy.optimize.minimize``, trust-exact).
    tol : float
        Largest remaining absolute imbalance allowed, in pooled standard deviations.
    level : float
        Confidence level of the effect's (normal) interval.

    Returns
    -------
    EntropyBalance
        Weights, convergence, effective sample size, largest weight, the balance table and
        (with ``outcome``) the effect.

    Raises
    ------
    DataValidationError
        Missing columns, non-binary treatment, ``moments`` outside {1, 2}, constant or
        collinear balance features in the arm being weighted, bad ``estimand``.
    ConvergenceError
        The target moments are outside the convex hull of the weighted arm (no positive
        weights balance them); the message names the offending covariates.

    Notes
    -----
    The weights ``w_j`` of the weighted arm minimise ``sum_j w_j log(w_j / q_j)`` (uniform
    ``q``) subject to ``sum_j w_j c_j = t`` and ``sum_j w_j = 1``; the solution is
    ``w_j = exp(c_j'lam) / sum_l exp(c_l'lam)``, with ``lam`` minimising the convex dual
    ``log sum_j exp((c_j - t)'lam)``. Features are standardised with pooled means and SDs
    first (the solution is unchanged; ``tol`` is then unit-free). A ``ConvergenceWarning``
    is issued (and ``converged`` is False) when a feasible problem stops before ``tol``.

    Standard error of the effect: M-estimation, stacking the treated means of the features
    ``z (c - m)``, the balancing condition ``(1-z) exp(c'lam)(c - m)``, the treated mean
    outcome ``z (y - mu1)`` and the weighted control mean ``(1-z) exp(c'lam)(y - mu0)``;
    the sandwich ``A^{-1} B A^{-T}/n`` then accounts for estimating the weights (Zhao &
    Percival 2017 show the estimator is doubly robust for linear outcome models).
    Identification: unconfoundedness given the covariates and overlap.

    References
    ----------
    Hainmueller, J. (2012). Entropy balancing for causal effects. Political Analysis 20(1),
    25-46. Zhao, Q. and Percival, D. (2017). Entropy balancing is doubly robust. Journal of
    Causal Inference 5(1). R: ``ebal::ebalance``, ``WeightIt::weightit(method = "ebal")``.

    Examples
    --------
    >>> import impacteval as ie
    >>> from impacteval.matching.weighting import entropy_balance
    >>> psid = ie.datasets.load("lalonde_psid")
    >>> eb = entropy_balance(psid, treatment="treat", outcome="re78",
    ...                      covariates=["age", "educ", "black", "re74", "re75"])
    >>> eb.converged, round(float(eb.weights[psid.treat == 0].sum()), 6)
    (True, 185.0)
    """
    level = check_level(level)
    moments = _check_moments(moments)
    estimand = check_choice(estimand, "estimand", ("ATT", "ATC"))
    if isinstance(max_iter, bool) or not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise DataValidationError(f"`max_iter` must be an integer >= 1; received {max_iter!r}")
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not 0 < float(tol) < 1:
        raise DataValidationError(f"`tol` must be a number in (0, 1); received {tol!r}")
    covs = as_column_list(covariates, "covariates")
    if not covs:
        raise DataValidationError("`covariates` must name at least one column to balance")
    arr = arrays(data, outcome, treatment, covs)
    fit = fit_entropy(arr.x, arr.z, covs, moments=moments, estimand=estimand,
                      max_iter=int(max_iter), tol=float(tol))  # fmt: skip
    log = WarningLog()
    for message in fit.messages:
        log.warn(message, ConvergenceWarning)
    options = {
        "estimand": estimand,
        "moments": moments,
        "covariates": covs,
        "max_iter": int(max_iter),
        "tol": float(tol),
        "level": level,
    }
    return _entropy_result(arr, fit, outcome, treatment, covs, options, log.messages)


def _entropy_result(
    arr: Arrays,
    fit: EntropyFit,
    outcome: str | None,
    treatment: str,
    covs: list[str],
    options: dict[str, Any],
    messages: tuple[str, ...],
) -> EntropyBalance:
    """The :class:`EntropyBalance` of one ``entropy_balance`` call."""
    estimand, moments = options["estimand"], options["moments"]
    z = fit.reference
    n_t = int(arr.z.sum())
    common = {
        "n_obs": int(z.size),
        "n_treated": n_t,
        "n_control": int(z.size - n_t),
        "n_dropped": arr.prepared.n_dropped,
    }
    used = [c_ for c_ in (outcome, treatment, *covs) if c_ is not None]
    prov = Provenance(options=options, data_fingerprint=fingerprint(arr.prepared.frame, used))
    weight_series = pd.Series(fit.weights, index=arr.index, name="weight")
    w_arm = fit.weights[z == 0]
    effect = None
    if outcome is not None:
        w_full = np.where(z == 0, fit.weights, 0.0)
        m_est = ebal_att_mestimation(arr.y, z, fit.features_std, fit.dual.lam, w_full)
        sign = 1.0 if estimand == "ATT" else -1.0
        effect = EffectEstimate.from_wald(
            sign * m_est.estimate,
            m_est.std_error,
            level=options["level"],
            df=None,
            estimand=estimand,
            method=f"entropy balancing (moments={moments}; M-estimation SE)",
            outcome=outcome,
            warnings=messages,
            provenance=prov,
            details={
                "weights": weight_series,
                "mean_treated": m_est.mu1 if estimand == "ATT" else m_est.mu0,
                "mean_control": m_est.mu0 if estimand == "ATT" else m_est.mu1,
                "se_type": "M-estimation sandwich (weights estimated)",
                "ess": kish(w_arm),
            },
            **common,
        )
    return EntropyBalance(
        weights=weight_series,
        balance_table=fit.table,
        lambdas=pd.Series(fit.dual.lam, index=pd.Index(fit.names, name="feature"), name="lambda"),
        converged=fit.dual.converged,
        n_iter=fit.dual.n_iter,
        max_imbalance=fit.dual.max_imbalance,
        ess=kish(w_arm),
        max_weight=float(w_arm.max()),
        max_weight_share=float(fit.dual.weights.max()),
        effect=effect,
        estimand=estimand,
        moments=moments,
        warnings=messages,
        provenance=prov,
        **common,
    )
