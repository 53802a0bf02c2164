"""Validation pages, generated on every build from the reference tests (``tests/reference/``).

The reference tests are the one source of truth: each compares a number impacteval computes
with a value from a paper's table or from an R / peer-package run whose script and package
versions are committed in ``tests/reference/``. This extension runs those tests (a pytest
subprocess with the :mod:`validation_recorder` plugin, which records every comparison the
tests make: reference value, ours, difference, the tolerance applied, pass or fail) and
writes one page per design under ``_generated/validation/`` plus ``validation.json`` (the
same rows, machine-readable; ``tests/docs/test_validation_pages.py`` reads it).

So "ours" is computed by the package at build time, by the test's own comparison code; a
changed number shows on the next build. A failed reference test or a row outside its
tolerance is a Sphinx warning, i.e. a failed ``-W`` build.

Caching: the run takes one to two minutes (the synthetic-control placebo refits dominate).
Its result is kept in ``_build/.validation_cache.json`` keyed by a SHA-256 fingerprint of
the package source, the selected test files, ``tests/conftest.py``, the reference data and
the recorder plugin; a build whose fingerprint matches reuses it, and the pages say so (with the
time it was computed). ``IMPACTEVAL_DOCS_VALIDATION=force`` always re-runs.
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sphinx.util import logging

LOGGER = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# page -> (title, {test file: "*" (every test) or the test functions that compare with a
# reference}). Every tests/reference/test_*.py and tests/**/test_*reference*.py is also
# picked up automatically (see _selection), so a new reference module appears by itself.
PAGES: dict[str, tuple[str, dict[str, Any]]] = {
    "rct": (
        "Randomised trials",
        {
            "tests/reference/test_estimatr.py": "*",
            "tests/reference/test_estimatr_peer_cases.py": "*",
            "tests/reference/test_published_lalonde.py": "*",
        },
    ),
    "did": (
        "Difference in differences",
        {
            "tests/did/test_two_by_two.py": [
                "test_card_krueger_row3_all_stores",
                "test_card_krueger_row4_balanced_panel",
            ],
            "tests/did/test_att_gt.py": [
                "test_all_twelve_cells_and_analytic_ses",
                "test_aggregations_published",
                "test_event_time_estimates_published",
                "test_pretest_published",
                "test_group_and_calendar_rows_r_docs",
                "test_balance_e_r_docs",
                "test_dr_with_lpop_r_docs",
            ],
            "tests/did/test_att_gt_moderndid.py": "*",
            "tests/did/test_twfe.py": [
                "test_mpdta_against_pyfixest",
                "test_covariate_and_unbalanced_panel_against_pyfixest",
            ],
            "tests/did/test_event_study.py": [
                "test_mpdta_against_pyfixest",
                "test_mpdta_twfe_covariate_slope",
                "test_mpdta_sun_abraham_cells",
                "test_simulated_unbalanced_against_pyfixest",
            ],
        },
    ),
    "matching": (
        "Matching and weighting",
        {
            "tests/matching/test_nearest_reference.py": "*",
            "tests/matching/test_weighting_reference.py": "*",
            "tests/unit/test_sensitivity.py": ["test_bounds_match_psens"],
        },
    ),
    "synth": (
        "Synthetic control and synthetic DiD",
        {
            "tests/synth/test_control_reference.py": "*",
            "tests/synth/test_sdid_reference.py": "*",
            "tests/synth/test_sdid_inference.py": [
                "test_bootstrap_and_jackknife_match_synthdid_py"
            ],
        },
    ),
    "payments": ("Outcome payments", {"tests/payments/test_payments_published.py": "*"}),
}
OTHER = ("other", "Other reference tests")
CACHE_NAME = ".validation_cache.json"
# the tables need the width of the right-hand page toc (pydata-sphinx-theme page metadata);
# conf.py also drops the left-hand navigation of these pages (html_sidebars)
FRONT = "---\nhtml_theme.sidebar_secondary.remove: true\n---\n"


def _selection() -> dict[str, tuple[str, dict[str, Any]]]:
    """Page slug -> (title, {file: selection}), with unlisted reference modules added."""
    pages = {slug: (title, dict(files)) for slug, (title, files) in PAGES.items()}
    listed = {f for _, files in pages.values() for f in files}
    found = sorted(ROOT.glob("tests/reference/test_*.py")) + sorted(
        ROOT.glob("tests/**/test_*reference*.py")
    )
    for path in found:
        rel = path.relative_to(ROOT).as_posix()
        if rel in listed:
            continue
        folder = rel.split("/")[1]
        slug = folder if folder in pages else OTHER[0]
        pages.setdefault(slug, (OTHER[1], {}))[1][rel] = "*"
        listed.add(rel)
    return pages


def fingerprint(files: list[str]) -> str:
    digest = hashlib.sha256()
    paths = sorted((ROOT / "impacteval").rglob("*.py")) + sorted(
        (ROOT / "tests" / "reference" / "data").glob("*")
    )
    paths += [ROOT / f for f in sorted(files)] + [ROOT / "tests" / "conftest.py"]
    paths += [HERE / "validation_recorder.py"]  # what is recorded (not how it is shown)
    for path in paths:
        if path.is_file():
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    digest.update(str(bool(os.environ.get("IMPACTEVAL_DATA_DIR"))).encode())
    return digest.hexdigest()


def _run(select: dict[str, Any]) -> dict[str, Any]:
    """Run the selected reference tests with the recorder; return its records."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "records.json"
        env = dict(os.environ)
        env.update(
            PYTHONPATH=os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            # a fresh bytecode cache: the assertion-pass hook needs freshly rewritten tests
            PYTHONPYCACHEPREFIX=str(Path(tmp) / "pycache"),
            IMPACTEVAL_VALIDATION_OUT=str(out),
            IMPACTEVAL_VALIDATION_SELECT=json.dumps(select),
            IMPACTEVAL_VALIDATION_TESTS=str(ROOT / "tests"),
            MPLBACKEND="Agg",
        )
        command = [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "-p", "validation_recorder", "-o", "enable_assertion_pass_hook=true",
            "-W", "ignore", "--no-header", "-rN", *sorted(select),
        ]  # fmt: skip
        started = time.time()
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if not out.is_file():
            raise RuntimeError(
                "the reference tests did not run (pytest exit status "
                f"{run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
            )
        payload: dict[str, Any] = json.loads(out.read_text())
    payload["seconds"] = round(time.time() - started, 1)
    payload["computed_at"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    payload["pytest_tail"] = run.stdout.strip().splitlines()[-1:] if run.stdout else []
    return payload


def _results(app: Any, select: dict[str, Any]) -> dict[str, Any]:
    cache = Path(app.outdir).parent / CACHE_NAME
    fingerprint_now = fingerprint(list(select))
    mode = os.environ.get("IMPACTEVAL_DOCS_VALIDATION", "cache")
    if mode != "force" and cache.is_file():
        cached = json.loads(cache.read_text())
        if cached.get("fingerprint") == fingerprint_now:
            cached["from_cache"] = True
            return dict(cached)
    LOGGER.info("validation pages: running the reference tests (about 1-2 minutes)...")
    payload = _run(select)
    payload["fingerprint"] = fingerprint_now
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(payload, indent=1))
    payload["from_cache"] = False
    return payload


# -- rendering ----------------------------------------------------------------------------
def _fmt(value: Any, kind: str = "value") -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if kind == "diff":
            return "0" if value == 0 else f"{value:.2e}"
        return f"{value:.10g}"
    return str(value)


def _ratio(row: dict[str, Any]) -> float | None:
    """Difference as a share of the tolerance (None when not numeric)."""
    diff, tol = row.get("difference"), row.get("tolerance")
    if not isinstance(diff, float) or not isinstance(tol, float):
        return None
    if tol == 0:
        return 0.0 if diff == 0 else float("inf")
    return diff / tol


def _clip(text: str, n: int = 70) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _sides(statement: str) -> tuple[str, str] | None:
    """``(ours, reference)`` expressions of an ``assert a == approx(b)`` /
    ``assert_allclose(a, b)`` statement, or None when it has another shape."""
    try:
        node = ast.parse(statement.strip(), mode="exec").body[0]
    except (SyntaxError, IndexError):
        return None
    expr = node.value if isinstance(node, ast.Expr) else None
    if isinstance(node, ast.Assert):
        expr = node.test
    if isinstance(expr, ast.Compare) and len(expr.comparators) == 1:
        right = expr.comparators[0]
        if isinstance(right, ast.Call) and ast.unparse(right.func).endswith("approx"):
            right = right.args[0] if right.args else right
        return ast.unparse(expr.left), ast.unparse(right)
    if isinstance(expr, ast.Call) and len(expr.args) >= 2:
        return ast.unparse(expr.args[0]), ast.unparse(expr.args[1])
    return None


