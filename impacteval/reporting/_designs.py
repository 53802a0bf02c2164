"""One object per design: what the report notebook writes that depends on the design.

:class:`DesignSection` holds, for one design, the estimator call (which column roles go
to which keyword), the cells that derive the treatment indicator from the panel (DiD,
synthetic control) and the design-diagnostics section (what is checked before the
primary estimator is fitted, the fit, and what is read off the fitted result). The
notebook generator looks the section up with :func:`design_section` (by ``spec.design``,
then :meth:`DesignSection.for_spec` for a variant such as several treated synth units)
and never compares design names itself. The settlement, equity and audit sections do not
depend on the design: they read the fitted ``results`` and the column roles only.
"""

from __future__ import annotations

from impacteval.reporting._cells import (
    Cells,
    NotebookPlan,
    kwargs_source,
    options_source,
    predictors_source,
)
from impacteval.reporting._settlement_cells import metric_input_source
from impacteval.reporting._synth_multi_cells import adoption_cells, multisynth_cells
from impacteval.reporting.spec import EstimatorSpec, MetricMap, ReportSpec, matching_estimand

__all__ = ["DESIGN_SECTIONS", "DesignSection", "design_section"]

#: the first fitted result, as source text
_FIRST = "results[next(iter(SUBSETS))]"

_BALANCE = """
balance = ie.diagnostics.balance(sample, treatment=TREATMENT, covariates=COVARIATES)
balance.plot()
plt.show()
balance
"""


def _first_maps(spec: ReportSpec, plan: NotebookPlan | None) -> list[MetricMap]:
    """Contract metrics fed by the first estimate (none without a contract file)."""
    contract = spec.contract
    if contract is None or plan is None or plan.contract_file is None:
        return []
    return [m for m in contract.inputs if m.estimate == spec.estimates[0].id]


def _scale(m: MetricMap) -> str:
    """Source of the factor taking the estimate into the contract's units."""
    if m.per_treated:
        return f"int((rows_of({m.estimate!r})[TREATMENT] == 1).sum())"
    return repr(m.multiplier)


def _wild(est: EstimatorSpec) -> bool:
    """True when the spec asks for the wild cluster bootstrap (it then gets the seed)."""
    return dict(est.options).get("inference") == "wild"


class DesignSection:
    """The design-specific part of the report notebook (base: no diagnostics of its own).

    Attributes
    ----------
    name : str
        The spec's ``design.type``.
    module : str
        The ``impacteval`` subpackage holding the design's estimators (``ie.<module>``).
    treatment_code : str or None
        Cell source that derives ``TREATMENT`` (and ``treated_post``) from the panel, for
        designs whose spec names no treatment column; ``None`` when the spec names it.
    """

    name: str = ""
    module: str = ""
    treatment_code: str | None = None

    def for_spec(self, spec: ReportSpec) -> DesignSection:
        """The section writing ``spec``'s notebook (a variant of this design, or itself)."""
        return self

    @property
    def treatment_is_column(self) -> bool:
        """True when ``TREATMENT`` is a column role of the spec (not derived)."""
        return self.treatment_code is None

    # -- the estimator call -------------------------------------------------------------

    def call_kwargs(self, spec: ReportSpec, est: EstimatorSpec) -> dict[str, str | None]:
        """Keyword arguments (source text) of the call of ``est``; ``None`` = left out."""
        raise NotImplementedError

    def call(self, spec: ReportSpec, est: EstimatorSpec, rows: str = "rows") -> str:
        """Source of the call of ``est`` on the DataFrame named ``rows``."""
        kw = kwargs_source(self.call_kwargs(spec, est))
        return f"ie.{self.module}.{est.name}({rows}, {kw})"

    def fit(self, c: Cells, spec: ReportSpec) -> None:
        """The cell defining ``estimate(rows)`` and fitting it on every subset."""
        pred = predictors_source(spec.estimator)
        prelude = f"PREDICTORS = {pred}\n\n\n" if pred else ""
        c.code(
            f'''
{prelude}def estimate(rows):
    """Primary estimator: {spec.estimator.label}."""
    return {self.call(spec, spec.estimator)}


results = {{name: estimate(rows_of(name)) for name in SUBSETS}}
'''
        )

    # -- section 2 ----------------------------------------------------------------------

    def diagnostics(self, c: Cells, spec: ReportSpec) -> None:
        """Section 2: checks before the fit, the fit, checks read off the fitted result."""
        c.md("## 2. Design diagnostics")
        self.before_fit(c, spec)
        self.fit(c, spec)
        self.after_fit(c, spec)

    def before_fit(self, c: Cells, spec: ReportSpec) -> None:
        """Diagnostic cells that need only the data."""

    def after_fit(self, c: Cells, spec: ReportSpec) -> None:
        """Diagnostic cells that read the primary estimator's fitted result."""

    # -- section 3 ----------------------------------------------------------------------

    def beside_estimates(
        self, c: Cells, spec: ReportSpec, plan: NotebookPlan | None = None
    ) -> None:
        """Cells shown right after the estimates table of section 3 (none by default)."""


