"""The result contract pinned in DESIGN.md."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import impacteval as ie
from impacteval.results import RESULT_COLUMNS, EffectEstimate, EffectTable, fingerprint


def _example() -> EffectEstimate:
    return EffectEstimate.from_wald(
        2.0,
        0.5,
        level=0.95,
        df=30.0,
        estimand="ATE",
        method="test",
        n_obs=32,
        n_treated=16,
        n_control=16,
    )


def test_wald_interval_matches_t_distribution() -> None:
    res = _example()
    crit = stats.t(30).ppf(0.975)
    assert res.ci_lower == pytest.approx(2.0 - crit * 0.5, rel=1e-12)
    assert res.ci_upper == pytest.approx(2.0 + crit * 0.5, rel=1e-12)
    assert res.p_value == pytest.approx(2 * stats.t(30).sf(4.0), rel=1e-12)
    assert res.ci_method == "t"
    normal = EffectEstimate.from_wald(2.0, 0.5, level=0.9, df=None)
    assert normal.ci_method == "normal"
    assert normal.ci_upper == pytest.approx(2.0 + stats.norm.ppf(0.95) * 0.5, rel=1e-12)


def test_results_are_frozen_and_with_level_returns_new_object() -> None:
    res = _example()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.estimate = 3.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        res.details["x"] = 1  # type: ignore[index]
    wider = res.with_level(0.99)
    assert wider is not res and wider.level == 0.99 and res.level == 0.95
    assert wider.ci_lower < res.ci_lower and wider.p_value == res.p_value


def test_to_frame_columns_do_not_change_with_level() -> None:
    res = _example()
    f95, f90 = res.to_frame(), res.with_level(0.9).to_frame()
    assert list(f95.columns) == list(f90.columns)
    assert list(f95.columns[:5]) == list(RESULT_COLUMNS)
    for col in (
        "n_obs",
        "n_treated",
        "n_control",
        "n_clusters",
        "df",
        "ci_method",
        "estimand",
        "method",
        "level",
        "n_dropped",
    ):
        assert col in f95.columns


def test_summary_renders_in_every_format(nsw: pd.DataFrame) -> None:
    res = ie.rct.regression(nsw, outcome="re78", treatment="treat", covariates=["age"])
    summary = res.summary()
    text, md, tex, html = (
        summary.as_text(),
        summary.as_markdown(),
        summary.as_latex(),
        summary._repr_html_(),
    )
    for out in (text, md, tex, html):
        assert "treat" in out
    assert "\\begin{tabular}" in tex and "\\end{tabular}" in tex
    assert md.count("|") > 10 and "<table>" in html
    assert res._repr_html_() == html
    assert f"{res.estimate:,.4f}" in text  # the treatment row carries the headline estimate


def test_provenance_records_version_options_and_fingerprint(nsw: pd.DataFrame) -> None:
    res = ie.rct.difference_in_means(nsw, outcome="re78", treatment="treat")
    prov = res.provenance
    assert prov.package_version == ie.__version__
    assert prov.options["outcome"] == "re78"
    assert prov.data_fingerprint == fingerprint(nsw, ["re78", "treat"])
    changed = nsw.copy()
    changed.loc[0, "re78"] += 1.0
    again = ie.rct.difference_in_means(changed, outcome="re78", treatment="treat")
    assert again.provenance.data_fingerprint != prov.data_fingerprint
    assert prov.to_dict()["options"]["treatment"] == "treat"


def test_effect_table_contract() -> None:
    frame = pd.DataFrame(
        {
            "event_time": [-1, 0, 1],
            "estimate": [0.0, 1.0, 2.0],
            "std_error": [0.1, 0.2, 0.3],
            "ci_lower": [-0.2, 0.6, 1.4],
            "ci_upper": [0.2, 1.4, 2.6],
            "p_value": [1.0, 0.0, 0.0],
        }
    )
    table = EffectTable(table=frame, index_columns=("event_time",), overall=_example())
    out = table.to_frame()
    assert list(out.columns) == ["event_time", *RESULT_COLUMNS]
    out.loc[0, "estimate"] = 99.0  # the copy is writable, the result is not changed
    assert table.table.loc[0, "estimate"] == 0.0
    assert "event_time" in table.summary().as_text()
    assert table.plot() is not None
    with pytest.raises(ValueError, match="lacks columns"):
        EffectTable(table=frame.drop(columns="p_value"), index_columns=("event_time",))


def test_fingerprint_is_order_and_content_sensitive() -> None:
    df = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert fingerprint(df, ["a", "b"]) == fingerprint(df.copy(), ["a", "b"])
    assert fingerprint(df, ["a"]) != fingerprint(df.iloc[::-1], ["a"])
    assert len(fingerprint(df, ["b"])) == 64
    assert np.isnan(EffectEstimate.from_wald(1.0, np.nan, level=0.95, df=3).p_value)
