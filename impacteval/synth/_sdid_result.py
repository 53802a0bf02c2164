"""The synthetic-DiD result: :class:`SyntheticDiD` and :func:`build_result`, which lays the
cohort fits and the variance out as weights, trajectories and the per-cohort table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval.exceptions import DataValidationError
from impacteval.results import EffectEstimate, Provenance, fingerprint
from impacteval.synth._sdid_core import BlockFit
from impacteval.synth._sdid_data import SdidPanel, cohort_label
from impacteval.synth._sdid_variance import Variance

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["METHOD_NAMES", "SyntheticDiD", "build_result"]

METHOD_NAMES = {
    "sdid": "synthetic difference in differences",
    "sc": "synthetic control (synthdid weights)",
    "did": "difference in differences",
}
_SE_NAMES = {None: "no SE", "placebo": "placebo SE", "bootstrap": "bootstrap SE"}


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
        from impacteval.plotting.synth import SyntheticDiDDisplay

        cohorts = self.cohorts
        if cohort is None:
            cohort = cohorts["cohort"].iloc[int(np.argmax(cohorts["n_treated"].to_numpy()))]
        elif cohort not in set(cohorts["cohort"]):
            raise DataValidationError(
                f"`cohort` must be one of the adoption periods {cohorts['cohort'].tolist()}; "
                f"received {cohort!r}"
            )
        part = self.trajectories[self.trajectories["cohort"] == cohort]
        label = "" if len(cohorts) == 1 else f" (cohort {cohort})"
        display = SyntheticDiDDisplay(
            times=part["time"],
            treated=part["treated"].to_numpy(),
            synthetic=part["synthetic"].to_numpy(),
            time_weights=part["time_weight"].to_numpy(),
            post=part["post"].to_numpy(dtype=bool),
            xlabel=str(self.time_weights.index.names[-1] or "time"),
            ylabel=self.outcome or "outcome",
            title=f"{self.method}{label}: {self.estimate:.3g}",
        )
        return display.draw(ax)


@dataclass(frozen=True)
class _CohortParts:
    unit_weights: pd.Series
    time_weights: pd.Series
    trajectories: pd.DataFrame
    table: pd.DataFrame


def _cohort_parts(
    panel: SdidPanel,
    fits: list[BlockFit],
    cohort_rows: list[np.ndarray],
    cohort_se: np.ndarray,
    method: str,
) -> _CohortParts:
    """Unit and time weights, trajectories and the one-row-per-cohort table."""
    labels = [cohort_label(panel.times, int(a)) for a in panel.cohorts]
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
        traj_parts.append(
            pd.DataFrame(
                {
                    "cohort": labels[c],
                    "time": panel.times,
                    "treated": panel.y[rows].mean(axis=0),
                    "synthetic": fit.omega @ panel.y[: panel.n0],
                    "time_weight": np.concatenate([fit.lam, np.zeros(n_t - t0)]),
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
    if len(fits) > 1:
        unit_weights = pd.concat(unit_parts, keys=labels, names=["cohort", panel.units.name])
        time_weights = pd.concat(time_parts, keys=labels, names=["cohort", panel.times.name])
    else:
        unit_weights, time_weights = unit_parts[0], time_parts[0]
    unit_weights.name, time_weights.name = "unit_weight", "time_weight"
    return _CohortParts(
        unit_weights=unit_weights,
        time_weights=time_weights,
        trajectories=pd.concat(traj_parts, ignore_index=True),
        table=pd.DataFrame(rows_out),
    )


def build_result(
    *,
    data: pd.DataFrame,
    panel: SdidPanel,
    fits: list[BlockFit],
    cohort_rows: list[np.ndarray],
    estimate: float,
    variance: Variance,
    options: dict[str, Any],
    columns: tuple[str, str, str, str],
    seed: int | None,
    warnings: tuple[str, ...],
) -> SyntheticDiD:
    """The :class:`SyntheticDiD` of the cohort ``fits`` (``options``: the provenance
    options, which name the method and the SE)."""
    method, se = options["method"], options["se"]
    parts = _cohort_parts(panel, fits, cohort_rows, variance.cohort_se, method)
    labels = parts.table["cohort"].tolist()
    details: dict[str, Any] = {
        "treated_units": tuple(panel.units[panel.n0 :].tolist()),
        "staggered": len(fits) > 1,
        "n_iter": {
            lab: (f.n_iter_omega, f.n_iter_lambda) for lab, f in zip(labels, fits, strict=True)
        },
    }
    if se in ("placebo", "bootstrap"):
        details[f"{se}_units"] = [tuple(panel.units[d].tolist()) for d in variance.draw_units]
    base = EffectEstimate.from_wald(
        estimate,
        variance.std_error,
        level=options["level"],
        df=None,
        estimand="ATT",
        method=f"{METHOD_NAMES[method]} ({_SE_NAMES.get(se, 'jackknife SE')})",
        n_obs=int(panel.y.size),
        n_treated=len(panel.adoption),
        n_control=panel.n0,
        outcome=columns[0],
        n_dropped=panel.n_dropped,
        warnings=warnings,
        provenance=Provenance(
            options=options, data_fingerprint=fingerprint(data, columns), seed=seed
        ),
        details=details,
    )
    fields_ = {name: getattr(base, name) for name in base.__dataclass_fields__}
    return SyntheticDiD(
        **fields_,
        unit_weights=parts.unit_weights,
        time_weights=parts.time_weights,
        cohorts=parts.table,
        trajectories=parts.trajectories,
        replicates=variance.replicates,
    )
