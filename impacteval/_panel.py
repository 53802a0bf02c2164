"""The one panel layer: long data coded as units x periods, checked once.

Every panel design (``did.att_gt``, ``did.event_study``, ``did.twfe``, ``synth``) starts
from a long table with a unit column and a period column. :func:`prepare_panel` does what
they all need, once:

1. checks the columns and drops incomplete rows visibly (``_validation.prepare``);
2. normalises the cohort column (first treated period): missing, ``0`` and ``+inf`` all
   mean *never treated*, negative values are refused; on the :class:`Panel` the per-unit
   cohort holds ``numpy.inf`` for never-treated units;
3. codes units (sorted labels, or order of first appearance) and periods (sorted);
4. refuses duplicate (unit, period) rows, naming one;
5. checks that the columns declared constant within unit (cohort, weights, clusters, ...)
   are, naming a unit where one is not, and keeps their per-unit values.

A panel sorted by unit then period, with every unit in every period and numeric labels
(the layout most panels come in), is recognised by a few vectorised comparisons and never
coded: the rows *are* the ``units x periods`` array (``Panel.in_order``), the codes are
built only if asked for. :meth:`Panel.restrict` keeps a subset of units and periods (what
balancing does), :meth:`Panel.wide` reshapes a column to ``units x periods``.

Repeated cross-sections (``unit=None``) are a panel whose every row is its own unit.

:func:`format_label` is the one formatter of unit labels and periods in messages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from impacteval._validation import (
    check_choice,
    check_columns,
    check_dataframe,
    prepare,
    short_repr,
)
from impacteval.exceptions import DataValidationError

__all__ = ["Panel", "code_periods", "code_units", "format_label", "prepare_panel"]

Array = np.ndarray
_COHORT_KEY = "__cohort__"


def format_label(value: object) -> str:
    """A unit label or period for messages: ``2004`` rather than ``np.float64(2004.0)``.

    Integer-valued numbers print as integers, other floats as ``repr(float)``, strings
    quoted (``'Texas'``), anything else with ``str``.

    Examples
    --------
    >>> format_label(2004.0), format_label(2004.5), format_label("TX"), format_label(7)
    ('2004', '2004.5', "'TX'", '7')
    """
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.generic):
        return repr(value.item())
    return str(value)


@dataclass(frozen=True)
class Panel:
    """A long table coded as units x periods (built by :func:`prepare_panel`).

    Attributes
    ----------
    frame : pandas.DataFrame
        The used columns after dropping incomplete rows (numeric ones as float64), in the
        input's row order. The cohort column is stored normalised (``0`` = never treated).
        Rows outside a :meth:`restrict` selection stay in ``frame``; :meth:`column` applies
        the selection.
    unit, time, outcome : str or None
        The column names (``unit`` None for repeated cross-sections).
    cohort_column : str or None
        The column of ``frame`` holding the normalised cohort (``"__cohort__"`` when the
        cohort column is also used for something else), None without a cohort.
    unit_labels : pandas.Index
        The label of each unit code (code ``i`` is ``unit_labels[i]``).
    periods : numpy.ndarray
        The sorted distinct periods (float64 when ``time`` is numeric).
    cohort : numpy.ndarray or None
        Per unit, the first treated period; ``numpy.inf`` = never treated. None without a
        cohort column.
    unit_values : Mapping[str, numpy.ndarray]
        Per unit, the value of each column declared constant within unit, by parameter name
        (e.g. ``"weights"``, ``"cluster"``).
    in_order : bool
        The rows are the ``units x periods`` array in row-major order: row ``r`` is unit
        ``r // n_periods`` in period ``r % n_periods``.
    is_panel : bool
        False for repeated cross-sections (every row its own unit).
    n_dropped, n_input : int
        Rows dropped for missing values, and rows received.
    """

    frame: pd.DataFrame
    unit: str | None
    time: str
    outcome: str | None
    cohort_column: str | None
    unit_labels: pd.Index
    periods: Array
    cohort: Array | None
    unit_values: Mapping[str, Array]
    in_order: bool
    is_panel: bool
    n_dropped: int
    n_input: int
    rows: Array | None = field(default=None, repr=False)  # kept rows of frame (None: all)
    codes: tuple[Array, Array] | None = field(default=None, repr=False)  # of the kept rows

    # -- sizes and codes -----------------------------------------------------------------
    @property
    def n_units(self) -> int:
        """Number of units."""
        return len(self.unit_labels)

    @property
    def n_periods(self) -> int:
        """Number of distinct periods."""
        return int(self.periods.size)

    @property
    def n_rows(self) -> int:
        """Number of rows (unit-period observations) in the panel."""
        if self.rows is not None:
            return int(self.rows.size)
        return int(self.frame.shape[0])

    @cached_property
    def unit_codes(self) -> Array:
        """The unit code (0 .. n_units - 1) of each row."""
        if self.codes is not None:
            return self.codes[0]
        return np.repeat(np.arange(self.n_units), self.n_periods)  # in_order

    @cached_property
    def period_codes(self) -> Array:
        """The position of each row's period in :attr:`periods`."""
        if self.codes is not None:
            return self.codes[1]
        return np.tile(np.arange(self.n_periods), self.n_units)  # in_order

    @cached_property
    def counts(self) -> Array:
        """Rows (observed periods) per unit."""
        if self.in_order:
            return np.full(self.n_units, self.n_periods)
        return np.bincount(self.unit_codes, minlength=self.n_units)

    @property
    def balanced(self) -> bool:
        """Every unit is observed in every period (False for repeated cross-sections)."""
        return self.is_panel and bool(np.all(self.counts == self.n_periods))

    @property
    def complete_units(self) -> Array:
        """Boolean mask of the units observed in every period."""
        return np.asarray(self.counts == self.n_periods)

    def first_period(self) -> Array:
        """Per unit, the first period in which it is observed."""
        if self.in_order:
            return np.full(self.n_units, self.periods[0])
        first = np.full(self.n_units, self.n_periods, dtype=np.intp)
        np.minimum.at(first, self.unit_codes, self.period_codes)
        return np.asarray(self.periods[first])

    # -- data ----------------------------------------------------------------------------
    def column(self, columns: str | Sequence[str]) -> Array:
        """A numeric column's values, one per row of the panel (float64).

        With a list of columns: ``rows x len(columns)``.
        """
        key: Any = columns if isinstance(columns, str) else list(columns)
        values: Array = self.frame[key].to_numpy(dtype=float)
        return values if self.rows is None else values[self.rows]

    def labels(self, name: str) -> Array:
        """The values of a column of any dtype, one per row of the panel."""
        values = np.asarray(self.frame[name].to_numpy())
        return values if self.rows is None else values[self.rows]

    def wide(self, columns: str | Sequence[str]) -> Array:
        """A numeric column as a ``units x periods`` array (NaN where not observed).

        With a list of columns: ``units x periods x len(columns)``. For a panel
        :attr:`in_order` this is a read-only view of the rows (copy it to modify it).
        """
        values = self.column(columns)  # a single column: a view of the frame, no copy
        shape = (self.n_units, self.n_periods, *values.shape[1:])
        if self.in_order:  # a read-only view: the frame may share memory with the input
            view = values.reshape(shape)
            view.flags.writeable = False
            return view
        out = np.full(shape, np.nan)
        out[self.unit_codes, self.period_codes] = values
        return out

    def treated(self, anticipation: float = 0.0) -> Array:
        """``units x periods`` boolean: the unit's cohort is at most ``period + anticipation``.

        Needs a cohort column.
        """
        if self.cohort is None:
            raise ValueError("Panel.treated needs a cohort column (prepare_panel(cohort=...))")
        return np.asarray(self.periods[None, :] + anticipation >= self.cohort[:, None])

    def restrict(self, keep_unit: Array | None = None, keep_period: Array | None = None) -> Panel:
        """The panel on the kept units and periods (boolean masks over codes).

        Units left without a row are removed and the units and periods re-coded
        ``0..n-1`` in the same order; per-unit values follow. Returns ``self`` when
        everything is kept.
        """
        keep_u = np.ones(self.n_units, dtype=bool) if keep_unit is None else keep_unit
        keep_p = np.ones(self.n_periods, dtype=bool) if keep_period is None else keep_period
        if keep_u.all() and keep_p.all():  # every unit has a row: nothing to re-code
            return self
        ucodes, tcodes = self.unit_codes, self.period_codes
        keep_row = keep_u[ucodes] & keep_p[tcodes]
        sel = np.flatnonzero(np.bincount(ucodes[keep_row], minlength=self.n_units) > 0)
        recode = np.full(self.n_units, -1, dtype=np.intp)
        recode[sel] = np.arange(sel.size)
        pcode = np.cumsum(keep_p) - 1
        base = np.arange(self.frame.shape[0]) if self.rows is None else self.rows
        return replace(
            self,
            unit_labels=self.unit_labels[sel],
            periods=self.periods[keep_p],
            cohort=None if self.cohort is None else self.cohort[sel],
            unit_values=MappingProxyType({k: v[sel] for k, v in self.unit_values.items()}),
            in_order=False,
            rows=base[keep_row],
            codes=(recode[ucodes[keep_row]], pcode[tcodes[keep_row]]),
        )

    def unit_label(self, code: int) -> str:
        """The formatted label of unit ``code`` (for messages)."""
        return format_label(self.unit_labels[int(code)])