def _check_label(row: dict[str, Any]) -> str:
    statement = row.get("statement", "")
    sides = _sides(statement)
    if sides is not None:
        ours, ref = (html.escape(_clip(x)) for x in sides)
        parts = [f"<code>{ours}</code> <span class='iev-vs'>vs</span> <code>{ref}</code>"]
    else:
        parts = [f"<code>{html.escape(_clip(statement.removeprefix('assert '), 120))}</code>"]
    parts[0] = f"<span title='{html.escape(statement)}'>{parts[0]}</span>"
    extra = ", ".join(x for x in (row.get("context"), row.get("element")) if x)
    if extra:
        parts.append(f" <span class='iev-context'>[{html.escape(str(extra))}]</span>")
    if row.get("comment"):
        parts.append(f"<br><span class='iev-note'>{html.escape(row['comment'])}</span>")
    return "".join(parts)


def _tolerance(row: dict[str, Any]) -> str:
    tol = row.get("tolerance")
    if tol == "exact" or row.get("kind") in ("exact", "exact_array"):
        return "exact"
    text = _fmt(tol, "diff") if isinstance(tol, float) else _fmt(tol)
    spec = []
    if isinstance(row.get("rel"), float) and row["rel"]:
        spec.append(f"rel {row['rel']:g}")
    if isinstance(row.get("abs"), float) and row["abs"]:
        spec.append(f"abs {row['abs']:g}")
    if row.get("kind") == "approx" and row.get("rel") is None and row.get("abs") is None:
        spec.append("pytest default: rel 1e-06")
    return text + (f" <span class='iev-context'>({', '.join(spec)})</span>" if spec else "")


def _table(tests: list[tuple[str, dict[str, Any]]], rows: dict[str, list[dict[str, Any]]]) -> str:
    head = ("Check (the test's own comparison)", "Reference", "Ours", "|Difference|",
            "Tolerance", "Within")  # fmt: skip
    out = ["<div class='iev-scroll'><table class='table iev-validation'><thead><tr>"]
    out += [f"<th>{h}</th>" for h in head] + ["</tr></thead><tbody>"]
    for node, test in tests:
        status = test["outcome"]
        call = f" &middot; call: <code>{html.escape(test['call'])}</code>" if test["call"] else ""
        message = f" &middot; {html.escape(test['message'])}" if test["message"] else ""
        out.append(
            f"<tr class='iev-test iev-{status}'><td colspan='6'><b>{html.escape(test['name'])}</b>"
            f"{call} &middot; test <b>{status}</b> ({test['seconds']:.2f} s){message}</td></tr>"
        )
        for row in rows.get(node, []):
            ok = "yes" if row.get("within") else "<b>NO</b>"
            cls = "iev-ok" if row.get("within") else "iev-fail"
            out.append(
                f"<tr class='{cls}'><td>{_check_label(row)}</td>"
                f"<td>{html.escape(_fmt(row.get('reference')))}</td>"
                f"<td>{html.escape(_fmt(row.get('ours')))}</td>"
                f"<td>{html.escape(_fmt(row.get('difference'), 'diff'))}</td>"
                f"<td>{_tolerance(row)}</td><td>{ok}</td></tr>"
            )
        if not rows.get(node) and status == "passed":
            out.append(
                "<tr><td colspan='6'><i>no numeric comparison recorded (the test checks "
                "structure or uses a comparison the recorder does not see); its outcome is "
                "above</i></td></tr>"
            )
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _module_section(
    file: str, info: dict[str, Any], tests: list[tuple[str, dict[str, Any]]],
    rows: dict[str, list[dict[str, Any]]],
) -> list[str]:  # fmt: skip
    all_rows = [r for node, _ in tests for r in rows.get(node, [])]
    within = sum(bool(r.get("within")) for r in all_rows)
    ratios = [x for x in (_ratio(r) for r in all_rows) if x is not None]
    passed = sum(t["outcome"] == "passed" for _, t in tests)
    lines = [f"## `{file}`", ""]
    lines += [
        f"{len(tests)} tests ({passed} passed), {len(all_rows)} recorded comparisons, "
        f"{within} within tolerance"
        + (f"; largest difference = {max(ratios):.3g} x its tolerance." if ratios else "."),
        "",
        "**Source and tolerance** (the test module's docstring):",
        "",
        "```{raw} html",
        f"<pre class='iev-doc'>{html.escape(info.get('doc', '') or '(no module docstring)')}</pre>",
        "```",
        "",
    ]
    files = info.get("reference_files", {})
    if files:
        lines += ["**Reference files read by this module, with the versions they record:**", ""]
        for name, meta in files.items():
            shown = "; ".join(f"{k}: {json.dumps(v)[:300]}" for k, v in meta.items()) or "-"
            lines.append(f"- `{name}`: {shown}")
        lines.append("")
    lines += ["```{raw} html", _table(tests, rows), "```", ""]
    return lines


