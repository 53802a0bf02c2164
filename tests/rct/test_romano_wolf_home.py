"""Romano-Wolf lives beside the RCT estimators; the shared inference layer needs no estimator.

``impacteval.inference`` must import without pulling in ``impacteval.rct`` (the arrow runs from
``rct`` to ``inference`` only), while the name ``ie.inference.romano_wolf`` that earlier
code used still reaches the same function as ``ie.rct.romano_wolf``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd

import impacteval as ie


def test_inference_imports_without_rct() -> None:
    code = (
        "import sys, impacteval.inference as inf; "
        "print(sorted(m for m in sys.modules if m.startswith('impacteval.rct'))); "
        "print(callable(inf.adjust_p_values))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0] == "[]", out[0]
    assert out[1] == "True"


def test_old_and_new_names_are_the_same_function() -> None:
    assert ie.inference.romano_wolf is ie.rct.romano_wolf
    from impacteval.inference import romano_wolf
    from impacteval.rct.romano_wolf import romano_wolf as home

    assert romano_wolf is home


def test_adjust_p_values_reproduces_romano_wolf_from_its_null_statistics() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {"z": np.repeat([0, 1], 60), "y1": rng.normal(size=120), "y2": rng.normal(size=120)}
    )
    df["y2"] += 0.5 * df["z"]
    out = ie.rct.romano_wolf(df, outcomes=["y1", "y2"], treatment="z", n_bootstrap=199, rng=4)
    again = ie.inference.adjust_p_values(
        out["p_value"],
        method="romano_wolf",
        statistics=out["statistic"],
        null_statistics=out.attrs["null_statistics"],
    )
    np.testing.assert_array_equal(again.to_numpy(), out["p_value_rw"].to_numpy())