class RctSection(DesignSection):
    """Randomised trial: attrition by arm and covariate balance."""

    name = module = "rct"

    def call_kwargs(self, spec: ReportSpec, est: EstimatorSpec) -> dict[str, str | None]:
        """Outcome and treatment, blocks/cluster/covariates/fixed effects as the spec has."""
        cols = spec.columns
        kw: dict[str, str | None] = {"outcome": "OUTCOME", "treatment": "TREATMENT"}
        if est.name in ("difference_in_means", "randomization_inference"):
            kw["blocks"] = "BLOCKS" if cols.get("blocks") else None
            kw["cluster"] = "CLUSTER" if cols.get("cluster") else None
        if est.name == "regression":
            kw["covariates"] = "COVARIATES" if cols.get("covariates") else None
            kw["cluster"] = "CLUSTER" if cols.get("cluster") else None
            kw["fixed_effects"] = "FIXED_EFFECTS" if cols.get("fixed_effects") else None
        kw.update(options_source(est))
        if _wild(est):
            kw["rng"] = "SEED"
        if est.name == "randomization_inference":
            kw["rng"] = "SEED"
        else:
            kw["level"] = "LEVEL"
        return kw

    def before_fit(self, c: Cells, spec: ReportSpec) -> None:
        """Differential attrition, then covariate balance (when covariates are named)."""
        c.md(
            """
Randomisation balances the arms in expectation; attrition (outcomes missing by arm) can
undo it. Differential attrition is the first thing to check; covariate balance the
second (standardised differences near zero are what randomisation promises).
"""
        )
        c.code(
            "# counts below MIN_CELL_SIZE masked; the observed count and rate with them\n"
            "rt.mask_counts(\n"
            "    rt.attrition_table(raw, outcome=OUTCOME, treatment=TREATMENT),\n"
            "    MIN_CELL_SIZE,\n"
            '    counts=["assigned", "observed", "missing"],\n'
            '    linked={"missing": ["observed", "attrition"]},\n'
            ")",
            "diagnostics",
        )
        if spec.column("covariates"):
            c.code(_BALANCE, "diagnostics")


