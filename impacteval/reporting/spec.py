"""Report specs: a TOML file naming the data, its column roles, the design and the contract.

Only data is read (``tomllib``); nothing in a spec is evaluated. Every refusal is a
:class:`~impacteval.reporting.errors.ReportSpecError` naming the key path. Schema::

    [report]
    title = "Peterborough-style SIB: reconviction events"    # required
    evaluator = "Independent evaluator (name)"               # required
    description = "..."                                      # optional
    seed = 2010                                              # default 0
    population = "Men released from HMP Peterborough, 2010-2012"   # optional page-one
    outcome_window = "12 months after release (+6 months court lag)"  # facts; never
    data_period = "releases 2010-2012"                       # taken from the clock
    report_date = 2026-12-04                                 # TOML date or string
    version = "final v1.0"

    [data]                          # one of path, paths, dataset
    path = "../data/sample/sib_reoffending.csv"   # CSV or Parquet, relative to the spec
    # paths = ["wave1.csv", "wave2.csv"]          # stacked (same columns)
    # dataset = "smoking"                         # a name known to impacteval.datasets
    exclude = "excluded"            # optional 0/1 column: excluded from measurement
    exclusion_reason = "exclusion_reason"        # optional column: why
    refused = "refused"             # optional 0/1 column: refused consent
    categorical = ["offence_type"]  # turned into 0/1 dummies (first level dropped)

    [columns]                       # roles; which are required depends on the design
    outcome = "reconvictions"
    treatment = "treated"
    covariates = ["age", "female", "prior_convictions", "sentence_months", "offence_type"]
    # unit, time, cohort (first treated period; 0 = never), cluster, blocks, fixed_effects

    [design]
    type = "matching"               # rct | did | matching | synth
    estimator = "nearest_neighbor"  # default: the design's first estimator
    level = 0.95
    options = { ratio = 10, replace = true }     # keyword options of the estimator
    alternatives = ["ipw", { estimator = "aipw", estimand = "ATT" }]

    [[estimates]]                   # optional; default: one estimate on all rows
    id = "cohort_1"
    label = "Cohort 1"
    where = { cohort = 1 }          # column = value | [values] | {lt|le|gt|ge|eq|ne = x}

    [equity]                        # optional
    min_cell_size = 10              # cells with fewer people in either arm are masked
    estimator = "primary"           # or "difference_in_means" (rct, matching): unadjusted
    subgroups = { female = { female = 1 }, age_under_25 = { age = { lt = 25 } } }

    [contract]                      # optional
    path = "../contracts/peterborough.toml"
    risk_draws = 4000               # Monte Carlo draws of payment_risk
    [contract.inputs.cohort_1]      # one table per input metric of the contract
    estimate = "cohort_1"           # an estimates id
    multiplier = 100                # estimate and SE times this (e.g. per 100 people), or
                                    # "treated": times the treated units (a total effect)
    rates = true                    # also treated_rate, control_rate, units (relative scales)
    # a verified figure instead of an estimate (development impact bonds):
    # measure = { column = "enrolled", stat = "share", where = { treatment = 1 } }
    # value = 0.92, std_error = 0.01        (either one needs `source = "..."`)

Designs and their estimators (the first is the default; options are checked by name):

* ``rct``: difference_in_means, regression, randomization_inference;
* ``did``: att_gt, twfe, event_study;
* ``matching``: nearest_neighbor, ipw, aipw, entropy_balance;
* ``synth``: synthetic_control, synthetic_did, multisynth (design keys ``treated_unit``,
  ``treatment_time``; or, for several treated units adopting at different times, a 0/1
  absorbing ``columns.treatment`` with multisynth or synthetic_did); ``predictors =
  [{column = "x", years = [1980, 1981], stat = "mean"}, ...]``, inherited by
  alternatives that give none. With ``synthetic_control`` the design key
  ``prediction_intervals = {level = 0.9, out_of_sample = "gaussian", n_sims = 200}``
  (or ``true`` for these defaults at the report's level) adds scpi prediction intervals
  (Cattaneo, Feng & Titiunik 2021) to the diagnostics.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from impacteval._toml import TomlTable, did_you_mean, kind_of
from impacteval.exceptions import DataValidationError
from impacteval.inference.wild_frame import check_wild_options
from impacteval.reporting.errors import ReportSpecError
from impacteval.reporting.spec_intervals import check_intervals_fit, read_prediction_intervals
from impacteval.reporting.spec_synth import check_synth_roles
from impacteval.reporting.spec_terms import (
    DESIGNS,
    EQUITY_ESTIMATORS,
    ESTIMATORS,
    FACT_KEYS,
    LIST_ROLES,
    OPERATORS,
    REQUIRED_ROLES,
    SINGLE_ROLES,
)

__all__ = [
    "DESIGNS",
    "ESTIMATORS",
    "ContractRef",
    "DataSpec",
    "EstimatorSpec",
    "MetricMap",
    "ReportSpec",
    "SubsetSpec",
    "load_spec",
    "matching_estimand",
]

T = TypeVar("T")
U = TypeVar("U")

# -- small typed TOML reader --------------------------------------------------------------


class _Table(TomlTable):
    """One report-spec TOML table; refusals are :class:`ReportSpecError`."""

    error = ReportSpecError
    truncate = False

    def need(self, name: str, conv: Callable[[object, str], T]) -> T:
        """As ``TomlTable.need``, but a misspelt key is named first ("did you mean")."""
        if name not in self.raw:
            import difflib

            for other in self.raw:
                if difflib.get_close_matches(str(other), [name], n=1, cutoff=0.6):
                    raise ReportSpecError(
                        f"`{self.key(str(other))}`: unknown key; did you mean {name!r}? "
                        f"(`{self.key(name)}` is required)"
                    )
        return super().need(name, conv)


def _str(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReportSpecError(f"`{path}` must be a non-empty string; received {value!r}")
    return value


def _fact(value: object, path: str) -> str:
    """A page-one fact: a string, or a TOML date (``report_date = 2026-12-04``)."""
    import datetime as dt

    if isinstance(value, dt.date):
        return value.isoformat()
    return _str(value, path)


def _opt_str(value: object, path: str) -> str | None:
    return _str(value, path)


def _str_list(value: object, path: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_str(value, path),)
    if not isinstance(value, list):
        raise ReportSpecError(f"`{path}` must be an array of strings; received {kind_of(value)}")
    out = tuple(_str(v, f"{path}[{i}]") for i, v in enumerate(value))
    if len(set(out)) != len(out):
        raise ReportSpecError(f"`{path}` repeats a name: {list(out)}")
    return out


def _int(value: object, path: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ReportSpecError(f"`{path}` must be an integer >= {minimum}; received {value!r}")
    return value


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ReportSpecError(f"`{path}` must be a number; received {value!r}")
    return float(value)


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ReportSpecError(f"`{path}` must be true or false; received {value!r}")
    return value


def _level(value: object, path: str) -> float:
    out = _number(value, path)
    if not 0 < out < 1:
        raise ReportSpecError(f"`{path}` must be strictly between 0 and 1; received {value!r}")
    return out


def _ident(value: object, path: str) -> str:
    text = _str(value, path)
    if not text.replace("_", "a").isalnum() or text[0].isdigit():
        raise ReportSpecError(f"`{path}` must be an identifier (letters, digits, _); got {text!r}")
    return text


def _literal(value: object, path: str) -> Any:
    """An option value: string, number, boolean, or arrays / tables of those."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list):
        return [_literal(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _literal(v, f"{path}.{k}") for k, v in value.items()}
    raise ReportSpecError(
        f"`{path}` must be a string, number, boolean or array; received {kind_of(value)}"
    )


def _scalar(value: object, path: str) -> str | int | float | bool:
    if not isinstance(value, str | bool | int | float):
        raise ReportSpecError(
            f"`{path}` must be a string, number or boolean; received {kind_of(value)} {value!r}"
        )
    return value


def _where(value: object, path: str) -> dict[str, Any]:
    """A row filter: ``{column: value | [values] | {op: value, ...}}`` (ANDed)."""
    if not isinstance(value, dict) or not value:
        raise ReportSpecError(
            f"`{path}` must be a non-empty table column = value | [values] | {{lt = x, ...}}; "
            f"received {kind_of(value)} {value!r}"
        )
    out: dict[str, Any] = {}
    for col, cond in value.items():
        cpath = f"{path}.{col}"
        if isinstance(cond, list):
            if not cond:
                raise ReportSpecError(f"`{cpath}` must list at least one value")
            out[col] = [_scalar(v, f"{cpath}[{i}]") for i, v in enumerate(cond)]
        elif isinstance(cond, dict):
            if not cond:
                raise ReportSpecError(f"`{cpath}` needs a comparison, e.g. {{lt = 25}}")
            for op in cond:
                if op not in OPERATORS:
                    raise ReportSpecError(
                        f"`{cpath}.{op}`: unknown comparison{did_you_mean(op, OPERATORS)} "
                        f"(allowed: {list(OPERATORS)})"
                    )
            out[col] = {op: _scalar(v, f"{cpath}.{op}") for op, v in cond.items()}
        else:
            out[col] = _scalar(cond, cpath)
    return out


# -- the spec -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSpec:
    """Where the data come from and which rows are excluded or refused."""

    paths: tuple[Path, ...] = ()
    dataset: str | None = None
    exclude: str | None = None
    exclusion_reason: str | None = None
    refused: str | None = None
    categorical: tuple[str, ...] = ()


@dataclass(frozen=True)
class EstimatorSpec:
    """An estimator of the design and its keyword options (sorted by name)."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``name`` plus its options, e.g. ``aipw(estimand='ATT')``."""
        inner = ", ".join(
            f"{k}=[{len(v)} items]" if isinstance(v, list) and len(repr(v)) > 40 else f"{k}={v!r}"
            for k, v in self.options
        )
        return f"{self.name}({inner})"


@dataclass(frozen=True)
class SubsetSpec:
    """A named subset of rows (an estimate, or an equity subgroup)."""

    id: str
    label: str
    where: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class MetricMap:
    """How one contract metric is fed: from an estimate, a measured column or a value.

    ``per_treated`` multiplies the estimate by the number of treated units behind it
    (``multiplier = "treated"``: a per-unit effect as a total). ``measure`` is
    ``{column, stat, where}`` (a verified share or mean of a data column); ``value`` and
    ``std_error`` a verified figure given in the spec; ``source`` says where it came from.
    """

    metric: str
    estimate: str | None = None
    multiplier: float = 1.0
    rates: bool = False
    per_treated: bool = False
    measure: Mapping[str, Any] | None = None
    value: float | None = None
    std_error: float | None = None
    source: str = ""


@dataclass(frozen=True)
class ContractRef:
    """The contract to settle and the mapping of estimates to its input metrics."""

    path: Path
    inputs: tuple[MetricMap, ...]
    risk_draws: int = 4000


@dataclass(frozen=True)
class ReportSpec:
    """A validated report spec (see the module docstring for the TOML schema).

    ``source`` is the spec file (None for TOML text), ``base_dir`` the folder relative paths
    are read from, and ``sha256`` the SHA-256 of the spec's bytes (audit appendix).
    """

    title: str
    evaluator: str
    design: str
    estimator: EstimatorSpec
    columns: Mapping[str, Any]
    data: DataSpec
    description: str = ""
    seed: int = 0
    level: float = 0.95
    alternatives: tuple[EstimatorSpec, ...] = ()
    design_keys: Mapping[str, Any] = field(default_factory=dict)
    estimates: tuple[SubsetSpec, ...] = ()
    subgroups: tuple[SubsetSpec, ...] = ()
    min_cell_size: int = 10
    equity_estimator: str = "primary"
    contract: ContractRef | None = None
    facts: tuple[tuple[str, str | None], ...] = ()
    source: Path | None = None
    base_dir: Path = Path(".")
    sha256: str = ""
    text: str = ""

    def column(self, role: str) -> Any:
        """The column (or list of columns) playing ``role``; None when not given."""
        return self.columns.get(role)


def _estimator(raw: object, design: str, path: str) -> EstimatorSpec:
    known = ESTIMATORS[design]
    if isinstance(raw, str):
        name, opts = raw, {}
    elif isinstance(raw, dict):
        if "estimator" not in raw:
            raise ReportSpecError(f"`{path}.estimator` is required but missing")
        name = raw["estimator"]
        opts = {k: v for k, v in raw.items() if k != "estimator"}
    else:
        raise ReportSpecError(f"`{path}` must be an estimator name or table; got {kind_of(raw)}")
    if not isinstance(name, str) or name not in known:
        raise ReportSpecError(
            f"`{path}`: unknown {design} estimator {name!r}{did_you_mean(str(name), known)} "
            f"(allowed: {sorted(known)})"
        )
    allowed = known[name]
    for key in opts:
        if key not in allowed:
            raise ReportSpecError(
                f"`{path}.{key}`: not an option of {name}{did_you_mean(key, allowed)} "
                f"(allowed: {sorted(allowed)}; columns come from [columns])"
            )
    if "predictors" in opts:
        _check_predictors(opts["predictors"], f"{path}.predictors")
    _check_option_values(design, name, opts, path)
    return EstimatorSpec(
        name, tuple(sorted((k, _literal(v, f"{path}.{k}")) for k, v in opts.items()))
    )


#: options with a value rule beyond their type: (check, expected) -- checked before any
#: notebook is written, so a bad value never fails half-way through a build
_OPTION_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "ratio": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10,
        "an integer from 1 to 10",
    ),
    "caliper": (
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
        "a positive number",
    ),
    "estimand": (lambda v: v in ("ATT", "ATE", "ATC"), "one of 'ATT', 'ATE', 'ATC'"),
    "n_permutations": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 100,
        "an integer >= 100",
    ),
    "moments": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 3,
        "an integer from 1 to 3",
    ),
    "cross_fit": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "an integer >= 0",
    ),
}


def _check_option_values(design: str, name: str, opts: Mapping[str, Any], path: str) -> None:
    """Refuse option values of the wrong type (from the estimator's signature) or range."""
    import importlib
    import typing

    module = importlib.import_module(f"impacteval.{design}")
    func = getattr(module, name, None)
    hints: dict[str, Any] = {}
    if func is not None:
        try:
            hints = typing.get_type_hints(func)
        except (NameError, TypeError):  # pragma: no cover - unresolved annotations
            hints = {}
    for key, value in opts.items():
        if key in _OPTION_RULES:
            ok, expected = _OPTION_RULES[key]
            if not ok(value):
                raise ReportSpecError(f"`{path}.{key}` must be {expected}; received {value!r}")
            continue
        hint = hints.get(key)
        if hint is bool and not isinstance(value, bool):
            raise ReportSpecError(f"`{path}.{key}` must be true or false; received {value!r}")
        if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ReportSpecError(f"`{path}.{key}` must be an integer; received {value!r}")
    if name in ("regression", "twfe"):  # the wild cluster bootstrap's options, up front
        try:
            check_wild_options(opts.get("inference", "analytic"), opts.get("wild_bootstrap"), None)
        except DataValidationError as err:
            raise ReportSpecError(f"`{path}`: {err}") from None


