"""Write the report notebook: cells that call the public API, one section per concern.

The generated code contains only literals taken from the validated spec (written with
``repr``) and calls to ``impacteval``, pandas and matplotlib; nothing from the spec is
evaluated while the notebook is written. Cells carry tags (``estimates``, ``robustness``,
``equity``, ``settlement``, ``audit``) so tests and tools can find their outputs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from impacteval.reporting.spec import EstimatorSpec, ReportSpec

__all__ = ["NotebookPlan", "make_notebook"]

_MODULE = {"rct": "rct", "did": "did", "matching": "matching", "synth": "synth"}


@dataclass(frozen=True)
class NotebookPlan:
    """Where things are, as seen from the folder the notebook runs in."""

    data_files: tuple[str, ...]
    spec_file: str
    contract_file: str | None
    contract_subgroups: tuple[str, ...] = ()
    categorical_in_covariates: tuple[str, ...] = ()


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def plan_for(
    spec: ReportSpec, run_dir: Path, spec_file: Path, contract_subgroups: Sequence[str] = ()
) -> NotebookPlan:
    """Paths of the spec's files relative to ``run_dir`` (the notebook's working folder)."""
    covs = spec.column("covariates") or ()
    return NotebookPlan(
        data_files=tuple(_rel(p, run_dir) for p in spec.data.paths),
        spec_file=_rel(spec_file, run_dir),
        contract_file=None if spec.contract is None else _rel(spec.contract.path, run_dir),
        contract_subgroups=tuple(contract_subgroups),
        categorical_in_covariates=tuple(c for c in spec.data.categorical if c in covs),
    )


class _Cells:
    def __init__(self) -> None:
        self.cells: list[NotebookNode] = []

    def md(self, text: str) -> None:
        self.cells.append(nbformat.v4.new_markdown_cell(text.strip("\n")))  # type: ignore[no-untyped-call]

    def code(self, text: str, *tags: str) -> None:
        cell = nbformat.v4.new_code_cell(text.strip("\n"))  # type: ignore[no-untyped-call]
        if tags:
            cell.metadata["tags"] = list(tags)
        self.cells.append(cell)


# -- estimator calls ---------------------------------------------------------------------


def _kwargs(pairs: Mapping[str, str | None]) -> str:
    return ", ".join(f"{k}={v}" for k, v in pairs.items() if v is not None)


def _options(est: EstimatorSpec, skip: Sequence[str] = ()) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in est.options:
        if key in skip:
            continue
        out[key] = repr(value)
    return out


def _matching_estimand(spec: ReportSpec) -> str:
    opts = dict(spec.estimator.options)
    default = "ATE" if spec.estimator.name in ("ipw", "aipw") else "ATT"
    return str(opts.get("estimand", default))


def _call(spec: ReportSpec, est: EstimatorSpec, rows: str = "rows") -> str:
    """Source of the call of ``est`` on the DataFrame named ``rows``."""
    cols = spec.columns
    design = spec.design
    kw: dict[str, str | None] = {}
    if design == "rct":
        kw = {"outcome": "OUTCOME", "treatment": "TREATMENT"}
        if est.name in ("difference_in_means", "randomization_inference"):
            kw["blocks"] = "BLOCKS" if cols.get("blocks") else None
            kw["cluster"] = "CLUSTER" if cols.get("cluster") else None
        if est.name == "regression":
            kw["covariates"] = "COVARIATES" if cols.get("covariates") else None
            kw["cluster"] = "CLUSTER" if cols.get("cluster") else None
            kw["fixed_effects"] = "FIXED_EFFECTS" if cols.get("fixed_effects") else None
        kw.update(_options(est))
        if est.name == "randomization_inference":
            kw["rng"] = "SEED"
        else:
            kw["level"] = "LEVEL"
    elif design == "did":
        kw = {"outcome": "OUTCOME", "unit": "UNIT", "time": "TIME"}
        cluster = "CLUSTER" if cols.get("cluster") else None
        covs = "COVARIATES" if cols.get("covariates") else None
        if est.name == "att_gt":
            kw.update(cohort="COHORT", covariates=covs, cluster=cluster)
            kw.update(_options(est))
            kw.update(rng="SEED", level="LEVEL")
        elif est.name == "twfe":
            kw.update(treatment='"treated_post"', covariates=covs, cluster=cluster or "UNIT")
            kw.update(_options(est))
            kw["level"] = "LEVEL"
        else:  # event_study
            kw.update(cohort="COHORT", covariates=covs, cluster=cluster or "UNIT")
            kw.update(_options(est))
            kw["level"] = "LEVEL"
    elif design == "matching":
        kw = {"outcome": "OUTCOME", "treatment": "TREATMENT", "covariates": "COVARIATES"}
        opts = _options(est)
        if "estimand" not in opts:
            opts["estimand"] = repr(_matching_estimand(spec))
        kw.update(opts)
        if est.name in ("nearest_neighbor", "aipw"):
            kw["rng"] = "SEED"
        kw["level"] = "LEVEL"
    else:  # synth
        kw = {"outcome": "OUTCOME", "unit": "UNIT", "time": "TIME"}
        if est.name == "synthetic_control":
            kw.update(treated_unit="TREATED_UNIT", treatment_time="TREATMENT_TIME")
            opts = _options(est, skip=("predictors",))
            own = _predictors(est)
            if own is not None and est != spec.estimator:
                opts["predictors"] = own.replace("\n", " ").replace(",]", "]")
            elif own is not None or _predictors(spec.estimator) is not None:
                opts["predictors"] = "PREDICTORS"  # an alternative inherits the primary's
            kw.update(opts)
            kw.update(rng="SEED", level="LEVEL")
        else:
            kw["treatment"] = '"treated_post"'
            kw.update(_options(est))
            kw.update(rng="SEED", level="LEVEL")
    return f"ie.{_MODULE[design]}.{est.name}({rows}, {_kwargs(kw)})"


def _predictors(est: EstimatorSpec) -> str | None:
    for key, value in est.options:
        if key == "predictors":
            items = []
            for p in value:
                if isinstance(p, Mapping):
                    parts = [repr(p["column"]), repr(p["years"])]
                    if p.get("stat"):
                        parts.append(repr(p["stat"]))
                    items.append("(" + ", ".join(parts) + ")")
                else:
                    items.append(repr(tuple(p)))
            return "[\n    " + ",\n    ".join(items) + ",\n]"
    return None


# -- sections ----------------------------------------------------------------------------


def _header(c: _Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    contract = ""
    if plan.contract_file is not None:
        contract = f"<br>\n**Contract:** `{plan.contract_file}`"
    c.md(
        f"""
