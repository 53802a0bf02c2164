"""The vocabulary of a report spec: designs, their estimators and options, column roles.

:mod:`impacteval.reporting.spec` reads a spec against these tables; the documentation's
contract pages list them. Adding an estimator to a report starts here (and with its
:class:`~impacteval.reporting._designs.DesignSection` call).
"""

from __future__ import annotations

__all__ = [
    "DESIGNS",
    "EQUITY_ESTIMATORS",
    "ESTIMATORS",
    "FACT_KEYS",
    "LIST_ROLES",
    "OPERATORS",
    "REQUIRED_ROLES",
    "SINGLE_ROLES",
]

DESIGNS = ("rct", "did", "matching", "synth")

#: estimator -> keyword options a spec may set (columns are passed from [columns])
ESTIMATORS: dict[str, dict[str, frozenset[str]]] = {
    "rct": {
        "difference_in_means": frozenset(),
        "regression": frozenset({"adjustment", "se_type", "inference", "wild_bootstrap"}),
        "randomization_inference": frozenset({"n_permutations"}),
    },
    "did": {
        "att_gt": frozenset(
            {"control_group", "method", "base_period", "anticipation", "bootstrap"}
        ),
        "twfe": frozenset({"se_type", "inference", "wild_bootstrap"}),
        "event_study": frozenset({"method", "reference"}),
    },
    "matching": {
        "nearest_neighbor": frozenset(
            {"ratio", "replace", "caliper", "estimand", "se", "distance", "bias_adjust"}
        ),
        "ipw": frozenset({"estimand", "trim", "normalize"}),
        "aipw": frozenset({"estimand", "cross_fit"}),
        "entropy_balance": frozenset({"estimand", "moments"}),
    },
    "synth": {
        "synthetic_control": frozenset(
            {"predictors", "fit_period", "v", "augment", "ridge_lambda", "n_starts", "inference"}
        ),
        "synthetic_did": frozenset({"method", "se"}),
        "multisynth": frozenset({"nu", "fixedeff", "ridge", "inference"}),
    },
}

#: column roles each design needs
REQUIRED_ROLES = {
    "rct": ("outcome", "treatment"),
    "did": ("outcome", "unit", "time", "cohort"),
    "matching": ("outcome", "treatment", "covariates"),
    "synth": ("outcome", "unit", "time"),
}
SINGLE_ROLES = ("outcome", "treatment", "unit", "time", "cohort", "cluster", "blocks")
LIST_ROLES = ("covariates", "fixed_effects")
OPERATORS = ("lt", "le", "gt", "ge", "eq", "ne")
#: how subgroup effects are estimated: the primary estimator, or (rct, matching) the plain
#: difference in means, robust where a small subgroup defeats a propensity model
EQUITY_ESTIMATORS = ("primary", "difference_in_means")


#: optional [report] facts shown on page one (never taken from the clock)
FACT_KEYS = ("population", "outcome_window", "data_period", "report_date", "version")
