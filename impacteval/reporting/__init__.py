"""Reports: executed notebooks and the command-line interface (``impacteval ...``).

``build_report(spec, output_dir)`` turns a report spec (TOML: data, column roles, design,
estimator options, equity subgroups, contract) into an executed Jupyter notebook and its
HTML; ``load_spec`` / ``check_spec`` validate a spec without writing anything. The cells
of a report call the public API and the helpers in :mod:`impacteval.reporting.tables`.
"""

from __future__ import annotations

from impacteval.reporting import tables
from impacteval.reporting.build import ReportPaths, build_report, check_spec
from impacteval.reporting.errors import ReportExecutionError, ReportSpecError
from impacteval.reporting.spec import ReportSpec, load_spec

__all__ = [
    "ReportExecutionError",
    "ReportPaths",
    "ReportSpec",
    "ReportSpecError",
    "build_report",
    "check_spec",
    "load_spec",
    "tables",
]