# {spec.title}

**Evaluator:** {spec.evaluator}<br>
**Design:** {spec.design}, primary estimator `{spec.estimator.label}`<br>
**Spec:** `{plan.spec_file}` (SHA-256 `{spec.sha256[:16]}...`){contract}
"""
    )
    c.md(
        f"""
{spec.description}

This notebook was written by `impacteval report` and executed top to bottom. Every number
in it comes from the code cells, which call the public `impacteval` API on the data files
named in the spec: re-run or change any cell to check or extend the analysis. Sections:
1 data, 2 design diagnostics, 3 estimates, 4 robustness, 5 equity, 6 settlement, 7 audit.
"""
    )
    c.code(
        f"""
import hashlib
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import impacteval as ie
from impacteval.reporting import tables as rt

%matplotlib inline
SEED = {spec.seed!r}  # every estimator that draws random numbers takes this seed
LEVEL = {spec.level!r}  # confidence level of every interval
MIN_CELL_SIZE = {spec.min_cell_size!r}  # counts below this are masked in every table
WARNINGS = rt.WarningLog().install()  # warnings are listed once, in the audit appendix
np.random.seed(SEED)  # nothing below uses the global generator; pinned for user edits
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)
pd.set_option("display.max_colwidth", None)  # full hashes and method names
"""
    )


def _roles(spec: ReportSpec) -> str:
    lines = []
    for role in ("outcome", "treatment", "unit", "time", "cohort", "cluster", "blocks"):
        value = spec.column(role)
        if value:
            lines.append(f"{role.upper()} = {value!r}")
    for role in ("covariates", "fixed_effects"):
        value = spec.column(role)
        if value:
            lines.append(f"{role.upper()} = {list(value)!r}")
    for key, value in spec.design_keys.items():
        lines.append(f"{key.upper()} = {value!r}")
    return "\n".join(lines)


def _data(c: _Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    c.md(
        """
