"""``build_report(spec, output_dir)``: check everything, write, execute, export to HTML."""

from __future__ import annotations

import copy
import difflib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from impacteval.exceptions import ImpactEvalError
from impacteval.reporting.errors import ReportExecutionError, ReportSpecError
from impacteval.reporting.notebook import make_notebook, plan_for
from impacteval.reporting.spec import ContractRef, ReportSpec, load_spec
from impacteval.reporting.spec_synth import check_treatment_column
from impacteval.reporting.tables import select

__all__ = ["CHROMIUM_HEADLESS_FLAGS", "ReportPaths", "build_report", "check_spec", "print_pdf"]

#: environment of the executing kernel: fixed hash seed and single-threaded BLAS, so the
#: same spec and data give the same numbers in every run
KERNEL_ENV = {
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}


class ReportPaths(NamedTuple):
    """Paths of a built report."""

    notebook: Path
    html: Path


def _columns_hint(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _read(spec: ReportSpec) -> pd.DataFrame:
    d = spec.data
    if d.dataset is not None:
        from impacteval import datasets

        known = datasets.names()
        if d.dataset not in known:
            raise ReportSpecError(
                f"`data.dataset`: unknown dataset {d.dataset!r}"
                f"{_columns_hint(d.dataset, known)} (known: {known})"
            )
        try:
            loaded: pd.DataFrame = datasets.load(d.dataset)
            return loaded
        except ImpactEvalError as exc:
            raise ReportSpecError(
                f"`data.dataset`: {d.dataset!r} cannot be loaded ({exc})"
            ) from None
    frames = []
    for i, path in enumerate(d.paths):
        key = "data.path" if len(d.paths) == 1 else f"data.paths[{i}]"
        if not path.is_file():
            raise ReportSpecError(f"`{key}`: no such file {str(path)!r}")
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                frames.append(pd.read_parquet(path))
            else:
                frames.append(pd.read_csv(path))
        except ImportError as exc:
            raise ReportSpecError(
                f"`{key}`: reading Parquet needs pyarrow or fastparquet ({exc})"
            ) from None
        except (ValueError, OSError) as exc:
            raise ReportSpecError(f"`{key}`: cannot read {str(path)!r} ({exc})") from None
    if len(frames) > 1:
        cols = list(frames[0].columns)
        for i, f in enumerate(frames[1:], start=1):
            if list(f.columns) != cols:
                raise ReportSpecError(
                    f"`data.paths[{i}]` has columns {list(f.columns)}; expected {cols} "
                    "(files are stacked)"
                )
    return pd.concat(frames, ignore_index=True)


def _check_columns(spec: ReportSpec, data: pd.DataFrame) -> None:
    cols = [str(c) for c in data.columns]
    named: list[tuple[str, str]] = []
    for role, value in spec.columns.items():
        if isinstance(value, str):
            named.append((f"columns.{role}", value))
        elif value:
            named += [(f"columns.{role}[{i}]", v) for i, v in enumerate(value)]
    d = spec.data
    for key in ("exclude", "exclusion_reason", "refused"):
        value = getattr(d, key)
        if value is not None:
            named.append((f"data.{key}", value))
    named += [(f"data.categorical[{i}]", v) for i, v in enumerate(d.categorical)]
    for m in spec.contract.inputs if spec.contract is not None else ():
        if m.measure is not None:
            key = f"contract.inputs.{m.metric}.measure"
            named.append((f"{key}.column", m.measure["column"]))
            named += [(f"{key}.where.{c}", c) for c in (m.measure.get("where") or {})]
    for group, items in (("estimates", spec.estimates), ("equity.subgroups", spec.subgroups)):
        for s in items:
            named += [(f"{group}.{s.id}.where.{c}", c) for c in (s.where or {})]
    for key, col in named:
        if col not in cols:
            raise ReportSpecError(
                f"`{key}`: no column {col!r} in the data{_columns_hint(col, cols)} "
                f"(columns: {cols})"
            )
    covs = spec.column("covariates") or ()
    for col in covs:
        if col not in d.categorical and not pd.api.types.is_numeric_dtype(data[col]):
            raise ReportSpecError(
                f"`columns.covariates`: {col!r} is not numeric ({data[col].dtype}); list it "
                "in `data.categorical` to use it as dummies"
            )


def _check_rows(spec: ReportSpec, data: pd.DataFrame) -> None:
    treat = spec.column("treatment")
    if spec.design in ("rct", "matching") and treat is not None:
        values = set(pd.unique(data[treat].dropna()))
        if not values <= {0, 1} or len(values) < 2:
            raise ReportSpecError(
                f"`columns.treatment`: {treat!r} must be coded 0/1 with both arms present; "
                f"values found: {sorted(values, key=str)[:10]}"
            )
    for s in spec.estimates:
        part = data[select(data, s.where)]
        if part.empty:
            raise ReportSpecError(f"`estimates.{s.id}.where` selects no rows: {s.where}")
        if spec.design in ("rct", "matching") and treat is not None:
            arms = set(pd.unique(part[treat].dropna()))
            if arms != {0, 1}:
                raise ReportSpecError(
                    f"`estimates.{s.id}.where` selects rows of one arm only ({sorted(arms)})"
                )
    if spec.design == "synth" and treat is not None:  # several treated units
        check_treatment_column(data, treat, spec.column("unit"), spec.column("time"))
    elif spec.design == "synth":
        unit, time = spec.column("unit"), spec.column("time")
        tu, tt = spec.design_keys["treated_unit"], spec.design_keys["treatment_time"]
        if not (data[unit] == tu).any():
            raise ReportSpecError(f"`design.treated_unit`: no unit {tu!r} in column {unit!r}")
        times = data[time]
        if not (times.min() < tt <= times.max()):
            raise ReportSpecError(
                f"`design.treatment_time` must fall after the first period and no later than "
                f"the last ({times.min()} .. {times.max()}); received {tt!r}"
            )


def _check_contract(spec: ReportSpec) -> tuple[str, ...]:
    """Load the contract and check the estimate -> metric mapping; its equity subgroups."""
    if spec.contract is None:
        return ()
    from impacteval.payments import Contract, ContractError

    ref = spec.contract
    if not ref.path.is_file():
        raise ReportSpecError(f"`contract.path`: no such file {str(ref.path)!r}")
    try:
        contract = Contract.from_toml(ref.path)
    except ContractError as exc:
        raise ReportSpecError(f"`contract.path`: invalid contract ({exc})") from None
    wanted = list(contract.input_metrics)
    given = [m.metric for m in ref.inputs]
    _check_interval_rules(spec, ref, contract)
    for metric in given:
        if metric not in wanted:
            raise ReportSpecError(
                f"`contract.inputs.{metric}`: the contract has no input metric {metric!r}"
                f"{_columns_hint(metric, wanted)} (its input metrics: {wanted})"
            )
    missing = [m for m in wanted if m not in given]
    if missing:
        raise ReportSpecError(
            f"`contract.inputs`: the contract needs metrics {missing} that no estimate or "
            f"measurement is mapped to (mapped: {given}; "
            f"estimates: {[e.id for e in spec.estimates]})"
        )
    guards = contract.spec.safeguards
    if guards is None:
        return ()
    groups = [s.id for s in spec.subgroups]
    for name in guards.subgroups:
        if name not in groups:
            raise ReportSpecError(
                f"`equity.subgroups`: the contract's safeguards need subgroup {name!r}; "
                f"define it (subgroups defined: {groups})"
            )
    if guards.max_exclusion_share is not None and spec.data.exclude is None:
        raise ReportSpecError(
            "`data.exclude`: the contract limits exclusions (max_exclusion_share); name the "
            "0/1 column that flags excluded rows"
        )
    if guards.max_refusal_share is not None and spec.data.refused is None:
        raise ReportSpecError(
            "`data.refused`: the contract limits refusals (max_refusal_share); name the 0/1 "
            "column that flags refusals"
        )
    metric_ids = {m.id for m in contract.spec.metrics}
    own = [r.indicator for r in guards.basket if r.indicator not in metric_ids]
    if own:
        raise ReportSpecError(
            f"`contract.path`: the contract's basket needs indicators {own} that are not "
            "contract metrics; reports can only supply metrics"
        )
    return tuple(guards.subgroups)


def _check_interval_rules(spec: ReportSpec, ref: ContractRef, contract: Any) -> None:
    """A synthetic control (or multisynth without inference) has no standard error:
    refuse rules that need an interval."""
    if spec.design != "synth":
        return
    if spec.estimator.name == "synthetic_control":
        why = (
            "synthetic_control gives no standard error to form it (its uncertainty is "
            "the placebo test and the prediction intervals); use design.estimator = "
            "'synthetic_did' (placebo standard errors) or a rule on the point estimate"
        )
    elif spec.estimator.name == "multisynth" and (
        dict(spec.estimator.options).get("inference") == "none"
    ):
        why = (
            "multisynth with `design.options.inference = 'none'` gives no standard error "
            "to form it; drop that option (the jackknife is the default) or use a rule on "
            "the point estimate"
        )
    else:
        return
    for m in ref.inputs:
        if m.estimate is None or m.metric not in contract.input_metrics:
            continue
        metric = contract.spec.metric(m.metric)
        if metric.statistic == "lower_bound" or metric.gate == "significance":
            raise ReportSpecError(
                f"`contract.inputs.{m.metric}`: the contract decides {m.metric!r} on an "
                f"interval (statistic={metric.statistic!r}, gate={metric.gate!r}), but {why}"
            )


def check_spec(spec: str | Path | ReportSpec) -> tuple[ReportSpec, tuple[str, ...]]:
    """Validate a spec against its data and contract without writing anything.

    Returns the parsed spec and the contract's safeguard subgroups (empty without any).

    Raises
    ------
    ReportSpecError
        A missing file or column, an unknown design or estimator, a filter that selects
        nothing, or a contract whose input metrics do not match the mapped estimates.
    """
    parsed = load_spec(spec)
    data = _read(parsed)
    _check_columns(parsed, data)
    _check_rows(parsed, data)
    subgroups = _check_contract(parsed)
    return parsed, subgroups


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def build_report(
    spec: str | Path | ReportSpec,
    output_dir: str | Path,
    *,
    name: str | None = None,
    progress: bool = False,
    timeout: int = 600,
) -> ReportPaths:
    """Build an evaluation report: an executed notebook and its HTML.

    Parameters
    ----------
    spec : str, pathlib.Path or ReportSpec
        The report spec: a ``.toml`` path, TOML text, or a parsed spec (see
        :mod:`impacteval.reporting.spec` for the schema).
    output_dir : str or pathlib.Path
        Folder for ``<name>.ipynb`` and ``<name>.html`` (created if needed); the notebook
        runs with this folder as its working directory, so its data paths are relative
        to it.
    name : str, optional
        File stem; default the spec file's stem (``report`` for TOML text).
    progress : bool, default False
        Print the steps and a per-cell progress bar (tqdm) to stderr.
    timeout : int, default 600
        Seconds allowed per cell.

    Returns
    -------
    ReportPaths
        ``.notebook`` and ``.html``.

    Raises
    ------
    ReportSpecError
        The spec does not fit its data or contract; raised before anything is written.
    ReportExecutionError
        A cell failed; the message gives the cell's error. Nothing is written: the build
        happens in a temporary sibling folder that is removed on failure.

    Notes
    -----
    Sections: 1 data (rows, units, periods, missingness, rows excluded and why), 2 design
    diagnostics, 3 estimates, 4 robustness (alternative estimators), 5 equity cells with
    small-cell masking, 6 settlement and payment risk (with a contract), 7 audit appendix
    (SHA-256 of the inputs, package versions, seeds). Randomness comes only from the
    spec's seed, and the kernel runs with ``PYTHONHASHSEED=0`` and single-threaded BLAS,
    so the same spec and data give the same numbers in every run.
    """
    started = time.perf_counter()
    _say(progress, "checking the spec, its data and its contract ...")
    parsed, contract_subgroups = check_spec(spec)
    out = Path(output_dir).expanduser().resolve()
    stem = name or (parsed.source.stem if parsed.source is not None else "report")
    # everything is built in a sibling folder (same parent, so the notebook's relative
    # paths resolve identically) and moved into `out` only when the build succeeded
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        written = _build_in(
            parsed, contract_subgroups, out, work, stem, progress=progress, timeout=timeout
        )
        out.mkdir(parents=True, exist_ok=True)
        for path in written:
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    nb_path, html_path = out / f"{stem}.ipynb", out / f"{stem}.html"
    _say(progress, f"done in {time.perf_counter() - started:.1f} s")
    return ReportPaths(nb_path, html_path)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _page_one(notebook: Any) -> tuple[str, str] | None:
    """The decision cell's HTML and verdict (None without a contract)."""
    for cell in notebook.cells:
        if cell.cell_type != "code" or "decision" not in cell.metadata.get("tags", []):
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "text/html" in data:
                verdict = str(data.get("application/json", {}).get("verdict", ""))
                return str(data["text/html"]), verdict
    return None


def _execute(notebook: Any, out: Path, work: Path, *, progress: bool, timeout: int) -> None:
    """Run every cell in ``work`` (a progress bar on stderr if asked); refuse on an error."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    n_code = sum(1 for c in notebook.cells if c.cell_type == "code")
    bar: Any = None
    hook: Callable[..., None] | None = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_code, desc="executing", unit="cell", file=sys.stderr)

        def hook(**_: Any) -> None:
            bar.update(1)

    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
        on_cell_executed=hook,
    )
    env = {**os.environ, **KERNEL_ENV}
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        text = _ANSI.sub("", str(exc)).replace(str(work), str(out))
        raise ReportExecutionError(
            f"a cell of the report failed; nothing was written to {out}\n{text}"
        ) from None
    finally:
        if bar is not None:
            bar.close()


def _insert_page_one(notebook: Any) -> None:
    """Show page one (the decision cell's output) as a markdown cell after the title."""
    import nbformat

    page = _page_one(notebook)
    if page is None:
        return
    body, verdict = page
    notebook.metadata["impacteval"]["verdict"] = verdict
    note = (
        '\n\n<p class="ie-note"><em>Page one is generated from the cell tagged '
        "<code>decision</code> at the end of section 6; every number on it is computed "
        "there.</em></p>"
    )
    cell = nbformat.v4.new_markdown_cell(body + note)  # type: ignore[no-untyped-call]
    cell.metadata["tags"] = ["page-one"]
    notebook.cells.insert(1, cell)


def _build_in(
    parsed: ReportSpec,
    contract_subgroups: tuple[str, ...],
    out: Path,
    work: Path,
    stem: str,
    *,
    progress: bool,
    timeout: int,
) -> list[Path]:
    """Write, execute and export the report in ``work``; return the files written."""
    import nbformat
    from nbconvert import HTMLExporter

    written = []
    spec_file = parsed.source
    if spec_file is None:  # TOML text: keep a copy beside the report, for the audit
        spec_copy = work / f"{stem}.spec.toml"
        spec_copy.write_text(parsed.text, encoding="utf-8")
        written.append(spec_copy)
        spec_file = out / spec_copy.name
    notebook = make_notebook(parsed, plan_for(parsed, out, spec_file, contract_subgroups))
    _execute(notebook, out, work, progress=progress, timeout=timeout)
    _insert_page_one(notebook)
    nb_path = work / f"{stem}.ipynb"
    html_path = work / f"{stem}.html"
    _say(progress, f"writing {out / nb_path.name}")
    nbformat.write(notebook, nb_path)  # type: ignore[no-untyped-call]
    _say(progress, f"exporting {out / html_path.name} (code hidden; the notebook keeps it)")
    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    reader = copy.deepcopy(notebook)
    for cell in reader.cells:  # page one is shown once, at the top
        if "decision" in cell.metadata.get("tags", []):
            cell.outputs = []
    body, _ = exporter.from_notebook_node(reader)  # type: ignore[no-untyped-call]
    html_path.write_text(_reader_html(body), encoding="utf-8")
    return [*written, nb_path, html_path]


_READER_CSS = """<style>
.ie-verdict{font-size:1.15em;line-height:1.45;border-left:4px solid #1f6f43;padding:.4em .8em;
background:#eef7f1}
table.ie-table{border-collapse:collapse;margin:.6em 0;font-size:.9em;table-layout:auto;
max-width:100%}
table.ie-table td,table.ie-table th{border:1px solid #ccc;padding:.25em .45em;
vertical-align:top;text-align:left !important;overflow-wrap:break-word}
table.ie-chain td:first-child{white-space:nowrap}
table.ie-identity td{font-family:monospace;font-size:.85em}
.ie-caution{border-left:4px solid #b8860b;background:#fff8e6;padding:.2em .8em;margin:.6em 0}
.jp-OutputArea-output pre{white-space:pre-wrap;overflow-wrap:anywhere}
.jp-RenderedHTMLCommon table{max-width:100%;display:block;overflow-x:auto}
.jp-OutputArea-output table td,.jp-OutputArea-output table th{font-size:11px;
padding:2px 4px !important;white-space:normal !important}
.jp-OutputArea-output table thead th{overflow-wrap:anywhere;max-width:9em}
.jp-RenderedImage img{max-width:100%;height:auto}
</style>
"""


def _reader_html(body: str) -> str:
    """The exported HTML with the report's own styles (verdict, chain table, cautions)."""
    return body.replace("</head>", _READER_CSS + "</head>", 1)


#: flags for headless Chromium on a machine with no network and no display (also used by the
#: browser tests): no sandbox as root, no GPU, no background connections
CHROMIUM_HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def print_pdf(html: str | Path, pdf: str | Path | None = None, *, timeout: int = 120) -> Path:
    """Print a built report's HTML to PDF with headless Chromium (when it is installed).

    Parameters
    ----------
    html : str or pathlib.Path
        The report's ``.html``.
    pdf : str or pathlib.Path, optional
        Where to write; default beside the HTML with the suffix ``.pdf``.
    timeout : int, default 120
        Seconds allowed.

    Raises
    ------
    ReportExecutionError
        No ``chromium`` on the PATH, or Chromium failed.
    """
    import subprocess

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise ReportExecutionError(
            "`pdf`: printing to PDF needs headless Chromium (Debian: apt-get install chromium)"
        )
    source = Path(html).expanduser().resolve()
    target = Path(pdf).expanduser().resolve() if pdf is not None else source.with_suffix(".pdf")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                exe,
                *CHROMIUM_HEADLESS_FLAGS,
                f"--user-data-dir={profile}",
                "--no-pdf-header-footer",
                f"--print-to-pdf={target}",
                source.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0 or not target.is_file():
        raise ReportExecutionError(
            f"`pdf`: Chromium could not print {source} ({done.stderr[-300:]})"
        )
    return target