class DidSection(DesignSection):
    """Difference in differences: rollout, event-study profile and the pre-trend test."""

    name = module = "did"
    treatment_code: str | None = """
# cohort = first treated period; 0 or missing = never treated
raw[COHORT] = raw[COHORT].fillna(0)
raw["treated_group"] = (raw[COHORT] > 0).astype(int)  # ever treated (counts per arm)
raw["treated_post"] = ((raw[COHORT] > 0) & (raw[TIME] >= raw[COHORT])).astype(float)
TREATMENT = "treated_group"
"""

    def call_kwargs(self, spec: ReportSpec, est: EstimatorSpec) -> dict[str, str | None]:
        """Panel roles; ``att_gt`` and ``event_study`` take the cohort, ``twfe`` the dummy."""
        cols = spec.columns
        kw: dict[str, str | None] = {"outcome": "OUTCOME", "unit": "UNIT", "time": "TIME"}
        cluster = "CLUSTER" if cols.get("cluster") else None
        covs = "COVARIATES" if cols.get("covariates") else None
        if est.name == "att_gt":
            kw.update(cohort="COHORT", covariates=covs, cluster=cluster)
            kw.update(options_source(est))
            kw.update(rng="SEED", level="LEVEL")
        elif est.name == "twfe":
            kw.update(treatment='"treated_post"', covariates=covs, cluster=cluster or "UNIT")
            kw.update(options_source(est))
            if _wild(est):
                kw["rng"] = "SEED"
            kw["level"] = "LEVEL"
        else:  # event_study
            kw.update(cohort="COHORT", covariates=covs, cluster=cluster or "UNIT")
            kw.update(options_source(est))
            kw["level"] = "LEVEL"
        return kw

    def before_fit(self, c: Cells, spec: ReportSpec) -> None:
        """Treatment rollout and the Callaway-Sant'Anna dynamic profile with its pre-test."""
        c.md(
            """
Parallel trends cannot be tested after treatment, but before it the group-time effects
should be near zero. The rollout of treatment, the event-study profile (Callaway-Sant'Anna
dynamic aggregation; pre-periods left of zero) and the Wald pre-test of all
pre-treatment ATT(g, t) = 0 follow.
"""
        )
        c.code(
            """
ie.plotting.panel_view(sample, unit=UNIT, time=TIME, cohort=COHORT)
plt.show()
""",
            "diagnostics",
        )
        opts = {k: repr(v) for k, v in spec.estimator.options if spec.estimator.name == "att_gt"}
        opts = {k: v for k, v in opts.items() if k not in ("bootstrap",)}
        cov = ", covariates=COVARIATES" if spec.column("covariates") else ""
        clu = ", cluster=CLUSTER" if spec.column("cluster") else ""
        extra = "".join(f", {k}={v}" for k, v in opts.items())
        c.code(
            f"""
group_time = ie.did.att_gt(
    sample, outcome=OUTCOME, unit=UNIT, time=TIME, cohort=COHORT{cov}{clu}{extra},
    rng=SEED, level=LEVEL,
)
dynamic = group_time.aggregate("dynamic")
dynamic.plot()
plt.show()
pretest = group_time.pretrend_test()
print(pretest)
dynamic.to_frame()
""",
            "diagnostics",
        )

    def beside_estimates(
        self, c: Cells, spec: ReportSpec, plan: NotebookPlan | None = None
    ) -> None:
        """The Rambachan-Roth breakdown value next to the primary estimate.

        The event study is the primary estimator's own when it is ``event_study``;
        otherwise ``att_gt`` with the primary's options (when it is ``att_gt``) and a
        universal base period, the setting Rambachan & Roth (2023) assume. Target: the
        average of the post-treatment event-time effects; restriction: relative
        magnitudes with the default grid of ``Mbar``. With a contract, the breakdown
        value of the payment decision follows (:meth:`decision_cells`).
        """
        c.md(
            """
**Sensitivity to violations of parallel trends** (Rambachan & Roth 2023). The breakdown
value is the largest violation, relative to the largest pre-treatment one (`Mbar`), for
which the robust interval for the average post-treatment event-study effect still excludes
zero: `Mbar = 1` allows post-treatment deviations from parallel trends as large as the
worst pre-treatment one. A breakdown value near zero means the conclusion rests on exact
parallel trends.
"""
        )
        if spec.estimator.name == "event_study":
            source = f"event_study_fit = {_FIRST}"
        else:
            opts = {}
            if spec.estimator.name == "att_gt":
                skip = ("bootstrap", "base_period")
                opts = {k: repr(v) for k, v in spec.estimator.options if k not in skip}
            cov = ", covariates=COVARIATES" if spec.column("covariates") else ""
            clu = ", cluster=CLUSTER" if spec.column("cluster") else ""
            extra = "".join(f", {k}={v}" for k, v in opts.items())
            source = f"""# the event study for the sensitivity analysis: universal base period
event_study_fit = ie.did.att_gt(
    sample, outcome=OUTCOME, unit=UNIT, time=TIME, cohort=COHORT{cov}{clu}{extra},
    base_period="universal", level=LEVEL,
)"""
        c.code(
            f"""
{source}
sensitivity = event_study_fit.sensitivity(e="average", level=LEVEL)
primary = rt.as_estimate({_FIRST})
print(
    f"{{LABELS[next(iter(SUBSETS))]}}: estimate {{primary.estimate:.4g}} "
    f"({{primary.level:.0%}} CI [{{primary.ci_lower:.4g}}, {{primary.ci_upper:.4g}}]); "
    f"breakdown value of the event study's average effect: {{sensitivity.breakdown_sentence()}}"
)
sensitivity.summary()
""",
            "estimates",
            "sensitivity",
        )
        self.decision_cells(c, spec, plan)

    def decision_cells(self, c: Cells, spec: ReportSpec, plan: NotebookPlan | None) -> None:
        """The breakdown value of the payment decision on the first estimate's metrics.

        For each contract metric fed by the first estimate, the thresholds the contract
        decides on (triggers, linear hurdles, the lowest paying tier) are put in the
        estimate's units and :func:`impacteval.reporting.sensitivity.decision_sensitivity`
        asks how large a violation of parallel trends the decision survives. Written only
        with a contract that maps the first estimate to a metric.
        """
        maps = _first_maps(spec, plan)
        if plan is None or not maps:
            return
        c.md(
            """
**Does the payment decision survive?** The contract decides by comparing its statistic
(the estimate, or a confidence bound, as its rule says) with a threshold. Below, each
threshold is put in the estimate's units and the robust interval (at the level matching
the contract's rule) is compared with it instead of zero: the breakdown value is the
largest `Mbar` for which the decision would not flip. The breakdown against zero above is
kept as context.
"""
        )
        entries = [metric_input_source(m).strip().rstrip(",") for m in maps]
        calls = "".join(
            f"    *rt.decision_sensitivity(\n"
            f"        event_study_fit, CONTRACT, {{{entry}}},\n"
            f"        metric={m.metric!r}, multiplier={_scale(m)}, level=LEVEL,\n"
            f"    ),\n"
            for m, entry in zip(maps, entries, strict=True)
        )
        c.code(
            f"""
CONTRACT = ie.payments.Contract.from_toml(Path({plan.contract_file!r}))
decisions = [
{calls}]
from IPython.display import Markdown

sentences = [decision.sentence for decision in decisions] or [
    "The contract sets no threshold on the metrics fed by this estimate."
]
context = f"For context, against zero: {{sensitivity.breakdown_sentence()}}."
display(Markdown("\\n".join(f"- {{line}}" for line in [*sentences, context])))
DECISION_NOTES += [decision.sentence for decision in decisions]
rt.decision_table(decisions)
""",
            "estimates",
            "sensitivity",
            "decision-sensitivity",
        )