def _page(slug: str, title: str, files: dict[str, Any], data: dict[str, Any]) -> str:
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in data["records"]:
        rows.setdefault(row["node"], []).append(row)
    lines = [FRONT, f"# Validation: {title.lower()}", "", _provenance(data), ""]
    lines += [
        "Other designs: "
        + " | ".join(f"[{t}]({s}.md)" for s, (t, _) in PAGES.items() if s != slug)
        + " | [summary](index.md)",
        "",
    ]
    for file in files:
        tests = [(n, t) for n, t in data["tests"].items() if n.split("::")[0] == file]
        module: dict[str, Any] = next(
            (m for m in data["modules"].values() if m["file"] == file), {}
        )
        if not tests:
            lines += [f"## `{file}`", "", "```{warning}", "No test of this module ran.", "```"]
            continue
        lines += _module_section(file, module, tests, rows)
    return "\n".join(lines)


def _provenance(data: dict[str, Any]) -> str:
    import impacteval

    how = (
        f"**Reused** from the run of {data['computed_at']} ({data['seconds']} s): the package "
        "source, the tests and the reference data are byte-identical since (SHA-256 "
        f"fingerprint `{data['fingerprint'][:16]}`), so the numbers cannot have changed."
        if data.get("from_cache")
        else f"**Computed during this build** ({data['computed_at']}, {data['seconds']} s)."
    )
    return (
        f"Generated from the reference tests by running them against impacteval "
        f"{impacteval.__version__}. {how} Each row is one comparison made by a test: the "
        "reference value (paper table, or R / peer-package output committed in "
        "`tests/reference/`), ours (what the package computed in that run), the absolute "
        "difference, and the tolerance the test applied (for `pytest.approx`: "
        "max(rel x |reference|, abs)). The reason for each tolerance is in the module's "
        "docstring above its table, or in the comment shown under the check."
    )


def _index(pages: dict[str, tuple[str, dict[str, Any]]], data: dict[str, Any]) -> str:
    lines = [
        FRONT,
        "# Validation",
        "",
        "Against papers, R and peer packages.",
        "",
        _provenance(data),
        "",
    ]
    lines += ["| Design | Test modules | Tests passed | Comparisons | Within tolerance |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for slug, (title, files) in pages.items():
        nodes = [n for n in data["tests"] if n.split("::")[0] in files]
        passed = sum(data["tests"][n]["outcome"] == "passed" for n in nodes)
        recs = [r for r in data["records"] if r["node"] in set(nodes)]
        within = sum(bool(r.get("within")) for r in recs)
        lines.append(
            f"| [{title}]({slug}.md) | {len(files)} | {passed} / {len(nodes)} | {len(recs)} "
            f"| {within} / {len(recs)} |"
        )
    lines += ["", "```{toctree}", ":hidden:", "", *pages, "```", ""]
    return "\n".join(lines)


def _problems(pages: dict[str, tuple[str, dict[str, Any]]], data: dict[str, Any]) -> list[str]:
    out = []
    for node, test in data["tests"].items():
        if test["outcome"] not in ("passed", "skipped"):
            out.append(f"reference test {node} {test['outcome']}: {test['message']}")
    for row in data["records"]:
        if not row.get("within"):
            out.append(
                f"{row['node']}: {row.get('statement', '')[:80]} -> reference "
                f"{row.get('reference')}, ours {row.get('ours')} (tolerance {row.get('tolerance')})"
            )
    for _, files in pages.values():
        for file, wanted in files.items():
            ran = {t["name"].split("[")[0] for n, t in data["tests"].items() if n.startswith(file)}
            missing = [w for w in wanted if w not in ran] if isinstance(wanted, list) else []
            if (wanted == "*" and not ran) or missing:
                out.append(f"selected reference tests not found in {file}: {missing or '*'}")
    return out


def generate(app: Any) -> None:
    pages = _selection()
    select = {f: w for _, files in pages.values() for f, w in files.items()}
    data = _results(app, select)
    out = Path(app.srcdir) / "_generated" / "validation"
    out.mkdir(parents=True, exist_ok=True)
    for slug, (title, files) in pages.items():
        (out / f"{slug}.md").write_text(_page(slug, title, files, data))
    (out / "index.md").write_text(_index(pages, data))
    pages_json = {slug: {"title": t, "files": sorted(f)} for slug, (t, f) in pages.items()}
    (out / "validation.json").write_text(json.dumps({**data, "pages": pages_json}, indent=1))
    for problem in _problems(pages, data):
        LOGGER.warning("validation: %s", problem, type="impacteval", subtype="validation")


def copy_json(app: Any, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = Path(app.srcdir) / "_generated" / "validation" / "validation.json"
    target = Path(app.outdir) / "_generated" / "validation" / "validation.json"
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    app.connect("build-finished", copy_json)
    return {"parallel_read_safe": True}
