"""Synthetic controls for several treated units with staggered adoption, and their
prediction intervals (Cattaneo, Feng, Palomba & Titiunik; scpi's ``scdataMulti`` +
``scest``/``scpi``): the entry point :func:`synthetic_control_multi` and its result
:class:`SyntheticControlMulti`.

Pipeline: the panel (:mod:`._scpi_multi_data`), one simplex fit per treated unit and the
bounds (:mod:`._scpi_multi`, out-of-sample part in :mod:`._scpi_multi_out`), the tables
(:mod:`._scpi_multi_result`), the figure (:mod:`impacteval.plotting.scpi_multi`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_choice,
    check_dataframe,
    check_level,
    check_positive_int,
    check_rng,
)
from impacteval._warn import WarningLog
from impacteval.exceptions import ImpactEvalWarning
from impacteval.results import EffectTable, Provenance, fingerprint
from impacteval.synth._scm_result import check_rho
from impacteval.synth._scpi_multi import EFFECTS, UnitProblem, multi_bounds, unit_problems
from impacteval.synth._scpi_multi_data import StaggeredPanel, build_staggered_panel
from impacteval.synth._scpi_multi_result import (
    INDEX_COLUMNS,
    MultiPredictionIntervals,
    effect_frame,
    intervals_frame,
    plot_table,
    with_result_columns,
)
from impacteval.synth._scpi_outsample import OUT_METHODS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "MultiPredictionIntervals",
    "PoorPreFitWarning",
    "SyntheticControlMulti",
    "synthetic_control_multi",
]

_ESTIMANDS = {
    "unit-time": "effect on each treated unit in each post period",
    "unit": "average post-period effect on each treated unit",
    "time": "average effect over treated units by periods since adoption",
}


class PoorPreFitWarning(ImpactEvalWarning):
    """A treated unit lies outside its donors' range in some pre-periods."""


def _hull_message(panel: StaggeredPanel, problems: list[UnitProblem]) -> str | None:
    """One message naming the treated units whose outcome lies outside their donors' range
    in more than a tenth of their pre-periods (one or two periods outside is what noise
    around a good fit produces)."""
    parts = []
    for blk, p in zip(panel.blocks, problems, strict=True):
        outside = (p.a > p.b.max(axis=1)) | (p.a < p.b.min(axis=1))
        if outside.sum() > 0.1 * p.a.size:
            rmspe = float(np.sqrt(np.mean(p.resid**2)))
            parts.append(
                f"{blk.name!r} in {int(outside.sum())} of {p.a.size} pre-periods "
                f"(pre-period RMSPE {rmspe:.4g})"
            )
    if not parts:
        return None
    return (
        "treated units outside their donors' range before adoption: "
        + "; ".join(parts)
        + ". No weighted average of donors fits those periods; the prediction intervals "
        "assume a good pre-period fit and may be too narrow where it is poor"
    )