class MatchingSection(DesignSection):
    """Matching and weighting: balance, overlap of the propensity scores, matched balance."""

    name = module = "matching"

    def call_kwargs(self, spec: ReportSpec, est: EstimatorSpec) -> dict[str, str | None]:
        """Outcome, treatment, covariates; alternatives target the primary's estimand."""
        kw: dict[str, str | None] = {
            "outcome": "OUTCOME",
            "treatment": "TREATMENT",
            "covariates": "COVARIATES",
        }
        opts = options_source(est)
        if "estimand" not in opts:
            opts["estimand"] = repr(matching_estimand(spec.estimator))
        kw.update(opts)
        if est.name in ("nearest_neighbor", "aipw"):
            kw["rng"] = "SEED"
        kw["level"] = "LEVEL"
        return kw

    def before_fit(self, c: Cells, spec: ReportSpec) -> None:
        """Covariate balance, then the propensity-score overlap and common support."""
        if spec.column("covariates"):
            c.code(_BALANCE, "diagnostics")
        c.md(
            """
Matching and weighting need overlap: every treated unit must have comparable controls.
Below, the estimated propensity scores by arm and the common-support summary, then the
balance the primary estimator achieved.
"""
        )
        c.code(
            """
scores = ie.matching.propensity_score(sample, treatment=TREATMENT, covariates=COVARIATES)
ie.diagnostics.overlap_plot(scores, sample[TREATMENT])
plt.show()
support = ie.diagnostics.common_support(scores, sample[TREATMENT])
print(
    f"common support: scores from {support.lower:.4g} to {support.upper:.4g}; "
    "units outside it per arm below (counts under MIN_CELL_SIZE masked)"
)
rt.mask_counts(
    support.table, MIN_CELL_SIZE, counts=["n", "n_outside"], linked={"n_outside": ["share_outside"]}
)
""",
            "diagnostics",
        )

    def after_fit(self, c: Cells, spec: ReportSpec) -> None:
        """The balance achieved by nearest-neighbour matching."""
        if spec.estimator.name == "nearest_neighbor":
            c.code(
                f"""
matched = {_FIRST}
if matched.balance is not None:
    matched.balance.plot()
    plt.show()
matched.balance
""",
                "diagnostics",
            )


