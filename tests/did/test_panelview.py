"""panel_view: the treatment-rollout heatmap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.exceptions import DataValidationError
from impacteval.plotting.panelview import panel_view


def test_rollout_sorted_by_adoption() -> None:
    import matplotlib.pyplot as plt

    d = ie.datasets.load("mpdta")
    ax = panel_view(d, unit="countyreal", time="year", cohort="first_treat")
    mat = np.asarray(ax.get_images()[0].get_array())
    assert mat.shape == (500, 5)
    first = np.where(mat.max(axis=1) > 0, mat.argmax(axis=1), 5)
    assert np.all(np.diff(first) >= 0)  # earliest adopters first, never treated last
    assert int((mat.sum(axis=1) == 0).sum()) == 309
    d["d"] = ((d["first_treat"] > 0) & (d["year"] >= d["first_treat"])).astype(int)
    ax2 = panel_view(d.iloc[:-3], unit="countyreal", time="year", treatment="d")
    mat2 = np.ma.getmaskarray(np.ma.asarray(ax2.get_images()[0].get_array()))
    assert mat2.sum() == 3  # the missing cells are masked
    plt.close("all")


def test_bad_input() -> None:
    d = pd.DataFrame({"u": [1, 1, 2], "t": [1, 1, 1], "d": [0, 1, 2]})
    with pytest.raises(DataValidationError, match="exactly one"):
        panel_view(d, unit="u", time="t")
    with pytest.raises(DataValidationError, match="duplicate"):
        panel_view(d, unit="u", time="t", treatment="d")
    with pytest.raises(DataValidationError, match="0/1"):
        panel_view(d.iloc[1:], unit="u", time="t", treatment="d")
