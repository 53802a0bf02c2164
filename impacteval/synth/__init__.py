"""Synthetic control designs: one treated unit (or a block of units) against a weighted
comparison built from untreated donors.

- :func:`synthetic_control` — Abadie, Diamond & Hainmueller (2010) with nested V/W
  optimisation, placebo tests in space and time, leave-one-out, conformal inference and the
  ridge-augmented estimator (Ben-Michael, Feller & Rothstein 2021); ``method="penalized"``
  (Abadie & L'Hour 2021, ``_scm_penalized.py``) and ``method="robust"`` (Amjad, Shah & Shen
  2018, ``_scm_robust.py``).
- :func:`synthetic_control_multi` — several treated units with staggered adoption, with
  prediction intervals by unit and period, by unit, or by periods since adoption (Cattaneo,
  Feng, Palomba & Titiunik; ``control_multi.py``, ``_scpi_multi*.py``).
- :func:`synthetic_did` — Arkhangelsky et al. (2021) synthetic difference in differences,
  with its synthetic-control and DiD special cases.
- :func:`multisynth` — Ben-Michael, Feller & Rothstein (2022) partially pooled synthetic
  control for several treated units with staggered adoption (``multisynth.py`` on
  ``_multisynth_data``, ``_multisynth_core``, ``_multisynth_inference``,
  ``_multisynth_result``; plot in ``plotting/multisynth.py``).

Layout (``_scm_*``: synthetic control, ``_sdid_*``: synthetic DiD; arrows only run from the
entry modules down, never back):

=================  ==============================  ==============================
step               synthetic control               synthetic DiD
=================  ==============================  ==============================
entry point        ``control.py``                  ``sdid.py``
panel              ``_scm_data.py`` (on            ``_sdid_data.py`` (on
                   ``impacteval._panel``)          ``impacteval._panel``)
design             ``_scm_design.py``              (the panel is the design)
numbers            ``_scm_core.py``,               ``_sdid_core.py``, ``_sdid_fw.py``
                   ``_scm_numerics.py``,
                   ``_scm_augmented.py``
inference          ``_scm_inference.py``           ``_sdid_variance.py``
result             ``_scm_result.py``              ``_sdid_result.py``
plot               ``plotting/synth.py``           ``plotting/synth.py``
=================  ==============================  ==============================

The plots are display objects in :mod:`impacteval.plotting.synth`, drawn by each result's
``.plot()``.
"""

from __future__ import annotations

from impacteval.synth.control import SyntheticControl, synthetic_control
from impacteval.synth.control_multi import SyntheticControlMulti, synthetic_control_multi
from impacteval.synth.multisynth import MultiSynth, multisynth
from impacteval.synth.sdid import SyntheticDiD, synthetic_did

__all__ = [
    "MultiSynth",
    "SyntheticControl",
    "SyntheticControlMulti",
    "SyntheticDiD",
    "multisynth",
    "synthetic_control",
    "synthetic_control_multi",
    "synthetic_did",
]