class SynthSection(DesignSection):
    """Synthetic control: pre-period fit, donor weights and the placebo test in space."""

    name = module = "synth"
    treatment_code: str | None = """
raw["treated_group"] = (raw[UNIT] == TREATED_UNIT).astype(int)
raw["treated_post"] = ((raw[UNIT] == TREATED_UNIT) & (raw[TIME] >= TREATMENT_TIME)).astype(float)
TREATMENT = "treated_group"
"""

    def for_spec(self, spec: ReportSpec) -> DesignSection:
        """:class:`MultiSynthSection` when the spec names a treatment column."""
        return MultiSynthSection() if spec.column("treatment") else self

    def call_kwargs(self, spec: ReportSpec, est: EstimatorSpec) -> dict[str, str | None]:
        """Panel roles; ``synthetic_control`` takes the treated unit and time, predictors."""
        kw: dict[str, str | None] = {"outcome": "OUTCOME", "unit": "UNIT", "time": "TIME"}
        if est.name == "synthetic_control":
            kw.update(treated_unit="TREATED_UNIT", treatment_time="TREATMENT_TIME")
            opts = options_source(est, skip=("predictors",))
            own = predictors_source(est)
            if own is not None and est != spec.estimator:
                opts["predictors"] = own.replace("\n", " ").replace(",]", "]")
            elif own is not None or predictors_source(spec.estimator) is not None:
                opts["predictors"] = "PREDICTORS"  # an alternative inherits the primary's
            kw.update(opts)
        else:
            kw["treatment"] = '"treated_post"'
            kw.update(options_source(est))
        kw.update(rng="SEED", level="LEVEL")
        return kw

    def before_fit(self, c: Cells, spec: ReportSpec) -> None:
        """What makes a synthetic control credible (read off the fit below)."""
        c.md(
            """
A synthetic control is credible when it tracks the treated unit closely before treatment
(small pre-period RMSPE) and when the treated unit's post/pre RMSPE ratio is extreme among
placebo runs that pretend each donor was treated.
"""
        )

    def after_fit(self, c: Cells, spec: ReportSpec) -> None:
        """Treated and synthetic paths, donor weights, the placebo test in space."""
        if spec.estimator.name != "synthetic_control":
            return
        c.code(
            f"""
sc = {_FIRST}
sc.plot()
plt.show()
print(f"pre-period RMSPE {{sc.pre_rmspe:.4g}}; post-period RMSPE {{sc.post_rmspe:.4g}}")
sc.weights[sc.weights > 1e-6].sort_values(ascending=False).to_frame("donor weight")
""",
            "diagnostics",
        )
        c.code(
            """
# placebo in space: every donor treated in turn; p = rank of the treated unit's
# post/pre RMSPE ratio among all units
placebo = sc.placebo_test()
print(placebo)
placebo.plot()
plt.show()
placebo.ratio.sort_values(ascending=False).head(10).to_frame("post/pre RMSPE ratio")
""",
            "diagnostics",
        )
        self.interval_cells(c, spec)

    def interval_cells(self, c: Cells, spec: ReportSpec) -> None:
        """scpi prediction intervals (``design.prediction_intervals``): figure and table."""
        pi = spec.design_keys.get("prediction_intervals")
        if pi is None:
            return
        level = "LEVEL" if pi["level"] is None else repr(pi["level"])
        c.md(
            """
**Prediction intervals** (Cattaneo, Feng & Titiunik 2021; R/Python `scpi`). The band
covers the counterfactual outcome `Y(0)` of each post-treatment period with at least the
stated probability: the uncertainty of the donor weights (in-sample, error bars) plus the
outcome shock the pre-period residuals allow (out-of-sample), half of `1 - level` each.
Where the treated path leaves the band the gap is more than the synthetic control's own
error explains.
"""
        )
        c.code(
            f"""
intervals = sc.prediction_intervals(
    level={level}, out_of_sample={pi["out_of_sample"]!r}, n_sims={pi["n_sims"]!r}, rng=SEED
)
ax = intervals.plot()
ax.set_title(f"{{TREATED_UNIT}}: {{intervals.level:.0%}} prediction intervals of Y(0)")
ax.set_ylabel(OUTCOME)
plt.show()
print(
    f"{{intervals.level:.0%}} prediction intervals: {{intervals.details['out_of_sample']}} "
    f"out-of-sample bounds, {{intervals.details['n_sims']}} simulated draws of the weights, "
    f"rho = {{intervals.details['rho']:.3g}}, {{intervals.details['active_donors']}} active donors"
)
rt.prediction_interval_table(intervals)
""",
            "diagnostics",
            "prediction-intervals",
        )

    def beside_estimates(
        self, c: Cells, spec: ReportSpec, plan: NotebookPlan | None = None
    ) -> None:
        """With a contract: which statistic and which interval the payment decision used."""
        maps = _first_maps(spec, plan)
        if plan is None or not maps:
            return
        shown = "intervals" if "prediction_intervals" in spec.design_keys else "None"
        lines = "".join(
            f"    rt.decision_basis(CONTRACT, {m.metric!r}, primary, intervals={shown}),\n"
            for m in maps
        )
        c.code(
            f"""
# which statistic and which interval the contract's decision uses
from IPython.display import Markdown

CONTRACT = ie.payments.Contract.from_toml(Path({plan.contract_file!r}))
primary = rt.as_estimate({_FIRST})
basis = [
{lines}]
DECISION_NOTES += basis
display(Markdown("\\n".join(f"- {{line}}" for line in basis)))
""",
            "estimates",
            "decision-basis",
        )


