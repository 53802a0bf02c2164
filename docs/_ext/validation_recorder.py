"""pytest plugin: record every comparison the reference tests make, for the validation pages.

Loaded only by :mod:`validation_pages` (``python -m pytest -p validation_recorder ...``,
with this folder on ``PYTHONPATH``); the test suite never loads it and nothing in the tests
changes. While the selected reference tests run, it records:

* every scalar comparison ``ours == pytest.approx(reference, rel=..., abs=...)`` (also the
  elements of tuples, arrays and mappings), with the tolerance pytest actually applied;
* every ``numpy.testing.assert_allclose`` (element by element up to ``MAX_ELEMENTS``,
  otherwise one summary row with the largest difference) and ``assert_array_equal``;
* every passing exact ``assert a == b`` (pytest's ``pytest_assertion_pass`` hook, which
  needs ``-o enable_assertion_pass_hook=true`` and a fresh bytecode cache);
* each test's outcome, duration, parameters, docstring and its module's docstring, the
  reference files the module reads and the versions recorded in them.

The records are written as JSON to ``$IMPACTEVAL_VALIDATION_OUT``. "Ours" is therefore the
value the package computes in this run, compared by the test's own code.
"""

from __future__ import annotations

import ast
import functools
import json
import linecache
import math
import os
import re
import sys
import time
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

MAX_ELEMENTS = 60
_STATE: dict[str, Any] = {"node": None, "records": [], "tests": {}, "modules": {}}
_TESTS_ROOT = Path(os.environ.get("IMPACTEVAL_VALIDATION_TESTS", "tests")).resolve()
_HERE = str(Path(__file__).resolve())


# -- where a comparison was made ----------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _tree(filename: str) -> ast.Module | None:
    try:
        return ast.parse(Path(filename).read_text())
    except (OSError, SyntaxError):
        return None


def _statement(filename: str, lineno: int) -> tuple[str, list[str], str]:
    """Source of the statement at ``lineno``, the loop targets around it, and its comment."""
    tree = _tree(filename)
    text = linecache.getline(filename, lineno).strip()
    loops: list[str] = []
    if tree is not None:
        best: ast.stmt | None = None
        for node in ast.walk(tree):
            end = getattr(node, "end_lineno", None)
            if not isinstance(node, ast.stmt) or end is None:
                continue
            if node.lineno <= lineno <= end:
                if isinstance(node, (ast.For, ast.AsyncFor)) and node.lineno < lineno:
                    loops += [n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)]
                elif not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.With, ast.If)):
                    if best is None or node.lineno >= best.lineno:
                        best = node
        if best is not None and best.end_lineno is not None:
            lines = [
                linecache.getline(filename, i) for i in range(best.lineno, best.end_lineno + 1)
            ]
            text = " ".join(re.sub(r"\s+#[^'\"]*$", "", line.strip()) for line in lines)
            lineno = best.lineno
    comment: list[str] = []
    i = lineno - 1
    while i > 0 and linecache.getline(filename, i).strip().startswith("#"):
        comment.insert(0, linecache.getline(filename, i).strip().lstrip("# "))
        i -= 1
    trailing = re.search(r"#\s*(.+)$", linecache.getline(filename, lineno))
    if trailing and "fmt:" not in trailing.group(1):
        comment.append(trailing.group(1))
    return re.sub(r"\s+", " ", text), loops, " ".join(comment)


def _short(value: Any) -> str | None:
    if isinstance(value, (str, int, float, Decimal, np.integer, np.floating)):
        text = str(value)
        return text if len(text) <= 40 else None
    if isinstance(value, tuple) and all(isinstance(v, (str, int, float)) for v in value):
        return str(value) if len(str(value)) <= 40 else None
    if isinstance(value, Mapping):
        for key in ("term", "id", "name", "event_time", "group", "time"):
            if key in value and _short(value[key]) is not None:
                return f"{key}={value[key]}"
    return None