## 1. Data

What was read, how many units and periods it covers, what is missing, and which rows were
left out of the analysis and why (refusals, exclusions from measurement, missing values).
"""
    )
    if spec.data.dataset is not None:
        load = (
            f"DATASET = {spec.data.dataset!r}  # impacteval.datasets.describe(DATASET) "
            "gives its source\nraw = ie.datasets.load(DATASET)\n"
            "# SHA-256 of the canonical CSV of the rows as loaded (audit appendix)\n"
            "LOADED_SHA256 = hashlib.sha256(raw.to_csv(index=False).encode()).hexdigest()"
        )
    else:
        files = ", ".join(f"Path({f!r})" for f in plan.data_files)
        readers = []
        for f in plan.data_files:
            fn = "read_parquet" if f.lower().endswith((".parquet", ".pq")) else "read_csv"
            readers.append(fn)
        if len(set(readers)) == 1:
            load = (
                f"DATA_FILES = [{files}]\n"
                f"raw = pd.concat([pd.{readers[0]}(f) for f in DATA_FILES], ignore_index=True)"
            )
        else:
            load = f"DATA_FILES = [{files}]\n" + (
                "raw = pd.concat([pd.read_parquet(f) if f.suffix in ('.parquet', '.pq') "
                "else pd.read_csv(f) for f in DATA_FILES], ignore_index=True)"
            )
    c.code(load + "\n\n" + _roles(spec))
    if spec.design == "did":
        c.code(
            """
# cohort = first treated period; 0 or missing = never treated
raw[COHORT] = raw[COHORT].fillna(0)
raw["treated_group"] = (raw[COHORT] > 0).astype(int)  # ever treated (counts per arm)
raw["treated_post"] = ((raw[COHORT] > 0) & (raw[TIME] >= raw[COHORT])).astype(float)
TREATMENT = "treated_group"
"""
        )
    if spec.design == "synth":
        c.code(
            """
raw["treated_group"] = (raw[UNIT] == TREATED_UNIT).astype(int)
raw["treated_post"] = ((raw[UNIT] == TREATED_UNIT) & (raw[TIME] >= TREATMENT_TIME)).astype(float)
TREATMENT = "treated_group"
"""
        )
    facts = ['"rows": len(raw)', '"columns": raw.shape[1]']
    if spec.column("unit"):
        facts.append('"units": raw[UNIT].nunique()')
    if spec.column("time"):
        facts.append('"periods": raw[TIME].nunique()')
        facts.append('"first period": raw[TIME].min()')
        facts.append('"last period": raw[TIME].max()')
    if spec.column("treatment") or spec.design in ("did", "synth"):
        facts.append('"treated rows": int((raw[TREATMENT] == 1).sum())')
        facts.append('"control rows": int((raw[TREATMENT] == 0).sum())')
    c.code(
        "overview = pd.Series({\n    "
        + ",\n    ".join(facts)
        + ',\n}, name="value", dtype=object)\nrt.readable_frame(overview.to_frame())'
    )
    c.code(
        """
missingness = pd.DataFrame({"missing": raw.isna().sum(), "share": raw.isna().mean().round(4)})
(
    rt.readable_frame(missingness[missingness["missing"] > 0], percent_columns=["share"])
    if missingness["missing"].any()
    else "no missing values"
)
"""
    )
    required = ["OUTCOME"]
    if spec.design in ("rct", "matching"):
        required.append("TREATMENT")
    for role in ("unit", "time", "cohort", "cluster", "blocks"):
        if spec.column(role):
            required.append(role.upper())
    star = [f"*{r.upper()}" for r in ("covariates", "fixed_effects") if spec.column(r)]
    d = spec.data
    c.code(
        f"""
# rows removed, in order: refusals, exclusions (by reason), missing values in the columns used
sample, flow = rt.sample_flow(
    raw,
    required=list(dict.fromkeys([{", ".join(required + star)}])),
    treatment=TREATMENT,
    exclude={d.exclude!r},
    exclusion_reason={d.exclusion_reason!r},
    refused={d.refused!r},
)
# counts below MIN_CELL_SIZE are masked, and one more cell wherever a total would reveal them
rt.suppress_flow(flow, MIN_CELL_SIZE)
""",
        "flow",
    )
    if plan.categorical_in_covariates:
        cats = list(plan.categorical_in_covariates)
        c.code(
            f"""
# categorical covariates enter as 0/1 dummies (first level is the reference)
CATEGORICAL = {cats!r}
dummies = pd.get_dummies(sample[CATEGORICAL].astype(str), drop_first=True, dtype=float)
sample = pd.concat([sample, dummies], axis=1)
COVARIATES = [c for c in COVARIATES if c not in CATEGORICAL] + list(dummies.columns)
print("covariates used:", ", ".join(COVARIATES))
"""
        )
    est_subsets = {s.id: s.where for s in spec.estimates}
    labels = {s.id: s.label for s in spec.estimates}
    c.code(
        f"""
SUBSETS = {est_subsets!r}  # the rows behind each estimate (None = all rows)
LABELS = {labels!r}


def rows_of(name, frame=None):
    frame = sample if frame is None else frame
    return frame[rt.select(frame, SUBSETS[name])].reset_index(drop=True)


rt.readable_frame(
    pd.Series({{LABELS[k]: len(rows_of(k)) for k in SUBSETS}}, name="rows analysed").to_frame()
)
"""
    )


def _fit(c: _Cells, spec: ReportSpec) -> None:
    pred = _predictors(spec.estimator)
    prelude = f"PREDICTORS = {pred}\n\n\n" if pred else ""
    c.code(
        f'''
{prelude}def estimate(rows):
    """Primary estimator: {spec.estimator.label}."""
    return {_call(spec, spec.estimator)}


results = {{name: estimate(rows_of(name)) for name in SUBSETS}}
'''
    )


def _diagnostics(c: _Cells, spec: ReportSpec) -> None:
    c.md("## 2. Design diagnostics")
    first = "results[next(iter(SUBSETS))]"
    if spec.design == "rct":
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
    if spec.design in ("rct", "matching") and spec.column("covariates"):
        c.code(
            """
balance = ie.diagnostics.balance(sample, treatment=TREATMENT, covariates=COVARIATES)
balance.plot()
plt.show()
balance
""",
            "diagnostics",
        )
    if spec.design == "matching":
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
        _fit(c, spec)
        if spec.estimator.name == "nearest_neighbor":
            c.code(
                f"""
matched = {first}
if matched.balance is not None:
    matched.balance.plot()
    plt.show()
matched.balance
""",
                "diagnostics",
            )
        return
    if spec.design == "did":
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
    if spec.design == "synth":
        c.md(
            """
