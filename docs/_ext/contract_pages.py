"""The contract language and report spec reference, generated from the schema code.

Tables and keys come from :mod:`impacteval.payments.schema` (the dataclasses: key, type,
default) and the loader's key sets; the report spec from :mod:`impacteval.reporting.spec`.
The shipped contracts in ``contracts/`` are included as worked examples, each parsed by
:meth:`impacteval.payments.Contract.from_toml` during the build (a contract that no longer
parses fails the build).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from typing import Any

# TOML table -> schema dataclass
TABLES = [
    ("[contract]", "ContractInfo"),
    ("[metrics.<id>]", "Metric"),
    ("size_thresholds = [{...}]", "SizeThreshold"),
    ("[payments.<id>]", "Component"),
    ("tiers = [{...}]", "Tier"),
    ("points = [{...}]", "Point"),
    ("[triggers.<id>]", "Trigger"),
    ("[caps] / [floors]", "Limits"),
    ("[investment]", "Investment"),
    ("draws = [{...}]", "Draw"),
    ("[safeguards]", "Safeguards"),
    ("basket", "BasketRule"),
]
# field -> the schema constant listing its allowed values
CHOICES = {
    "input": "INPUT_KINDS",
    "scale": "SCALES",
    "statistic": "STATISTICS",
    "gate": "GATES",
    "rule": "RULES",
    "comparison": "COMPARISONS",
    "rounding_mode": "ROUNDING_MODES",
    "round_at": "ROUND_POINTS",
    "on_breach": "BREACH_ACTIONS",
    "excess_to": "EXCESS_TO",
}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(f: dataclasses.Field[Any]) -> str:
    if f.default is not dataclasses.MISSING:
        return f"`{f.default!r}`"
    if f.default_factory is not dataclasses.MISSING:
        return f"`{f.default_factory()!r}`"
    return "required"


def _table(schema: Any, cls_name: str) -> list[str]:
    cls = getattr(schema, cls_name)
    lines = ["| key | type | default | allowed values |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.name in ("document",):
            continue
        allowed = ", ".join(f"`{v}`" for v in getattr(schema, CHOICES.get(f.name, ""), ()))
        lines.append(
            f"| `{f.name}` | `{_cell(f.type)}` | {_cell(_default(f))} | {_cell(allowed)} |"
        )
    return lines


def _contract_page(root: Path) -> str:
    schema = importlib.import_module("impacteval.payments.schema")
    loader = importlib.import_module("impacteval.payments.loader")
    payments = importlib.import_module("impacteval.payments")
    lines = [
        "# Contract language reference",
        "",
        "Generated on every build from `impacteval/payments/schema.py` (the typed tables) and",
        "`impacteval/payments/loader.py` (which keys each rule requires). Nothing in a",
        "contract is evaluated as code; money is `decimal.Decimal` from the digits written.",
        "",
        "## The annotated schema",
        "",
        "From the docstring of `impacteval.payments`:",
        "",
        "```text",
        (payments.__doc__ or "").strip(),
        "```",
        "",
    ]
    for table, cls_name in TABLES:
        cls = getattr(schema, cls_name)
        lines += [f"## `{table}`", "", (cls.__doc__ or "").strip(), ""]
        lines += [*_table(schema, cls_name), ""]
        if cls_name == "Component":
            rule_keys = getattr(loader, "_RULE_KEYS", {})
            lines += ["Keys by payment rule:", "", "| rule | required | optional |"]
            lines += ["|---|---|---|"]
            for rule, (req, opt) in rule_keys.items():
                lines.append(
                    f"| `{rule}` | {', '.join(sorted(req))} | {', '.join(sorted(opt)) or '-'} |"
                )
            lines.append("")
    lines += ["## The shipped contracts", ""]
    contract_cls = payments.Contract
    for path in sorted((root / "contracts").glob("*.toml")):
        spec = contract_cls.from_toml(path).spec
        lines += [f"### {spec.info.name} (`contracts/{path.name}`)", ""]
        if spec.info.source:
            lines += [f"Source: {spec.info.source}", ""]
        lines += [
            f"Metrics: {', '.join(f'`{m.id}`' for m in spec.metrics)}; payment lines: "
            + ", ".join(f"`{c.id}` ({c.rule})" for c in spec.payments)
            + ".",
            "",
            "```toml",
            path.read_text().rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines)


def _spec_page() -> str:
    spec = importlib.import_module("impacteval.reporting.spec")
    lines = [
        "# Report spec reference",
        "",
        "Generated from `impacteval/reporting/spec.py`.",
        "",
        "```text",
        (spec.__doc__ or "").strip(),
        "```",
        "",
        "## Estimators a spec may name, and their options",
        "",
        "| design | estimator | options |",
        "|---|---|---|",
    ]
    for design, estimators in spec.ESTIMATORS.items():
        for name, options in estimators.items():
            lines.append(f"| `{design}` | `{name}` | {', '.join(sorted(options)) or '-'} |")
    return "\n".join(lines) + "\n"


def generate(app: Any) -> None:
    root = Path(app.srcdir).parent
    out = Path(app.srcdir) / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    (out / "contract_language.md").write_text(_contract_page(root))
    (out / "report_spec.md").write_text(_spec_page())


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
