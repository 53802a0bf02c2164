"""Outcome payments: contracts in TOML, settlements on estimates, payment risk.

Contracts are data (TOML), never code: no expression in a contract is evaluated. Money is
``decimal.Decimal`` throughout, parsed from the digits written in the contract
(``tomllib.loads(text, parse_float=Decimal)``), and rounded only where the contract
declares it. Payments consume result objects (:class:`~impacteval.EffectEstimate`) or
verified counts; they never reach into estimator internals.

Entry points: ``Contract.from_toml(source)`` (a ``Path``, a path string, or TOML text),
``Contract.settle(inputs, safeguards=...) -> Settlement``,
``payment_risk(contract, inputs, ...)``, and the waterfall helpers ``waterfall``,
``dated_waterfall``, ``irr``, ``xnpv``, ``irr_cap_amount``.

Contract schema (every table and key; see ``contracts/README.md`` for worked examples)::

    [contract]                      # required
    name = "Demo SIB"               # required
    currency = "USD"                # required, ISO 4217
    rounding = "0.01"               # quantum (power of ten); default "0.01"
    rounding_mode = "ROUND_HALF_UP" # any decimal rounding mode; default ROUND_HALF_UP
    round_at = ["line", "total"]    # subset of unit (per person), line, total
    periods = ["2014", "2015"]      # ordered labels (period caps, stop triggers)
    cohorts = ["1", "2"]            # labels (cohort caps)

    [metrics.learning]              # one table per metric id
    input = "estimate"              # estimate | count | rate_card
    scale = "achievement"           # absolute | relative_reduction | aggregate | achievement
    direction = "increase"          # which sign of (treated - control) is good
    target = 5592                   # achievement denominator; risk "target" (raw units)
    baseline = 0.5                  # control mean C for 1 - T/C (else inputs' control_rate)
    units = 724                     # N for aggregate (else inputs' units)
    statistic = "point"             # point | lower_bound
    level = 0.95                    # for lower_bound and the significance gate
    sided = "one"                   # one | two
    gate = "none"                   # none | significance | size
    # size_thresholds = [{min_n = 5000, threshold = 0.039}]   (gate = "size")
    value_rounding = "0.001"        # round the decision statistic (declared point)

    [metrics.cohort_1]              # two cohort results, e.g. Peterborough's
    scale = "relative_reduction"    # 1 - T/C: inputs give treated_rate, control_rate
    [metrics.cohort_2]
    scale = "relative_reduction"

    [metrics.pooled]                # a blend: fixed weights, or weight_by = "units"
    blend = { cohort_1 = 0.5, cohort_2 = 0.5 }

    [triggers.early]                # named condition on a metric's decision statistic
    metric = "learning"
    threshold = 1.0
    comparison = ">="               # >= | > | <= | <
    action = "pay"                  # pay (used by when/unless) | stop (needs period)

    [payments.outcome]              # one table per payment line, in document order
    rule = "linear"                 # linear | rate_card | tiers | piecewise |
                                    # achievement | savings_share | fixed
    metric = "learning"
    price = "1000.00"               # linear: per unit of the metric value
    threshold = 0.5                 # linear: hurdle ...
    threshold_mode = "hurdle"       # ... hurdle (pay on all) | deductible (only above)
    # tiers = [{from = 0.085, to = 0.10, amount = "4800000"}, {from = 0.10, amount = ...}]
    # points = [{x = 0, y = "0"}, {x = 0.2, y = "1000000"}]          (piecewise)
    # weights = {learning = 0.8, enrolment = 0.2}; amount_at_target; ratio_cap (achievement)
    # prices = {job_entry = "3500"}; unit_cap = "8200"                 (rate_card)
    # share = 0.95; share_after = 0.4; switch_at = "1000000"          (savings_share)
    # amount = "50000"                                                 (fixed)
    cap = "400000"                  # component cap / floor
    cohort = "1"                    # labels for cohort / period limits
    when = ["early"]                # pay only if these triggers are met ...
    unless = []                     # ... and none of these
    outcome = true                  # false: a fee / output payment, kept apart
    # true_up_of = "interim"; clawback = true   (final true-up of an interim payment)

    [caps]                          # and [floors], same keys
    total = "422000"
    outcomes = "400000"             # outcome components only
    cohort = { "1" = "500000" }
    period = { "2015" = "300000" }

    [investment]                    # investor waterfall
    principal = "7200000"           # or omit it and give draws (principal = their sum)
    guarantee = "6000000"           # covers unrecovered principal, paid on the last date
    first_loss = "0"
    irr_cap = 0.15                  # XIRR cap on investors; needs dated flows
    excess_to = "payer"             # payer (keeps the excess) | charity (with irr_cap)
    # one draw of the whole principal (drawn_on), or tranches:
    # draws = [{date = 2015-06-01, amount = "4800000"}, {date = "2016-06-01", ...}]
    # paid_on: the default payment date of outcome components
    drawn_on = 2015-06-01
    paid_on = 2018-07-01
    payments_on = { outcome = 2018-07-01 }   # per-component dates (TOML or ISO strings)

    [safeguards]                    # reported with every settlement (Settlement.safeguards)
    # subgroups = ["female", "age_under_25"]   equity cells: inputs give estimate and n
    min_cell = 10                   # cells under 10 people are masked
    # max_exclusion_share = 0.1; max_refusal_share = 0.05   (inputs: eligible, exclusions,
    # exempt_reasons = ["died"]                               refusals; see safeguards.py)
    basket = { min_met = 1, indicators = { learning = 0.5 } }   # metric or input values
    on_breach = "flag"              # flag (report only) | withhold (outcome payments)

Every table and parameter may carry ``description`` and ``source`` strings.
"""

from __future__ import annotations

from impacteval.payments.contract import Contract
from impacteval.payments.design import (
    ContractDesign,
    design,
    required_sample_size,
    solve_threshold,
)
from impacteval.payments.errors import ContractError
from impacteval.payments.risk import PaymentRisk, payment_risk
from impacteval.payments.settle import Settlement
from impacteval.payments.waterfall import (
    InvestorOutcome,
    dated_waterfall,
    irr,
    irr_cap_amount,
    waterfall,
    xnpv,
)

__all__ = [
    "Contract",
    "ContractDesign",
    "ContractError",
    "InvestorOutcome",
    "PaymentRisk",
    "Settlement",
    "dated_waterfall",
    "design",
    "irr",
    "irr_cap_amount",
    "payment_risk",
    "required_sample_size",
    "solve_threshold",
    "waterfall",
    "xnpv",
]
