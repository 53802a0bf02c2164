"""The :class:`Contract` object: a validated contract that settles on estimates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from impacteval.payments.audit import audit_record, sha256
from impacteval.payments.engine import Outcome, run
from impacteval.payments.inputs import MetricInput, normalise_inputs
from impacteval.payments.safeguards import (
    SafeguardInputs,
    SafeguardOutcome,
    evaluate_safeguards,
    normalise_safeguards,
)
from impacteval.payments.schema import ContractSpec
from impacteval.payments.settle import Settlement, lines_frame, metrics_frame
from impacteval.payments.validate import parse_spec, read_document
from impacteval.payments.waterfall import (
    InvestorOutcome,
    dated_payments,
    dated_waterfall,
    waterfall,
)
from impacteval.results import Summary

__all__ = ["Contract"]


@dataclass(frozen=True)
class Contract:
    """An outcome contract read from TOML.

    Attributes
    ----------
    spec : ContractSpec
        The validated, typed contract.
    origin : str
        The file it was read from, or ``"<string>"``.
    source_sha256 : str
        SHA-256 of the file's bytes (of the UTF-8 text for TOML text): the file's
        identity. :attr:`sha256` is the content hash of the parsed terms, which comments
        and layout do not change. Both go into every settlement's audit record.

    Examples
    --------
    >>> c = Contract.from_toml('''
    ... [contract]
    ... name = "Demo"
    ... currency = "USD"
    ... [metrics.jobs]
    ... input = "count"
    ... [payments.jobs]
    ... rule = "linear"
    ... metric = "jobs"
    ... price = "1500.00"
    ... cap = "100000"
    ... ''')
    >>> c.settle({"jobs": 80}).total
    Decimal('100000.00')
    """

    spec: ContractSpec
    origin: str = "<string>"
    source_sha256: str = ""

    @classmethod
    def from_toml(cls, source: str | Path) -> Contract:
        """Read a contract from a path (``Path`` or a one-line string) or TOML text.

        Raises
        ------
        ContractError
            The file is missing, the TOML is invalid, or the contract fails validation
            (the message names the key path and suggests the right key for a typo).
        """
        import hashlib

        document, origin = read_document(source)
        if origin != "<string>":
            raw = Path(origin).read_bytes()
        else:
            raw = str(source).encode("utf-8")
        return cls(parse_spec(document), origin, hashlib.sha256(raw).hexdigest())

    @property
    def name(self) -> str:
        """The contract's name."""
        return self.spec.info.name

    @property
    def currency(self) -> str:
        """ISO 4217 currency code."""
        return self.spec.info.currency

    @property
    def sha256(self) -> str:
        """SHA-256 of the canonical parsed contract (comments and layout do not count)."""
        return sha256(dict(self.spec.document))

    @property
    def input_metrics(self) -> tuple[str, ...]:
        """Metric ids that settlement inputs must supply."""
        return tuple(m.id for m in self.spec.metrics if not m.is_blend)

    def _run(
        self, inputs: Mapping[str, Any], partial: bool, safeguards: Mapping[str, Any] | None
    ) -> tuple[dict[str, MetricInput], Outcome, SafeguardInputs | None, SafeguardOutcome | None]:
        norm = normalise_inputs(self.spec, inputs, partial=partial)
        spec = self.spec
        guard_in = normalise_safeguards(
            spec.safeguards, safeguards, tuple(m.id for m in spec.metrics), partial=partial
        )
        outcome = run(spec, norm)
        guard = None
        if spec.safeguards is not None:
            values = {k: v.value for k, v in outcome.metrics.items()}
            guard = evaluate_safeguards(spec.safeguards, guard_in, values)
            if guard.withhold is not None:
                outcome = run(spec, norm, withhold=guard.withhold)
        return norm, outcome, guard_in, guard

    def _investor(self, outcome: Outcome) -> InvestorOutcome | None:
        inv = self.spec.investment
        if inv is None:
            return None
        if not inv.dated:
            return waterfall(
                inv.principal,
                max(outcome.outcome_total, Decimal(0)),
                guarantee=inv.guarantee,
                first_loss=inv.first_loss,
            )
        components = {c.id for c in self.spec.payments if c.outcome}
        payments = dated_payments(outcome.lines, components, dict(inv.payments_on), inv.paid_on)
        return dated_waterfall(
            [(d.date, d.amount) for d in inv.draws],
            payments or [(inv.paid_on or inv.draws[-1].date, Decimal(0))],
            guarantee=inv.guarantee,
            first_loss=inv.first_loss,
            irr_cap=inv.irr_cap,
            excess_to=inv.excess_to,
        )

    def settle(
        self,
        inputs: Mapping[str, Any],
        *,
        safeguards: Mapping[str, Any] | None = None,
        partial: bool = False,
    ) -> Settlement:
        """Settle the contract.

        Parameters
        ----------
        inputs : mapping
            ``{metric_id: EffectEstimate | number | mapping}``. A mapping may give
            ``estimate``, ``std_error``, ``df``, ``n_obs``, ``treated_rate``,
            ``control_rate``, ``units`` or ``value``; a rate-card metric takes
            ``{person_id: {outcome: count}}``.
        safeguards : mapping, optional
            Inputs of the contract's ``[safeguards]`` table (required when it has one):
            ``subgroups`` (``{name: {"estimate", "n"[, "std_error", "eligible"]}}``),
            ``eligible``, ``exclusions`` (a count or ``{reason: count}``), ``refusals``
            and basket ``indicators``; see :mod:`impacteval.payments.safeguards`.
        partial : bool, default False
            Allow missing metrics (an interim settlement): components that need them are
            "pending" and pay nothing. Missing safeguard inputs are then "pending" too.

        Returns
        -------
        Settlement

        Raises
        ------
        DataValidationError
            Unknown, missing or malformed inputs.

        Notes
        -----
        Deterministic: the same contract and inputs give the same lines, total and
        ``audit["result_sha256"]``, whatever the order of ``inputs``. Safeguards change
        an amount only when the contract says ``on_breach = "withhold"``.
        """
        norm, outcome, guard_in, guard = self._run(inputs, partial, safeguards)
        investor = self._investor(outcome)
        audit = audit_record(
            self.name,
            self.currency,
            self.spec.document,
            norm,
            outcome,
            safeguards=None
            if guard is None
            else {
                **guard.canonical(),
                "inputs_sha256": sha256(None if guard_in is None else guard_in.canonical()),
            },
        )
        if investor is not None:
            audit["investor"] = investor.to_dict()
        if self.source_sha256:  # the file's identity, beside the content hash
            audit["contract_file_sha256"] = self.source_sha256
        return Settlement(
            contract=self.name,
            currency=self.currency,
            total=outcome.total,
            outcome_total=outcome.outcome_total,
            lines=lines_frame(outcome),
            metrics=metrics_frame(outcome),
            triggers=outcome.triggers,
            investor=investor,
            audit=audit,
            safeguards=guard.frame() if guard is not None else pd.DataFrame(),
            safeguard_flags=() if guard is None else guard.flags,
            withheld=outcome.withheld,
        )

    def summary(self) -> Summary:
        """The contract's terms: one row per payment component."""
        rows = []
        for c in self.spec.payments:
            limits = ", ".join(
                f"{k} {v}" for k, v in (("cap", c.cap), ("floor", c.floor)) if v is not None
            )
            rows.append(
                {
                    "component": c.id,
                    "rule": c.rule,
                    "metrics": ", ".join(c.metrics_used()),
                    "when": ", ".join(c.when),
                    "limits": limits,
                    "outcome": c.outcome,
                }
            )
        caps = self.spec.caps
        facts = [
            ("Currency", self.currency),
            (
                "Rounding",
                f"{self.spec.info.rounding} "
                f"{self.spec.info.rounding_mode} at {', '.join(self.spec.info.round_at)}",
            ),
        ]
        if caps.total is not None:
            facts.append(("Total cap", f"{caps.total:,}"))
        facts.append(("Content hash (SHA-256 of the parsed terms)", self.sha256[:16]))
        return Summary(
            title=f"Contract: {self.name}",
            facts=tuple(facts),
            table=pd.DataFrame(rows).set_index("component"),
        )

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        return (
            f"Contract(name={self.name!r}, currency={self.currency!r}, "
            f"metrics={list(self.input_metrics)}, payments={len(self.spec.payments)})"
        )
