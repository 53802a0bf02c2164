"""The built site has every user-guide page and every validation page, and no validation row
exceeds its tolerance.

Needs the site (``make docs``). As in ``test_site.py``: ``.ci/run`` builds the site first
and sets ``IMPACTEVAL_REQUIRE_DOCS=1``, so in CI a missing site is a failure; elsewhere the
tests skip with the reason printed. The validation rows are read from
``_generated/validation/validation.json``, which the build writes next to the pages from
the same run of the reference tests (``docs/_ext/validation_pages.py``).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

import impacteval as ie

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "_build" / "html"
VALIDATION = SITE / "_generated" / "validation"
DESIGN_PAGES = ["rct", "did", "matching", "synth", "payments", "reports"]
GUIDE_PAGES = ["index", "choosing", "evaluators", *DESIGN_PAGES]
VALIDATION_PAGES = ["index", "rct", "did", "matching", "synth", "payments"]
# every design page states these (the payments page states what a settlement assumes
# instead of an identification strategy, and the reports page describes the report)
_ESTIMATORS = ("Identification", "Estimators and when to use each", "Diagnostics")
SECTIONS = {
    "rct": (*_ESTIMATORS, "Variances actually"),
    "did": (*_ESTIMATORS, "Variances actually"),
    "matching": (*_ESTIMATORS, "Variances actually"),
    "synth": (*_ESTIMATORS, "Inference actually"),
    "payments": ("What a settlement assumes", "Uncertainty in payments", "Diagnostics"),
    "reports": ("What a report guarantees", "Sections"),
}


def _require(path: Path) -> None:
    if path.is_file():
        return
    message = f"{path.relative_to(ROOT)} is missing (run `make docs`)"
    if os.environ.get("IMPACTEVAL_REQUIRE_DOCS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def _validation() -> dict[str, Any]:
    path = VALIDATION / "validation.json"
    _require(path)
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# -- user guide ---------------------------------------------------------------------------
@pytest.mark.parametrize("page", GUIDE_PAGES)
def test_user_guide_page_is_built(page: str) -> None:
    _require(SITE / "index.html")
    path = SITE / "user_guide" / f"{page}.html"
    assert path.is_file(), f"user guide page {page!r} is missing from the built site"
    html = path.read_text()
    for section in SECTIONS.get(page, ()):
        assert section in html, f"user_guide/{page}: no section {section!r}"


@pytest.mark.parametrize("page", [p for p in DESIGN_PAGES if p != "reports"] + ["evaluators"])
def test_examples_were_executed_without_errors(page: str) -> None:
    """Each design page's example ran at build time: outputs present, no traceback."""
    path = SITE / "user_guide" / f"{page}.html"
    _require(path)
    html = path.read_text()
    assert "cell_output" in html, f"user_guide/{page}: the example has no executed output"
    for marker in ("Traceback (most recent call last)", "output traceback"):
        assert marker not in html, f"user_guide/{page}: an example raised ({marker!r})"


def test_guide_links_resolve_offline() -> None:
    """pandas / numpy / scikit-learn objects are cross-linked (local inventories) and
    the formulas use the MathJax copy served by the site, not a CDN."""
    path = SITE / "user_guide" / "matching.html"
    _require(path)
    html = path.read_text()
    assert "scikit-learn.org/stable/modules/generated/sklearn.ensemble" in html
    assert (
        "pandas.pydata.org/docs/reference/api/pandas.DataFrame.html"
        in (SITE / "user_guide" / "index.html").read_text()
    )
    scripts = re.findall(r"<script[^>]*mathjax[^>]*>", html, flags=re.IGNORECASE)
    assert scripts and all("_static/mathjax/" in s for s in scripts), scripts
    assert (SITE / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()


# -- validation pages ---------------------------------------------------------------------
@pytest.mark.parametrize("page", VALIDATION_PAGES)
def test_validation_page_is_built(page: str) -> None:
    data = _validation()
    path = VALIDATION / f"{page}.html"
    assert path.is_file(), f"validation page {page!r} is missing from the built site"
    if page == "index":
        return
    files = data["pages"][page]["files"]
    html = path.read_text()
    for file in files:
        assert file in html, f"validation/{page}: no section for {file}"
    nodes = [n for n in data["tests"] if n.split("::")[0] in files]
    rows = [r for r in data["records"] if r["node"] in set(nodes)]
    assert nodes, f"validation/{page}: no reference test ran"
    assert rows, f"validation/{page}: no comparison recorded"


def test_every_reference_module_has_a_validation_page() -> None:
    data = _validation()
    shown = {f for page in data["pages"].values() for f in page["files"]}
    modules = sorted(ROOT.glob("tests/reference/test_*.py")) + sorted(
        ROOT.glob("tests/**/test_*reference*.py")
    )
    missing = [m.relative_to(ROOT).as_posix() for m in modules]
    missing = [m for m in missing if m not in shown]
    assert not missing, f"reference modules without a validation page: {missing}"


def test_every_reference_test_passed() -> None:
    data = _validation()
    allowed = {"passed"} if os.environ.get("IMPACTEVAL_DATA_DIR") else {"passed", "skipped"}
    bad = {n: t["outcome"] for n, t in data["tests"].items() if t["outcome"] not in allowed}
    assert not bad, bad


def _numeric(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def test_no_validation_row_exceeds_its_tolerance() -> None:
    """Recomputed from the recorded numbers, not taken from the recorder's flag."""
    data = _validation()
    assert len(data["records"]) > 500  # the estimatr, did, MatchIt... tables, not a stub
    over = []
    for row in data["records"]:
        diff, tol = _numeric(row.get("difference")), _numeric(row.get("tolerance"))
        must_differ = "!= pytest.approx" in row.get("statement", "")
        if row["kind"] in ("approx", "allclose") and diff is not None and tol is not None:
            ours, ref = _numeric(row.get("ours")), _numeric(row.get("reference"))
            if ours is not None and ref is not None:
                # the recorded difference is |ours - reference| (up to rounding in the last
                # bits: the recorder subtracted the original, possibly numpy, values)
                noise = 8 * sys.float_info.epsilon * max(abs(ours), abs(ref))
                assert math.isclose(diff, abs(ours - ref), rel_tol=1e-9, abs_tol=noise), row
            ok = diff > tol if must_differ else diff <= tol
        else:  # exact comparisons: the recorder saw them pass (or not)
            ok = bool(row.get("within"))
        if not ok:
            over.append(f"{row['node']}: {row.get('statement', '')[:90]} ({diff} > {tol})")
    assert not over, "\n".join(over[:20])


def test_ours_is_what_the_package_computes() -> None:
    """The 'ours' column comes from the package: recompute one row here."""
    data = _validation()
    node = "tests/reference/test_estimatr.py::test_matches_estimatr[dim_nsw_plain]"
    rows = [r for r in data["records"] if r["node"] == node and "res.std_error" in r["statement"]]
    assert rows, f"no recorded std_error row for {node}"
    nsw = ie.datasets.load("nsw_dw")
    res = ie.rct.difference_in_means(nsw, outcome="re78", treatment="treat")
    assert rows[0]["ours"] == pytest.approx(res.std_error, rel=1e-12)


def test_validation_pages_are_not_stale() -> None:
    """The site's validation run used the current package, tests and reference data."""
    data = _validation()
    try:
        sys.path.insert(0, str(ROOT / "docs" / "_ext"))
        import validation_pages
    except ImportError as exc:  # the docs extra (sphinx) is not installed
        pytest.skip(f"cannot import the page generator: {exc}")
    finally:
        sys.path.pop(0)
    files = [f for page in data["pages"].values() for f in page["files"]]
    current = validation_pages.fingerprint(files)
    if current != data["fingerprint"]:
        message = "the site's validation pages predate the current sources: run `make docs`"
        if os.environ.get("IMPACTEVAL_REQUIRE_DOCS") == "1":
            pytest.fail(message)
        pytest.skip(message)
