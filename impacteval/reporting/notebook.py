"""Write the report notebook: cells that call the public API, one section per concern.

Sections 1 (data) and 6 (settlement) are written by :mod:`._data_cells` and
:mod:`._settlement_cells`; everything that depends on the design (the estimator call,
section 2's diagnostics) by the design's :class:`~._designs.DesignSection`, looked up
by ``spec.design``. This module writes the header, sections 3-5 and 7, and assembles them.

The generated code contains only literals taken from the validated spec (written with
``repr``) and calls to ``impacteval``, pandas and matplotlib; nothing from the spec is
evaluated while the notebook is written. Cells carry tags (``estimates``, ``robustness``,
``equity``, ``settlement``, ``audit``) so tests and tools can find their outputs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from impacteval.reporting._cells import Cells, NotebookPlan
from impacteval.reporting._data_cells import data_section
from impacteval.reporting._designs import design_section
from impacteval.reporting._settlement_cells import settlement_section
from impacteval.reporting.spec import ReportSpec

__all__ = ["NotebookPlan", "make_notebook", "plan_for"]


def _rel(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def plan_for(
    spec: ReportSpec, run_dir: Path, spec_file: Path, contract_subgroups: Sequence[str] = ()
) -> NotebookPlan:
    """Paths of the spec's files relative to ``run_dir`` (the notebook's working folder)."""
    covs = spec.column("covariates") or ()
    return NotebookPlan(
        data_files=tuple(_rel(p, run_dir) for p in spec.data.paths),
        spec_file=_rel(spec_file, run_dir),
        contract_file=None if spec.contract is None else _rel(spec.contract.path, run_dir),
        contract_subgroups=tuple(contract_subgroups),
        categorical_in_covariates=tuple(c for c in spec.data.categorical if c in covs),
    )


def _header(c: Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    contract = ""
    if plan.contract_file is not None:
        contract = f"<br>\n**Contract:** `{plan.contract_file}`"
    c.md(
        f"""
# {spec.title}

**Evaluator:** {spec.evaluator}<br>
**Design:** {spec.design}, primary estimator `{spec.estimator.label}`<br>
**Spec:** `{plan.spec_file}` (SHA-256 `{spec.sha256[:16]}...`){contract}
"""
    )
    c.md(
        f"""
{spec.description}

This notebook was written by `impacteval report` and executed top to bottom. Every number
in it comes from the code cells, which call the public `impacteval` API on the data files
named in the spec: re-run or change any cell to check or extend the analysis. Sections:
1 data, 2 design diagnostics, 3 estimates, 4 robustness, 5 equity, 6 settlement, 7 audit.
"""
    )
    c.code(
        f"""
import hashlib
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import impacteval as ie
from impacteval.reporting import tables as rt

%matplotlib inline
SEED = {spec.seed!r}  # every estimator that draws random numbers takes this seed
LEVEL = {spec.level!r}  # confidence level of every interval
MIN_CELL_SIZE = {spec.min_cell_size!r}  # counts below this are masked in every table
WARNINGS = rt.WarningLog().install()  # warnings are listed once, in the audit appendix
DECISION_NOTES = []  # how robust the payment decision is; shown on page one
np.random.seed(SEED)  # nothing below uses the global generator; pinned for user edits
pd.set_option("display.width", 120)
pd.set_option("display.max_columns", 20)
pd.set_option("display.max_colwidth", None)  # full hashes and method names
"""
    )


def _estimates(c: Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    c.md(
        f"""
## 3. Estimates

Primary estimator: `{spec.estimator.label}` at the {spec.level:.0%} level. The `method`
column names the exact estimator and variance used; `n_obs` counts the observations
used.
"""
    )
    c.code(
        """
estimates = rt.estimates_table({LABELS[k]: v for k, v in results.items()})
rt.readable_frame(estimates, keep=["method", "estimand"])
""",
        "estimates",
    )
    design_section(spec).beside_estimates(c, spec, plan)
    c.code(
        """
ie.plotting.plot_estimates(estimates)
plt.title("Primary estimates with confidence intervals")
plt.show()
for name, res in results.items():
    display(rt.as_estimate(res).summary())
""",
        "estimates-detail",
    )


def _robustness(c: Cells, spec: ReportSpec) -> None:
    c.md("## 4. Robustness: other estimators of the same design")
    if not spec.alternatives:
        c.md("The spec names no alternative estimators (`design.alternatives`).")
        return
    section = design_section(spec)
    items = [f"    {spec.estimator.label!r}: estimate,"]
    for alt in spec.alternatives:
        items.append(f"    {alt.label!r}: lambda rows: {section.call(spec, alt)},")
    c.code(
        "ALTERNATIVES = {\n"
        + "\n".join(items)
        + """
}
robustness = rt.estimates_table({
    f"{LABELS[name]} | {label}": (results[name] if fn is estimate else fn(rows_of(name)))
    for name in SUBSETS
    for label, fn in ALTERNATIVES.items()
})
rt.readable_frame(robustness, keep=["method", "estimand"])
""",
        "robustness",
    )
    c.code(
        """
