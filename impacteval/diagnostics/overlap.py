"""Overlap of propensity scores between arms: a common-support summary and a plot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from impacteval._validation import check_binary
from impacteval.exceptions import DataValidationError
from impacteval.results import Summary

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["CommonSupport", "common_support", "overlap_plot"]

ArrayLike = Sequence[float] | np.ndarray | pd.Series


@dataclass(frozen=True, kw_only=True)
class CommonSupport:
    """Where the score distributions of the two arms overlap.

    Attributes
    ----------
    table : pandas.DataFrame
        Indexed by arm (``treated``, ``control``): ``n``, ``min``, ``max``, ``n_outside``
        (units whose score is outside the *other* arm's ``[min, max]``) and
        ``share_outside``.
    lower, upper : float
        The common support ``[max of the minima, min of the maxima]`` (``lower > upper``
        means the arms do not overlap at all).
    in_support : numpy.ndarray of bool
        Per unit: score within ``[lower, upper]``.
    n_outside : int
        Units outside the other arm's range (sum of ``table["n_outside"]``).
    """

    table: pd.DataFrame
    lower: float
    upper: float
    in_support: np.ndarray
    n_outside: int

    def to_frame(self) -> pd.DataFrame:
        """The per-arm table (a fresh copy)."""
        return self.table.copy()

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of the per-arm ranges."""
        facts = (
            ("Common support", f"[{self.lower:.4g}, {self.upper:.4g}]"),
            ("Units outside the other arm's range", f"{self.n_outside:,}"),
        )
        return Summary(title="Common support", facts=facts, table=self.to_frame())

    def __str__(self) -> str:
        return self.summary().as_text()

    def plot(self, scores: ArrayLike, treatment: ArrayLike, ax: Axes | None = None) -> Axes:
        """Same as :func:`overlap_plot`."""
        return overlap_plot(scores, treatment, ax=ax)


def _inputs(scores: object, treatment: object) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for name, values in (("scores", scores), ("treatment", treatment)):
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            raise DataValidationError(
                f"`{name}` must be a one-dimensional sequence of numbers; received "
                f"{type(values).__name__}"
            ) from None
        if arr.ndim != 1 or arr.size == 0:
            raise DataValidationError(
                f"`{name}` must be a non-empty one-dimensional array; received shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise DataValidationError(
                f"`{name}` contains missing or infinite values; drop those units first"
            )
        out.append(arr)
    s, z = out
    if s.size != z.size:
        raise DataValidationError(
            f"`scores` and `treatment` must have equal lengths; received {s.size} and {z.size}"
        )
    return s, check_binary(z, "treatment", "treatment")


def common_support(scores: ArrayLike, treatment: ArrayLike) -> CommonSupport:
    """Common-support summary of (propensity) scores by arm.

    Parameters
    ----------
    scores : array-like
        One score per unit (propensity scores, or any balancing score such as the linear
        predictor).
    treatment : array-like
        Binary (0/1) treatment indicator, same length.

    Returns
    -------
    CommonSupport

    Raises
    ------
    DataValidationError
        Unequal lengths, missing or infinite values, non-binary treatment or an empty arm.

    Notes
    -----
    A treated unit is "outside" when its score is below the smallest or above the largest
    control score, and conversely (the min/max rule of Dehejia & Wahba 1999). For the
    ATT only the treated count matters. Trimming by the Crump et al. (2009) rule is
    available in :func:`impacteval.matching.weighting.ipw`.

    Examples
    --------
    >>> from impacteval.diagnostics.overlap import common_support
    >>> cs = common_support([0.1, 0.4, 0.6, 0.9, 0.05, 0.5], [1, 1, 1, 1, 0, 0])
    >>> cs.table["n_outside"].tolist(), (cs.lower, cs.upper)
    ([2, 1], (0.1, 0.5))
    """
    s, z = _inputs(scores, treatment)
    st, sc = s[z == 1], s[z == 0]
    out_t = int(((st < sc.min()) | (st > sc.max())).sum())
    out_c = int(((sc < st.min()) | (sc > st.max())).sum())
    table = pd.DataFrame(
        {
            "n": [st.size, sc.size],
            "min": [st.min(), sc.min()],
            "max": [st.max(), sc.max()],
            "n_outside": [out_t, out_c],
            "share_outside": [out_t / st.size, out_c / sc.size],
        },
        index=pd.Index(["treated", "control"], name="arm"),
    )
    lower = float(max(st.min(), sc.min()))
    upper = float(min(st.max(), sc.max()))
    return CommonSupport(
        table=table,
        lower=lower,
        upper=upper,
        in_support=(s >= lower) & (s <= upper),
        n_outside=out_t + out_c,
    )


def overlap_plot(
    scores: ArrayLike, treatment: ArrayLike, ax: Axes | None = None, *, bins: int = 30
) -> Axes:
    """Mirrored histograms of the scores: treated above the axis, controls below.

    Dashed vertical lines mark the common support (see :func:`common_support`). Bar heights
    are densities, so arms of different sizes are comparable.

    Parameters
    ----------
    scores, treatment : array-like
        As :func:`common_support`.
    ax : matplotlib Axes, optional
        Where to draw; a new figure otherwise.
    bins : int
        Number of equal-width bins over the range of all scores.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> from impacteval.diagnostics.overlap import overlap_plot
    >>> ax = overlap_plot([0.1, 0.4, 0.6, 0.9, 0.05, 0.5], [1, 1, 1, 1, 0, 0], bins=5)
    >>> len(ax.patches)  # 5 bars per arm
    10
    """
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise DataValidationError(f"`bins` must be an integer >= 1; received {bins!r}")
    s, z = _inputs(scores, treatment)
    support = common_support(s, z)
    from impacteval.plotting.diagnostics import OverlapDisplay

    return OverlapDisplay(s, z, support.lower, support.upper, int(bins)).draw(ax)
