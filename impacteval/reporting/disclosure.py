"""Statistical disclosure control for report tables: small cells and secondary suppression.

A count below ``min_cell_size`` (but above 0) is masked (primary suppression). A masked
cell can often be recovered from totals shown beside it: ``rows = treated + control``
across a row, and ``input = removals + analysed`` down a column of a sample-flow table.
Secondary suppression masks one more cell in every such equation that has exactly one
masked cell, until none is left, so no masked count can be recovered by subtraction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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
    values = flow[cols].to_numpy(dtype=np.int64)
    primary = (values > 0) & (values < min_cell_size)
    masked = primary.copy()
    steps = flow["step"].astype(str).to_numpy()
    group = np.isin(steps, [*removals, "analysed", "input"])
    removal = np.isin(steps, list(removals))
    row_cols = [j for j, c in enumerate(cols) if c == total or c in arms]
    n_rows = len(flow)
    changed = True
    while changed:
        changed = False
        if total in cols and len(row_cols) > 1:
            t = cols.index(total)
            for i in range(n_rows):
                hidden = [j for j in row_cols if masked[i, j]]
                if len(hidden) == 1:
                    shown = [j for j in row_cols if not masked[i, j]]
                    pick = t if t in shown else min(shown, key=lambda j: int(values[i, j]))
                    masked[i, pick] = True
                    changed = True
        for j in range(len(cols)):
            if int((group & masked[:, j]).sum()) != 1:
                continue
            options = [
                i for i in range(n_rows) if removal[i] and not masked[i, j] and values[i, j] > 0
            ]
            if not options:
                options = [i for i in range(n_rows) if steps[i] == "analysed" and not masked[i, j]]
            if options:
                masked[min(options, key=lambda i: int(values[i, j])), j] = True
                changed = True
    out = flow.astype(object).copy()
    for j, col in enumerate(cols):
        texts = []
        for i in range(n_rows):
            if primary[i, j]:
                texts.append(PRIMARY.format(n=min_cell_size))
            elif masked[i, j]:
                texts.append(SECONDARY)
            else:
                texts.append(f"{int(values[i, j]):,}")
        out[col] = texts
    return out
