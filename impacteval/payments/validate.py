"""Cross-reference checks on a contract, and the entry point that builds a ContractSpec.

Table-level checks (types, unknown keys, ranges) live in :mod:`impacteval.payments.loader`;
here: every reference resolves (metrics, triggers, periods, cohorts, true-ups), caps are
not below floors at any level, and metric bindings are consistent.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from impacteval.payments.domain import check_reachable
from impacteval.payments.engine import limit_rounder
from impacteval.payments.errors import ContractError
from impacteval.payments.loader import read_components
from impacteval.payments.money import Rounder
from impacteval.payments.schema import ContractSpec

__all__ = ["load_spec", "parse_spec", "read_document"]


def _resolve(name: str, known: Iterable[str], path: str, what: str) -> None:
    options = list(known)
    if name not in options:
        close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ContractError(f"`{path}`: no {what} {name!r}{hint} (defined: {options})")


def _check_limits(spec: ContractSpec) -> None:
    """Refuse floors no settlement can meet without breaking a cap.

    Floors and caps are compared on the rounding grid (floors rounded up, caps down), at
    the same level and across levels: a floor on a part of the payments (a cohort, a
    period, the outcome payments) may not exceed a cap on a whole containing it, and the
    floors of all cohorts (or all periods) together may not exceed the outcome or total
    cap. A total floor above the outcome cap is refused too (the top-up would be an
    outcome payment above its cap).
    """
    caps, floors = spec.caps, spec.floors
    grid = limit_rounder(spec)
    for c in spec.payments:
        if c.cap is not None and c.floor is not None:
            line = Rounder(
                spec.info.rounding if "line" in spec.info.round_at else None,
                spec.info.rounding_mode,
            )
            if line.up(c.floor) > line.down(c.cap):
                raise ContractError(
                    f"`payments.{c.id}.floor` ({c.floor}) and `.cap` ({c.cap}) admit no amount "
                    f"on the rounding grid {spec.info.rounding}"
                )
    cap_of: list[tuple[str, Decimal]] = []
    if caps.outcomes is not None:
        cap_of.append(("caps.outcomes", grid.down(caps.outcomes)))
    if caps.total is not None:
        cap_of.append(("caps.total", grid.down(caps.total)))

    def refuse(floor_path: str, floor: Decimal, cap_path: str, cap: Decimal) -> None:
        raise ContractError(
            f"`{floor_path}` ({floor}) exceeds `{cap_path}` ({cap}): no settlement can meet "
            "the floor without paying above the cap"
            + ("" if not grid.active else f" (compared on the rounding grid {spec.info.rounding})")
        )

    for level in ("cohort", "period"):
        cap_map = dict(getattr(caps, level))
        floor_items = list(getattr(floors, level))
        for label, floor in floor_items:
            f_up = grid.up(floor)
            if label in cap_map and grid.down(cap_map[label]) < f_up:
                refuse(f"floors.{level}.{label}", floor, f"caps.{level}.{label}", cap_map[label])
            for path, cap in cap_of:
                if cap < f_up:
                    refuse(f"floors.{level}.{label}", floor, path, cap)
        together = sum((grid.up(f) for _, f in floor_items), Decimal(0))
        for path, cap in cap_of:
            if len(floor_items) > 1 and cap < together:
                refuse(f"floors.{level} (all together)", together, path, cap)
    for level in ("outcomes", "total"):
        floor = getattr(floors, level)
        if floor is None:
            continue
        for path, cap in cap_of:
            if cap < grid.up(floor):
                refuse(f"floors.{level}", floor, path, cap)


def parse_spec(document: Mapping[str, Any]) -> ContractSpec:
    """Validate a parsed TOML document into a :class:`ContractSpec`.

    Raises
    ------
    ContractError
        On any problem; the message names the key path.
    """
    parts = read_components(document)
    spec = ContractSpec(document=MappingProxyType(dict(document)), **parts)
    info = spec.info
    metric_ids = [m.id for m in spec.metrics]
    by_id = {m.id: m for m in spec.metrics}
    for m in spec.metrics:
        for j, (ref, _) in enumerate(m.blend):
            _resolve(ref, metric_ids, f"metrics.{m.id}.blend", "metric")
            if by_id[ref].is_blend:
                raise ContractError(
                    f"`metrics.{m.id}.blend[{j}]`: {ref!r} is itself a blend; "
                    "blend the underlying metrics directly"
                )
            if ref == m.id:
                raise ContractError(f"`metrics.{m.id}.blend` refers to itself")
    triggers = {t.id: t for t in spec.triggers}
    for t in spec.triggers:
        _resolve(t.metric, metric_ids, f"triggers.{t.id}.metric", "metric")
        if by_id[t.metric].input == "rate_card":
            raise ContractError(f"`triggers.{t.id}.metric`: rate-card metrics cannot trigger")
        if t.period is not None:
            _resolve(
                t.period, info.periods, f"triggers.{t.id}.period", "period in `contract.periods`"
            )
    comp_ids = [c.id for c in spec.payments]
    for c in spec.payments:
        path = f"payments.{c.id}"
        for ref in c.metrics_used():
            _resolve(ref, metric_ids, f"{path}.metric" if c.metric else f"{path}.weights", "metric")
        used = [by_id[r] for r in c.metrics_used()]
        if c.rule == "rate_card" and used[0].input != "rate_card":
            raise ContractError(
                f'`{path}.metric`: `rule = "rate_card"` needs a metric with '
                f'`input = "rate_card"`; {used[0].id!r} has '
                f"input {used[0].input!r}"
            )
        if c.rule != "rate_card" and any(m.input == "rate_card" for m in used):
            raise ContractError(
                f'`{path}.rule`: rate-card metrics are paid with `rule = "rate_card"`'
            )
        for key, refs in (("when", c.when), ("unless", c.unless)):
            for ref in refs:
                _resolve(ref, triggers, f"{path}.{key}", "trigger")
                if triggers[ref].action != "pay":
                    raise ContractError(
                        f"`{path}.{key}`: trigger {ref!r} is a stop trigger; "
                        "stop triggers act through `period`"
                    )
        if c.period is not None:
            _resolve(c.period, info.periods, f"{path}.period", "period in `contract.periods`")
        if c.cohort is not None:
            _resolve(c.cohort, info.cohorts, f"{path}.cohort", "cohort in `contract.cohorts`")
        if c.true_up_of is not None:
            _resolve(c.true_up_of, comp_ids, f"{path}.true_up_of", "payment component")
            target = next(x for x in spec.payments if x.id == c.true_up_of)
            if target.true_up_of is not None or target.id == c.id:
                raise ContractError(
                    f"`{path}.true_up_of`: {target.id!r} must be an interim "
                    "component (not itself a true-up)"
                )
        elif c.clawback:
            raise ContractError(f"`{path}.clawback` only applies to a true-up (`true_up_of = ...`)")
    for limits, name in ((spec.caps, "caps"), (spec.floors, "floors")):
        for label, _ in limits.cohort:
            _resolve(label, info.cohorts, f"{name}.cohort.{label}", "cohort in `contract.cohorts`")
        for label, _ in limits.period:
            _resolve(label, info.periods, f"{name}.period.{label}", "period in `contract.periods`")
    _check_limits(spec)
    check_reachable(spec)
    _check_investment(spec)
    return spec


def _check_investment(spec: ContractSpec) -> None:
    inv = spec.investment
    if inv is None:
        return
    outcome_ids = [c.id for c in spec.payments if c.outcome]
    for comp, _ in inv.payments_on:
        path = f"investment.payments_on.{comp}"
        _resolve(comp, [c.id for c in spec.payments], path, "payment component")
        if comp not in outcome_ids:
            raise ContractError(
                f"`{path}`: {comp!r} is not an outcome payment (`outcome = false`); only "
                "outcome payments go to investors"
            )
    if inv.dated and inv.paid_on is None:
        undated = [c for c in outcome_ids if c not in dict(inv.payments_on)]
        if undated:
            raise ContractError(
                f"`investment.payments_on` gives no date for {undated}; date them or set "
                "`investment.paid_on` (the default payment date)"
            )


def read_document(source: str | Path) -> tuple[dict[str, Any], str]:
    """Parse a contract source into a TOML document.

    Parameters
    ----------
    source : str or pathlib.Path
        A path to an existing file (``Path``, or a one-line string naming a file), or the
        TOML text itself.

    Returns
    -------
    tuple
        ``(document, origin)``: the parsed document (floats as ``Decimal``) and where it
        came from (the path, or ``"<string>"``).
    """
    if isinstance(source, Path):
        path: Path | None = source
    elif isinstance(source, str):
        one_line = "\n" not in source and "=" not in source and "[" not in source
        path = Path(source) if one_line and source.strip() else None
    else:
        raise ContractError(
            f"`source` must be a pathlib.Path, a file path or TOML text; received "
            f"{type(source).__name__}"
        )
    if path is not None and isinstance(source, str) and len(source) > 1024:
        path = None  # far longer than any file name: TOML text (one line)
    if path is not None:
        shown = str(path) if len(str(path)) <= 120 else f"{str(path)[:120]}..."
        try:
            if not path.is_file():
                raise ContractError(f"`source`: contract file {shown!r} does not exist")
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ContractError(
                f"`source`: cannot read contract file {shown!r}: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise ContractError(f"{shown}: not UTF-8 text ({exc.reason})") from None
        origin = str(path)
    else:
        text, origin = str(source), "<string>"
    try:
        document = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        where = origin if len(origin) <= 120 else f"{origin[:120]}..."
        raise ContractError(f"{where}: not valid TOML: {exc}") from None
    return document, origin


def load_spec(source: str | Path) -> ContractSpec:
    """Read and validate a contract from a path or TOML text."""
    document, _ = read_document(source)
    return parse_spec(document)
