"""Common support and the overlap plot (impacteval.diagnostics.overlap); values by hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from impacteval.diagnostics.overlap import CommonSupport, common_support, overlap_plot
from impacteval.exceptions import DataValidationError
from impacteval.results import Summary

# treated 0.2 0.35 0.5 0.9 ; control 0.05 0.1 0.3 0.6
SCORES = [0.2, 0.35, 0.5, 0.9, 0.05, 0.1, 0.3, 0.6]
Z = [1, 1, 1, 1, 0, 0, 0, 0]


def test_common_support_by_hand() -> None:
    cs = common_support(SCORES, Z)
    assert isinstance(cs, CommonSupport)
    tab = cs.table
    assert tab["min"].tolist() == [0.2, 0.05]
    assert tab["max"].tolist() == [0.9, 0.6]
    # treated outside [0.05, 0.6]: 0.9 ; control outside [0.2, 0.9]: 0.05, 0.1
    assert tab["n_outside"].tolist() == [1, 2]
    assert tab["share_outside"].tolist() == [0.25, 0.5]
    assert tab["n"].tolist() == [4, 4]
    assert (cs.lower, cs.upper) == (0.2, 0.6)
    assert cs.in_support.tolist() == [True, True, True, False, False, False, True, True]
    assert cs.n_outside == 3
    assert isinstance(cs.summary(), Summary) and "Common support" in str(cs)


def test_accepts_series_and_booleans() -> None:
    s = pd.Series(SCORES, index=list("abcdefgh"))
    z = pd.Series(np.array(Z, dtype=bool), index=s.index)
    assert common_support(s, z).n_outside == 3


def test_overlap_plot_draws_mirrored_histograms() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    out = overlap_plot(SCORES, Z, ax=ax, bins=5)
    assert out is ax and isinstance(out, Axes)
    heights = [p.get_height() for p in ax.patches if isinstance(p, Rectangle)]
    assert len(heights) == 10
    assert all(h >= 0 for h in heights[:5]) and all(h <= 0 for h in heights[5:])
    # densities integrate to one in each arm
    width = (0.9 - 0.05) / 5
    assert sum(heights[:5]) * width == pytest.approx(1.0)
    assert -sum(heights[5:]) * width == pytest.approx(1.0)
    plt.close(fig)
    ax2 = common_support(SCORES, Z).plot(SCORES, Z)
    assert isinstance(ax2, Axes)
    plt.close("all")


@pytest.mark.parametrize(
    ("scores", "z", "match"),
    [
        ([0.1, 0.2], [1, 0, 1], "equal lengths"),
        ([0.1, np.nan, 0.3], [1, 0, 1], "missing"),
        ([0.1, 0.2, 0.3], [1, 2, 0], "binary"),
        ([0.1, 0.2, 0.3], [1, 1, 1], "control"),
        ([[0.1, 0.2]], [[1, 0]], "one-dimensional"),
        (["a", "b"], [1, 0], "numbers"),
    ],
)
def test_bad_input(scores: object, z: object, match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        common_support(scores, z)  # type: ignore[arg-type]


def test_bad_bins() -> None:
    with pytest.raises(DataValidationError, match="bins"):
        overlap_plot(SCORES, Z, bins=0)