def _site() -> dict[str, Any]:
    """The test frame that made the comparison: file, line, statement, loop variables."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if name != _HERE and Path(name).resolve().is_relative_to(_TESTS_ROOT):
            break
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return {"file": "", "line": 0, "statement": "", "context": "", "comment": ""}
    text, loops, comment = _statement(frame.f_code.co_filename, frame.f_lineno)
    context = []
    for var in dict.fromkeys(loops):
        shown = _short(frame.f_locals.get(var))
        if shown is not None:
            context.append(shown if "=" in shown else f"{var}={shown}")
    return {
        "file": str(Path(frame.f_code.co_filename).resolve().relative_to(_TESTS_ROOT.parent)),
        "line": frame.f_lineno,
        "statement": text,
        "context": ", ".join(context),
        "comment": comment,
    }


def _number(value: Any) -> float | str | None:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        out = float(value)
        return out if math.isfinite(out) else str(out)
    if isinstance(value, Decimal):
        return str(value)
    return None if value is None else str(value)[:60]


def _record(kind: str, **fields: Any) -> None:
    if _STATE["node"] is None:
        return
    site = _site()
    if kind == "approx" and "!= pytest.approx" in site["statement"]:
        # ``assert a != approx(b)``: the test requires a difference larger than the tolerance
        fields["within"] = not fields["within"]
        site["comment"] = (
            "the test requires these to DIFFER by more than the tolerance. " + site["comment"]
        ).strip()
    _STATE["records"].append({"node": _STATE["node"], "kind": kind, **site, **fields})


# -- the comparisons --------------------------------------------------------------------
def _patch_approx() -> None:
    from _pytest import approx as approx_module

    cls = approx_module.ApproxScalar
    original = cls.__eq__

    def recording_eq(self: Any, actual: Any) -> bool:
        if np.ndim(actual) > 0 and not isinstance(actual, (str, bytes)):
            return bool(original(self, actual))  # recurses into recording_eq per element
        result = bool(original(self, actual))
        try:
            tolerance: Any = self.tolerance
        except (TypeError, ValueError):
            tolerance = None
        try:
            diff = _number(abs(actual - self.expected))
        except TypeError:
            diff = None
        _record(
            "approx",
            reference=_number(self.expected),
            ours=_number(actual),
            difference=diff,
            tolerance=_number(tolerance),
            rel=_number(self.rel),
            abs=_number(self.abs),
            within=result,
        )
        return result

    cls.__eq__ = recording_eq  # type: ignore[method-assign]


def _labels(actual: Any, n: int) -> list[str]:
    index = getattr(actual, "index", None)
    if index is not None and len(index) == n:
        return [str(v) for v in index]
    return [str(i) for i in range(n)]


def _patch_numpy() -> None:
    original_close = np.testing.assert_allclose
    original_equal = np.testing.assert_array_equal

    def assert_allclose(
        actual: Any, desired: Any, rtol: float = 1e-7, atol: float = 0, *a: Any, **k: Any
    ) -> None:
        ours = np.asarray(actual, dtype=float).ravel()
        ref = np.broadcast_to(np.asarray(desired, dtype=float), np.shape(actual)).ravel()
        tol = atol + rtol * np.abs(ref)
        with np.errstate(invalid="ignore"):
            diff = np.abs(ours - ref)
            ok = (diff <= tol) | ((ours == ref) | (np.isnan(ours) & np.isnan(ref)))
        if ours.size <= MAX_ELEMENTS:
            for label, o, r, d, t, w in zip(
                _labels(actual, ours.size), ours, ref, diff, tol, ok, strict=True
            ):
                _record("allclose", element=label, reference=_number(r), ours=_number(o),
                        difference=_number(d), tolerance=_number(t), rel=rtol, abs=atol,
                        within=bool(w))  # fmt: skip
        elif ours.size:
            worst = int(np.nanargmax(np.where(ok, diff / np.where(tol > 0, tol, 1), np.inf)))
            _record("allclose",
                    element=f"all {ours.size} values; shown: the one closest to its tolerance",
                    reference=_number(ref[worst]), ours=_number(ours[worst]),
                    difference=_number(diff[worst]), tolerance=_number(tol[worst]),
                    rel=rtol, abs=atol, within=bool(ok.all()))  # fmt: skip
        original_close(actual, desired, rtol, atol, *a, **k)

    def assert_array_equal(actual: Any, desired: Any, *a: Any, **k: Any) -> None:
        x, y = np.asarray(actual), np.asarray(desired)
        same = x.shape == y.shape and bool(np.all(x == y))
        mismatches = int(np.sum(x != y)) if x.shape == y.shape else -1
        _record("exact_array", element=f"{y.size} values", reference=f"{y.size} values",
                ours="identical" if same else f"{mismatches} differ",
                difference=0.0 if same else None, tolerance="exact", within=same)  # fmt: skip
        original_equal(actual, desired, *a, **k)

    np.testing.assert_allclose = assert_allclose
    np.testing.assert_array_equal = assert_array_equal


_EXACT = re.compile(r"^(?P<ours>.+?) == (?P<ref>.+)$")


def pytest_assertion_pass(item: pytest.Item, lineno: int, orig: str, expl: str) -> None:
    """Exact ``assert a == b`` comparisons that passed (approx ones are recorded above)."""
    if "approx" in orig or "==" not in orig or " and " in orig or " or " in orig:
        return
    first = expl.splitlines()[0] if expl else ""
    found = _EXACT.match(first)
    if found is None or first.count(" == ") != 1:
        return
    _record("exact", reference=found["ref"][:60], ours=found["ours"][:60], difference=0.0,
            tolerance="exact", within=True)  # fmt: skip


# -- tests and modules ------------------------------------------------------------------
_JSON = re.compile(r"[\w./-]+\.json")
_VERSION_KEYS = ("r_version", "packages", "versions", "generated_by", "source")


def _module_info(module: Any) -> dict[str, Any]:
    path = Path(module.__file__)
    source = path.read_text()
    files = sorted({m for m in _JSON.findall(source) if "/" not in m or m.startswith("tests")})
    data = _TESTS_ROOT / "reference" / "data"
    versions: dict[str, Any] = {}
    for name in files:
        file = data / Path(name).name
        if not file.is_file():
            continue
        loaded = json.loads(file.read_text())
        if isinstance(loaded, dict):
            entry = {k: v for k, v in loaded.items() if k in _VERSION_KEYS}
            entry.update({k: v for k, v in loaded.items()
                          if isinstance(v, str) and re.fullmatch(r"\d+(\.\d+)+", v)})  # fmt: skip
            versions[name] = entry
    return {"doc": (module.__doc__ or "").strip(), "reference_files": versions}


def _call_of(item: pytest.Item) -> str:
    params = getattr(getattr(item, "callspec", None), "params", {})
    cases = getattr(getattr(item, "module", None), "CASES", None)
    for value in params.values():
        if isinstance(value, Mapping) and "call" in value:
            return str(value["call"])
        if isinstance(value, str) and isinstance(cases, Mapping) and value in cases:
            case = cases[value]
            if isinstance(case, Mapping) and "call" in case:
                return str(case["call"])
    return ""


def pytest_configure(config: pytest.Config) -> None:
    _patch_approx()
    _patch_numpy()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _STATE["node"] = item.nodeid
    module = getattr(item, "module", None)
    name = getattr(module, "__name__", "")
    if module is not None and name not in _STATE["modules"]:
        _STATE["modules"][name] = {"file": item.nodeid.split("::")[0], **_module_info(module)}
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    params = getattr(getattr(item, "callspec", None), "params", {})
    _STATE["tests"][item.nodeid] = {
        "module": name,
        "name": item.name,
        "doc": doc.strip(),
        "params": {k: _short(v) or type(v).__name__ for k, v in params.items()},
        "call": _call_of(item),
        "outcome": "not run",
        "message": "",
        "seconds": 0.0,
        "started": time.time(),
    }
    yield
    _STATE["node"] = None


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    test = _STATE["tests"].get(report.nodeid)
    if test is None:
        return
    test["seconds"] += report.duration
    if report.when == "call" or report.outcome != "passed":
        if test["outcome"] in ("not run", "passed"):
            test["outcome"] = report.outcome
            if report.outcome != "passed":
                text = str(report.longrepr)
                test["message"] = text.splitlines()[-1][:400] if text else ""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("IMPACTEVAL_VALIDATION_OUT")
    if not out:
        return
    payload = {
        "records": _STATE["records"],
        "tests": _STATE["tests"],
        "modules": _STATE["modules"],
        "exitstatus": int(exitstatus),
    }
    Path(out).write_text(json.dumps(payload, indent=1, default=str))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep only the selected test functions (``$IMPACTEVAL_VALIDATION_SELECT``, JSON
    ``{file: ["function", ...] | "*"}``); a selected name that no longer exists is simply
    absent from the records, and the page generator reports it."""
    raw = os.environ.get("IMPACTEVAL_VALIDATION_SELECT")
    if not raw:
        return
    select: dict[str, Any] = json.loads(raw)
    keep, drop = [], []
    for item in items:
        path = item.nodeid.split("::")[0]
        wanted = select.get(path)
        base = getattr(item, "originalname", None) or item.name.split("[")[0]
        qual = "::".join(item.nodeid.split("::")[1:]).split("[")[0]
        if wanted == "*" or (isinstance(wanted, list) and (base in wanted or qual in wanted)):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep
