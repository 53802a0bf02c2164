"""Section 6 of the report notebook: settle the contract, payment risk, the decision page.

The cells map each contract metric to its input (a fitted estimate, scaled as the
contract expects, or a verified measurement), settle the contract with its safeguards,
draw the estimates against the triggers, simulate the payment risk and assemble page one
(the verdict and the payment chain). Nothing here depends on the design: the cells read
``results``, ``rows_of`` and the column roles bound in section 1.
"""

from __future__ import annotations

from impacteval.reporting._cells import Cells, NotebookPlan
from impacteval.reporting.spec import ContractRef, MetricMap, ReportSpec

__all__ = ["metric_input_source", "settlement_section"]

_INTRO = """
Each contract metric is fed from the estimate the spec maps to it (scaled as the contract
expects). The settlement shows every line, the trigger or cap that bound it and the
contract's own safeguard checks; the audit record hashes the contract and the inputs.
"""

_AUDIT = """
# the contract's own safeguard checks (its small-cell rule masks counts under min_cell)
if not settlement.safeguards.empty:
    display(rt.readable_frame(settlement.safeguards))
audit_facts, audit_inputs = rt.audit_tables(settlement.audit)
display(audit_facts)
audit_inputs
"""

_RISK_INTRO = """
**Payment risk.** Each estimate is redrawn from its sampling distribution; `p_pay_null` is
the probability that the contract pays when the true effect is zero, `p_fail_at_target`
the probability that it pays nothing when the programme hits its target. Inputs without a
standard error are refused here rather than shown as certain.
"""


def _measured(m: MetricMap) -> str:
    """Dict entry measuring a metric that no estimate feeds (a count or a given figure)."""
    if m.measure is not None:
        where = m.measure.get("where")
        rows = "raw" if where is None else f"raw[rt.select(raw, {dict(where)!r})]"
        return (
            f"    {m.metric!r}: ie.payments.measurement.measure(\n"
            f"        {rows}, {m.measure['column']!r}, stat={m.measure['stat']!r},\n"
            f"        source={m.source!r},\n    ),"
        )
    return (
        f"    {m.metric!r}: ie.payments.measurement.given(\n"
        f"        {m.value!r}, {m.std_error!r}, source={m.source!r}\n    ),"
    )


def metric_input_source(m: MetricMap) -> str:
    """Dict entry (source text) of the contract input fed by an estimate (scaled when asked)."""
    if m.multiplier == 1.0 and not m.rates and not m.per_treated:
        return f"    {m.metric!r}: rt.metric_input(results[{m.estimate!r}]),"
    scale = (
        f"int((rows_of({m.estimate!r})[TREATMENT] == 1).sum())"
        if m.per_treated
        else repr(m.multiplier)
    )
    return (
        f"    {m.metric!r}: rt.metric_input(results[{m.estimate!r}], "
        f"rows_of({m.estimate!r}), outcome=OUTCOME, treatment=TREATMENT, "
        f"multiplier={scale}, rates={m.rates!r}),"
    )


def _inputs(contract: ContractRef) -> tuple[list[str], list[str]]:
    """The ``inputs`` dict entries and the ``MEASURED`` dict entries."""
    items = []
    measured = []
    for m in contract.inputs:
        if m.estimate is None:
            measured.append(_measured(m))
            items.append(
                f"    {m.metric!r}: MEASURED[{m.metric!r}].as_input(contract, {m.metric!r}),"
            )
        else:
            items.append(metric_input_source(m))
    return items, measured


def _settle_code(spec: ReportSpec, contract: ContractRef, plan: NotebookPlan) -> str:
    """Source reading the contract, building its inputs and safeguards, and settling."""
    items, measured = _inputs(contract)
    mult = contract.inputs[0].multiplier
    d = spec.data
    guards = "None"
    if plan.contract_subgroups or d.exclude or d.refused:
        guards = "safeguards"
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
    return code


def _triggers_code(contract: ContractRef) -> str:
    """Source drawing the estimates against the contract's trigger levels."""
    mults = {m.metric: m.multiplier for m in contract.inputs if m.estimate is not None}
    positions = {m.metric: m.estimate for m in contract.inputs if m.estimate is not None}
    return f"""
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
"""


def _risk_code(contract: ContractRef) -> str:
    """Source simulating the payment risk (refused, with the reason, without SEs)."""
    return f"""
try:
    risk = ie.payments.payment_risk(
        contract, inputs, n_draws={contract.risk_draws!r}, rng=SEED
    )
    RISK_REFUSED = None
except ie.exceptions.DataValidationError as exc:
    risk, RISK_REFUSED = None, str(exc)
if risk is not None:
    risk.plot()
    plt.tight_layout()
    plt.show()
risk if risk is not None else RISK_REFUSED
"""


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


def _decision_code(spec: ReportSpec, contract: ContractRef, plan: NotebookPlan) -> str:
    """Source of page one: the verdict and the payment chain."""
    rates = [m for m in contract.inputs if m.rates]
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
        for m in contract.inputs
    }
    facts = _facts(spec)
    contract_file = "None" if plan.contract_file is None else f"Path({plan.contract_file!r})"
    return f"""
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
    robustness=DECISION_NOTES,
)
page
"""


def settlement_section(c: Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    """Append section 6 (settlement, triggers, payment risk, page one) to ``c``."""
    c.md("## 6. Settlement and payment risk")
    contract = spec.contract
    if contract is None or plan.contract_file is None:
        c.md("The spec names no contract (`[contract]`): nothing is settled.")
        return
    c.md(_INTRO)
    c.code(_settle_code(spec, contract, plan), "settlement")
    c.code(_AUDIT, "settlement")
    c.code(_triggers_code(contract))
    c.md(_RISK_INTRO)
    c.code(_risk_code(contract), "risk")
    c.code(_decision_code(spec, contract, plan), "decision")
