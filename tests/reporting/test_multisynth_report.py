"""A synth report whose primary estimator is multisynth (one treated unit, the synth
design's treated_unit / treatment_time), with synthetic DiD beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import impacteval as ie
from impacteval.reporting import build_report
from impacteval.reporting.spec import load_spec

SPEC = """
[report]
title = "multisynth report"
evaluator = "test"
seed = 7

[data]
path = "panel.csv"

[columns]
outcome = "sales"
unit = "region"
time = "year"

[design]
type = "synth"
estimator = "multisynth"
treated_unit = "r00"
treatment_time = 2009
alternatives = [{ estimator = "synthetic_did", method = "sdid" }]

[design.options]
fixedeff = true
"""


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n, t = 12, 14
    y = rng.uniform(size=(n, 2)) @ np.cumsum(rng.normal(size=(t, 2)), axis=0).T
    y += rng.normal(scale=0.2, size=(n, t))
    y[0, 9:] += 1.5
    return pd.DataFrame(
        {
            "region": np.repeat([f"r{i:02d}" for i in range(n)], t),
            "year": np.tile(np.arange(2000, 2000 + t), n),
            "sales": y.ravel(),
        }
    )


def test_multisynth_is_a_synth_estimator_with_its_options(tmp_path: Path) -> None:
    (tmp_path / "panel.csv").write_text(_panel().to_csv(index=False))
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    spec = load_spec(path)
    assert spec.estimator.name == "multisynth"
    bad = path.with_name("bad.toml")
    bad.write_text(SPEC.replace("fixedeff = true", "n_starts = 3"))
    with pytest.raises(ie.exceptions.ImpactEvalError, match="n_starts"):
        load_spec(bad)


@pytest.mark.slow
def test_report_with_multisynth_primary(tmp_path: Path) -> None:
    panel = _panel()
    (tmp_path / "panel.csv").write_text(panel.to_csv(index=False))
    (tmp_path / "spec.toml").write_text(SPEC)
    paths = build_report(tmp_path / "spec.toml", tmp_path / "out")
    html = paths.html.read_text(encoding="utf-8")
    assert "multisynth, partially pooled synthetic control (jackknife SE)" in html
    assert "synthetic difference in differences" in html
    panel["d"] = ((panel["region"] == "r00") & (panel["year"] >= 2009)).astype(float)
    direct = ie.synth.multisynth(
        panel, outcome="sales", unit="region", time="year", treatment="d", fixedeff=True, rng=7
    )
    assert f"{direct.estimate:.4f}" in html and f"{direct.std_error:.4f}" in html
