"""The report spec's ``[design] prediction_intervals`` key (synthetic control, scpi).

``prediction_intervals = true`` asks for scpi prediction intervals (Cattaneo, Feng &
Titiunik 2021) at the report's level with scpi's defaults; a table sets them::

    prediction_intervals = { level = 0.9, out_of_sample = "gaussian", n_sims = 200 }

``level`` is the coverage of the combined (in-sample + out-of-sample) interval for the
counterfactual ``Y(0)`` (default: the report's ``design.level``), ``out_of_sample`` the model
of the outcome shock (``"gaussian"``, ``"ls"`` location-scale or ``"qreg"`` quantile
regression), ``n_sims`` the draws of the in-sample bounds (at least 50). The intervals are
defined for a plain synthetic control (simplex weights): the key is refused for another
design or estimator and for an augmented primary fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from impacteval._toml import TomlTable, did_you_mean, kind_of
from impacteval.reporting.errors import ReportSpecError

__all__ = ["OUT_OF_SAMPLE", "check_intervals_fit", "read_prediction_intervals"]

#: models of the out-of-sample error ``SyntheticControl.prediction_intervals`` knows
OUT_OF_SAMPLE = ("gaussian", "ls", "qreg")
_EXAMPLE = '{level = 0.9, out_of_sample = "gaussian", n_sims = 200}'


class _Table(TomlTable):
    error = ReportSpecError
    truncate = False


def _level(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ReportSpecError(f"`{path}` must be strictly between 0 and 1; received {value!r}")
    return float(value)


def _sims(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 50:
        raise ReportSpecError(f"`{path}` must be an integer >= 50; received {value!r}")
    return value


def _choice(value: object, path: str) -> str:
    if not isinstance(value, str) or value not in OUT_OF_SAMPLE:
        hint = did_you_mean(value, OUT_OF_SAMPLE) if isinstance(value, str) else ""
        raise ReportSpecError(
            f"`{path}` must be one of {list(OUT_OF_SAMPLE)}; received {value!r}{hint}"
        )
    return value


def read_prediction_intervals(value: object, path: str) -> dict[str, Any]:
    """``{level, out_of_sample, n_sims}`` from ``true`` or a table (``level`` None: the
    report's level)."""
    if value is True:
        return {"level": None, "out_of_sample": "gaussian", "n_sims": 200}
    if not isinstance(value, dict):
        raise ReportSpecError(
            f"`{path}` must be true or a table {_EXAMPLE}; received {kind_of(value)} {value!r}"
            + (" (leave the key out for no intervals)" if value is False else "")
        )
    t = _Table(value, path)
    out = {
        "level": t.get("level", _level, None),
        "out_of_sample": t.get("out_of_sample", _choice, "gaussian"),
        "n_sims": t.get("n_sims", _sims, 200),
    }
    t.finish()
    return out


def check_intervals_fit(design: str, estimator: str, options: Mapping[str, Any]) -> None:
    """Refuse prediction intervals where scpi's theory does not apply (see the module)."""
    if design != "synth" or estimator != "synthetic_control":
        raise ReportSpecError(
            "`design.prediction_intervals`: scpi prediction intervals are defined for design "
            f"'synth' with estimator 'synthetic_control'; received design {design!r} with "
            f"estimator {estimator!r}"
        )
    augment = options.get("augment")
    if augment is not None:
        raise ReportSpecError(
            "`design.prediction_intervals`: the intervals are for the simplex weights, but "
            f"the primary synthetic control is augmented (augment = {augment!r}); drop "
            "`augment` from design.options to show them"
        )