def _check_predictors(value: object, path: str) -> None:
    """``[{column = "x", years = 1980 | [1980, ...], stat = "mean"}, ...]``."""
    if not isinstance(value, list) or not value:
        raise ReportSpecError(f"`{path}` must be a non-empty array of tables")
    for i, item in enumerate(value):
        t = _Table(item, f"{path}[{i}]")
        t.need("column", _str)
        years = t.need("years", lambda v, p: v)
        ylist = years if isinstance(years, list) else [years]
        if not ylist or any(isinstance(y, bool) or not isinstance(y, int) for y in ylist):
            raise ReportSpecError(
                f"`{path}[{i}].years` must be an integer or an array of integers; got {years!r}"
            )
        t.get("stat", _str, None)
        t.finish()


def _read_data(raw: object, base: Path) -> DataSpec:
    t = _Table(raw, "data")
    path = t.get("path", _opt_str, None)
    paths = t.get("paths", _str_list, ())
    dataset = t.get("dataset", _opt_str, None)
    given = [k for k, v in (("path", path), ("paths", paths), ("dataset", dataset)) if v]
    if len(given) != 1:
        raise ReportSpecError(
            "`data` must give exactly one of `path`, `paths` or `dataset`; "
            f"received {given or 'none'}"
        )
    files = tuple((base / p) for p in ((path,) if path else paths))
    for i, f in enumerate(files):
        if f.suffix.lower() not in (".csv", ".parquet", ".pq"):
            key = "data.path" if path else f"data.paths[{i}]"
            raise ReportSpecError(f"`{key}` must be a .csv or .parquet file; received {f.name!r}")
    out = DataSpec(
        paths=files,
        dataset=dataset,
        exclude=t.get("exclude", _opt_str, None),
        exclusion_reason=t.get("exclusion_reason", _opt_str, None),
        refused=t.get("refused", _opt_str, None),
        categorical=t.get("categorical", _str_list, ()),
    )
    t.finish()
    return out


