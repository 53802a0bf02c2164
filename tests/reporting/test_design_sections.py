"""The report notebook's per-design objects: one per design, calls that bind.

For every design the spec language knows and every estimator of it, the
:class:`DesignSection` writes a call ``ie.<module>.<estimator>(rows, k=v, ...)``; here that
call is parsed and its keywords are bound to the real function's signature, so a keyword
the estimator does not take (or a missing required one) fails. The example specs in
``examples/`` give realistic column roles; estimators are swapped in with
``dataclasses.replace`` and no options, as the spec's defaults are.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

from impacteval.reporting._designs import DESIGN_SECTIONS, design_section
from impacteval.reporting.spec import EstimatorSpec, ReportSpec, load_spec
from impacteval.reporting.spec_terms import DESIGNS, ESTIMATORS, REQUIRED_ROLES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(design: str) -> ReportSpec:
    for path in sorted(EXAMPLES.glob("*.toml")):
        spec = load_spec(path)
        if spec.design == design:
            return spec
    raise AssertionError(f"no example spec for design {design!r}")


def test_every_design_has_exactly_one_section() -> None:
    assert set(DESIGN_SECTIONS) == set(DESIGNS)
    for name, section in DESIGN_SECTIONS.items():
        assert section.name == name
        assert importlib.import_module(f"impacteval.{section.module}")


CASES = [(d, e) for d in DESIGNS for e in ESTIMATORS[d]]


@pytest.mark.parametrize(("design", "estimator"), CASES, ids=[f"{d}-{e}" for d, e in CASES])
def test_generated_call_binds_to_the_estimator(design: str, estimator: str) -> None:
    spec = dataclasses.replace(_example(design), estimator=EstimatorSpec(estimator, ()))
    section = design_section(spec)
    source = section.call(spec, spec.estimator)
    call = ast.parse(source, mode="eval").body
    assert isinstance(call, ast.Call)
    assert ast.unparse(call.func) == f"ie.{section.module}.{estimator}"
    fn = getattr(importlib.import_module(f"impacteval.{section.module}"), estimator)
    keywords = {k.arg: None for k in call.keywords if k.arg is not None}
    inspect.signature(fn).bind(None, **keywords)  # raises TypeError on a bad keyword


def test_treatment_is_derived_exactly_where_the_spec_requires_no_treatment_column() -> None:
    for design, section in DESIGN_SECTIONS.items():
        assert section.treatment_is_column == ("treatment" in REQUIRED_ROLES[design]), design
