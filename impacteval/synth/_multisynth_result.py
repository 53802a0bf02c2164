"""The multisynth result: :class:`MultiSynth` and :func:`build_multisynth`, which lays the
fit and the jackknife out as effect tables, weights and imbalances."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval.exceptions import DataValidationError
from impacteval.results import EffectEstimate, EffectTable, Provenance, Summary, interval
from impacteval.synth._multisynth_core import MultisynthFit
from impacteval.synth._multisynth_data import StaggeredPanel, period_value
from impacteval.synth._multisynth_inference import JackknifeResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["MultiSynth", "build_multisynth"]

_RESULT = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")


@dataclass(frozen=True, kw_only=True, repr=False)
class MultiSynth(EffectTable):
    """Partially pooled synthetic control: effects by event time (the table), by unit and
    event time, by unit, and overall.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per event time (``event_time`` < 0: the pre-treatment fit) with the
        average over the treated units observed then, its jackknife interval and
        ``n_units``.
    overall : EffectEstimate
        Average over treated units of each unit's average post-treatment effect
        (``estimate``, ``std_error``, ... on this object read it).
    unit_effects : EffectTable
        One row per treated unit and event time (``unit``, ``event_time``).
    unit_averages : EffectTable
        Each treated unit's average post-treatment effect, with its ``adoption`` period.
    weights : pandas.DataFrame
        Donor weights: one column per treated unit, one row per unit (zero for units not
        in that unit's donor pool); each column sums to one.
    imbalance : pandas.DataFrame
        Pre-treatment imbalance (treated minus synthetic) by lag (rows ``-L..-1``) and
        treated unit, plus the ``pooled`` column (the average over units).
    nu : float
        The pooling weight used (0: separate fits, 1: fully pooled).
    pooled_imbalance, separate_imbalance : float
        ``q_pool`` and ``q_sep`` of the fitted weights (root mean squares, see Notes of
        :func:`~impacteval.synth.multisynth`).
    replicates : numpy.ndarray
        Leave-one-unit-out overall effects (empty without inference).
    """

    unit_effects: EffectTable | None = None
    unit_averages: EffectTable | None = None
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    imbalance: pd.DataFrame = field(default_factory=pd.DataFrame)
    nu: float = float("nan")
    pooled_imbalance: float = float("nan")
    separate_imbalance: float = float("nan")
    replicates: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __repr__(self) -> str:
        return (
            f"MultiSynth(ATT={self.estimate:.6g}, std_error={self.std_error:.6g}, "
            f"nu={self.nu:.4g}, n_treated={self.n_treated}, event_times={len(self.table)}, "
            f"method={self.method!r})"
        )

    def summary(self) -> Summary:
        """The event-time table with the pooling and balance facts."""
        base = super().summary()
        extra = (
            ("Treated units", str(self.n_treated)),
            ("Pooling nu", f"{self.nu:.4g}"),
            (
                "Imbalance pooled / separate",
                f"{self.pooled_imbalance:.4g} / {self.separate_imbalance:.4g}",
            ),
        )
        return Summary(
            title=base.title, facts=(*base.facts, *extra), table=base.table, notes=base.notes
        )

    def plot(self, ax: Axes | None = None, *, kind: str = "event") -> Axes:  # type: ignore[override]
        """Event-time effects with their band over the units' paths (``kind="event"``),
        or each treated unit's effect path (``kind="units"``).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        kind : {"event", "units"}
            What to draw.

        Returns
        -------
        matplotlib.axes.Axes
        """
        from impacteval.plotting.multisynth import MultisynthDisplay

        if kind not in ("event", "units"):
            raise DataValidationError(
                f"`kind` must be one of ['event', 'units']; received {kind!r}"
            )
        if self.unit_effects is None:
            raise DataValidationError("this MultiSynth has no unit effects to plot")
        units = self.unit_effects.table
        paths = {
            str(u): (part["event_time"].to_numpy(), part["estimate"].to_numpy())
            for u, part in units.groupby("unit", sort=False)
        }
        display = MultisynthDisplay(
            event_times=self.table["event_time"].to_numpy(),
            estimate=self.table["estimate"].to_numpy(),
            lower=self.table["ci_lower"].to_numpy(),
            upper=self.table["ci_upper"].to_numpy(),
            paths=paths,
            kind=kind,
            ylabel=f"effect on {self.overall.outcome if self.overall else 'outcome'}",
            title=f"multisynth (nu = {self.nu:.2f}): overall {self.estimate:.3g}",
            level=self.level,
        )
        return display.draw(ax)


def _rows(est: np.ndarray, se: np.ndarray, level: float) -> dict[str, np.ndarray]:
    cols = np.array(
        [interval(float(e), float(s), level, None) for e, s in zip(est, se, strict=True)]
    )
    cols = cols.reshape(-1, 3)
    return {
        "estimate": est,
        "std_error": se,
        "ci_lower": cols[:, 0],
        "ci_upper": cols[:, 1],
        "p_value": cols[:, 2],
    }


def _tables(
    panel: StaggeredPanel, fit: MultisynthFit, jk: JackknifeResult | None, level: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    event_avg, unit_avg, _ = fit.summaries()
    n_tr, n_e = fit.gaps.shape
    names = [period_value(panel.units, int(r)) for r in panel.treated]
    ev_se = jk.event_se if jk is not None else np.full(n_e, np.nan)
    counts = (~np.isnan(fit.gaps)).sum(axis=0)
    keep = counts > 0
    event = pd.DataFrame(
        {"event_time": fit.event_times[keep], **_rows(event_avg[keep], ev_se[keep], level)}
    )
    event["n_units"] = counts[keep]
    u_se = jk.unit_se if jk is not None else np.full((n_tr, n_e), np.nan)
    ok = ~np.isnan(fit.gaps)
    jj, kk = np.nonzero(ok)
    unit = pd.DataFrame(
        {
            "unit": [names[j] for j in jj],
            "event_time": fit.event_times[kk],
            **_rows(fit.gaps[ok], u_se[ok], level),
        }
    )
    a_se = jk.unit_avg_se if jk is not None else np.full(n_tr, np.nan)
    averages = pd.DataFrame({"unit": names, **_rows(unit_avg, a_se, level)})
    averages["adoption"] = [
        period_value(panel.times, int(panel.adoption[r])) for r in panel.treated
    ]
    return event, unit, averages


def build_multisynth(
    *,
    panel: StaggeredPanel,
    fit: MultisynthFit,
    jk: JackknifeResult | None,
    level: float,
    options: dict[str, Any],
    provenance: Provenance,
    warnings: tuple[str, ...],
) -> MultiSynth:
    """The :class:`MultiSynth` of ``fit`` (``jk``: the jackknife, None for no inference)."""
    event, unit, averages = _tables(panel, fit, jk, level)
    names = [period_value(panel.units, int(r)) for r in panel.treated]
    se_name = "jackknife SE" if jk is not None else "no SE"
    method = f"multisynth, partially pooled synthetic control ({se_name})"
    _, _, overall_est = fit.summaries()
    never = int(np.sum(panel.adoption >= panel.n_times))
    common: dict[str, Any] = {
        "level": level,
        "estimand": "ATT",
        "method": method,
        "n_obs": int(panel.y.size),
        "n_treated": len(panel.treated),
        "n_control": never,
        "n_dropped": panel.n_dropped,
        "warnings": warnings,
        "provenance": provenance,
    }
    overall = EffectEstimate.from_wald(
        overall_est,
        jk.overall_se if jk is not None else float("nan"),
        df=None,
        outcome=options["outcome"],
        **{k: v for k, v in common.items() if k != "level"},
        level=level,
    )
    weights = pd.DataFrame(0.0, index=panel.units, columns=pd.Index(names, name="treated unit"))
    for j, (pool, g) in enumerate(zip(fit.donors, fit.weights, strict=True)):
        weights.iloc[pool, j] = g
    lags = np.arange(-fit.imbalance.shape[1], 0)
    imbalance = pd.DataFrame(fit.imbalance.T, index=pd.Index(lags, name="lag"), columns=names)
    imbalance["pooled"] = fit.imbalance.mean(axis=0)
    common["ci_method"] = "normal"
    details = {"n_leads": options["n_leads"], "n_lags": options["n_lags"], "n_sweeps": fit.n_sweeps}
    return MultiSynth(
        table=event,
        index_columns=("event_time",),
        overall=overall,
        unit_effects=EffectTable(table=unit, index_columns=("unit", "event_time"), **common),
        unit_averages=EffectTable(table=averages, index_columns=("unit",), **common),
        weights=weights,
        imbalance=imbalance,
        nu=fit.nu,
        pooled_imbalance=fit.q_pool,
        separate_imbalance=fit.q_sep,
        replicates=jk.replicates if jk is not None else np.empty(0),
        details=details,
        **common,
    )
