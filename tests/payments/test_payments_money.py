"""Money invariants over random contracts and inputs (Hypothesis), as an auditor would try.

Each random contract has one to three payment lines (linear, tiers or a fixed fee that may
be an output payment), random component caps and floors, cohort and period labels, caps
and floors at every level, and a random rounding quantum, mode and set of rounding
points. Contracts the loader refuses (a floor no settlement can meet) are skipped; every
accepted one must, on any input:

* pay lines that add up exactly to the total;
* keep every cap and floor at every level *after* rounding;
* never pay a negative total, outcome total or fee total (no clawback is generated);
* round the total onto the declared grid when it rounds at ``total``.

Budget: 300 examples for the main property (seeded by Hypothesis' database-free
``derandomize``), about 10 s on the 2-core test machine.
"""

from __future__ import annotations

import decimal
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from impacteval.exceptions import DataValidationError
from impacteval.payments import Contract, ContractError

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

small_money = st.decimals(min_value=0, max_value=2000, places=3, allow_nan=False)
quanta = st.sampled_from(["0.01", "0.1", "1", "100"])
modes = st.sampled_from(["ROUND_HALF_UP", "ROUND_HALF_EVEN", "ROUND_UP", "ROUND_DOWN"])
points = st.lists(st.sampled_from(["unit", "line", "total"]), unique=True, max_size=3)


@st.composite
def contracts(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    q, mode, at = draw(quanta), draw(modes), draw(points)
    text = (
        f'[contract]\nname = "R"\ncurrency = "USD"\nrounding = "{q}"\n'
        f'rounding_mode = "{mode}"\nround_at = {at!r}\n'
        'cohorts = ["a", "b"]\nperiods = ["p1", "p2"]\n[metrics.x]\n'
    ).replace("'", '"')
    n = draw(st.integers(1, 3))
    for i in range(n):
        kind = draw(st.sampled_from(["linear", "tiers", "fixed"]))
        text += f"[payments.c{i}]\n"
        if kind == "linear":
            text += f'rule = "linear"\nmetric = "x"\nprice = "{draw(small_money)}"\n'
        elif kind == "tiers":
            a, b = sorted(draw(st.lists(small_money, min_size=2, max_size=2)))
            text += (
                'rule = "tiers"\nmetric = "x"\n'
                f'tiers = [{{from = 0, amount = "{a}"}}, {{from = 1, amount = "{b}"}}]\n'
            )
        else:
            text += f'rule = "fixed"\namount = "{draw(small_money)}"\n'
            if draw(st.booleans()):
                text += "outcome = false\n"
        lo_hi = sorted(draw(st.lists(small_money, min_size=2, max_size=2)))
        if draw(st.booleans()):
            text += f'cap = "{lo_hi[1]}"\n'
        if draw(st.booleans()):
            text += f'floor = "{lo_hi[0]}"\n'
        if draw(st.booleans()):
            text += f'cohort = "{draw(st.sampled_from(["a", "b"]))}"\n'
        if draw(st.booleans()):
            text += f'period = "{draw(st.sampled_from(["p1", "p2"]))}"\n'
    limits: dict[str, object] = {}
    for table in ("caps", "floors"):
        body = ""
        for level in ("total", "outcomes"):
            if draw(st.integers(0, 3)) == 0:
                val = draw(small_money)
                body += f'{level} = "{val}"\n'
                limits[f"{table}.{level}"] = val
        for level, labels in (("cohort", ("a", "b")), ("period", ("p1", "p2"))):
            if draw(st.integers(0, 3)) == 0:
                label = draw(st.sampled_from(labels))
                val = draw(small_money)
                body += f'{level} = {{ "{label}" = "{val}" }}\n'
                limits[f"{table}.{level}.{label}"] = val
        if body:
            text += f"[{table}]\n{body}"
    return text, {"quantum": D(q), "round_at": at, "limits": limits}


def _sum(lines: object, mask: object) -> D:
    return sum((D(a) for a in lines.loc[mask, "amount"]), D(0))  # type: ignore[attr-defined]


@SETTINGS
@given(contracts(), st.floats(min_value=-3, max_value=3, allow_nan=False))
def test_caps_floors_and_signs_hold_after_rounding(
    case: tuple[str, dict[str, object]], x: float
) -> None:
    text, meta = case
    try:
        contract = Contract.from_toml(text)
    except ContractError:
        assume(False)
        return
    s = contract.settle({"x": x})
    lines = s.lines
    assert all(isinstance(a, D) for a in lines["amount"])
    assert sum(lines["amount"], D(0)) == s.total
    assert s.total >= 0 and s.outcome_total >= 0
    fees = _sum(lines, ~lines["outcome"].astype(bool))
    assert fees >= 0 or "rounding" in set(lines["component"])
    quantum = meta["quantum"]
    assert isinstance(quantum, D)
    if "total" in meta["round_at"]:  # type: ignore[operator]
        assert s.total % quantum == 0
    for key, limit in meta["limits"].items():  # type: ignore[attr-defined]
        table, level, *label = key.split(".")
        if level == "total":
            got = s.total
        elif level == "outcomes":
            got = s.outcome_total
        else:
            got = _sum(lines, lines[level] == label[0])
        if table == "caps":
            assert got <= limit, (key, got, limit)
        else:
            assert got >= limit, (key, got, limit)
    for c in contract.spec.payments:
        amount = s.amount(c.id)
        if c.cap is not None:
            assert amount <= c.cap
        if c.floor is not None and not s.lines.loc[s.lines["component"] == c.id, "bound"].iloc[
            0
        ].startswith(("trigger", "pending", "stopped")):
            assert amount >= c.floor


@settings(max_examples=120, deadline=None, derandomize=True)
@given(
    st.integers(0, 420),
    st.sampled_from([None, "0.001", "1", "100"]),
    st.sampled_from(["", '[caps]\ntotal = "1000"\n']),
    st.booleans(),
)
def test_huge_inputs_are_refused_cleanly(
    exponent: int, value_rounding: str | None, caps: str, as_se: bool
) -> None:
    """Any magnitude settles or raises DataValidationError, never a decimal/overflow error."""
    vr = "" if value_rounding is None else f'value_rounding = "{value_rounding}"\n'
    text = (
        '[contract]\nname = "H"\ncurrency = "USD"\n[metrics.n]\n'
        f"{vr}"
        '[payments.p]\nrule = "linear"\nmetric = "n"\nprice = "1"\n' + caps
    )
    contract = Contract.from_toml(text)
    big = 10**exponent
    inputs = {"n": {"estimate": 1.0, "std_error": big}} if as_se else {"n": big}
    try:
        s = contract.settle(inputs)
    except DataValidationError as exc:
        assert "inputs.n" in str(exc)
        assert exponent > 15
    else:
        assert exponent <= 15
        assert s.total >= 0


# -- the cases of issue 14, one test each --------------------------------------------------
HEAD = '[contract]\nname = "I"\ncurrency = "USD"\n'


def test_total_cap_with_half_unit_is_not_exceeded_by_rounding() -> None:
    text = HEAD.replace('"USD"\n', '"USD"\nrounding = "1"\n') + (
        '[metrics.x]\n[payments.p]\nrule = "linear"\nmetric = "x"\nprice = "1000000"\n'
        '[caps]\ntotal = "422000.5"\n'
    )
    s = Contract.from_toml(text).settle({"x": 1})
    assert s.total == D("422000")  # the cap rounded down onto the whole-unit grid


def test_total_cap_is_not_rounded_up_past() -> None:
    text = HEAD + ('[payments.p]\nrule = "fixed"\namount = "1.00"\n[caps]\ntotal = "0.105"\n')
    assert Contract.from_toml(text).settle({}).total == D("0.10")


def test_component_cap_is_not_rounded_up_past() -> None:
    text = HEAD + (
        '[metrics.x]\n[payments.p]\nrule = "tiers"\nmetric = "x"\n'
        "tiers = [{from = 0, amount = 1}]\ncap = 0.045\n"
    )
    assert Contract.from_toml(text).settle({"x": 0.5}).amount("p") == D("0.04")


@pytest.mark.parametrize(
    ("limits", "where"),
    [
        ('[caps]\ntotal = "0"\n[floors]\noutcomes = "1"\n', "floors.outcomes"),
        ('[caps]\noutcomes = "0"\n[floors]\ntotal = "1"\n', "floors.total"),
    ],
)
def test_floors_above_caps_of_another_level_are_refused(limits: str, where: str) -> None:
    text = HEAD + '[payments.p]\nrule = "fixed"\namount = "1.00"\n' + limits
    with pytest.raises(ContractError, match=where):
        Contract.from_toml(text)


def test_period_cap_trims_outcomes_then_the_fee_and_books_each_as_its_kind() -> None:
    text = HEAD.replace('"USD"\n', '"USD"\nperiods = ["y1"]\n') + (
        '[metrics.x]\n[payments.fee]\nrule = "fixed"\namount = "1000"\noutcome = false\n'
        'period = "y1"\n[payments.out]\nrule = "linear"\nmetric = "x"\nprice = "50"\n'
        'period = "y1"\n[caps]\nperiod = { "y1" = "500" }\n'
    )
    s = Contract.from_toml(text).settle({"x": 1})
    assert s.total == D("500.00")
    assert s.outcome_total == D("0.00")  # 50 trimmed from the outcome payment ...
    fees = sum(
        (a for a, o in zip(s.lines["amount"], s.lines["outcome"], strict=True) if not o), D(0)
    )
    assert fees == D("500.00")  # ... and 500 from the fee


@pytest.mark.parametrize(
    ("value", "rounding"), [(D(10) ** 31, "0.001"), (D(10) ** 40, None), (D(10) ** 300, None)]
)
def test_huge_counts_are_refused_with_a_clear_error(value: D, rounding: str | None) -> None:
    vr = f'value_rounding = "{rounding}"\n' if rounding else ""
    text = HEAD + f'[metrics.n]\ninput = "count"\n{vr}[payments.p]\nrule = "linear"\n'
    text += 'metric = "n"\nprice = "1"\n[caps]\ntotal = "100"\n'
    with pytest.raises(DataValidationError, match=r"inputs\.n.*out of range"):
        Contract.from_toml(text).settle({"n": value})


def test_huge_std_error_is_refused_not_overflow() -> None:
    text = HEAD + '[metrics.x]\nstatistic = "lower_bound"\n[payments.p]\nrule = "linear"\n'
    text += 'metric = "x"\nprice = "1"\n'
    with pytest.raises(DataValidationError, match=r"inputs\.x\.std_error"):
        Contract.from_toml(text).settle({"x": {"estimate": 1.0, "std_error": 10**400}})


def test_df_zero_names_df_and_the_metric() -> None:
    text = HEAD + '[metrics.gain]\nstatistic = "lower_bound"\n[payments.p]\nrule = "linear"\n'
    text += 'metric = "gain"\nprice = "1"\n'
    with pytest.raises(DataValidationError, match=r"inputs\.gain\.df.*'gain'.*> 0"):
        Contract.from_toml(text).settle({"gain": {"estimate": 1.0, "std_error": 0.5, "df": 0}})


def test_long_one_line_toml_string_is_parsed_not_opened() -> None:
    one_line = 'contract = { name = "L", currency = "USD" }' + " " * 5000
    with pytest.raises(ContractError, match="payments"):  # parsed: it has no payments
        Contract.from_toml(one_line)
    with pytest.raises(ContractError, match="not valid TOML"):
        Contract.from_toml("x" * 5000)


def test_rounding_to_hundreds_rounds_to_hundreds() -> None:
    text = HEAD.replace('"USD"\n', '"USD"\nrounding = "100"\n') + (
        '[metrics.x]\n[payments.p]\nrule = "linear"\nmetric = "x"\nprice = "1"\n'
    )
    s = Contract.from_toml(text).settle({"x": 12345.67})
    assert s.total == D("12300")
    assert str(s.total) == "12300"  # plain digits, not 1.23E+4


def test_decimal_context_of_the_caller_is_left_alone() -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 5
        text = HEAD + '[payments.p]\nrule = "fixed"\namount = "1234567.89"\n'
        assert Contract.from_toml(text).settle({}).total == D("1234567.89")