def prepare_panel(
    data: object,
    *,
    unit: str | None,
    time: str,
    outcome: str | None = None,
    cohort: str | None = None,
    numeric: Mapping[str, str | Sequence[str] | None] | None = None,
    labels: Mapping[str, str | None] | None = None,
    unit_constant: Sequence[str] = (),
    numeric_time: bool = True,
    unit_order: str = "sorted",
    one_row_hint: str = "a panel has one row per unit and period",
) -> Panel:
    """Check a long panel and code it as units x periods.

    Parameters
    ----------
    data : pandas.DataFrame
        Long data, one row per unit and period (or per observation with ``unit=None``).
    unit : str or None
        Unit identifier column; None for repeated cross-sections (every row its own unit).
    time : str
        Period column.
    outcome : str, optional
        Outcome column (numeric; an error if entirely missing).
    cohort : str, optional
        First treated period (numeric; missing, 0 or +inf = never treated; constant within
        unit). Stored per unit in ``Panel.cohort`` with ``inf`` for never treated.
    numeric : mapping, optional
        Parameter name -> further numeric column(s) (covariates, weights, treatment).
    labels : mapping, optional
        Parameter name -> further label column(s) of any dtype (clusters).
    unit_constant : sequence of str
        Parameter names (keys of ``numeric`` or ``labels``) whose column must be constant
        within unit; their per-unit values are in ``Panel.unit_values``. A column equal to
        ``unit`` itself is skipped (trivially constant).
    numeric_time : bool
        True: ``time`` must be numeric and ``Panel.periods`` is float64. False: periods are
        labels of any sortable dtype.
    unit_order : {"sorted", "appearance"}
        Unit codes in sorted label order, or in order of first appearance.
    one_row_hint : str
        End of the duplicate-row message (what the caller expects instead).

    Returns
    -------
    Panel

    Raises
    ------
    DataValidationError
        A column name that is not a string or not in ``data``, a non-numeric numeric
        column, a negative cohort, fewer than 2 periods, duplicate (unit, period) rows, a
        ``unit_constant`` column (or the cohort) that changes within a unit, no complete
        rows.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"id": [1, 1, 2, 2], "t": [1, 2, 1, 2], "y": [0., 1., 0., 3.],
    ...                    "g": [0, 0, 2, 2]})
    >>> p = prepare_panel(df, unit="id", time="t", outcome="y", cohort="g")
    >>> p.n_units, p.periods.tolist(), p.cohort.tolist(), p.in_order
    (2, [1.0, 2.0], [inf, 2.0], True)
    >>> p.wide("y").tolist()
    [[0.0, 1.0], [0.0, 3.0]]
    """
    unit_order = check_choice(unit_order, "unit_order", ("sorted", "appearance"))
    numeric = dict(numeric or {})
    labels = dict(labels or {})
    for param, col in (("outcome", outcome), ("unit", unit), ("time", time), ("cohort", cohort)):
        if not isinstance(col, str) and (col is not None or param == "time"):
            raise DataValidationError(
                f"`{param}` must be a column name (str); received {short_repr(col)}"
            )
    frame = check_dataframe(data)
    named = {"outcome": outcome, "unit": unit, "time": time, "cohort": cohort}
    check_columns(frame, **{**named, **numeric, **labels})
    cohort_key = _cohort_key(frame, cohort, numeric, labels, unit, time, outcome)
    columns: dict[str, Any] = {}
    for cols in [outcome, unit, time, *numeric.values(), *labels.values()]:
        for col in [] if cols is None else ([cols] if isinstance(cols, str) else list(cols)):
            columns.setdefault(col, frame[col].array)
    if cohort is not None:
        columns[cohort_key] = _cohort_values(frame[cohort], cohort)
    work = pd.DataFrame(columns, copy=False)
    num: dict[str, str | Sequence[str] | None] = {"outcome": outcome}
    if numeric_time:
        num["time"] = time
    if cohort is not None:
        num["cohort"] = cohort_key
    num.update(numeric)
    lab: dict[str, str | Sequence[str] | None] = {"unit": unit}
    if not numeric_time:
        lab["time"] = time
    lab.update(labels)
    prepared = prepare(work, numeric=num, labels=lab, outcome_param="outcome" if outcome else None)
    df = prepared.frame
    params = {**numeric, **labels}
    constant = {p: c for p in unit_constant if isinstance(c := params.get(p), str)}
    if unit is None:
        return _cross_sections(df, time, outcome, cohort, cohort_key, constant, prepared)
    return _code_panel(
        df,
        unit=unit,
        time=time,
        outcome=outcome,
        cohort=cohort,
        cohort_key=cohort_key,
        constant={p: c for p, c in constant.items() if c != unit},
        numeric_time=numeric_time,
        unit_order=unit_order,
        one_row_hint=one_row_hint,
        n_dropped=prepared.n_dropped,
        n_input=prepared.n_input,
    )


