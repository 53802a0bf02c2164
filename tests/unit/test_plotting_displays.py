"""Display objects in impacteval.plotting: what is drawn, drawn on a given or a new Axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from impacteval.plotting.base import Display, get_axes
from impacteval.plotting.diagnostics import LoveDisplay, OverlapDisplay
from impacteval.plotting.effects import EstimatesDisplay
from impacteval.plotting.payments import (
    OperatingCharacteristicDisplay,
    PaymentRiskDisplay,
    TriggerLinesDisplay,
)

FRAME = pd.DataFrame(
    {"estimate": [1.0, -2.0], "ci_lower": [0.0, -3.5], "ci_upper": [2.0, -0.5]},
    index=pd.Index(["a", "b"], name="group"),
)
CURVE = pd.DataFrame(
    {
        "fraction_of_target": [0.0, 0.5, 1.0],
        "expected_payment": [10.0, 500.0, 900.0],
        "p_pay": [0.05, 0.5, 0.9],
    }
)


@pytest.fixture(autouse=True)
def _close() -> None:
    yield
    plt.close("all")


def test_get_axes_returns_the_given_axes_or_a_new_figure_of_the_size() -> None:
    _, ax = plt.subplots()
    assert get_axes(ax) is ax
    new = get_axes(None, (4.0, 2.0))
    assert new is not ax
    assert tuple(new.figure.get_size_inches()) == (4.0, 2.0)


def test_base_display_has_no_picture_of_its_own() -> None:
    with pytest.raises(NotImplementedError):
        Display().draw()


def test_estimates_display_draws_one_point_per_row_with_its_interval() -> None:
    _, ax = plt.subplots()
    assert EstimatesDisplay(FRAME).draw(ax) is ax
    line = ax.lines[0]
    assert line.get_ydata().tolist() == [1.0, -2.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.get_xlabel() == "group"


def test_love_display_plots_absolute_smds_and_the_threshold() -> None:
    table = pd.DataFrame({"smd": [-0.3, 0.05], "smd_adjusted": [0.02, -0.01]}, index=["x", "z"])
    ax = LoveDisplay(table, threshold=0.2).draw()
    before, after = (c.get_offsets()[:, 0].tolist() for c in ax.collections)
    assert before == [0.3, 0.05] and after == [0.02, 0.01]
    assert ax.lines[-1].get_xdata()[0] == 0.2


def test_overlap_display_mirrors_the_arms_and_marks_the_support() -> None:
    s = np.array([0.1, 0.4, 0.6, 0.9, 0.2, 0.5])
    z = np.array([1, 1, 1, 1, 0, 0])
    ax = OverlapDisplay(s, z, 0.2, 0.5, bins=4).draw()
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 8
    assert all(h >= 0 for h in heights[:4]) and all(h <= 0 for h in heights[4:])
    assert [ln.get_xdata()[0] for ln in ax.lines[-2:]] == [0.2, 0.5]


def test_payment_displays_use_twin_axes_and_name_the_contract() -> None:
    risk = PaymentRiskDisplay(CURVE, "C", "USD", 0.05).draw()
    assert risk.get_title() == "C: P(pay | null) = 5.0%"
    assert len(risk.figure.axes) == 2
    oc = OperatingCharacteristicDisplay(CURVE, "C", "USD").draw()
    assert oc.get_title() == "C: operating characteristic"
    assert tuple(oc.figure.get_size_inches()) == (6.5, 4.0)


def test_trigger_lines_skip_metrics_without_a_level() -> None:
    _, ax = plt.subplots()
    TriggerLinesDisplay({"m": 0, "n": 1}, {"m": 1.5}).draw(ax)
    assert len(ax.collections) == 1
    assert ax.get_legend() is not None
