"""Verified measurements as contract inputs: a share or mean from a data column, or a value.

Development impact bonds pay partly on verified figures that are not causal estimates:
Educate Girls' enrolment share came from a census of out-of-school girls. A
:class:`Measurement` carries the figure, its own sampling uncertainty (for a share of
``n`` observations, ``sqrt(p (1 - p) / n)``; for a mean, ``sd / sqrt(n)``), the count it
rests on and its source, so a report can show it in the payment chain with an interval.
For a contract metric declared ``input = "count"`` (verified, paid as measured) only the
value enters the settlement; for an estimate metric the value and its standard error do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from impacteval.exceptions import DataValidationError, MissingColumnError
from impacteval.payments.contract import Contract

__all__ = ["STATS", "Measurement", "given", "measure", "measurement_se"]

STATS = ("share", "mean")


@dataclass(frozen=True)
class Measurement:
    """A verified figure: ``value``, its ``std_error`` (None if given without one), ``n``."""

    value: float
    std_error: float | None
    n: int | None
    n_missing: int
    stat: str
    source: str

    def as_input(self, contract: Contract, metric: str) -> Any:
        """The settlement input for ``metric``: the value for a verified-count metric, else
        ``{"estimate": value, "std_error": se}``."""
        spec = contract.spec.metric(metric)
        if spec.input == "count" or self.std_error is None:
            return self.value
        return {"estimate": self.value, "std_error": self.std_error}

    def to_frame(self) -> pd.DataFrame:
        """One-row summary (value, standard error, n, missing, statistic, source)."""
        return pd.DataFrame(
            [
                {
                    "value": self.value,
                    "std_error": self.std_error,
                    "n": self.n,
                    "missing (dropped)": self.n_missing,
                    "statistic": self.stat,
                    "source": self.source,
                }
            ]
        )


def measure(
    data: pd.DataFrame,
    column: str,
    *,
    stat: str = "share",
    where: pd.Series | None = None,
    source: str = "",
) -> Measurement:
    """A share (of 0/1 values) or mean of ``column`` over the rows ``where`` selects.

    Missing values are dropped and counted (``n_missing``). The standard error treats the
    rows as a simple random sample (a census has no sampling error from the units counted;
    the figure is then still the verified value and the SE an upper bound).

    Examples
    --------
    >>> m = measure(pd.DataFrame({"enrolled": [1, 1, 0, 1, None]}), "enrolled")
    >>> m.value, round(m.std_error, 4), m.n, m.n_missing
    (0.75, 0.2165, 4, 1)
    """
    if column not in data.columns:
        raise MissingColumnError(f"`column`: no column {column!r} in the data")
    if stat not in STATS:
        raise DataValidationError(f"`stat` must be one of {list(STATS)}; received {stat!r}")
    values = data[column] if where is None else data.loc[where.astype(bool), column]
    n_missing = int(values.isna().sum())
    x = values.dropna().astype(float)
    if len(x) < 2:
        raise DataValidationError(f"`{column}`: a measurement needs >= 2 observed values")
    if stat == "share":
        bad = sorted(set(x.unique()) - {0.0, 1.0})
        if bad:
            raise DataValidationError(
                f"`{column}`: a share needs 0/1 values; found {bad[:5]} (use stat='mean')"
            )
        p = float(x.mean())
        se = math.sqrt(p * (1 - p) / len(x))
    else:
        p = float(x.mean())
        se = float(x.std(ddof=1)) / math.sqrt(len(x))
    return Measurement(p, se, len(x), n_missing, stat, source)


def given(value: float, std_error: float | None = None, source: str = "") -> Measurement:
    """A verified value supplied with its source (and, if known, its standard error)."""
    if not math.isfinite(value):
        raise DataValidationError(f"`value` must be finite; received {value!r}")
    if std_error is not None and (not math.isfinite(std_error) or std_error < 0):
        raise DataValidationError(f"`std_error` must be finite and >= 0; received {std_error!r}")
    return Measurement(float(value), std_error, None, 0, "given", source)


def measurement_se(measured: Mapping[str, Measurement]) -> dict[str, float]:
    """``{metric: std_error}`` of the measurements that have one."""
    return {k: m.std_error for k, m in measured.items() if m.std_error is not None}
