"""Difference in differences: the 2x2 comparison, two-way fixed effects, Callaway &
Sant'Anna (2021) group-time effects (each cell by an estimator of R DRDID's family, with R
did's or DRDID's standard-error convention) with their aggregations, and event studies (dynamic
TWFE, Sun-Abraham, Borusyak-Jaravel-Spiess imputation), and the Rambachan-Roth sensitivity
of event studies to violations of parallel trends (``honest``), Gardner's two-stage DiD
(``two_stage``), triple differences with staggered adoption (``ddd``), difference in
differences with a continuous dose (``continuous``), and de Chaisemartin & D'Haultfoeuille's
event study for treatments that switch on and off (``dcdh``)."""

from impacteval.did.aggregate import AggregatedEffects, WaldTest
from impacteval.did.att_gt import GroupTimeEffects, att_gt
from impacteval.did.continuous import DoseResponse, continuous
from impacteval.did.dcdh import SwitchingEffects, dcdh
from impacteval.did.ddd import TripleDifferenceEffects, ddd
from impacteval.did.event_study import EventStudyTable, event_study
from impacteval.did.honest import HonestSensitivity, honest, honest_from_estimates
from impacteval.did.twfe import twfe
from impacteval.did.two_by_two import two_by_two
from impacteval.did.two_stage import two_stage

__all__ = [
    "AggregatedEffects",
    "DoseResponse",
    "EventStudyTable",
    "GroupTimeEffects",
    "HonestSensitivity",
    "SwitchingEffects",
    "TripleDifferenceEffects",
    "WaldTest",
    "att_gt",
    "continuous",
    "dcdh",
    "ddd",
    "event_study",
    "honest",
    "honest_from_estimates",
    "twfe",
    "two_by_two",
    "two_stage",
]
