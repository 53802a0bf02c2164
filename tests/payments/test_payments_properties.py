"""Hypothesis properties of the payment engine, and fuzzing of the TOML loader.

Budgets: each property runs a deliberately small ``max_examples`` (the engine is exact
Decimal arithmetic, so failures are structural and show up quickly); the whole file runs
in a few seconds. ``deadline=None`` because the first example pays import costs.
"""

from __future__ import annotations

import random
from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impacteval.payments import Contract, ContractError

HEAD = '[contract]\nname = "P"\ncurrency = "USD"\n'
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

money = st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False)
values = st.floats(min_value=-5, max_value=5, allow_nan=False, allow_infinity=False)


def rule_body(kind: str, prices: list[D]) -> str:
    """A monotone payment rule of the given kind built from sorted non-negative prices."""
    p = sorted(prices)
    if kind == "linear":
        return f'rule = "linear"\nprice = "{p[0]}"\nthreshold = 0.5\n'
    if kind == "deductible":
        return (
            f'rule = "linear"\nprice = "{p[0]}"\nthreshold = 0.5\nthreshold_mode = "deductible"\n'
        )
    if kind == "tiers":
        return (
            'rule = "tiers"\ntiers = ['
            f'{{from = -1, amount = "{p[0]}"}}, {{from = 0.5, amount = "{p[1]}"}}, '
            f'{{from = 2, amount = "{p[2]}"}}]\n'
        )
    return (
        'rule = "piecewise"\npoints = ['
        f'{{x = -1, y = "{p[0]}"}}, {{x = 0, y = "{p[1]}"}}, {{x = 3, y = "{p[2]}"}}]\n'
    )


KINDS = st.sampled_from(["linear", "deductible", "tiers", "piecewise"])


def build(kind: str, prices: list[D], cap: D | None, floor: D | None, total: D | None) -> Contract:
    limits = ""
    if cap is not None:
        limits += f'cap = "{cap}"\n'
    if floor is not None:
        limits += f'floor = "{floor}"\n'
    text = HEAD + '[metrics.x]\n[payments.a]\nmetric = "x"\n' + rule_body(kind, prices) + limits
    text += '[payments.b]\nmetric = "x"\n' + rule_body(kind, prices)
    if total is not None:
        text += f'[caps]\ntotal = "{total}"\n'
    return Contract.from_toml(text)


@SETTINGS
@given(KINDS, st.lists(money, min_size=3, max_size=3), money, money, money, values)
def test_never_above_a_cap_nor_below_a_floor(
    kind: str, prices: list[D], a: D, b: D, total: D, x: float
) -> None:
    floor, cap = min(a, b), max(a, b)
    s = build(kind, prices, cap, floor, total).settle({"x": x})
    amount = s.amount("a")
    assert floor <= amount <= cap
    assert s.total <= total
    assert s.lines["amount"].sum() == s.total  # lines add up exactly


@SETTINGS
@given(KINDS, st.lists(money, min_size=3, max_size=3), values, values)
def test_monotone_rules_pay_more_for_larger_effects(
    kind: str, prices: list[D], x1: float, x2: float
) -> None:
    c = build(kind, prices, None, None, None)
    lo, hi = sorted((x1, x2))
    assert c.settle({"x": lo}).total <= c.settle({"x": hi}).total


PETERBOROUGH_LIKE = (
    HEAD
    + """
[metrics.a]
scale = "relative_reduction"
[metrics.b]
scale = "relative_reduction"
[metrics.c]
input = "count"
[metrics.pooled]
blend = ["a", "b"]
weight_by = "units"
[triggers.t]
metric = "pooled"
threshold = 0.05
[payments.pa]
rule = "linear"
metric = "a"
price = "1000.5"
[payments.pp]
rule = "linear"
metric = "pooled"
price = "333.33"
when = ["t"]
[payments.pc]
rule = "linear"
metric = "c"
price = "0.07"
"""
)


@SETTINGS
@given(
    st.floats(0.05, 0.5),
    st.floats(0.05, 0.5),
    st.integers(1, 5000),
    st.integers(1, 5000),
    st.integers(0, 10**6),
    st.randoms(use_true_random=False),
)
def test_deterministic_and_independent_of_input_order(
    ta: float, tb: float, na: int, nb: int, count: int, rnd: random.Random
) -> None:
    c = Contract.from_toml(PETERBOROUGH_LIKE)
    items: list[tuple[str, Any]] = [
        ("a", {"treated_rate": ta, "control_rate": 0.4, "units": na}),
        ("b", {"control_rate": 0.3, "treated_rate": tb, "units": nb}),
        ("c", count),
    ]
    first = c.settle(dict(items))
    rnd.shuffle(items)
    second = c.settle(dict(items))
    assert first.total == second.total
    assert first.lines.equals(second.lines)
    for key in ("contract_sha256", "inputs_sha256", "result_sha256"):
        assert first.audit[key] == second.audit[key]
    # money is exact: the count line is exactly price x count
    assert first.amount("pc") == (D("0.07") * count).quantize(D("0.01"))


