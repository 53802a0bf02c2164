"""How a report shows settlement, audit and warnings: readable tables, no raw reprs.

Helpers the report notebook calls after settling: the settlement lines with money written
out, the audit record as two tables (facts and inputs), the warnings raised while the
report ran gathered into one list without file paths, the standard error of a treated
mean (for the delta method of relative reductions) and the trigger lines drawn on an
estimates plot.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from impacteval.exceptions import DataValidationError
from impacteval.reporting.readable import money, readable_frame

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "WarningLog",
    "audit_tables",
    "draw_triggers",
    "mask_counts",
    "settlement_table",
    "treated_mean_se",
    "trigger_levels",
]


def settlement_table(settlement: Any) -> pd.DataFrame:
    """The settlement's lines with amounts as money and values to 4 significant digits."""
    lines = settlement.lines
    out = readable_frame(lines.drop(columns=["amount"]), digits=4)
    out.insert(5, "amount", [money(Decimal(a), settlement.currency) for a in lines["amount"]])
    out.index = pd.Index(lines["component"], name="component")
    return out.drop(columns=["component"])


def audit_tables(audit: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The audit record as a facts table (key, value) and an inputs table (metric x field).

    The record's ``created_at`` timestamp is left out (it is outside every hash and would
    make the report differ from run to run); ``contract_sha256`` is labelled as the
    contract's content hash.
    """
    labels = {
        "contract_sha256": "contract content hash (SHA-256 of the parsed terms)",
        "contract_file_sha256": "contract file SHA-256 (the bytes of the TOML file)",
        "inputs_sha256": "inputs hash (SHA-256 of the canonical inputs)",
        "result_sha256": "result hash (SHA-256 of the lines and total)",
    }
    facts = {}
    currency = str(audit.get("currency", ""))
    for key, value in audit.items():
        if key in ("inputs", "created_at", "timestamp", "safeguards"):
            continue
        if key == "total":
            value = money(Decimal(str(value)), currency)
        elif key == "triggers" and isinstance(value, Mapping):
            value = {
                k: "pending" if v is None else ("met" if v else "not met") for k, v in value.items()
            }
        if isinstance(value, Mapping):
            value = "; ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        facts[labels.get(key, key.replace("_", " "))] = str(value)
    inputs = pd.DataFrame(audit.get("inputs", {})).T
    inputs.index.name = "metric"
    return pd.DataFrame({"value": list(facts.values())}, index=list(facts)), inputs


def treated_mean_se(
    rows: pd.DataFrame, *, outcome: str, treatment: str, multiplier: float = 1.0
) -> float:
    """Standard error of the treated arm's mean of ``outcome`` (times ``multiplier``).

    ``|multiplier| * sd / sqrt(n)`` over the treated rows with an observed outcome.
    """
    treated = rows.loc[rows[treatment] == 1, outcome].dropna()
    if len(treated) < 2:
        raise DataValidationError(
            f"`rows`: the treated mean of {outcome!r} needs >= 2 treated rows; got {len(treated)}"
        )
    return abs(multiplier) * float(treated.std(ddof=1)) / math.sqrt(len(treated))


def trigger_levels(
    contract: Any, inputs: Mapping[str, Any], multipliers: Mapping[str, float]
) -> dict[str, float]:
    """Per metric: the raw estimate (in the estimator's own units) at its trigger threshold.

    A linear metric ``v = k e`` reaches threshold ``h`` at ``e = h / k``; the estimator's
    own scale is ``e / multiplier`` (the spec scaled it into the contract's units).
    """
    from impacteval.payments.inputs import normalise_inputs
    from impacteval.payments.metrics import multiplier

    norm = normalise_inputs(contract.spec, inputs, partial=True)
    out = {}
    for trig in contract.spec.triggers:
        if trig.metric not in norm or trig.metric in out:
            continue
        k = float(multiplier(contract.spec.metric(trig.metric), norm[trig.metric]))
        if k:
            out[trig.metric] = float(trig.threshold) / k / multipliers.get(trig.metric, 1.0)
    return out


def draw_triggers(ax: Axes, positions: Mapping[str, int], levels: Mapping[str, float]) -> None:
    """Short dashed red lines at each estimate's trigger level (``positions``: x index)."""
    from impacteval.plotting.payments import TriggerLinesDisplay

    TriggerLinesDisplay(dict(positions), dict(levels)).draw(ax)


def mask_counts(
    frame: pd.DataFrame,
    min_cell_size: int,
    *,
    counts: list[str],
    linked: Mapping[str, list[str]] | None = None,
) -> pd.DataFrame:
    """``frame`` as readable strings with counts ``1 .. min_cell_size - 1`` masked.

    ``linked`` names, per count column, the columns that would reveal a masked count
    (a share of a shown total, say); they are masked in the same rows.

    Examples
    --------
    >>> t = pd.DataFrame({"n": [974, 19136], "n_outside": [2, 55], "share_outside": [0.002, 0.003]})
    >>> mask_counts(t, 10, counts=["n", "n_outside"], linked={"n_outside": ["share_outside"]})
            n n_outside share_outside
    0     974       <10        masked
    1  19,136        55         0.003
    """
    out = readable_frame(frame)
    for col in counts:
        if col not in frame.columns:
            continue
        small = (frame[col] > 0) & (frame[col] < min_cell_size)
        out.loc[small, col] = f"<{min_cell_size}"
        for other in (linked or {}).get(col, []):
            if other in out.columns:
                out.loc[small, other] = "masked"
    return out


class WarningLog:
    """Collects warnings while a report runs; shows them once, without file paths.

    Install with ``warnings.showwarning = log.record``; ``log.table()`` lists each distinct
    warning (category, message, where: the module, not a temporary file) and its count.
    """

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}

    def record(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        """Drop-in for :func:`warnings.showwarning`."""
        key = (category.__name__, str(message))
        self.seen[key] = self.seen.get(key, 0) + 1

    def install(self) -> WarningLog:
        """Route every warning to this log (returns the log)."""
        warnings.showwarning = self.record
        return self

    def table(self) -> pd.DataFrame | str:
        """The distinct warnings and their counts, or a sentence when there were none."""
        if not self.seen:
            return "no warnings were raised while the report ran"
        rows = [{"warning": k[0], "message": k[1], "times": n} for k, n in self.seen.items()]
        return pd.DataFrame(rows)