# ---------------------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------------------
def _cohort_key(
    frame: pd.DataFrame,
    cohort: str | None,
    numeric: Mapping[str, Any],
    labels: Mapping[str, Any],
    unit: str | None,
    time: str,
    outcome: str | None,
) -> str:
    """The column name under which the normalised cohort is stored."""
    if cohort is None:
        return ""
    used: set[str] = {c for c in (unit, time, outcome) if c is not None}
    for cols in [*numeric.values(), *labels.values()]:
        used.update([] if cols is None else ([cols] if isinstance(cols, str) else list(cols)))
    return _COHORT_KEY if cohort in used else cohort


def _cohort_values(column: pd.Series, name: str) -> Array:
    """The cohort as float with missing and +inf coded 0 (never treated); negatives refused."""
    dtype = column.dtype
    if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        raise DataValidationError(
            f"`cohort`: column {name!r} must be numeric (first treated period, 0 = never "
            f"treated); received dtype {dtype}"
        )
    if pd.api.types.is_integer_dtype(dtype) and not column.hasnans:
        values = column.to_numpy(dtype=float)  # no missing or infinite values possible
    else:
        values = column.to_numpy(dtype=float, na_value=np.nan)
        values = np.where(np.isnan(values) | (values == np.inf), 0.0, values)
    if np.any(values < 0):
        raise DataValidationError(
            f"`cohort`: column {name!r} must be a period (>= 0, 0 = never treated); received "
            "negative values"
        )
    return values


