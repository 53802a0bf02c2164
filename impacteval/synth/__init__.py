"""Synthetic control designs: one treated unit (or a block of units) against a weighted
comparison built from untreated donors.

- :func:`synthetic_control` — Abadie, Diamond & Hainmueller (2010) with nested V/W
  optimisation, placebo tests in space and time, leave-one-out, conformal inference and the
  ridge-augmented estimator (Ben-Michael, Feller & Rothstein 2021).
- :func:`synthetic_did` — Arkhangelsky et al. (2021) synthetic difference in differences,
  with its synthetic-control and DiD special cases.
"""

from __future__ import annotations

from impacteval.synth.control import SyntheticControl, synthetic_control
from impacteval.synth.sdid import SyntheticDiD, synthetic_did

__all__ = ["SyntheticControl", "SyntheticDiD", "synthetic_control", "synthetic_did"]
