"""Tables a reader sees write tiny p-values as "< 0.0001", not as a run of zeros."""

from __future__ import annotations

import pandas as pd

from impacteval.reporting.readable import readable_frame


def test_tiny_p_values_read_as_below_a_bound_and_others_keep_their_digits() -> None:
    frame = pd.DataFrame(
        {"estimate": [1.832, 0.5, 2.0], "p_value": [2.136e-08, 0.04321, float("nan")]}
    )
    out = readable_frame(frame)
    assert out["p_value"].tolist() == ["< 0.0001", "0.04321", ""]
    assert out["estimate"].tolist() == ["1.832", "0.5", "2"]
    assert readable_frame(frame, keep=["p_value"])["p_value"].iloc[0] == 2.136e-08
