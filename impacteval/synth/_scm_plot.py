"""Matplotlib displays for synthetic control results (imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from impacteval.synth._scm_inference import LeaveOneOut, PlaceboTest
    from impacteval.synth._scm_result import SyntheticControl

__all__ = ["plot_fit", "plot_loo", "plot_placebo"]


def _mark(ax: Any, when: Any) -> None:
    ax.axvline(when, color="grey", linestyle=":", linewidth=1)


def plot_fit(result: SyntheticControl, ax: Any = None) -> Any:
    """Paths (left) and gap (right)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1, ax2 = ax
    ax1.plot(
        result.treated_path.index,
        result.treated_path,
        color="black",
        label=str(result.treated_unit),
    )
    ax1.plot(
        result.synthetic_path.index,
        result.synthetic_path,
        color="black",
        linestyle="--",
        label="synthetic",
    )
    _mark(ax1, result.treatment_time)
    ax1.set_ylabel(result.outcome or "outcome")
    ax1.legend(frameon=False)
    ax2.plot(result.gaps.index, result.gaps, color="black")
    ax2.axhline(0.0, color="grey", linewidth=0.8)
    _mark(ax2, result.treatment_time)
    ax2.set_ylabel("gap (treated - synthetic)")
    return ax


def plot_placebo(test: PlaceboTest, ax: Any = None, kind: str = "gaps") -> Any:
    """Placebo gaps or sorted RMSPE ratios."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    name = test.treated_unit
    if kind == "ratios":
        r = test.ratio.drop(list(test.excluded)).sort_values()
        colors = ["black" if u == name else "lightgrey" for u in r.index]
        ax.barh([str(u) for u in r.index], r.to_numpy(), color=colors)
        ax.set_xlabel("post/pre RMSPE ratio")
        return ax
    gaps = test.gaps.drop(columns=list(test.excluded))
    for col in gaps.columns[1:]:
        ax.plot(gaps.index, gaps[col], color="lightgrey", linewidth=0.8)
    ax.plot(gaps.index, gaps[name], color="black", linewidth=1.8, label=str(name))
    ax.axhline(0.0, color="grey", linewidth=0.8)
    _mark(ax, test.treatment_time)
    ax.set_ylabel("gap")
    if np.isfinite(test.p_value):
        ax.set_title(f"placebo p-value {test.p_value:.3f} ({test.rank}/{test.n_placebos + 1})")
    ax.legend(frameon=False)
    return ax


def plot_loo(loo: LeaveOneOut, ax: Any = None) -> Any:
    """Leave-one-out synthetic paths around the full fit."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for col in loo.paths.columns:
        ax.plot(loo.paths.index, loo.paths[col], color="lightgrey", linewidth=0.9)
    ax.plot(loo.treated_path.index, loo.treated_path, color="black", label="treated")
    ax.plot(
        loo.synthetic_path.index,
        loo.synthetic_path,
        color="black",
        linestyle="--",
        label="synthetic",
    )
    _mark(ax, loo.treatment_time)
    ax.legend(frameon=False)
    return ax