def _read_columns(raw: object, design: str) -> dict[str, Any]:
    t = _Table(raw, "columns")
    cols: dict[str, Any] = {}
    for role in SINGLE_ROLES:
        cols[role] = t.get(role, _opt_str, None)
    for role in LIST_ROLES:
        cols[role] = t.get(role, _str_list, ())
    t.finish()
    for role in REQUIRED_ROLES[design]:
        if not cols.get(role):
            raise ReportSpecError(
                f"`columns.{role}` is required for design {design!r} "
                f"(it needs {list(REQUIRED_ROLES[design])})"
            )
    return cols


def _read_subsets(raw: object, path: str) -> tuple[SubsetSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise ReportSpecError(f"`{path}` must be an array of tables ([[{path}]])")
    out = []
    for i, item in enumerate(raw):
        t = _Table(item, f"{path}[{i}]")
        sid = t.need("id", _ident)
        label = t.get("label", _str, sid)
        where = t.get("where", _where, None)
        t.finish()
        out.append(SubsetSpec(sid, label, where))
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise ReportSpecError(f"`{path}`: ids must be unique; received {ids}")
    return tuple(out)


def _read_contract(raw: object, base: Path, estimates: tuple[SubsetSpec, ...]) -> ContractRef:
    t = _Table(raw, "contract")
    path = base / t.need("path", _str)
    draws = t.get("risk_draws", lambda v, p: _int(v, p, 100), 4000)
    inputs_raw = t.need("inputs", lambda v, p: _Table(v, p))
    t.finish()
    ids = [e.id for e in estimates]
    maps = []
    for metric, item in inputs_raw.raw.items():
        where = f"contract.inputs.{metric}"
        mt = _Table(item, where)
        est = mt.get("estimate", _str, None)
        measure = mt.get("measure", _measure, None)
        value = mt.get("value", _number, None)
        given = [
            k
            for k, v in (("estimate", est), ("measure", measure), ("value", value))
            if v is not None
        ]
        if len(given) != 1:
            raise ReportSpecError(
                f"`{where}` must give exactly one of `estimate` (an estimates id), `measure` "
                f"(a verified share or mean of a column) or `value`; received {given or 'none'}"
            )
        if est is not None and est not in ids:
            raise ReportSpecError(
                f"`{where}.estimate`: no estimate {est!r}{did_you_mean(est, ids)} "
                f"(estimates: {ids})"
            )
        raw_mult = mt.get("multiplier", lambda v, p: v, 1.0)
        per_treated = raw_mult == "treated"
        mult = 1.0 if per_treated else _number(raw_mult, f"{where}.multiplier")
        if mult == 0:
            raise ReportSpecError(f"`{where}.multiplier` must not be 0")
        rates = mt.get("rates", _bool, False)
        se = mt.get("std_error", _number, None)
        if se is not None and (value is None or se < 0):
            raise ReportSpecError(
                f"`{where}.std_error` goes with `value` and must be >= 0; received {se!r}"
            )
        source = mt.get("source", _str, "")
        if (measure is not None or value is not None) and not source:
            raise ReportSpecError(
                f"`{where}.source` is required for a verified figure (who measured it, when)"
            )
        if est is None and (per_treated or rates or mult != 1.0):
            raise ReportSpecError(f"`{where}`: `multiplier` and `rates` apply to estimates only")
        mt.finish()
        maps.append(MetricMap(metric, est, mult, rates, per_treated, measure, value, se, source))
    if not maps:
        raise ReportSpecError("`contract.inputs` must map at least one contract metric")
    return ContractRef(path, tuple(maps), draws)


def _measure(value: object, path: str) -> dict[str, Any]:
    """``{column = "enrolled", stat = "share" | "mean", where = {...}}``."""
    t = _Table(value, path)
    out: dict[str, Any] = {"column": t.need("column", _str)}
    stat = t.get("stat", _str, "share")
    if stat not in ("share", "mean"):
        raise ReportSpecError(
            f"`{path}.stat` must be 'share' or 'mean'{did_you_mean(stat, ('share', 'mean'))}; "
            f"received {stat!r}"
        )
    out["stat"] = stat
    out["where"] = t.get("where", _where, None)
    t.finish()
    return out


def matching_estimand(estimator: EstimatorSpec) -> str:
    """A matching estimator's estimand: its ``estimand`` option, else its default
    (``"ATE"`` for ``ipw`` and ``aipw``, ``"ATT"`` otherwise)."""
    default = "ATE" if estimator.name in ("ipw", "aipw") else "ATT"
    return str(dict(estimator.options).get("estimand", default))


def _read_design(
    top: _Table,
) -> tuple[str, EstimatorSpec, tuple[EstimatorSpec, ...], float, dict[str, Any]]:
    """``[design]``: type, primary estimator, alternatives, level and design keys."""
    des = top.need("design", lambda v, p: _Table(v, "design"))
    design = des.need("type", _str)
    if design not in DESIGNS:
        raise ReportSpecError(
            f"`design.type`: unknown design {design!r}{did_you_mean(design, DESIGNS)} "
            f"(allowed: {list(DESIGNS)})"
        )
    first = next(iter(ESTIMATORS[design]))
    name = des.get("estimator", _str, first)
    options = des.get("options", lambda v, p: _Table(v, p).raw, {})
    estimator = _estimator({"estimator": name, **options}, design, "design.options")
    alternatives = tuple(
        _estimator(a, design, f"design.alternatives[{i}]")
        for i, a in enumerate(des.get("alternatives", lambda v, p: _list(v, p), []))
    )
    if design == "matching":  # alternatives target the primary estimator's estimand
        estimand = matching_estimand(estimator)
        alternatives = tuple(
            a
            if any(k == "estimand" for k, _ in a.options)
            else EstimatorSpec(a.name, tuple(sorted((*a.options, ("estimand", estimand)))))
            for a in alternatives
        )
    level = des.get("level", _level, 0.95)
    keys: dict[str, Any] = {}
    if design == "synth":
        for key in ("treated_unit", "treatment_time"):  # or columns.treatment: spec_synth
            value = des.get(key, _scalar, None)
            if value is not None:
                keys[key] = value
    pi = des.get("prediction_intervals", read_prediction_intervals, None)
    if pi is not None:
        check_intervals_fit(design, estimator.name, dict(estimator.options))
        keys["prediction_intervals"] = pi
    des.finish()
    return design, estimator, alternatives, level, keys


def _read_equity(top: _Table, design: str) -> tuple[tuple[SubsetSpec, ...], int, str]:
    """``[equity]``: subgroups, the small-cell size and how subgroup effects are estimated."""
    eq = top.get("equity", lambda v, p: _Table(v, p), None)
    subgroups: tuple[SubsetSpec, ...] = ()
    min_cell = 10
    eq_est = "primary"
    if eq is not None:
        min_cell = eq.get("min_cell_size", lambda v, p: _int(v, p, 1), 10)
        eq_est = eq.get("estimator", _str, "primary")
        if eq_est not in EQUITY_ESTIMATORS or (eq_est != "primary" and design in ("did", "synth")):
            allowed = ["primary"] if design in ("did", "synth") else list(EQUITY_ESTIMATORS)
            raise ReportSpecError(
                f"`equity.estimator` must be one of {allowed} for design {design!r}; "
                f"received {eq_est!r}"
            )
        groups = eq.get("subgroups", lambda v, p: _Table(v, p).raw, {})
        subgroups = tuple(
            SubsetSpec(_ident(k, f"equity.subgroups.{k}"), k, _where(w, f"equity.subgroups.{k}"))
            for k, w in groups.items()
        )
        eq.finish()
        if subgroups and design == "synth":
            raise ReportSpecError(
                "`equity.subgroups`: subgroup effects are not defined for design 'synth' "
                "(one treated unit, or a few named by columns.treatment: too few to split)"
            )
    return subgroups, min_cell, eq_est


def _parse(document: dict[str, Any], source: Path | None, base: Path, text: str) -> ReportSpec:
    top = _Table(document, "")
    rep = top.need("report", lambda v, p: _Table(v, "report"))
    title = rep.need("title", _str)
    evaluator = rep.need("evaluator", _str)
    description = rep.get("description", _str, "")
    seed = rep.get("seed", _int, 0)
    facts = tuple((key, rep.get(key, _fact, None)) for key in FACT_KEYS)
    rep.finish()

    design, estimator, alternatives, level, keys = _read_design(top)
    data = _read_data(top.need("data", lambda v, p: v), base)
    columns = _read_columns(top.need("columns", lambda v, p: v), design)
    alt_names = [a.name for a in alternatives]
    check_synth_roles(design, estimator.name, alt_names, columns, keys)
    estimates = top.get("estimates", _read_subsets, (SubsetSpec("overall", "All units"),))

    subgroups, min_cell, eq_est = _read_equity(top, design)
    contract = top.get("contract", lambda v, p: _read_contract(v, base, estimates), None)
    top.finish()
    return ReportSpec(
        title=title,
        evaluator=evaluator,
        description=description,
        seed=seed,
        design=design,
        estimator=estimator,
        alternatives=alternatives,
        level=level,
        design_keys=keys,
        columns=columns,
        data=data,
        estimates=estimates,
        subgroups=subgroups,
        min_cell_size=min_cell,
        equity_estimator=eq_est,
        contract=contract,
        facts=facts,
        source=source,
        base_dir=base,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        text=text,
    )


def _list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ReportSpecError(f"`{path}` must be an array; received {kind_of(value)}")
    return value


def load_spec(source: str | Path | ReportSpec) -> ReportSpec:
    """Read and validate a report spec.

    Parameters
    ----------
    source : str, pathlib.Path or ReportSpec
        A path to a ``.toml`` file (relative paths inside it are read from its folder), or
        TOML text (relative paths are read from the current directory). A ``ReportSpec`` is
        returned unchanged.

    Returns
    -------
    ReportSpec

    Raises
    ------
    ReportSpecError
        The file is missing, the TOML is invalid, or a key is unknown, missing or of the
        wrong type (the message names the key path).

    Examples
    --------
    >>> spec = load_spec('''
    ... [report]
    ... title = "NSW"
    ... evaluator = "me"
    ... [data]
    ... dataset = "nsw_dw"
    ... [columns]
    ... outcome = "re78"
    ... treatment = "treat"
    ... [design]
    ... type = "rct"
    ... ''')
    >>> spec.design, spec.estimator.label
    ('rct', 'difference_in_means()')
    """
    if isinstance(source, ReportSpec):
        return source
    text: str
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.strip().endswith(".toml")
    ):
        path = Path(source).expanduser().resolve()
        if not path.is_file():
            raise ReportSpecError(f"`spec`: no report spec file at {str(path)!r}")
        raw = path.read_bytes()
        origin: Path | None = path
        base = path.parent
    elif isinstance(source, str):
        raw = source.encode()
        origin = None
        base = Path.cwd()
    else:
        raise ReportSpecError(
            f"`spec` must be a path, TOML text or a ReportSpec; received {type(source).__name__}"
        )
    try:
        text = raw.decode("utf-8")
        document = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReportSpecError(f"`spec`: not valid UTF-8 TOML ({exc})") from None
    return _parse(document, origin, base, text)
