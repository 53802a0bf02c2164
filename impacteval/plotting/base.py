"""The one Axes helper and the base of every display object.

A display is a small frozen object that holds what a figure shows (numbers already
computed by the result) and draws it with :meth:`Display.draw`. Results' ``.plot()``
methods build a display and call ``draw``; nothing in ``plotting`` imports an estimator,
``payments`` or ``reporting``, so the arrow runs one way. matplotlib is imported on the
first draw, never at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Display", "get_axes"]


def get_axes(ax: Axes | None, figsize: tuple[float, float] = (6.0, 3.5)) -> Axes:
    """``ax`` itself, or the Axes of a new figure of size ``figsize`` (inches)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new_ax = plt.subplots(figsize=figsize)
    return new_ax


class Display:
    """Base of the display objects: ``draw(ax)`` on a given or a new Axes.

    Subclasses set :attr:`figsize` (used when no Axes is given) and implement
    :meth:`render`, which draws on an existing Axes.
    """

    figsize: ClassVar[tuple[float, float]] = (6.0, 3.5)

    def render(self, ax: Axes) -> None:
        """Draw on ``ax`` (implemented by each display)."""
        raise NotImplementedError

    def draw(self, ax: Axes | None = None) -> Axes:
        """Draw on ``ax`` (a new figure of :attr:`figsize` when ``None``); return the Axes."""
        target = get_axes(ax, self.figsize)
        self.render(target)
        return target