@SETTINGS
@given(
    st.dictionaries(
        st.sampled_from(["p1", "p2", "p3", "p4"]),
        st.dictionaries(st.sampled_from(["u", "v"]), st.integers(0, 4), min_size=1),
        min_size=1,
    )
)
def test_rate_card_money_is_exact(persons: dict[str, dict[str, int]]) -> None:
    c = Contract.from_toml(
        HEAD
        + """[metrics.r]
input = "rate_card"
[payments.card]
rule = "rate_card"
metric = "r"
prices = { u = "0.10", v = "1234.57" }
unit_cap = "3000"
"""
    )
    expected = sum(
        (
            min(D("0.10") * o.get("u", 0) + D("1234.57") * o.get("v", 0), D("3000"))
            for o in persons.values()
        ),
        D(0),
    )
    assert c.settle({"r": persons}).total == expected


# -- fuzzing the loader ------------------------------------------------------------------
KEYS = [
    "contract",
    "metrics",
    "payments",
    "triggers",
    "caps",
    "floors",
    "investment",
    "name",
    "currency",
    "rounding",
    "rule",
    "metric",
    "price",
    "tiers",
    "from",
    "to",
    "amount",
    "points",
    "x",
    "y",
    "weights",
    "cap",
    "floor",
    "total",
    "when",
    "unless",
    "scale",
    "target",
    "input",
    "blend",
    "threshold",
    "cohort",
    "period",
    "periods",
    "cohorts",
    "principal",
    "guarantee",
    "statistic",
    "level",
    "gate",
    "size_thresholds",
    "min_n",
    "true_up_of",
    "clawback",
    "share",
    "prices",
    "unit_cap",
    "round_at",
    "learning",
    "zz",
]
scalars = st.one_of(
    st.text(max_size=8),
    st.integers(-(10**6), 10**6),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["USD", "linear", "tiers", "achievement", "0.01", "-5", "x", "count"]),
)
key = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=6))
values_tree = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(key, inner, max_size=4)),
    max_leaves=20,
)
contract_table = st.fixed_dictionaries(
    {"name": st.just("F"), "currency": st.sampled_from(["USD", "GBP", "usd"])},
    optional={"rounding": scalars, "round_at": values_tree, "periods": values_tree},
)
ident = st.sampled_from(["x", "learning", "t", "p", "zz", "1bad"])
entries = st.dictionaries(ident, st.dictionaries(key, values_tree, max_size=6), max_size=3)
documents = st.builds(
    lambda head, named, rest: {**rest, **head, **named},
    st.one_of(st.just({}), st.fixed_dictionaries({"contract": contract_table})),
    st.dictionaries(st.sampled_from(["metrics", "payments", "triggers"]), entries),
    st.dictionaries(
        st.sampled_from(KEYS[4:7]) | key, st.dictionaries(key, values_tree, max_size=5), max_size=3
    ),
)


def _q(s: str) -> str:
    """A TOML basic string: escape backslash, quote and every non-printable-ASCII char."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= ord(ch) < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\U{ord(ch):08X}" if 0xD800 > ord(ch) or ord(ch) > 0xDFFF else "?")
    return '"' + "".join(out) + '"'


def toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if "e" not in repr(v) and "." in repr(v) else f"{v:.6f}"
    if isinstance(v, str):
        return _q(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    assert isinstance(v, dict)
    return "{" + ", ".join(f"{_q(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    """Top-level tables as ``[table]`` sections, everything deeper as inline values."""
    out = []
    for table, body in doc.items():
        out.append(f"[{_q(table)}]")
        out += [f"{_q(k)} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(out) + "\n"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fuzzed_documents_only_raise_contract_error(doc: dict[str, Any]) -> None:
    try:
        Contract.from_toml(to_toml(doc))
    except ContractError:
        pass


VALID = (
    HEAD
    + """[metrics.x]
scale = "achievement"
target = 2
[triggers.t]
metric = "x"
threshold = 0.5
[payments.p]
rule = "tiers"
metric = "x"
tiers = [{from = 0.5, to = 1, amount = "10"}, {from = 1, amount = "20"}]
when = ["t"]
cap = "15"
[caps]
total = "100"
"""
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(VALID) - 1),
            st.sampled_from(
                ['"', "[", "]", "=", "\n", "-", "0", "x", ".", "{", "}", ",", "#", " ", "e"]
            ),
        ),
        max_size=4,
    )
)
def test_mutated_contract_text_only_raises_contract_error(edits: list[tuple[int, str]]) -> None:
    text = VALID
    for pos, ch in edits:
        text = text[:pos] + ch + text[pos + 1 :]
    try:
        c = Contract.from_toml(text)
    except ContractError:
        return
    try:
        c.settle({m: 1.0 for m in c.input_metrics})
    except ValueError:  # DataValidationError for inputs the mutated contract rejects
        pass