def _cross_sections(
    df: pd.DataFrame,
    time: str,
    outcome: str | None,
    cohort: str | None,
    cohort_key: str,
    constant: Mapping[str, str],
    prepared: Any,
) -> Panel:
    """Repeated cross-sections: every row its own unit, per-unit values are per row."""
    periods, tcodes = code_periods(df[time].to_numpy(dtype=float))
    _check_two_periods(periods, time)
    n = int(df.shape[0])
    coh = None
    if cohort is not None:
        raw = df[cohort_key].to_numpy(dtype=float)
        coh = np.where(raw == 0, np.inf, raw)
    values = {p: np.asarray(df[c].to_numpy()) for p, c in constant.items()}
    return Panel(
        frame=df,
        unit=None,
        time=time,
        outcome=outcome,
        cohort_column=cohort_key or None,
        unit_labels=pd.RangeIndex(n),
        periods=periods,
        cohort=coh,
        unit_values=MappingProxyType(values),
        in_order=False,
        is_panel=False,
        n_dropped=int(prepared.n_dropped),
        n_input=int(prepared.n_input),
        codes=(np.arange(n), tcodes),
    )


def _code_panel(
    df: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str | None,
    cohort: str | None,
    cohort_key: str,
    constant: Mapping[str, str],
    numeric_time: bool,
    unit_order: str,
    one_row_hint: str,
    n_dropped: int,
    n_input: int,
) -> Panel:
    """Code units and periods (sorted-block fast path first), check duplicates and constancy."""
    tvals = df[time].to_numpy(dtype=float) if numeric_time else None
    blocks = _sorted_blocks(df[unit], tvals) if tvals is not None else None
    codes: tuple[Array, Array] | None = None
    if blocks is not None:
        periods, ulabels = blocks
    else:
        if tvals is not None:
            periods, tcodes = code_periods(tvals)
        else:
            tcodes, tuniq = pd.factorize(df[time], sort=True)
            periods = np.asarray(tuniq)
        ucodes, ulabels = code_units(df[unit], sort=unit_order == "sorted")
        codes = (ucodes, np.asarray(tcodes, dtype=np.intp))
        _check_duplicates(codes, periods.size, ulabels, periods, one_row_hint)
    _check_two_periods(periods, time)
    width = periods.size if blocks is not None else None
    ucodes_or_none = None if codes is None else codes[0]
    coh = None
    if cohort is not None:
        raw = _unit_invariant(df[cohort_key], ucodes_or_none, ulabels, "cohort", cohort, width)
        coh = np.where(raw == 0, np.inf, np.asarray(raw, dtype=float))
    values = {
        p: _unit_invariant(df[c], ucodes_or_none, ulabels, p, c, width) for p, c in constant.items()
    }
    return Panel(
        frame=df,
        unit=unit,
        time=time,
        outcome=outcome,
        cohort_column=cohort_key or None,
        unit_labels=ulabels,
        periods=periods,
        cohort=coh,
        unit_values=MappingProxyType(values),
        in_order=blocks is not None,
        is_panel=True,
        n_dropped=n_dropped,
        n_input=n_input,
        codes=codes,
    )


