"""Result tables of :func:`impacteval.synth.synthetic_control_multi`: the effects
(:class:`SyntheticControlMulti`) and their prediction intervals
(:class:`MultiPredictionIntervals`), both :class:`~impacteval.results.EffectTable`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval.results import EffectTable
from impacteval.synth._scpi_multi import MultiArrays, UnitProblem, estimand_rows
from impacteval.synth._scpi_multi_data import StaggeredPanel

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "INDEX_COLUMNS",
    "MultiPredictionIntervals",
    "effect_frame",
    "intervals_frame",
    "plot_table",
    "with_result_columns",
]

INDEX_COLUMNS = {"unit-time": ("unit", "time"), "unit": ("unit",), "time": ("event_time",)}


def effect_frame(panel: StaggeredPanel, problems: list[UnitProblem], effect: str) -> pd.DataFrame:
    """Index columns, ``treated`` and ``synthetic`` (the estimand's two sides) by row."""
    rows = estimand_rows(problems, effect)
    synth = [r @ p.w for r, p in zip(rows, problems, strict=True)]
    if effect == "time":
        k = rows[0].shape[0]
        return pd.DataFrame(
            {
                "event_time": np.arange(k),
                "treated": np.mean([p.y_post[:k] for p in problems], axis=0),
                "synthetic": np.mean(synth, axis=0),
            }
        )
    if effect == "unit":
        return pd.DataFrame(
            {
                "unit": [b.name for b in panel.blocks],
                "treated": [float(p.y_post.mean()) for p in problems],
                "synthetic": [float(s[0]) for s in synth],
            }
        )
    parts = []
    for blk, p, s in zip(panel.blocks, problems, synth, strict=True):
        n = p.y_post.size
        parts.append(
            pd.DataFrame(
                {
                    "unit": [blk.name] * n,
                    "time": np.asarray(panel.times[blk.adoption :]),
                    "event_time": np.arange(n),
                    "treated": p.y_post,
                    "synthetic": s,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def with_result_columns(frame: pd.DataFrame, effect: str) -> pd.DataFrame:
    """Put the index columns and the five result columns first (no interval yet)."""
    out = frame.copy()
    nan = np.full(len(out), math.nan)
    out["estimate"] = out["treated"] - out["synthetic"]
    out["std_error"] = nan
    out["ci_lower"] = nan
    out["ci_upper"] = nan
    out["p_value"] = nan
    first = [*INDEX_COLUMNS[effect], "estimate", "std_error", "ci_lower", "ci_upper", "p_value"]
    return out[first + [c for c in out.columns if c not in first]]


def intervals_frame(frame: pd.DataFrame, effect: str, arrays: MultiArrays) -> pd.DataFrame:
    """The effects with the bounds of ``Y(0)`` (see :class:`MultiPredictionIntervals`)."""
    out = with_result_columns(frame, effect)
    syn = out["synthetic"].to_numpy()
    lower = syn + arrays.insample_lower + arrays.outsample_lower
    upper = syn + arrays.insample_upper + arrays.outsample_upper
    treated = out["treated"].to_numpy()
    out["ci_lower"] = treated - upper
    out["ci_upper"] = treated - lower
    out["insample_lower"] = syn + arrays.insample_lower
    out["insample_upper"] = syn + arrays.insample_upper
    out["outsample_lower"] = syn + arrays.outsample_lower
    out["outsample_upper"] = syn + arrays.outsample_upper
    out["lower"] = lower
    out["upper"] = upper
    return out


def plot_table(table: pd.DataFrame, effect: str, intervals: bool, level: float, ax: Any) -> Axes:
    """Draw a table of effects with :class:`~impacteval.plotting.scpi_multi.MultiEffectsDisplay`."""
    from impacteval.plotting.scpi_multi import MultiEffectsDisplay

    display = MultiEffectsDisplay(table=table, effect=effect, intervals=intervals, level=level)
    return display.draw(ax)


@dataclass(frozen=True, kw_only=True)
class MultiPredictionIntervals(EffectTable):
    """Prediction intervals of the synthetic counterfactuals of several treated units (an
    :class:`~impacteval.results.EffectTable` by the estimand's rows).

    ``table`` columns: the index columns (``unit`` and ``time`` for ``effect="unit-time"``,
    ``unit`` for ``"unit"``, ``event_time`` for ``"time"``); ``estimate`` (treated minus
    synthetic), ``std_error`` and ``p_value`` (NaN), ``ci_lower``/``ci_upper`` (the effect
    interval ``treated - upper`` to ``treated - lower``); ``treated``, ``synthetic``; the
    bounds of ``Y(0)``: ``insample_lower/upper`` (weights), ``outsample_lower/upper``
    (shocks), ``lower``/``upper`` (combined).

    ``details``: ``effect``, ``rho`` (per treated unit), ``n_sims``, ``failed_sims``,
    ``out_of_sample``, ``simple_error_model`` (the out-of-sample model fell back to
    constants), ``insample_level``, ``outsample_level``.
    """

    effect: str = "unit-time"
    treated_units: tuple[Hashable, ...] = field(default_factory=tuple)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Effects with their prediction intervals (bands by event time, or error bars)."""
        return plot_table(self.table, self.effect, True, self.level, ax)
