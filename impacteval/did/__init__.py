"""Difference in differences: the 2x2 comparison (more designs to come: TWFE, event
studies, Callaway-Sant'Anna)."""

from impacteval.did.two_by_two import two_by_two

__all__ = ["two_by_two"]