def _check_two_periods(periods: Array, time: str) -> None:
    if periods.size < 2:
        raise DataValidationError(
            f"`time`: column {time!r} has {periods.size} distinct period; at least 2 are needed"
        )


def _sorted_blocks(units: pd.Series, tvals: Array) -> tuple[Array, pd.Index] | None:
    """``(periods, unit labels)`` when the rows are a balanced panel sorted by unit, then
    period, with numeric unit labels (one row per unit and period); otherwise None.

    The checks are a few vectorised comparisons on the ``(units, periods)`` reshape, cheaper
    than coding units and periods (the general path) for the layout most panels come in.
    Increasing unit labels make the sorted and the first-appearance orders the same.
    """
    numeric = pd.api.types.is_integer_dtype(units.dtype) or pd.api.types.is_float_dtype(units.dtype)
    if not numeric or tvals.size < 4:
        return None
    arr = units.to_numpy()
    # rows of the first unit (0: a single unit), looked for in a short prefix first
    head = arr[: min(arr.size, 4096)]
    width = int(np.argmax(head != arr[0])) or int(np.argmax(arr != arr[0]))
    if width < 2 or tvals.size % width:
        return None
    grid = arr.reshape(-1, width)
    heads = grid[:, 0]
    if not (np.all(heads[1:] > heads[:-1]) and np.all(grid == heads[:, None])):
        return None
    times = tvals.reshape(-1, width)
    periods = times[0]
    if not (np.all(periods[1:] > periods[:-1]) and np.all(times == periods)):
        return None  # NaN periods fail both comparisons and take the general path
    return periods.copy(), pd.Index(heads.copy())


def code_periods(tvals: Array) -> tuple[Array, Array]:
    """The sorted distinct periods of numeric ``tvals`` and each row's position among them.

    Integer periods over a modest range are found by counting (one pass; a hash-based unique
    plus a binary search over 10M rows is several times slower); anything else uses
    ``pandas.unique`` and ``searchsorted``.
    """
    if tvals.size:
        low, high = float(tvals.min()), float(tvals.max())
        if np.isfinite(low) and np.isfinite(high) and high - low < 1e6:
            shifted = tvals - low
            offsets = shifted.astype(np.intp)
            if np.array_equal(offsets, shifted):  # integer-valued periods
                present = np.flatnonzero(np.bincount(offsets, minlength=int(high - low) + 1))
                lut = np.empty(int(high - low) + 1, dtype=np.intp)
                lut[present] = np.arange(present.size)
                return present + low, np.asarray(lut[offsets])
    # pandas' hash-based unique is far faster than np.unique (a sort) on 10M-row panels
    periods = np.sort(pd.unique(tvals))
    return periods, np.searchsorted(periods, tvals)