A synthetic control is credible when it tracks the treated unit closely before treatment
(small pre-period RMSPE) and when the treated unit's post/pre RMSPE ratio is extreme among
placebo runs that pretend each donor was treated.
"""
        )
    _fit(c, spec)
    if spec.design == "synth" and spec.estimator.name == "synthetic_control":
        c.code(
            f"""
sc = {first}
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


def _estimates(c: _Cells, spec: ReportSpec) -> None:
    c.md(
        f"""
## 3. Estimates

Primary estimator: `{spec.estimator.label}` at the {spec.level:.0%} level. The `method`
column names the exact estimator and variance used; `n_obs` counts the observations
used.
"""
    )
    c.code(
        """
estimates = rt.estimates_table({LABELS[k]: v for k, v in results.items()})
rt.readable_frame(estimates, keep=["method", "estimand"])
""",
        "estimates",
    )
    c.code(
        """
ie.plotting.plot_estimates(estimates)
plt.title("Primary estimates with confidence intervals")
plt.show()
for name, res in results.items():
    display(rt.as_estimate(res).summary())
""",
        "estimates-detail",
    )


def _robustness(c: _Cells, spec: ReportSpec) -> None:
    c.md("## 4. Robustness: other estimators of the same design")
    if not spec.alternatives:
        c.md("The spec names no alternative estimators (`design.alternatives`).")
        return
    items = [f"    {spec.estimator.label!r}: estimate,"]
    for alt in spec.alternatives:
        items.append(f"    {alt.label!r}: lambda rows: {_call(spec, alt)},")
    c.code(
        "ALTERNATIVES = {\n"
        + "\n".join(items)
        + """
}
robustness = rt.estimates_table({
    f"{LABELS[name]} | {label}": (results[name] if fn is estimate else fn(rows_of(name)))
    for name in SUBSETS
    for label, fn in ALTERNATIVES.items()
})
rt.readable_frame(robustness, keep=["method", "estimand"])
""",
        "robustness",
    )
    c.code(
        """
# estimator names without their options on the axis (the table above has them in full)
ie.plotting.plot_estimates(robustness.rename(index=lambda s: s.split("(")[0]))
plt.xticks(rotation=30, ha="right")
plt.tight_layout()
plt.title("Primary and alternative estimators")
plt.show()
""",
    )


def _equity(c: _Cells, spec: ReportSpec) -> None:
    c.md(
        f"""
## 5. Equity indicators by subgroup

The primary estimator re-run within each subgroup (on the rows behind the estimates), with
people counted per arm. Cells with fewer than {spec.min_cell_size} people in either arm are
masked so no individual can be singled out; cream-skimming shows as subgroups with few
participants or very different effects.
"""
    )
    if not spec.subgroups:
        c.md("The spec names no subgroups (`equity.subgroups`).")
        return
    groups = {s.id: s.where for s in spec.subgroups}
    unit = "UNIT" if spec.column("unit") else "None"
    if spec.equity_estimator == "primary":
        define = "subgroup_estimator = estimate  # the primary estimator"
    else:
        c.md(
            "Subgroup effects here are **unadjusted** differences in means "
            '(`equity.estimator = "difference_in_means"`): small subgroups defeat a '
            "propensity model, so they describe who is served, not causal effects."
        )
        define = (
            "def subgroup_estimator(rows):\n"
            "    return ie.rct.difference_in_means(rows, outcome=OUTCOME, treatment=TREATMENT, "
            "level=LEVEL)"
        )
    c.code(
        f"""
{define}


SUBGROUPS = {groups!r}
in_estimates = np.zeros(len(sample), dtype=bool)
for where in SUBSETS.values():
    in_estimates |= rt.select(sample, where).to_numpy()
equity_rows = sample[in_estimates].reset_index(drop=True)
# unmasked effects stay in the kernel; only the masked table is shown
effects = rt.subgroup_effects(
    equity_rows, SUBGROUPS, subgroup_estimator, treatment=TREATMENT, unit={unit}
)
equity = rt.mask_small_cells(effects, MIN_CELL_SIZE)
equity
""",
        "equity",
    )


