"""Per-partition sufficient statistics of a long panel held in a Dask DataFrame.

Run on the workers by :mod:`impacteval.did._dask_att_gt` (and the 2x2 / TWFE entries): each
partition returns a few kilobytes, never its rows.

A panel estimator needs each unit's rows together. The frame must be *partitioned by unit*
(every row of a unit in one partition: e.g. Parquet files written unit by unit, or
``ddf.shuffle(on=unit)`` / ``ddf.set_index(unit)``). This is checked exactly and cheaply:
on a balanced panel a unit split across partitions has fewer than ``T`` rows in each of
them, so each partition returns the labels of its incomplete units only (none on a
balanced, unit-partitioned panel) and the client refuses a label seen in two partitions.
A unit whose complete set of rows appears twice, in two partitions, is the one duplicate
this cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from impacteval._panel import format_label
from impacteval.exceptions import DataValidationError
from impacteval.results import fingerprint

__all__ = [
    "CohortMoments",
    "PanelSpec",
    "kept_units",
    "merge_moments",
    "partition_moments",
    "partition_periods",
    "pivot_units",
    "usable_rows",
]

Array = np.ndarray


@dataclass(frozen=True)
class PanelSpec:
    """The columns a partition function reads (unit, time, outcome, cohort)."""

    unit: str
    time: str
    outcome: str
    cohort: str
    anticipation: float = 0.0
    # extra per-row numeric columns whose wide values are added to the moments (twfe's
    # treatment indicator); empty for att_gt
    extra: tuple[str, ...] = field(default=())

    @property
    def used(self) -> list[str]:
        return list(dict.fromkeys([self.cohort, self.outcome, self.unit, self.time, *self.extra]))


def usable_rows(part: pd.DataFrame, spec: PanelSpec) -> pd.DataFrame:
    """The rows with unit, time, outcome (and extras) present (cohort missing = never)."""
    need = [spec.unit, spec.time, spec.outcome, *spec.extra]
    return part.loc[part[need].notna().all(axis=1).to_numpy()]


def partition_periods(part: pd.DataFrame, spec: PanelSpec) -> dict[str, Any]:
    """Pass 1: the distinct periods, row counts and a digest of the used columns."""
    usable = usable_rows(part, spec)
    return {
        "periods": np.unique(usable[spec.time].to_numpy(dtype=float)),
        "n_rows": int(part.shape[0]),
        "n_usable": int(usable.shape[0]),
        "digest": fingerprint(part, spec.used),
    }


@dataclass
class CohortMoments:
    """Per cohort (key: first treated period, ``inf`` = never): count, ``sum y``, ``y'y``.

    ``y`` is a complete unit's outcome row over the ``T`` periods (and, with extras, the
    extra columns' rows after it, so the vector has ``T * (1 + len(extra))`` entries).
    """

    count: dict[float, int] = field(default_factory=dict)
    s1: dict[float, Array] = field(default_factory=dict)
    s2: dict[float, Array] = field(default_factory=dict)
    incomplete: list[Any] = field(default_factory=list)
    n_as_if_never: int = 0
    n_first_treated: int = 0

    def add(self, other: CohortMoments) -> None:
        for key, c in other.count.items():
            if key in self.count:
                self.count[key] += c
                self.s1[key] = self.s1[key] + other.s1[key]
                self.s2[key] = self.s2[key] + other.s2[key]
            else:
                self.count[key], self.s1[key], self.s2[key] = c, other.s1[key], other.s2[key]
        self.incomplete.extend(other.incomplete)
        self.n_as_if_never += other.n_as_if_never
        self.n_first_treated += other.n_first_treated


def _unit_cohorts(codes: Array, cohort: Array, n_units: int, labels: Array) -> Array:
    """One cohort per unit (missing or 0 = never = inf); an error if it varies in a unit."""
    c = np.where(np.isnan(cohort) | (cohort == 0), np.inf, cohort)
    lo = np.full(n_units, np.inf)
    hi = np.full(n_units, -np.inf)
    np.minimum.at(lo, codes, c)
    np.maximum.at(hi, codes, c)
    bad = np.flatnonzero(lo != hi)
    if bad.size:
        raise DataValidationError(
            f"`cohort` must be constant within unit; unit {format_label(labels[bad[0]])} has "
            f"{format_label(lo[bad[0]])} and {format_label(hi[bad[0]])}"
        )
    if np.any(lo < 0):
        raise DataValidationError("`cohort` must be non-negative (0 or missing = never treated)")
    return lo


def pivot_units(
    usable: pd.DataFrame, spec: PanelSpec, periods: Array
) -> tuple[Array, Array, Array, Array]:
    """Unit codes of the rows, unit labels, the wide ``units x (T * m)`` matrix of the
    outcome and extras (NaN where a unit misses a period) and the rows per unit; an error
    for duplicate unit-period rows."""
    n_t = periods.size
    codes, uniques = pd.factorize(usable[spec.unit])
    labels = np.asarray(uniques)
    tpos = np.searchsorted(periods, usable[spec.time].to_numpy(dtype=float))
    key = codes.astype(np.int64) * n_t + tpos
    # a count per unit-period cell (linear time; numpy 2.4's np.unique of a few million
    # distinct integers takes tens of seconds)
    if np.bincount(key, minlength=labels.size * n_t).max(initial=0) > 1:
        dup = pd.Series(key).duplicated().to_numpy()
        first = int(np.flatnonzero(dup)[0])
        raise DataValidationError(
            f"duplicate rows for unit {format_label(labels[codes[first]])} in period "
            f"{format_label(periods[tpos[first]])}: a panel has one row per unit and period"
        )
    cols = [spec.outcome, *spec.extra]
    wide = np.full((labels.size, n_t * len(cols)), np.nan)
    for j, col in enumerate(cols):
        wide[codes, j * n_t + tpos] = usable[col].to_numpy(dtype=float)
    return codes, labels, wide, np.bincount(codes, minlength=labels.size)


def kept_units(
    part: pd.DataFrame, spec: PanelSpec, periods: Array
) -> tuple[Array, Array, CohortMoments]:
    """The wide rows and cohorts (``inf`` = never) of the partition's estimation units
    (complete, not treated in the first period), and the bookkeeping of the others."""
    usable = usable_rows(part, spec)
    out = CohortMoments()
    n_t = periods.size
    if usable.shape[0] == 0:
        return np.zeros((0, n_t * (1 + len(spec.extra)))), np.zeros(0), out
    codes, labels, wide, counts = pivot_units(usable, spec, periods)
    cohort = _unit_cohorts(codes, usable[spec.cohort].to_numpy(dtype=float), labels.size, labels)
    complete = counts == n_t
    out.incomplete = labels[~complete].tolist()
    as_if_never = np.isfinite(cohort) & (cohort > periods[-1] + spec.anticipation)
    out.n_as_if_never = int(as_if_never.sum())
    cohort = np.where(as_if_never, np.inf, cohort)
    first = np.isfinite(cohort) & (cohort <= periods[0] + spec.anticipation) & complete
    out.n_first_treated = int(first.sum())
    keep = complete & ~first
    return wide[keep], cohort[keep], out


def partition_moments(part: pd.DataFrame, spec: PanelSpec, periods: Array) -> CohortMoments:
    """Pass 2: per-cohort moments of the complete units of this partition."""
    wide, cohort, out = kept_units(part, spec, periods)
    for level in np.unique(cohort):
        rows = wide[cohort == level]
        out.count[float(level)] = int(rows.shape[0])
        out.s1[float(level)] = rows.sum(axis=0)
        out.s2[float(level)] = rows.T @ rows
    return out


def merge_moments(pieces: list[CohortMoments]) -> CohortMoments:
    """Add the partitions' moments; refuse a unit seen incomplete in two partitions."""
    total = CohortMoments()
    for piece in pieces:
        total.add(piece)
    if total.incomplete:
        seen = pd.Series(total.incomplete, dtype=object)
        split = seen[seen.duplicated()]
        if split.size:
            raise DataValidationError(
                f"unit {format_label(split.iloc[0])} has rows in more than one partition of "
                "the Dask DataFrame: a panel estimator needs each unit's rows together. "
                "Repartition by unit first, e.g. data.shuffle(on=unit) or "
                "data.set_index(unit), or write the Parquet files unit by unit"
            )
    return total
