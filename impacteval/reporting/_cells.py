"""Building blocks of the report notebook: the cell list and source-text helpers.

Everything here writes *source code* for the notebook; literals from the validated spec are
written with ``repr`` and nothing from the spec is evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import nbformat
from nbformat.notebooknode import NotebookNode

from impacteval.reporting.spec import EstimatorSpec

__all__ = ["Cells", "NotebookPlan", "kwargs_source", "options_source", "predictors_source"]


@dataclass(frozen=True)
class NotebookPlan:
    """Where things are, as seen from the folder the notebook runs in."""

    data_files: tuple[str, ...]
    spec_file: str
    contract_file: str | None
    contract_subgroups: tuple[str, ...] = ()
    categorical_in_covariates: tuple[str, ...] = ()


class Cells:
    """The notebook's cells, appended in order (markdown or tagged code)."""

    def __init__(self) -> None:
        self.cells: list[NotebookNode] = []

    def md(self, text: str) -> None:
        """Append a markdown cell (leading and trailing newlines stripped)."""
        self.cells.append(nbformat.v4.new_markdown_cell(text.strip("\n")))  # type: ignore[no-untyped-call]

    def code(self, text: str, *tags: str) -> None:
        """Append a code cell carrying ``tags`` (for tests and tools that find outputs)."""
        cell = nbformat.v4.new_code_cell(text.strip("\n"))  # type: ignore[no-untyped-call]
        if tags:
            cell.metadata["tags"] = list(tags)
        self.cells.append(cell)


def kwargs_source(pairs: Mapping[str, str | None]) -> str:
    """``k=v, ...`` for the pairs whose value (source text) is not ``None``."""
    return ", ".join(f"{k}={v}" for k, v in pairs.items() if v is not None)


def options_source(est: EstimatorSpec, skip: Sequence[str] = ()) -> dict[str, str]:
    """The estimator's spec options as ``{name: repr(value)}``, minus ``skip``."""
    out: dict[str, str] = {}
    for key, value in est.options:
        if key in skip:
            continue
        out[key] = repr(value)
    return out


def predictors_source(est: EstimatorSpec) -> str | None:
    """The ``predictors`` option as a list literal, one tuple a line (``None`` if absent)."""
    for key, value in est.options:
        if key == "predictors":
            items = []
            for p in value:
                if isinstance(p, Mapping):
                    parts = [repr(p["column"]), repr(p["years"])]
                    if p.get("stat"):
                        parts.append(repr(p["stat"]))
                    items.append("(" + ", ".join(parts) + ")")
                else:
                    items.append(repr(tuple(p)))
            return "[\n    " + ",\n    ".join(items) + ",\n]"
    return None