class MultiSynthSection(SynthSection):
    """Several treated units (``columns.treatment``): adoption, event-time and unit effects.

    The estimators take the spec's 0/1 absorbing treatment column as it is (the spec
    checks allow only ``multisynth`` and ``synthetic_did`` here); nothing is derived.
    """

    treatment_code = None

    def for_spec(self, spec: ReportSpec) -> DesignSection:
        """Itself."""
        return self

    def call_kwargs(self, spec: ReportSpec, est: EstimatorSpec) -> dict[str, str | None]:
        """Panel roles and the treatment column, the estimator's options, seed and level."""
        kw: dict[str, str | None] = {
            "outcome": "OUTCOME",
            "unit": "UNIT",
            "time": "TIME",
            "treatment": "TREATMENT",
        }
        kw.update(options_source(est))
        kw.update(rng="SEED", level="LEVEL")
        return kw

    def before_fit(self, c: Cells, spec: ReportSpec) -> None:
        """The treated units and their adoption periods."""
        adoption_cells(c)

    def after_fit(self, c: Cells, spec: ReportSpec) -> None:
        """A multisynth primary: event-time and per-unit effects, ``nu`` and imbalance."""
        if spec.estimator.name == "multisynth":
            multisynth_cells(c, _FIRST)


#: the section of each design, keyed by ``design.type``
DESIGN_SECTIONS: dict[str, DesignSection] = {
    section.name: section
    for section in (RctSection(), DidSection(), MatchingSection(), SynthSection())
}


def design_section(spec: ReportSpec) -> DesignSection:
    """The :class:`DesignSection` of the spec's design (and its variant, if any)."""
    return DESIGN_SECTIONS[spec.design].for_spec(spec)
