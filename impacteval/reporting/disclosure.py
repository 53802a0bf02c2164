"""Statistical disclosure control for report tables: small cells and secondary suppression.

A count below ``min_cell_size`` (but above 0) is masked (primary suppression). A masked
cell can often be recovered from totals shown beside it: ``rows = treated + control``
across a row, and ``input = removals + analysed`` down a column of a sample-flow table.
Secondary suppression masks one more cell in every such equation that has exactly one
masked cell, until none is left, so no masked count can be recovered by subtraction.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from impacteval.exceptions import DataValidationError

__all__ = ["PRIMARY", "SECONDARY", "suppress_flow"]

#: how masked cells are written: below the threshold, or masked to protect another cell
PRIMARY = "<{n}"
SECONDARY = "suppressed"


def suppress_flow(
    flow: pd.DataFrame,
    min_cell_size: int,
    *,
    total: str = "rows",
    arms: Sequence[str] = ("treated", "control"),
    removals: Sequence[str] = ("refused", "excluded", "missing"),
) -> pd.DataFrame:
    """A sample-flow table (see ``tables.sample_flow``) with small counts suppressed.

    Parameters
    ----------
    flow : pandas.DataFrame
        Columns ``step``, ``reason``, ``total`` and the ``arms`` (counts).
    min_cell_size : int
        Counts ``1 .. min_cell_size - 1`` are masked.
    total, arms : str
        Row equation ``total = sum(arms)``.
    removals : sequence of str
        Steps whose rows add up, with the ``analysed`` row, to the ``input`` row.

    Returns
    -------
    pandas.DataFrame
        Counts written as strings with separators; masked cells ``"<10"`` (primary) or
        ``"suppressed"`` (secondary).

    Examples
    --------
    >>> flow = pd.DataFrame({"step": ["input", "excluded", "excluded", "analysed"],
    ...                      "reason": ["all", "a", "b", "kept"], "rows": [100, 30, 20, 50],
    ...                      "treated": [40, 4, 12, 24], "control": [60, 26, 8, 26]})
    >>> out = suppress_flow(flow, 10)[["rows", "treated", "control"]]
    >>> out.values.tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['100', '40', '60'], ['suppressed', '<10', 'suppressed'],
     ['suppressed', 'suppressed', '<10'], ['50', '24', '26']]
    """
    if min_cell_size < 1:
        raise DataValidationError(f"`min_cell_size` must be >= 1; received {min_cell_size}")
    cols = [c for c in (total, *arms) if c in flow.columns]
    values = flow[cols].astype(int)
    primary = (values > 0) & (values < min_cell_size)
    masked = primary.copy()
    group = flow["step"].isin([*removals, "analysed", "input"]).to_numpy()
    removal = flow["step"].isin(list(removals)).to_numpy()
    arm_cols = [a for a in arms if a in cols]
    changed = True
    while changed:
        changed = False
        if total in cols and arm_cols:
            for i in range(len(flow)):
                row = [total, *arm_cols]
                hidden = [c for c in row if masked.iloc[i][c]]
                if len(hidden) == 1:
                    shown = [c for c in row if not masked.iloc[i][c]]
                    pick = total if total in shown else min(shown, key=lambda c: values.iloc[i][c])
                    masked.iloc[i, masked.columns.get_loc(pick)] = True
                    changed = True
        for col in cols:
            hidden_idx = [i for i in range(len(flow)) if group[i] and masked.iloc[i][col]]
            if len(hidden_idx) != 1:
                continue
            options = [
                i
                for i in range(len(flow))
                if removal[i] and not masked.iloc[i][col] and values.iloc[i][col] > 0
            ]
            if not options:
                options = [
                    i
                    for i in range(len(flow))
                    if flow["step"].iloc[i] == "analysed" and not masked.iloc[i][col]
                ]
            if options:
                pick_i = min(options, key=lambda i: values.iloc[i][col])
                masked.iloc[pick_i, masked.columns.get_loc(col)] = True
                changed = True
    out = flow.astype(object).copy()
    for col in cols:
        for i in range(len(flow)):
            if primary.iloc[i][col]:
                text = PRIMARY.format(n=min_cell_size)
            elif masked.iloc[i][col]:
                text = SECONDARY
            else:
                text = f"{int(values.iloc[i][col]):,}"
            out.iloc[i, out.columns.get_loc(col)] = text
    return out