# estimator names without their options on the axis (the table above has them in full)
ie.plotting.plot_estimates(robustness.rename(index=lambda s: s.split("(")[0]))
plt.xticks(rotation=30, ha="right")
plt.tight_layout()
plt.title("Primary and alternative estimators")
plt.show()
""",
    )


def _equity(c: Cells, spec: ReportSpec) -> None:
    c.md(
        f"""
## 5. Equity indicators by subgroup

The primary estimator re-run within each subgroup (on the rows behind the estimates), with
people counted per arm. Cells with fewer than {spec.min_cell_size} people in either arm are
masked so no individual can be singled out; cream-skimming shows as subgroups with few
participants or very different effects.
"""
    )
    if not spec.subgroups:
        c.md("The spec names no subgroups (`equity.subgroups`).")
        return
    groups = {s.id: s.where for s in spec.subgroups}
    unit = "UNIT" if spec.column("unit") else "None"
    if spec.equity_estimator == "primary":
        define = "subgroup_estimator = estimate  # the primary estimator"
    else:
        c.md(
            "Subgroup effects here are **unadjusted** differences in means "
            '(`equity.estimator = "difference_in_means"`): small subgroups defeat a '
            "propensity model, so they describe who is served, not causal effects."
        )
        define = (
            "def subgroup_estimator(rows):\n"
            "    return ie.rct.difference_in_means(rows, outcome=OUTCOME, treatment=TREATMENT, "
            "level=LEVEL)"
        )
    c.code(
        f"""
{define}


SUBGROUPS = {groups!r}
in_estimates = np.zeros(len(sample), dtype=bool)
for where in SUBSETS.values():
    in_estimates |= rt.select(sample, where).to_numpy()
equity_rows = sample[in_estimates].reset_index(drop=True)
# unmasked effects stay in the kernel; only the masked table is shown
effects = rt.subgroup_effects(
    equity_rows, SUBGROUPS, subgroup_estimator, treatment=TREATMENT, unit={unit}
)
equity = rt.mask_small_cells(effects, MIN_CELL_SIZE)
equity
""",
        "equity",
    )


def _audit(c: Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    c.md(
        """
## 7. Audit appendix

SHA-256 of every input (the data files, the spec and the contract), the versions of the
packages that produced the numbers, the seed, and each estimate's data fingerprint (a
SHA-256 of the columns it used). Re-running this notebook on the same files gives the same
numbers.
"""
    )
    files = []
    if spec.data.dataset is None:
        files.append('**{f"data: {f.name}": f for f in DATA_FILES}')
    files.append(f'"spec": Path({plan.spec_file!r})')
    if plan.contract_file is not None:
        files.append(f'"contract (file bytes)": Path({plan.contract_file!r})')
    dataset = ""
    if spec.data.dataset is not None:
        dataset = """
# a registered dataset: SHA-256 of its canonical CSV (rows as loaded, no index)
hashes.loc[f"data: {DATASET} (loaded)"] = [
    "impacteval.datasets.load",
    LOADED_SHA256,
]
registry = ie.datasets.describe(DATASET)
if registry.get("csv_sha256"):  # the file as accepted by the loader (pinned in the registry)
    hashes.loc[f"data: {DATASET}.csv (registry)"] = [
        str(registry.get("url", "")),
        registry["csv_sha256"],
    ]
"""
    c.code(
        "AUDIT_FILES = {"
        + ", ".join(files)
        + """}
hashes = pd.DataFrame(
    {"path": [str(p) for p in AUDIT_FILES.values()],
     "sha256": [rt.file_sha256(p) for p in AUDIT_FILES.values()]},
    index=list(AUDIT_FILES),
)"""
        + dataset
        + (
            "\n# the same contract identified by its terms: canonical JSON of the parsed TOML\n"
            'hashes.loc["contract (content hash, canonical terms)"] = [\n'
            '    "impacteval.payments.Contract.sha256", contract.sha256\n]'
            if plan.contract_file is not None
            else ""
        )
        + "\nhashes",
        "audit",
    )
    c.code(
        """
fingerprints = pd.DataFrame({
    LABELS[k]: {
        "data_fingerprint": rt.as_estimate(v).provenance.data_fingerprint,
        "seed": (
            "none (no random draws)"
            if rt.as_estimate(v).provenance.seed is None
            else rt.as_estimate(v).provenance.seed
        ),
        "package_version": rt.as_estimate(v).provenance.package_version,
    }
    for k, v in results.items()
}).T
print(f"SEED = {SEED}")
fingerprints
""",
        "audit",
    )
    c.code("rt.package_versions().to_frame()", "audit")
    c.md("Warnings raised while the report ran (each distinct warning once):")
    c.code("WARNINGS.table()", "audit")


def make_notebook(spec: ReportSpec, plan: NotebookPlan) -> NotebookNode:
    """The report notebook for a validated spec (not executed)."""
    c = Cells()
    _header(c, spec, plan)
    data_section(c, spec, plan)
    design_section(spec).diagnostics(c, spec)
    _estimates(c, spec, plan)
    _robustness(c, spec)
    _equity(c, spec)
    settlement_section(c, spec, plan)
    _audit(c, spec, plan)
    nb: NotebookNode = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = c.cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["impacteval"] = {"title": spec.title, "spec_sha256": spec.sha256}
    return nb
