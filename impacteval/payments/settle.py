"""The :class:`Settlement` result: total, lines, metric values, investor outcome, audit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pandas as pd

from impacteval.payments.engine import Outcome
from impacteval.payments.waterfall import InvestorOutcome
from impacteval.results import Summary, SummaryDisplay

__all__ = ["LINE_COLUMNS", "Settlement", "lines_frame", "metrics_frame"]

LINE_COLUMNS = (
    "component",
    "metric",
    "statistic",
    "value",
    "rule",
    "amount",
    "bound",
    "cohort",
    "period",
    "outcome",
)


def lines_frame(outcome: Outcome) -> pd.DataFrame:
    """Lines as a DataFrame (Decimal money in object columns, exact)."""
    rows = [{col: getattr(ln, col) for col in LINE_COLUMNS} for ln in outcome.lines]
    return pd.DataFrame(rows, columns=list(LINE_COLUMNS))


def metrics_frame(outcome: Outcome) -> pd.DataFrame:
    """One row per metric: decision statistic, its value, the gate and the raw input."""
    rows = []
    for mid in sorted(outcome.metrics):
        mv = outcome.metrics[mid]
        src = mv.source
        rows.append(
            {
                "metric": mid,
                "statistic": mv.statistic,
                "value": mv.value,
                "gate_passed": mv.gate_passed,
                "gate": mv.gate_note,
                "estimate": None if src is None else src.estimate,
                "std_error": None if src is None else src.std_error,
            }
        )
    return pd.DataFrame(rows).set_index("metric") if rows else pd.DataFrame()


def _freeze(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Settlement(SummaryDisplay):
    """What a contract pays on given inputs.

    Attributes
    ----------
    contract : str
        Contract name.
    currency : str
        ISO 4217 code; every amount is in this currency.
    total : Decimal
        Total payment (sum of ``lines.amount``; exact).
    outcome_total : Decimal
        Part of ``total`` paid for outcomes (excludes fees/outputs, ``outcome = false``).
    lines : pandas.DataFrame
        Columns ``component, metric, statistic, value, rule, amount, bound, cohort,
        period, outcome``. ``bound`` names the tier, trigger, gate or cap that determined
        the line; caps and floors above the component level are their own lines.
    metrics : pandas.DataFrame
        Decision statistic of every metric.
    triggers : Mapping
        Trigger id -> met (True / False; None when pending).
    investor : InvestorOutcome or None
        The investor waterfall, when the contract has an ``[investment]`` table.
    safeguards : pandas.DataFrame
        One row per safeguard check (columns ``check, item, n, estimate, std_error,
        value, limit, status``): subgroup cells (masked under ``min_cell``), exclusion
        reasons, exclusion and refusal shares, basket indicators. Empty without a
        ``[safeguards]`` table.
    safeguard_flags : tuple of str
        Breaches and pending safeguard inputs, in words.
    withheld : Decimal
        Outcome payments withheld on a safeguard breach (``on_breach = "withhold"``);
        already deducted from ``total`` by the ``safeguards:withhold`` line.
    audit : Mapping
        Hashes of contract, inputs and result, the canonical inputs, package version and a
        timestamp (kept out of the hashes); see :func:`impacteval.payments.audit.audit_record`.
    """

    contract: str
    currency: str
    total: Decimal
    outcome_total: Decimal
    lines: pd.DataFrame
    metrics: pd.DataFrame
    triggers: Mapping[str, bool | None]
    investor: InvestorOutcome | None
    audit: Mapping[str, Any] = field(default_factory=dict)
    safeguards: pd.DataFrame = field(default_factory=pd.DataFrame)
    safeguard_flags: tuple[str, ...] = ()
    withheld: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "triggers", _freeze(self.triggers))
        object.__setattr__(self, "audit", _freeze(self.audit))

    @property
    def pays(self) -> bool:
        """Whether any outcome payment is due."""
        return self.outcome_total > 0

    def amount(self, component: str) -> Decimal:
        """Amount of one component line (``KeyError`` if absent)."""
        match = self.lines.loc[self.lines["component"] == component, "amount"]
        if match.empty:
            raise KeyError(component)
        return Decimal(match.iloc[0])

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of the lines, with the facts above them."""
        table = self.lines[["metric", "statistic", "value", "rule", "amount", "bound"]].copy()
        table.index = pd.Index(self.lines["component"], name="component")
        facts: list[tuple[str, str]] = [
            ("Currency", self.currency),
            ("Total", f"{self.total:,}"),
            ("Outcome payments", f"{self.outcome_total:,}"),
        ]
        for tid, met in sorted(self.triggers.items()):
            state = "pending" if met is None else ("met" if met else "not met")
            facts.append((f"Trigger {tid}", state))
        if self.investor is not None:
            inv = self.investor
            facts += [
                ("Principal drawn", f"{inv.principal:,}"),
                ("Paid to investors", f"{inv.paid_to_investors:,}"),
                ("Guarantee paid", f"{inv.guarantee_paid:,}"),
                ("Investor loss", f"{inv.investor_loss:,}"),
                ("Multiple", f"{inv.multiple:.4f}"),
            ]
            if inv.irr is not None:
                facts.append(("Investor IRR", f"{inv.irr:.2%}"))
            if inv.excess > 0:
                facts.append((f"Excess over IRR cap (to {inv.excess_to})", f"{inv.excess:,}"))
        if not self.safeguards.empty:
            breaches = [f for f in self.safeguard_flags if not f.startswith("pending")]
            facts.append(("Safeguards", "; ".join(self.safeguard_flags) or "no breach"))
            if breaches and self.withheld == 0:
                facts.append(("Safeguard action", "flagged only (amounts unchanged)"))
            if self.withheld:
                facts.append(("Withheld (safeguards)", f"{self.withheld:,}"))
        facts.append(
            (
                "Contract content hash (parsed terms)",
                str(self.audit.get("contract_sha256", ""))[:16],
            )
        )
        if self.audit.get("contract_file_sha256"):
            facts.append(
                ("Contract file SHA-256 (bytes)", str(self.audit["contract_file_sha256"])[:16])
            )
        return Summary(
            title=f"Settlement: {self.contract}",
            facts=tuple(facts),
            table=table,
            notes=(
                "Amounts are exact decimals; caps and floors above a component are separate lines.",
            ),
        )

    def __repr__(self) -> str:
        return (
            f"Settlement(contract={self.contract!r}, total={self.currency} {self.total:,}, "
            f"lines={len(self.lines)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: total, lines (Decimals as strings), investor outcome, audit."""
        lines = [
            {k: (str(v) if isinstance(v, Decimal) else v) for k, v in row.items()}
            for row in self.lines.to_dict(orient="records")
        ]
        return {
            "contract": self.contract,
            "currency": self.currency,
            "total": str(self.total),
            "outcome_total": str(self.outcome_total),
            "lines": lines,
            "investor": None if self.investor is None else self.investor.to_dict(),
            "safeguard_flags": list(self.safeguard_flags),
            "withheld": str(self.withheld),
            "audit": dict(self.audit),
        }