def code_units(values: pd.Series, *, sort: bool = True) -> tuple[Array, pd.Index]:
    """Codes 0..n-1 of the unit labels (sorted label order, else first appearance).

    Integer labels already in non-decreasing order (a panel sorted by unit) are coded by
    counting changes, in one pass; anything else goes through ``pandas.factorize``.
    """
    if pd.api.types.is_integer_dtype(values.dtype) and len(values) > 1:
        arr = values.to_numpy()
        step = arr[1:] != arr[:-1]
        if np.all(arr[1:] >= arr[:-1]):
            codes = np.empty(arr.size, dtype=np.intp)
            codes[0] = 0
            np.cumsum(step, out=codes[1:])
            return codes, pd.Index(arr[np.r_[True, step]])
    codes, labels = pd.factorize(values, sort=sort)
    return codes.astype(np.intp), pd.Index(labels)


def _check_duplicates(
    codes: tuple[Array, Array], n_periods: int, ulabels: pd.Index, periods: Array, hint: str
) -> None:
    ucodes, tcodes = codes
    cell_id = ucodes.astype(np.int64) * n_periods + tcodes
    if cell_id.size and np.bincount(cell_id).max() > 1:
        dup = pd.Series(cell_id).duplicated(keep=False).to_numpy()
        first = int(np.flatnonzero(dup)[0])
        raise DataValidationError(
            f"`unit`/`time`: {int(dup.sum())} rows share a (unit, period) with another row "
            f"(duplicate rows), e.g. unit {format_label(ulabels[ucodes[first]])} in period "
            f"{format_label(periods[tcodes[first]])}; {hint}"
        )


def _unit_invariant(
    values: pd.Series,
    ucodes: Array | None,
    ulabels: pd.Index,
    param: str,
    column: str,
    width: int | None,
) -> Array:
    """The per-unit value of a column that must not vary within unit.

    ``width``: the rows are consecutive blocks of ``width`` rows, one per unit (``ucodes``
    is then None); otherwise ``ucodes`` gives each row's unit.
    """
    n_units = len(ulabels)

    def changes(row: int) -> DataValidationError:
        code = row // int(width) if ucodes is None and width else int(np.asarray(ucodes)[row])
        return DataValidationError(
            f"`{param}`: column {column!r} changes within a unit (e.g. unit "
            f"{format_label(ulabels[code])}); it must be constant within each unit"
        )

    if pd.api.types.is_float_dtype(values.dtype) or pd.api.types.is_integer_dtype(values.dtype):
        # numbers: compare each row with its unit's first value directly (no factorize)
        vals = values.to_numpy(dtype=float)
        if ucodes is None:  # unit blocks: compare each block with its first row
            grid = vals.reshape(-1, int(width or 1))
            head = grid[:, 0].copy()
            differ = (grid != head[:, None]).ravel()
            mine = np.repeat(head, int(width or 1)) if differ.any() else head
        else:
            head = np.empty(n_units)
            head[ucodes[::-1]] = vals[::-1]
            mine = head[ucodes]
            differ = vals != mine
        if differ.any():  # NaN != NaN: a unit that is missing throughout does not change
            differ &= ~(np.isnan(vals) & np.isnan(mine))
            if differ.any():
                raise changes(int(np.flatnonzero(differ)[0]))
        return head
    if ucodes is None:
        ucodes = np.repeat(np.arange(n_units), int(width or 0))
    codes, uniques = pd.factorize(values, sort=True)
    first = np.full(n_units, -1, dtype=np.intp)
    first[ucodes[::-1]] = codes[::-1]
    if np.any(codes != first[ucodes]):
        raise changes(int(np.flatnonzero(codes != first[ucodes])[0]))
    return np.asarray(uniques.to_numpy()[first])