@dataclass(frozen=True, kw_only=True)
class SyntheticControlMulti(EffectTable):
    """Synthetic control effects for several treated units (an
    :class:`~impacteval.results.EffectTable` by the estimand's rows).

    ``table`` columns: the index columns (``unit``, ``time`` for ``effect="unit-time"``, with
    ``event_time`` alongside; ``unit`` for ``"unit"``; ``event_time`` for ``"time"``, 0 the
    adoption period), ``estimate`` (treated minus synthetic), ``std_error``, ``ci_lower``,
    ``ci_upper`` and ``p_value`` (NaN: see :meth:`prediction_intervals`), ``treated`` and
    ``synthetic``.

    ``details``: ``adoption`` and ``post_periods`` (number of post periods) per treated unit;
    with ``effect="time"`` the table stops at the smallest number of post periods.

    Attributes
    ----------
    effect : {"unit-time", "unit", "time"}
        The estimand (see :func:`synthetic_control_multi`).
    weights : pandas.DataFrame
        Donor weights (rows: donors, columns: treated units); each column is on the simplex.
    adoption : pandas.Series
        First treated period of each treated unit.
    pre_rmspe : pandas.Series
        Root mean squared pre-period gap of each treated unit.
    """

    effect: str = "unit-time"
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    adoption: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    pre_rmspe: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    panel: StaggeredPanel | None = field(default=None, repr=False, compare=False)
    problems: tuple[UnitProblem, ...] = field(default=(), repr=False, compare=False)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Effects by periods since adoption (one line per unit, or the average), or by
        unit; with the intervals when the table has them."""
        has = bool(np.isfinite(self.table["ci_lower"].to_numpy(dtype=float)).any())
        return plot_table(self.table, self.effect, has, self.level, ax)

    def prediction_intervals(
        self,
        *,
        level: float | None = None,
        out_of_sample: Literal["gaussian", "ls", "qreg"] = "gaussian",
        n_sims: int = 200,
        rho: float | None = None,
        rho_max: float = 0.2,
        rng: int | np.random.Generator | None = 0,
    ) -> MultiPredictionIntervals:
        """Prediction intervals for the counterfactual ``Y(0)`` of each row of the estimand
        (Cattaneo, Feng, Palomba & Titiunik; scpi with ``scdataMulti`` data).

        As :meth:`impacteval.synth.SyntheticControl.prediction_intervals`, unit by unit:
        the in-sample bounds simulate each unit's weights' estimation error (``n_sims``
        Gaussian draws, each solved exactly on the locally relaxed simplex), with the
        variance pieces pooled over the treated units' pre-periods as scpi does; the
        out-of-sample bounds model the shocks from the stacked pre-period residuals.
        ``1 - level`` is split equally between the two parts, so the combined interval
        covers each row's ``Y(0)`` with probability at least ``level`` (pointwise, not
        simultaneously over rows). For ``effect="unit"`` the rows are averages over post
        periods; for ``"time"``, averages over units, whose in-sample bounds are averaged
        draw by draw and whose out-of-sample models are averaged by event time.

        Parameters
        ----------
        level : float, optional
            Coverage of the combined interval (default: the result's level).
        out_of_sample : {"gaussian", "ls", "qreg"}
            Model of the out-of-sample error: sub-Gaussian bound, location-scale with
            empirical quantiles of the standardised residuals, or quantile regression.
        n_sims : int
            Draws for the in-sample bounds (scpi's default 200; at least 50).
        rho : float, optional
            Threshold below which a weight is treated as zero in the local geometry
            (default: scpi's "type-2" rule per treated unit, capped at ``rho_max``).
        rho_max : float
            Cap on the data-driven ``rho``.
        rng : int, numpy.random.Generator or None
            Seed of the draws; the same seed gives the same intervals.

        Returns
        -------
        MultiPredictionIntervals
            The effects with the in-sample, out-of-sample and combined bounds; ``.plot()``.

        Raises
        ------
        DataValidationError
            A malformed argument.

        Notes
        -----
        For ``effect="time"`` scpi-pkg 4.0.0 divides the bounds of the average by the number
        of treated units once more than the average requires (its in-sample and
        quantile-regression bounds are exactly ``1 / n_units`` of these); here the bounds
        are those of the average itself. See the reference test for the comparison.
        """
        if self.panel is None or not self.problems:
            raise ValueError(
                "prediction_intervals() needs a result built by synthetic_control_multi()"
            )
        lev = self.level if level is None else check_level(level)
        method = check_choice(out_of_sample, "out_of_sample", OUT_METHODS)
        n_sims = check_positive_int(n_sims, "n_sims", 50)
        rho_v = check_rho(rho, "rho", allow_none=True)
        rho_m = check_rho(rho_max, "rho_max", allow_none=False)
        gen, seed = check_rng(rng)
        alpha = 1.0 - lev
        problems = list(self.problems)
        draws = gen.standard_normal((n_sims, sum(p.w.size for p in problems)))
        arrays = multi_bounds(
            problems,
            self.effect,
            draws=draws,
            u_alpha=alpha / 2.0,
            e_alpha=alpha / 2.0,
            out_of_sample=method,
            rho=rho_v,
            rho_max=float(rho_m or 0.2),
        )
        log = WarningLog()
        log.extend(list(self.warnings))
        n_bounds = 2 * n_sims * len(self.table)
        if arrays.failed > 0.1 * n_bounds:
            log.warn(
                f"{arrays.failed} of {n_bounds} simulated in-sample bounds failed; the "
                "in-sample quantiles rest on the others"
            )
        frame = effect_frame(self.panel, problems, self.effect)
        table = intervals_frame(frame, self.effect, arrays)
        names = [b.name for b in self.panel.blocks]
        details = {
            "effect": self.effect,
            "rho": dict(zip(names, arrays.rho, strict=True)),
            "n_sims": n_sims,
            "failed_sims": arrays.failed,
            "out_of_sample": method,
            "simple_error_model": arrays.simple_error_model,
            "insample_level": 1.0 - alpha / 2.0,
            "outsample_level": 1.0 - alpha / 2.0,
        }
        options = {**self.provenance.options, "out_of_sample": method, "n_sims": n_sims}
        return MultiPredictionIntervals(
            table=table,
            index_columns=INDEX_COLUMNS[self.effect],
            level=lev,
            estimand=self.estimand,
            method="synthetic control prediction intervals, several treated units "
            "(Cattaneo, Feng, Palomba & Titiunik)",
            n_obs=self.n_obs,
            n_treated=self.n_treated,
            n_control=self.n_control,
            ci_method=f"scpi: simulated in-sample + {method} out-of-sample bounds",
            warnings=log.messages,
            provenance=Provenance(
                options=options, data_fingerprint=self.provenance.data_fingerprint, seed=seed
            ),
            details=details,
            effect=self.effect,
            treated_units=tuple(names),
        )


def synthetic_control_multi(
    data: pd.DataFrame,
    *,
    outcome: str,
    unit: str,
    time: str,
    treatment: str,
    effect: Literal["unit-time", "unit", "time"] = "unit-time",
    level: float = 0.95,
) -> SyntheticControlMulti:
    """Synthetic controls for several treated units, adopting at the same or different
    times (Cattaneo, Feng, Palomba & Titiunik; scpi's ``scdataMulti`` + ``scest``).

    Each treated unit gets its own synthetic control: simplex weights on the never-treated
    units that minimise its squared pre-period outcome gap (the outcome over every period
    before its adoption is the only feature; no constant; scpi's ``V="separate"``).

    Parameters
    ----------
    data : pandas.DataFrame
        A balanced long panel: one row per unit and period, no missing outcome.
    outcome, unit, time : str
        Column names; ``time`` must be orderable.
    treatment : str
        0/1 column, 1 in the periods a unit is treated; absorbing (once 1, always 1). Units
        never treated are the donors; each treated unit's adoption is its first treated
        period.
    effect : {"unit-time", "unit", "time"}
        The estimand: ``"unit-time"`` the effect on each treated unit in each of its post
        periods; ``"unit"`` each treated unit's average post-period effect; ``"time"`` the
        average over treated units of the effect ``k`` periods after adoption, for the
        ``k`` observed for every treated unit (``k = 0`` the adoption period).
    level : float
        Coverage of the prediction intervals computed later.

    Returns
    -------
    SyntheticControlMulti
        The effects by row (no interval yet: see
        :meth:`impacteval.synth.SyntheticControlMulti.prediction_intervals`), the weights,
        adoption periods and pre-period RMSPE.

    Raises
    ------
    DataValidationError
        Missing columns, an unbalanced panel or missing outcome, a treatment that is not
        0/1 or not absorbing, no treated unit, fewer than two never-treated units, or a
        treated unit with fewer than five pre-periods.

    Warns
    -----
    PoorPreFitWarning
        A treated unit's pre-period outcome lies outside its donors' range in more than a
        tenth of its pre-periods.

    Notes
    -----
    Not-yet-treated units are never donors, and neither are units treated later (scpi's
    rule without ``post_est``). The effect's ``ci_lower``/``ci_upper`` are NaN until
    :meth:`~impacteval.synth.SyntheticControlMulti.prediction_intervals` is called.

    References
    ----------
    Cattaneo, M. D., Feng, Y., Palomba, F., & Titiunik, R. Uncertainty quantification in
    synthetic controls with staggered treatment adoption. Review of Economics and
    Statistics. Cattaneo, Feng, Palomba & Titiunik (2025), scpi: uncertainty
    quantification for synthetic control methods, Journal of Statistical Software 113(1).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> import impacteval as ie
    >>> rng = np.random.default_rng(3)
    >>> f = rng.normal(size=(24, 2)).cumsum(axis=0)
    >>> rows = []
    >>> for j in range(8):
    ...     y = 5 + f @ rng.uniform(0.5, 2, 2) + rng.normal(0, 0.2, 24)
    ...     rows += [(f"D{j}", t, y[t], 0) for t in range(24)]
    >>> for name, t0 in (("A", 16), ("B", 19)):
    ...     y = 5 + f @ np.array([1.2, 1.1]) + rng.normal(0, 0.2, 24) + 2.0 * (np.arange(24) >= t0)
    ...     rows += [(name, t, y[t], int(t >= t0)) for t in range(24)]
    >>> df = pd.DataFrame(rows, columns=["unit", "t", "y", "d"])
    >>> fit = ie.synth.synthetic_control_multi(df, outcome="y", unit="unit", time="t",
    ...                                        treatment="d", effect="unit")
    >>> fit.table["unit"].tolist()
    ['A', 'B']
    """
    data = check_dataframe(data)
    eff = check_choice(effect, "effect", EFFECTS)
    lev = check_level(level)
    panel = build_staggered_panel(data, outcome=outcome, unit=unit, time=time, treatment=treatment)
    problems = unit_problems(panel)
    log = WarningLog()
    hull = _hull_message(panel, problems)
    if hull is not None:
        log.warn(hull, PoorPreFitWarning)
    table = with_result_columns(effect_frame(panel, problems, eff), eff)
    names = [b.name for b in panel.blocks]
    donors = panel.donor_names
    weights = pd.DataFrame(
        np.column_stack([p.w for p in problems]),
        index=pd.Index(donors, name="donor"),
        columns=pd.Index(names, name="treated"),
    )
    options: dict[str, Any] = {"effect": eff, "level": lev, "features": [outcome]}
    return SyntheticControlMulti(
        table=table,
        index_columns=INDEX_COLUMNS[eff],
        level=lev,
        estimand=_ESTIMANDS[eff],
        method="synthetic control, several treated units (simplex weights per unit)",
        n_obs=panel.n_obs,
        n_treated=len(names),
        n_control=len(donors),
        ci_method="none (see prediction_intervals())",
        warnings=log.messages,
        provenance=Provenance(
            options=options,
            data_fingerprint=fingerprint(data, [unit, time, outcome, treatment]),
        ),
        details={
            "adoption": {
                n: panel.times[b.adoption] for n, b in zip(names, panel.blocks, strict=True)
            },
            "post_periods": {n: int(p.y_post.size) for n, p in zip(names, problems, strict=True)},
        },
        effect=eff,
        weights=weights,
        adoption=pd.Series(
            [panel.times[b.adoption] for b in panel.blocks], index=pd.Index(names, name="treated")
        ),
        pre_rmspe=pd.Series(
            [float(np.sqrt(np.mean(p.resid**2))) for p in problems],
            index=pd.Index(names, name="treated"),
        ),
        panel=panel,
        problems=tuple(problems),
    )