def _settlement(c: _Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    c.md("## 6. Settlement and payment risk")
    if spec.contract is None or plan.contract_file is None:
        c.md("The spec names no contract (`[contract]`): nothing is settled.")
        return
    items = []
    measured = []
    for m in spec.contract.inputs:
        if m.estimate is None:
            if m.measure is not None:
                where = m.measure.get("where")
                rows = "raw" if where is None else f"raw[rt.select(raw, {dict(where)!r})]"
                measured.append(
                    f"    {m.metric!r}: ie.payments.measurement.measure(\n"
                    f"        {rows}, {m.measure['column']!r}, stat={m.measure['stat']!r},\n"
                    f"        source={m.source!r},\n    ),"
                )
            else:
                measured.append(
                    f"    {m.metric!r}: ie.payments.measurement.given(\n"
                    f"        {m.value!r}, {m.std_error!r}, source={m.source!r}\n    ),"
                )
            items.append(
                f"    {m.metric!r}: MEASURED[{m.metric!r}].as_input(contract, {m.metric!r}),"
            )
        elif m.multiplier == 1.0 and not m.rates and not m.per_treated:
            items.append(f"    {m.metric!r}: results[{m.estimate!r}],")
        else:
            scale = (
                f"int((rows_of({m.estimate!r})[TREATMENT] == 1).sum())"
                if m.per_treated
                else repr(m.multiplier)
            )
            items.append(
                f"    {m.metric!r}: rt.metric_input(results[{m.estimate!r}], "
                f"rows_of({m.estimate!r}), outcome=OUTCOME, treatment=TREATMENT, "
                f"multiplier={scale}, rates={m.rates!r}),"
            )
    mult = spec.contract.inputs[0].multiplier
    d = spec.data
    guards = "None"
    if plan.contract_subgroups or d.exclude or d.refused:
        guards = "safeguards"
    c.md(
        """
Each contract metric is fed from the estimate the spec maps to it (scaled as the contract
expects). The settlement shows every line, the trigger or cap that bound it and the
contract's own safeguard checks; the audit record hashes the contract and the inputs.
"""
    )
    code = f"""
contract = ie.payments.Contract.from_toml(Path({plan.contract_file!r}))
"""
    if measured:
        code += f"""
# verified figures (not estimates): each with its count, its own standard error and source
import impacteval.payments.measurement

MEASURED = {{
{chr(10).join(measured)}
}}
display(pd.concat({{k: m.to_frame() for k, m in MEASURED.items()}}).droplevel(1))
"""
    else:
        code += "\nMEASURED = {}\n"
    code += f"""
inputs = {{
{chr(10).join(items)}
}}
"""
    if guards == "safeguards":
        code += f"""
# safeguards: eligible and excluded treated rows (all rows behind the estimates, before
# exclusions) and the contract's equity cells from section 5
in_scope = np.zeros(len(raw), dtype=bool)
for where in SUBSETS.values():
    in_scope |= rt.select(raw, where).to_numpy()
safeguards = rt.safeguard_inputs(
    raw[in_scope],
    {"effects" if plan.contract_subgroups else "None"},
    treatment=TREATMENT,
    subgroups={list(plan.contract_subgroups)!r},
    exclude={d.exclude!r},
    exclusion_reason={d.exclusion_reason!r},
    refused={d.refused!r},
    multiplier={mult!r},
)
"""
    code += f"""
settlement = contract.settle(inputs, safeguards={guards})
print(f"Total due: {{rt.money(settlement.total, settlement.currency)}}")
rt.settlement_table(settlement)
"""
    c.code(code, "settlement")
    c.code(
        """
# the contract's own safeguard checks (its small-cell rule masks counts under min_cell)
if not settlement.safeguards.empty:
    display(rt.readable_frame(settlement.safeguards))
audit_facts, audit_inputs = rt.audit_tables(settlement.audit)
display(audit_facts)
audit_inputs
""",
        "settlement",
    )
    mults = {m.metric: m.multiplier for m in spec.contract.inputs if m.estimate is not None}
    positions = {m.metric: m.estimate for m in spec.contract.inputs if m.estimate is not None}
    c.code(
        f"""
# the estimates against the contract's triggers, in the estimator's own units
MULTIPLIERS = {mults!r}
METRIC_OF = {positions!r}  # contract metric -> estimate id
levels = rt.trigger_levels(contract, inputs, MULTIPLIERS)
ax = ie.plotting.plot_estimates(estimates)
order = list(estimates.index)
rt.draw_triggers(
    ax,
    {{m: order.index(LABELS[e]) for m, e in METRIC_OF.items() if LABELS[e] in order}},
    levels,
)
ax.set_title("Estimates (95% CI) and the contract's trigger levels")
plt.tight_layout()
plt.show()
""",
    )
    c.md(
        """
**Payment risk.** Each estimate is redrawn from its sampling distribution; `p_pay_null` is
the probability that the contract pays when the true effect is zero, `p_fail_at_target`
the probability that it pays nothing when the programme hits its target. Inputs without a
standard error are refused here rather than shown as certain.
"""
    )
    c.code(
        f"""
try:
    risk = ie.payments.payment_risk(
        contract, inputs, n_draws={spec.contract.risk_draws!r}, rng=SEED
    )
    RISK_REFUSED = None
except ie.exceptions.DataValidationError as exc:
    risk, RISK_REFUSED = None, str(exc)
if risk is not None:
    risk.plot()
    plt.tight_layout()
    plt.show()
risk if risk is not None else RISK_REFUSED
""",
        "risk",
    )
    rates = [m for m in spec.contract.inputs if m.rates]
    tse = ",\n".join(
        f"    {m.metric!r}: rt.treated_mean_se(rows_of({m.estimate!r}), outcome=OUTCOME, "
        f"treatment=TREATMENT, multiplier={m.multiplier!r})"
        for m in rates
    )
    units = {
        m.metric: (
            f"{spec.column('outcome')} summed over treated units"
            if m.per_treated
            else (_units(spec, m.multiplier) if m.estimate is not None else "")
        )
        for m in spec.contract.inputs
    }
    facts = _facts(spec)
    contract_file = "None" if plan.contract_file is None else f"Path({plan.contract_file!r})"
    c.code(
        f"""
# page one: the verdict and the payment chain (the built report shows this first)
CONTRACT_FILE = {contract_file}
TREATED_SE = {{
{tse}
}}
FACTS = {facts}
if "Data period" not in FACTS:
    FACTS["Data period"] = {_period(spec)}
FACTS["Pre-registered plan"] = rt.plan_status(Path({plan.spec_file!r}), CONTRACT_FILE)
page = rt.decision_page(
    contract,
    inputs,
    settlement,
    risk,
    level=LEVEL,
    treated_se=TREATED_SE,
    units={units!r},
    contract_file=CONTRACT_FILE,
    facts=FACTS,
    risk_refused=RISK_REFUSED,
    measurement_se={{k: m.std_error for k, m in MEASURED.items() if m.std_error is not None}},
)
page
""",
        "decision",
    )


def _units(spec: ReportSpec, mult: float) -> str:
    outcome = str(spec.column("outcome"))
    if mult == 1:
        return outcome
    if mult in (100, 1000, 10000):
        return f"{outcome} per {mult:,.0f}"
    return f"{outcome} x {mult:g}"


def _facts(spec: ReportSpec) -> str:
    """The page-one facts as a dict literal (spec values; never the clock)."""
    names = {
        "population": "Population",
        "outcome_window": "Outcome window",
        "data_period": "Data period",
        "report_date": "Report date",
        "version": "Report version",
    }
    given = dict(spec.facts)
    items = [("Evaluator", spec.evaluator)]
    for key, label in names.items():
        value = given.get(key)
        if value is None and key == "data_period":
            continue  # taken from the data in the cell
        items.append((label, value or f"not stated in the spec (report.{key})"))
    body = "".join(f"    {k!r}: {v!r},\n" for k, v in items)
    return "{\n" + body + '    "Software": f"impacteval {ie.__version__}",\n}'


def _period(spec: ReportSpec) -> str:
    if spec.column("time"):
        return 'f"{TIME} {raw[TIME].min()} to {raw[TIME].max()} (from the data)"'
    return '"not stated in the spec (report.data_period)"'


def _audit(c: _Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    c.md(
        """
## 7. Audit appendix

SHA-256 of every input (the data files, the spec and the contract), the versions of the
packages that produced the numbers, the seed, and each estimate's data fingerprint (a
SHA-256 of the columns it used). Re-running this notebook on the same files gives the same
numbers.
"""
    )
    files = []
    if spec.data.dataset is None:
        files.append('**{f"data: {f.name}": f for f in DATA_FILES}')
    files.append(f'"spec": Path({plan.spec_file!r})')
    if plan.contract_file is not None:
        files.append(f'"contract (file bytes)": Path({plan.contract_file!r})')
    dataset = ""
    if spec.data.dataset is not None:
        dataset = """
# a registered dataset: SHA-256 of its canonical CSV (rows as loaded, no index)
hashes.loc[f"data: {DATASET} (loaded)"] = [
    "impacteval.datasets.load",
    LOADED_SHA256,
]
registry = ie.datasets.describe(DATASET)
if registry.get("csv_sha256"):  # the file as accepted by the loader (pinned in the registry)
    hashes.loc[f"data: {DATASET}.csv (registry)"] = [
        str(registry.get("url", "")),
        registry["csv_sha256"],
    ]
"""
    c.code(
        "AUDIT_FILES = {"
        + ", ".join(files)
        + """}
hashes = pd.DataFrame(
    {"path": [str(p) for p in AUDIT_FILES.values()],
     "sha256": [rt.file_sha256(p) for p in AUDIT_FILES.values()]},
    index=list(AUDIT_FILES),
)"""
        + dataset
        + (
            "\n# the same contract identified by its terms: canonical JSON of the parsed TOML\n"
            'hashes.loc["contract (content hash, canonical terms)"] = [\n'
            '    "impacteval.payments.Contract.sha256", contract.sha256\n]'
            if plan.contract_file is not None
            else ""
        )
        + "\nhashes",
        "audit",
    )
    c.code(
        """
fingerprints = pd.DataFrame({
    LABELS[k]: {
        "data_fingerprint": rt.as_estimate(v).provenance.data_fingerprint,
        "seed": (
            "none (no random draws)"
            if rt.as_estimate(v).provenance.seed is None
            else rt.as_estimate(v).provenance.seed
        ),
        "package_version": rt.as_estimate(v).provenance.package_version,
    }
    for k, v in results.items()
}).T
print(f"SEED = {SEED}")
fingerprints
""",
        "audit",
    )
    c.code("rt.package_versions().to_frame()", "audit")
    c.md("Warnings raised while the report ran (each distinct warning once):")
    c.code("WARNINGS.table()", "audit")


def make_notebook(spec: ReportSpec, plan: NotebookPlan) -> NotebookNode:
    """The report notebook for a validated spec (not executed)."""
    c = _Cells()
    _header(c, spec, plan)
    _data(c, spec, plan)
    _diagnostics(c, spec)
    _estimates(c, spec)
    _robustness(c, spec)
    _equity(c, spec)
    _settlement(c, spec, plan)
    _audit(c, spec, plan)
    nb: NotebookNode = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = c.cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["impacteval"] = {"title": spec.title, "spec_sha256": spec.sha256}
    return nb
