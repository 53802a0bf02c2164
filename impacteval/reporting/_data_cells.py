"""Section 1 of the report notebook: read the data, describe it, derive the analysed rows.

The cells load the data files (or the registered dataset), bind the column roles to
upper-case names, derive the treatment indicator where the design asks for it
(:attr:`DesignSection.treatment_code`), tabulate what was read and missing, apply the
spec's refusals and exclusions (the sample flow), turn categorical covariates into dummies
and define ``rows_of(name)``, the rows behind each estimate.
"""

from __future__ import annotations

from impacteval.reporting._cells import Cells, NotebookPlan
from impacteval.reporting._designs import design_section
from impacteval.reporting.spec import ReportSpec

__all__ = ["data_section"]

_INTRO = """
## 1. Data

What was read, how many units and periods it covers, what is missing, and which rows were
left out of the analysis and why (refusals, exclusions from measurement, missing values).
"""

_MISSINGNESS = """
missingness = pd.DataFrame({"missing": raw.isna().sum(), "share": raw.isna().mean().round(4)})
(
    rt.readable_frame(missingness[missingness["missing"] > 0], percent_columns=["share"])
    if missingness["missing"].any()
    else "no missing values"
)
"""


def _load(spec: ReportSpec, plan: NotebookPlan) -> str:
    """Source reading the registered dataset or the data files into ``raw``."""
    if spec.data.dataset is not None:
        return (
            f"DATASET = {spec.data.dataset!r}  # impacteval.datasets.describe(DATASET) "
            "gives its source\nraw = ie.datasets.load(DATASET)\n"
            "# SHA-256 of the canonical CSV of the rows as loaded (audit appendix)\n"
            "LOADED_SHA256 = hashlib.sha256(raw.to_csv(index=False).encode()).hexdigest()"
        )
    files = ", ".join(f"Path({f!r})" for f in plan.data_files)
    readers = []
    for f in plan.data_files:
        fn = "read_parquet" if f.lower().endswith((".parquet", ".pq")) else "read_csv"
        readers.append(fn)
    if len(set(readers)) == 1:
        return (
            f"DATA_FILES = [{files}]\n"
            f"raw = pd.concat([pd.{readers[0]}(f) for f in DATA_FILES], ignore_index=True)"
        )
    return f"DATA_FILES = [{files}]\n" + (
        "raw = pd.concat([pd.read_parquet(f) if f.suffix in ('.parquet', '.pq') "
        "else pd.read_csv(f) for f in DATA_FILES], ignore_index=True)"
    )


def _roles(spec: ReportSpec) -> str:
    """Source binding each column role (and design key) to an upper-case name."""
    lines = []
    for role in ("outcome", "treatment", "unit", "time", "cohort", "cluster", "blocks"):
        value = spec.column(role)
        if value:
            lines.append(f"{role.upper()} = {value!r}")
    for role in ("covariates", "fixed_effects"):
        value = spec.column(role)
        if value:
            lines.append(f"{role.upper()} = {list(value)!r}")
    for key, value in spec.design_keys.items():
        lines.append(f"{key.upper()} = {value!r}")
    return "\n".join(lines)


def _overview(spec: ReportSpec) -> str:
    """Source of the one-column overview (rows, units, periods, rows per arm)."""
    facts = ['"rows": len(raw)', '"columns": raw.shape[1]']
    if spec.column("unit"):
        facts.append('"units": raw[UNIT].nunique()')
    if spec.column("time"):
        facts.append('"periods": raw[TIME].nunique()')
        facts.append('"first period": raw[TIME].min()')
        facts.append('"last period": raw[TIME].max()')
    if spec.column("treatment") or not design_section(spec).treatment_is_column:
        facts.append('"treated rows": int((raw[TREATMENT] == 1).sum())')
        facts.append('"control rows": int((raw[TREATMENT] == 0).sum())')
    return (
        "overview = pd.Series({\n    "
        + ",\n    ".join(facts)
        + ',\n}, name="value", dtype=object)\nrt.readable_frame(overview.to_frame())'
    )


def _flow(spec: ReportSpec) -> str:
    """Source of the sample flow: refusals, exclusions and missing values removed."""
    required = ["OUTCOME"]
    if design_section(spec).treatment_is_column:
        required.append("TREATMENT")
    for role in ("unit", "time", "cohort", "cluster", "blocks"):
        if spec.column(role):
            required.append(role.upper())
    star = [f"*{r.upper()}" for r in ("covariates", "fixed_effects") if spec.column(r)]
    d = spec.data
    return f"""
# rows removed, in order: refusals, exclusions (by reason), missing values in the columns used
sample, flow = rt.sample_flow(
    raw,
    required=list(dict.fromkeys([{", ".join(required + star)}])),
    treatment=TREATMENT,
    exclude={d.exclude!r},
    exclusion_reason={d.exclusion_reason!r},
    refused={d.refused!r},
)
# counts below MIN_CELL_SIZE are masked, and one more cell wherever a total would reveal them
rt.suppress_flow(flow, MIN_CELL_SIZE)
"""


def _subsets(spec: ReportSpec) -> str:
    """Source defining ``SUBSETS``, ``LABELS`` and ``rows_of`` with the rows per estimate."""
    est_subsets = {s.id: s.where for s in spec.estimates}
    labels = {s.id: s.label for s in spec.estimates}
    return f"""
SUBSETS = {est_subsets!r}  # the rows behind each estimate (None = all rows)
LABELS = {labels!r}


def rows_of(name, frame=None):
    frame = sample if frame is None else frame
    return frame[rt.select(frame, SUBSETS[name])].reset_index(drop=True)


rt.readable_frame(
    pd.Series({{LABELS[k]: len(rows_of(k)) for k in SUBSETS}}, name="rows analysed").to_frame()
)
"""


def data_section(c: Cells, spec: ReportSpec, plan: NotebookPlan) -> None:
    """Append section 1 (data, sample flow, rows behind each estimate) to ``c``."""
    c.md(_INTRO)
    c.code(_load(spec, plan) + "\n\n" + _roles(spec))
    treatment_code = design_section(spec).treatment_code
    if treatment_code is not None:
        c.code(treatment_code)
    c.code(_overview(spec))
    c.code(_MISSINGNESS)
    c.code(_flow(spec), "flow")
    if plan.categorical_in_covariates:
        cats = list(plan.categorical_in_covariates)
        c.code(
            f"""
# categorical covariates enter as 0/1 dummies (first level is the reference)
CATEGORICAL = {cats!r}
dummies = pd.get_dummies(sample[CATEGORICAL].astype(str), drop_first=True, dtype=float)
sample = pd.concat([sample, dummies], axis=1)
COVARIATES = [c for c in COVARIATES if c not in CATEGORICAL] + list(dummies.columns)
print("covariates used:", ", ".join(COVARIATES))
"""
        )
    c.code(_subsets(spec))
