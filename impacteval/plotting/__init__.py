"""Matplotlib displays. Each result's ``.plot()`` delegates here.

One module per kind of picture: :mod:`.effects` (estimates with intervals),
:mod:`.diagnostics` (Love plot, overlap of scores), :mod:`.payments` (payment risk, a
contract's operating characteristic, trigger levels), :mod:`.panelview` (treatment
rollout). Each holds a small display object (what is drawn) with a ``draw(ax)`` method
(:class:`.base.Display`); :func:`.base.get_axes` is the one place a new figure is made.
matplotlib is imported lazily, inside the draw methods, so importing impacteval stays fast.
"""

from __future__ import annotations

from impacteval.plotting.base import Display, get_axes
from impacteval.plotting.diagnostics import love_plot
from impacteval.plotting.effects import plot_estimates
from impacteval.plotting.panelview import panel_view

__all__ = ["Display", "get_axes", "love_plot", "panel_view", "plot_estimates"]
