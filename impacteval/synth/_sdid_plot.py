"""Synthetic-DiD picture: treated vs weighted controls with the time weights (private)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from impacteval.exceptions import DataValidationError

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from impacteval.synth._sdid_result import SyntheticDiD

__all__ = ["plot_sdid"]


def _positions(times: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(times.dtype) or pd.api.types.is_datetime64_any_dtype(
        times.dtype
    ):
        return np.asarray(times.to_numpy(dtype=float))
    return np.arange(len(times), dtype=float)


def plot_sdid(result: SyntheticDiD, *, ax: Axes | None = None, cohort: Any = None) -> Axes:
    """Draw one cohort's trajectories, the DiD parallelogram, the effect and lambda."""
    import matplotlib.pyplot as plt

    traj = result.trajectories
    cohorts = result.cohorts
    if cohort is None:
        cohort = cohorts["cohort"].iloc[int(np.argmax(cohorts["n_treated"].to_numpy()))]
    elif cohort not in set(cohorts["cohort"]):
        raise DataValidationError(
            f"`cohort` must be one of the adoption periods {cohorts['cohort'].tolist()}; "
            f"received {cohort!r}"
        )
    part = traj[traj["cohort"] == cohort]
    x = _positions(part["time"])
    treated = part["treated"].to_numpy()
    synth = part["synthetic"].to_numpy()
    lam = part["time_weight"].to_numpy()
    post = part["post"].to_numpy(dtype=bool)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    ax.plot(x, treated, color="C3", label="treated")
    ax.plot(x, synth, color="C0", label="synthetic control")
    onset = x[post][0]
    ax.axvline(onset, color="grey", alpha=0.4, lw=1)
    x_post = float(x[post].mean())
    tr_post, co_post = float(treated[post].mean()), float(synth[post].mean())
    if lam.sum() > 0:
        x_pre = float(lam @ x)
        tr_pre, co_pre = float(lam @ treated), float(lam @ synth)
        ax.plot([x_pre, x_post], [co_pre, co_post], "o--", color="C0", alpha=0.8, lw=1)
        ax.plot([x_pre, x_post], [tr_pre, tr_pre + co_post - co_pre], "o--", color="C3", lw=1)
        counterfactual = tr_pre + co_post - co_pre
    else:  # synthetic control: no time weights, no parallelogram
        counterfactual = co_post
    ax.annotate(
        "",
        xy=(x_post, tr_post),
        xytext=(x_post, counterfactual),
        arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5},
    )
    lo, hi = ax.get_ylim()
    if lam.sum() > 0:
        width = float(np.min(np.diff(x))) if len(x) > 1 else 1.0
        height = 0.15 * (hi - lo) * lam / lam.max()
        ax.bar(x, height, bottom=lo, width=0.9 * width, color="C0", alpha=0.3, label="time weight")
        ax.set_ylim(lo, hi)
    ax.set_xlabel(str(result.time_weights.index.names[-1] or "time"))
    ax.set_ylabel(result.outcome or "outcome")
    label = "" if len(cohorts) == 1 else f" (cohort {cohort})"
    ax.set_title(f"{result.method}{label}: {result.estimate:.3g}")
    ax.legend(loc="best", fontsize="small")
    return ax
