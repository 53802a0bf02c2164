"""Page one of a report: the verdict, the payment chain, the risk in words, the cautions.

:func:`decision_page` turns a settlement (and its payment risk) into what a commissioner
reads first: one sentence saying whether payment is due and why, a payment-chain table
with one row per metric (estimate with its interval -> statistic as paid with its
interval -> trigger -> rule and price -> amount), the caps, the total, the probability of
paying a programme with no effect in words, the contract's own assumptions as a caution,
and the report's facts (population, outcome window, data period, evaluator, report date,
version), all taken from the spec and the data, never from the clock.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from impacteval.payments.chain import PaidStatistic, paid_statistics
from impacteval.payments.contract import Contract
from impacteval.payments.schema import Component, Metric
from impacteval.reporting.lock import file_sha256
from impacteval.reporting.readable import money, number, percent

__all__ = ["DecisionPage", "decision_page", "one_in"]

_PERCENT_SCALES = ("relative_reduction", "achievement")
_SCALE_WORDS = {
    "relative_reduction": "reduction (1 - T/C)",
    "achievement": "achievement of target",
    "absolute": "effect",
    "aggregate": "total effect",
    "blend": "weighted blend",
    "rate_card": "verified rate-card outcomes",
}
_CMP = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "="}


def one_in(p: float) -> str:
    """A probability in words: ``0.158 -> "about 1 case in 6"``.

    Examples
    --------
    >>> one_in(0.158), one_in(0.0), one_in(0.5)
    ('about 1 case in 6', 'in none of the simulated cases', 'about 1 case in 2')
    """
    if p <= 0:
        return "in none of the simulated cases"
    if p >= 0.995:
        return "in practically every case"
    if p > 0.5:
        return f"in about {p:.0%} of cases"
    return f"about 1 case in {round(1 / p):,}"


@dataclass(frozen=True)
class DecisionPage:
    """What a report shows before anything else (see :func:`decision_page`)."""

    verdict: str
    chain: pd.DataFrame
    limits: pd.DataFrame
    risk: tuple[str, ...]
    cautions: tuple[str, ...]
    facts: pd.DataFrame
    identity: pd.DataFrame
    statistics: Mapping[str, PaidStatistic] = field(default_factory=dict)
    robustness: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [self.verdict, "", self.chain.to_string(), ""]
        parts += [f"Decision: {r}" for r in self.robustness]
        parts += list(self.risk)
        parts += [f"Caution: {c}" for c in self.cautions]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return to_html(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {
            "text/plain": str(self),
            "text/html": to_html(self),
            "application/json": {"verdict": self.verdict},
        }


def _table(frame: pd.DataFrame, cls: str, index: bool = False) -> str:
    body = frame.to_html(index=index, escape=True, border=0, classes=["ie-table", cls])
    return re.sub(r"\s*\n\s*", "", body)


def to_html(page: DecisionPage) -> str:
    """The page as one line of HTML (safe to embed in a Markdown cell)."""
    esc = html.escape
    risk = "".join(f"<li>{esc(r)}</li>" for r in page.risk)
    cautions = "".join(f"<li>{esc(c)}</li>" for c in page.cautions)
    parts = [
        '<div class="ie-decision">',
        f'<p class="ie-verdict"><strong>{esc(page.verdict)}</strong></p>',
        "<h3>Payment chain (one row per contract metric)</h3>",
        _table(page.chain, "ie-chain"),
        _table(page.limits, "ie-limits"),
    ]
    if page.robustness:
        items = "".join(f"<li>{esc(r)}</li>" for r in page.robustness)
        parts.append(f"<h3>Basis and robustness of the decision</h3><ul>{items}</ul>")
    parts += [
        f"<h3>Payment risk in words</h3><ul>{risk}</ul>",
    ]
    if cautions:
        parts.append(
            '<div class="ie-caution"><h3>Caution: assumptions and placeholders</h3>'
            f"<ul>{cautions}</ul></div>"
        )
    parts += [
        "<h3>About this report</h3>",
        _table(page.facts, "ie-facts", index=True),
        _table(page.identity, "ie-identity", index=True),
        "</div>",
    ]
    return "".join(parts)


def _fmt(value: float | Decimal | None, pct: bool) -> str:
    if value is None:
        return "n/a"
    return percent(value) if pct else number(value)


def _is_pct(contract: Contract, mid: str) -> bool:
    metric = contract.spec.metric(mid)
    if metric.is_blend:
        return all(_is_pct(contract, ref) for ref, _ in metric.blend)
    return metric.scale in _PERCENT_SCALES


def _interval(s: PaidStatistic | None, pct: bool, level: float) -> str:
    if s is None or s.ci_lower is None or s.ci_upper is None:
        return ""
    return f" ({level:.0%} CI {_fmt(s.ci_lower, pct)} to {_fmt(s.ci_upper, pct)})"


def _rule(c: Component, currency: str) -> str:
    if c.rule == "linear":
        text = f"linear: {money(c.price, currency, 0)} per 1.0 of {c.metric}"
        if c.threshold:
            text += f" ({c.threshold_mode} {c.threshold})"
    elif c.rule == "tiers":
        steps = ", ".join(f"from {t.start}: {money(t.amount, currency, 0)}" for t in c.tiers)
        text = f"tiers on {c.metric}: {steps}"
    elif c.rule == "achievement":
        weights = ", ".join(f"{float(w):.0%} {m}" for m, w in c.weights)
        text = (
            f"achievement: {money(c.amount_at_target, currency, 0)} at 100% of target, "
            f"weights {weights}"
        )
        if c.ratio_cap is not None:
            text += f", ratio capped at {c.ratio_cap}"
    elif c.rule == "fixed":
        text = f"fixed {money(c.amount, currency, 0)}"
    elif c.rule == "rate_card":
        text = "rate card: " + ", ".join(f"{o} {money(p, currency, 0)}" for o, p in c.prices)
    elif c.rule == "savings_share":
        text = f"share of savings {c.share}"
    else:
        text = c.rule
    if c.cap is not None:
        text += f"; component cap {money(c.cap, currency, 0)}"
    if c.when:
        text += f"; if {', '.join(c.when)} met"
    if c.unless:
        text += f"; unless {', '.join(c.unless)} met"
    return f"{c.id}: {text}"


def _metric_of(c: Component) -> tuple[str, ...]:
    if c.metric is not None:
        return (c.metric,)
    return tuple(m for m, _ in c.weights)


def _estimate_cell(
    s: PaidStatistic | None, metric: Metric, level: float, units: str, no_se: bool = False
) -> str:
    """The estimate with its interval; ``no_se``: an estimate given without a standard error
    (a synthetic control's), not a verified figure."""
    if s is None or s.estimate is None:
        return "(combines the metrics above)" if metric.is_blend else "n/a"
    if s.estimate_se is None and no_se:
        return f"{number(s.estimate, 4)} {units} (an estimate without a standard error)".strip()
    if s.estimate_se is None:
        return f"{number(s.estimate, 4)} {units} (verified; no sampling error)".strip()
    if metric.input == "count":
        units = f"{units} (verified measurement)".strip()
    z = 1.959963984540054 if abs(level - 0.95) < 1e-12 else None
    if z is None:
        from scipy import stats

        z = float(stats.norm.isf((1 - level) / 2))
    lo, hi = s.estimate - z * s.estimate_se, s.estimate + z * s.estimate_se
    return f"{number(s.estimate)} {units} ({level:.0%} CI {number(lo)} to {number(hi)})".replace(
        "  ", " "
    )


def decision_page(
    contract: Contract,
    inputs: Mapping[str, Any],
    settlement: Any,
    risk: Any = None,
    *,
    level: float = 0.95,
    treated_se: Mapping[str, float] | None = None,
    units: Mapping[str, str] | None = None,
    contract_file: str | Path | None = None,
    facts: Mapping[str, Any] | None = None,
    risk_refused: str | None = None,
    measurement_se: Mapping[str, float] | None = None,
    robustness: Sequence[str] = (),
) -> DecisionPage:
    """The verdict, payment chain, risk in words, cautions and facts of a settlement.

    Parameters
    ----------
    contract : Contract
        The contract settled.
    inputs : mapping
        The inputs it was settled on (as for :meth:`Contract.settle`).
    settlement : Settlement
        ``contract.settle(inputs, ...)``.
    risk : PaymentRisk, optional
        ``payment_risk(contract, inputs, ...)``.
    level : float, default 0.95
        Confidence level of the intervals.
    treated_se : mapping, optional
        Standard error of the treated mean per relative-reduction metric (delta method).
    units : mapping, optional
        Units of each metric's raw estimate, e.g. ``{"cohort_1": "per 100"}``.
    contract_file : str or Path, optional
        The contract's TOML file: its SHA-256 is shown and its ``ASSUMED`` comments are
        listed as cautions.
    facts : mapping, optional
        Report facts (evaluator, population, outcome window, data period, report date,
        version) in display order.
    risk_refused : str, optional
        Why payment risk was not computed (shown instead of the risk).
    measurement_se : mapping, optional
        Standard errors of verified measurements (for their intervals only).
    robustness : sequence of str, optional
        Sentences on how robust the decision is (a DiD report's breakdown value of the
        payment decision, say), shown under the payment chain.
    """
    statistics = paid_statistics(
        contract, inputs, level=level, treated_se=treated_se, measurement_se=measurement_se
    )
    unit_of = dict(units or {})
    # estimates passed as mappings without a standard error (rt.metric_input does this for
    # a synthetic control); verified figures without one are plain numbers
    no_se = frozenset(
        k for k, v in inputs.items() if isinstance(v, Mapping) and "std_error" not in v
    )
    reasons: dict[str, tuple[Decimal, list[str]]] = {}
    chain = pd.DataFrame(
        [
            _chain_row(
                contract, settlement, m, statistics.get(m.id), level, unit_of, reasons, no_se
            )
            for m in contract.spec.metrics
        ]
    )
    limit_rows = _limit_rows(contract, settlement)
    verdict = _verdict(contract, settlement, statistics, reasons, limit_rows, level)
    facts_frame = pd.DataFrame(
        {"": [str(v) for v in (facts or {}).values()]}, index=list((facts or {}).keys())
    )
    return DecisionPage(
        verdict=verdict,
        chain=chain,
        limits=pd.DataFrame(limit_rows),
        risk=tuple(_risk_words(risk, settlement, risk_refused)),
        cautions=tuple(_cautions(contract_file, facts or {})),
        facts=facts_frame,
        identity=_identity(contract, settlement, contract_file),
        statistics=statistics,
        robustness=tuple(str(r) for r in robustness),
    )


def _scale_word(m: Metric) -> str:
    return _SCALE_WORDS.get("blend" if m.is_blend else m.scale, m.scale)


def _trigger_text(t: Any, pct: bool) -> str:
    """``id (>= threshold)`` with the threshold in the metric's own format."""
    return f"{t.id} ({_CMP.get(t.comparison, t.comparison)} {_fmt(t.threshold, pct)})"


def _chain_row(
    contract: Contract,
    settlement: Any,
    m: Metric,
    s: PaidStatistic | None,
    level: float,
    unit_of: Mapping[str, str],
    reasons: dict[str, tuple[Decimal, list[str]]],
    no_se: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """One row of the payment chain (and, in ``reasons``, why each paying line pays)."""
    currency = settlement.currency
    metrics = settlement.metrics
    lines = settlement.lines
    mid = m.id
    pct = _is_pct(contract, mid)
    settled = None if mid not in metrics.index else metrics.loc[mid, "value"]
    paid = f"{_scale_word(m)} = "
    paid += _fmt(settled if settled is not None else (s.value if s else None), pct)
    paid += _interval(s, pct, level)
    if m.is_blend:
        parts = metrics.loc[mid, "statistic"] if mid in metrics.index else ""
        paid += f"; {parts}"
    elif m.statistic != "point" and mid in metrics.index:
        paid += f"; paid on the {metrics.loc[mid, 'statistic']}"
    trig_cells = []
    for t in contract.spec.triggers:
        if t.metric != mid:
            continue
        met = settlement.triggers.get(t.id)
        state = "pending" if met is None else ("met" if met else "not met")
        trig_cells.append(f"{_trigger_text(t, pct)}: {state}")
    comps = [c for c in contract.spec.payments if mid in _metric_of(c)]
    amount_cells = []
    for c in comps:
        hit = lines[lines["component"] == c.id]
        if hit.empty:
            continue
        amt = Decimal(hit["amount"].iloc[0])
        bound = str(hit["bound"].iloc[0] or "")
        amount_cells.append(f"{c.id}: {money(amt, currency)}" + (f" ({bound})" if bound else ""))
        if amt > 0:
            word = _scale_word(m).split(" (")[0]
            why = f"{mid} {word} {_fmt(settled, pct)}{_interval(s, pct, level)}"
            met = [
                _trigger_text(t, pct)
                for t in contract.spec.triggers
                if t.id in c.when and settlement.triggers.get(t.id)
            ]
            if met:
                why += f", meeting trigger {', '.join(met)}"
            reasons.setdefault(c.id, (amt, []))[1].append(why)
    return {
        "metric": mid,
        "estimate (input)": _estimate_cell(s, m, level, unit_of.get(mid, ""), mid in no_se),
        "statistic as paid": paid,
        "trigger": "; ".join(trig_cells) or "none",
        "rule and price": "; ".join(_rule(c, currency) for c in comps) or "(used by other metrics)",
        "amount": "; ".join(amount_cells) or "-",
    }


def _limit_rows(contract: Contract, settlement: Any) -> list[dict[str, str]]:
    """Each cap and floor of the contract, whether it binds, then the total due."""
    currency = settlement.currency
    lines = settlement.lines
    limit_rows = []
    for kind, limits in (("cap", contract.spec.caps), ("floor", contract.spec.floors)):
        levels: list[tuple[str, Decimal | None]] = [
            ("total", limits.total),
            ("outcomes", limits.outcomes),
            *((f"cohort {k}", v) for k, v in limits.cohort),
            *((f"period {k}", v) for k, v in limits.period),
        ]
        for name, value in levels:
            if value is None:
                continue
            binding = lines[lines["bound"].astype(str).str.contains(f"{name.split()[0]} {kind}")]
            effect = (
                "binds: " + ", ".join(money(Decimal(a), currency) for a in binding["amount"])
                if not binding.empty
                else "not binding"
            )
            limit_rows.append(
                {"step": f"{name} {kind}", "terms": money(value, currency, 0), "effect": effect}
            )
    limit_rows.append(
        {
            "step": "total due",
            "terms": "sum of the lines after caps and floors",
            "effect": money(settlement.total, currency),
        }
    )
    return limit_rows


def _verdict(
    contract: Contract,
    settlement: Any,
    statistics: Mapping[str, PaidStatistic],
    reasons: Mapping[str, tuple[Decimal, list[str]]],
    limit_rows: Sequence[Mapping[str, str]],
    level: float,
) -> str:
    """One sentence: what is due and why, or which triggers were missed."""
    currency = settlement.currency
    total = money(settlement.total, currency)
    if settlement.outcome_total > 0:
        caps_bound = [r for r in limit_rows if str(r["effect"]).startswith("binds")]
        reasons = {**reasons, **_metric_free_reasons(contract, settlement, reasons)}
        verdict = f"{total} is due under the {settlement.contract} contract: " + "; ".join(
            f"{cid} pays {money(amt, currency)} on {' and '.join(whys)}"
            for cid, (amt, whys) in reasons.items()
        )
        if caps_bound:
            verdict += "; then " + ", ".join(
                f"the {r['step']} of {r['terms']} {r['effect']}" for r in caps_bound
            )
        return verdict + "."
    metrics = settlement.metrics
    missed = []
    for t in contract.spec.triggers:
        if settlement.triggers.get(t.id) is False:
            pct = _is_pct(contract, t.metric)
            val = metrics.loc[t.metric, "value"] if t.metric in metrics.index else None
            missed.append(
                f"{t.metric} {_fmt(val, pct)}{_interval(statistics.get(t.metric), pct, level)}"
                f" misses trigger {_trigger_text(t, pct)}"
            )
    verdict = f"No outcome payment is due under the {settlement.contract} contract"
    return verdict + ((": " + "; ".join(missed) + ".") if missed else f" (total {total}).")


def _metric_free_reasons(
    contract: Contract, settlement: Any, known: Mapping[str, Any]
) -> dict[str, tuple[Decimal, list[str]]]:
    """Paying components read no metric (a fixed amount gated by triggers): why they pay."""
    out: dict[str, tuple[Decimal, list[str]]] = {}
    lines = settlement.lines
    for c in contract.spec.payments:
        hit = lines[lines["component"] == c.id]
        if c.id in known or _metric_of(c) or hit.empty:
            continue
        amt = Decimal(hit["amount"].iloc[0])
        if amt > 0:
            met = [t for t in c.when if settlement.triggers.get(t)]
            out[c.id] = (amt, [f"trigger {', '.join(met)} met" if met else f"its {c.rule} terms"])
    return out


def _identity(
    contract: Contract, settlement: Any, contract_file: str | Path | None
) -> pd.DataFrame:
    """The contract file's and terms' hashes and the inputs hash."""
    ident: dict[str, str] = {}
    file_hash = settlement.audit.get("contract_file_sha256")
    if file_hash is None and contract_file is not None:
        file_hash = file_sha256(contract_file)
    if file_hash is not None:
        ident["Contract file SHA-256 (the bytes of the TOML file)"] = str(file_hash)
    ident[
        "Contract content hash (SHA-256 of the parsed terms; comments and layout do not change it)"
    ] = str(settlement.audit.get("contract_sha256", contract.sha256))
    ident["Inputs hash (SHA-256 of the canonical inputs)"] = str(
        settlement.audit.get("inputs_sha256", "")
    )
    return pd.DataFrame({"": list(ident.values())}, index=list(ident))


def _risk_words(risk: Any, settlement: Any, refused: str | None) -> list[str]:
    currency = settlement.currency
    if risk is None:
        return [f"Payment risk was not computed: {refused or 'no risk given'}."]
    fixed = ""
    if risk.fixed_inputs:
        fixed = (
            f" Verified inputs ({', '.join(risk.fixed_inputs)}) are held at their measured "
            "values, so payments that rest on them alone are due whatever the effect."
        )
    out = [
        f"If the programme had no effect at all, sampling error alone would make this "
        f"contract pay {one_in(risk.p_pay_null)} (P(pay | true effect 0) = "
        f"{percent(risk.p_pay_null)}, {risk.n_draws:,} simulated evaluations).{fixed}",
        f"If the programme's true effect were exactly at its target, the contract would pay "
        f"nothing in {percent(risk.p_fail_at_target)} of simulated evaluations "
        "(target: the contract's stated target, else the level at which the metric's "
        "trigger is met).",
        f"Expected payment: if the true effects equal the estimates, the payment averaged "
        f"over the estimates' sampling error is {money(risk.expected_payment, currency)} "
        f"(90% of simulated payments between {money(risk.quantiles.iloc[0], currency)} and "
        f"{money(risk.quantiles.iloc[-1], currency)}); the settlement pays "
        f"{money(settlement.total, currency)} on the point estimates.",
    ]
    return out


def _cautions(contract_file: str | Path | None, facts: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    if contract_file is not None:
        text = Path(contract_file).read_text(encoding="utf-8")
        marked = []
        table = ""
        for line in text.splitlines():
            code, _, comment = line.partition("#")
            header = re.match(r"\s*\[+([^\]]+)\]+", code)
            if header:
                table = header.group(1).strip()
            if "ASSUMED" not in comment:
                continue
            note = comment.strip().lstrip("*").strip()
            if "=" in code:
                key, _, value = code.partition("=")
                key = key.strip()
                if key == "source":
                    continue
                where = f"{table}.{key}" if table else key
                marked.append(f"{where} = {value.strip()} ({note})")
            elif not note.endswith(":"):  # a heading such as "ASSUMED (...):" adds nothing
                marked.append(note)
        if marked:
            out.append(
                f"The contract file marks {len(marked)} term(s) as ASSUMED placeholders, not "
                "agreed terms; amounts that depend on them are illustrative:"
            )
            out += list(dict.fromkeys(marked))
    for key, value in facts.items():
        if "replace with" in str(value).lower() or "not stated" in str(value).lower():
            out.append(f"{key}: {value}")
    return out


def fact_rows(
    pairs: Sequence[tuple[str, Any]],
) -> dict[str, str]:
    """Ordered facts for :func:`decision_page` (``None`` -> "not stated in the spec")."""
    return {k: ("not stated in the spec" if v is None else str(v)) for k, v in pairs}
