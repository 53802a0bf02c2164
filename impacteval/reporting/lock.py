"""Analysis plans locked before outcomes are seen: write and verify a lock file.

``impacteval lock SPEC CONTRACT`` writes ``SPEC.lock.json`` holding the SHA-256 of the report
spec, of the contract (its canonical parsed form), the package version and the SHA-256 of
the *pre-outcome* data only: the unit id, assignment and covariate columns (and the columns
the spec subsets on), never the outcome. It also records the analysis choices themselves
(design, estimator, options, covariates, outcome, estimates) so a later change is listed
in words, not only as a changed hash.

:func:`verify_lock` compares a spec (and its contract and data) with the lock and returns a
:class:`LockStatus`: ``verified`` or the list of deviations (a changed option, an added or
removed covariate, a different estimator, another contract, changed pre-outcome data).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from impacteval._version import __version__
from impacteval.exceptions import DataValidationError

__all__ = [
    "LOCK_VERSION",
    "LockStatus",
    "file_sha256",
    "lock_path_for",
    "plan_status",
    "verify_lock",
    "write_lock",
]

LOCK_VERSION = 1


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, Decimal | dt.date | dt.datetime | dt.time):
        return str(value)
    return value


def _sha(value: Any) -> str:
    text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lock_path_for(spec_path: str | Path) -> Path:
    """Default lock file next to the spec: ``<spec>.lock.json``."""
    p = Path(spec_path)
    return p.with_name(p.name + ".lock.json")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise DataValidationError(f"`{what}`: cannot read {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataValidationError(f"`{what}`: {path} is not valid TOML: {exc}") from None


def _analysis(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The analysis choices of a report spec (everything that decides the estimate)."""
    columns = dict(doc.get("columns", {}))
    design = dict(doc.get("design", {}))
    out: dict[str, Any] = _canonical(
        {
            "design": design.get("type"),
            "estimator": design.get("estimator"),
            "options": dict(design.get("options", {})),
            "outcome": columns.get("outcome"),
            "treatment": columns.get("treatment"),
            "unit": columns.get("unit"),
            "covariates": list(columns.get("covariates", [])),
            "columns": {
                k: v
                for k, v in columns.items()
                if k not in ("covariates", "outcome", "treatment", "unit")
            },
            "estimates": list(doc.get("estimates", [])),
            "data": {k: v for k, v in dict(doc.get("data", {})).items() if k != "path"},
            "equity": dict(doc.get("equity", {})),
            "contract_inputs": dict(dict(doc.get("contract", {})).get("inputs", {})),
        }
    )
    return out


def _pre_outcome_columns(doc: Mapping[str, Any]) -> list[str]:
    columns = dict(doc.get("columns", {}))
    outcome = columns.get("outcome")
    names: list[str] = []
    for key, value in columns.items():
        if key == "outcome":
            continue
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str):
                names.append(v)
    for est in doc.get("estimates", []):
        names.extend(str(k) for k in dict(est.get("where", {})))
    data = dict(doc.get("data", {}))
    for key in ("exclude", "exclusion_reason"):
        if isinstance(data.get(key), str):
            names.append(data[key])
    return sorted({n for n in names if n != outcome})


def _data_hash(doc: Mapping[str, Any], base: Path) -> dict[str, Any]:
    import pandas as pd

    data = dict(doc.get("data", {}))
    if "path" not in data:
        return {"path": None, "columns": [], "sha256": None, "n_rows": None}
    path = (base / str(data["path"])).resolve()
    wanted = _pre_outcome_columns(doc)
    try:
        header = pd.read_csv(path, nrows=0).columns
    except OSError as exc:
        raise DataValidationError(f"`data.path`: cannot read {str(path)!r}: {exc}") from None
    cols = [c for c in wanted if c in header]
    frame = pd.read_csv(path, usecols=cols)[cols]
    text = frame.to_csv(index=False, lineterminator="\n")
    return {
        "path": str(data["path"]),
        "columns": cols,
        "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "n_rows": len(frame),
    }


def _contract_hash(contract_path: Path) -> str:
    from impacteval.payments import Contract

    return Contract.from_toml(contract_path).sha256


def _snapshot(spec_path: Path, contract_path: Path) -> dict[str, Any]:
    doc = _read_toml(spec_path, "spec")
    return {
        "lock_version": LOCK_VERSION,
        "package_version": __version__,
        "spec": {"path": spec_path.name, "sha256": _sha(doc), "analysis": _analysis(doc)},
        "contract": {"path": str(contract_path), "sha256": _contract_hash(contract_path)},
        "pre_outcome_data": _data_hash(doc, spec_path.parent),
    }


def write_lock(
    spec_path: str | Path, contract_path: str | Path, lock_path: str | Path | None = None
) -> Path:
    """Write the lock file of a spec and contract; returns its path.

    The lock holds hashes only of data available before outcomes (see the module notes).
    """
    spec_p, contract_p = Path(spec_path), Path(contract_path)
    out = Path(lock_path) if lock_path is not None else lock_path_for(spec_p)
    record = _snapshot(spec_p, contract_p)
    record["locked_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class LockStatus:
    """Whether the analysis matches its pre-registered (locked) plan.

    Attributes
    ----------
    verified : bool
        True when no deviation was found.
    deviations : tuple of str
        Every deviation, in words.
    notes : tuple of str
        Differences that do not change the analysis (package version, spec layout).
    locked_at : str
        When the lock was written (UTC).
    """

    verified: bool
    deviations: tuple[str, ...]
    notes: tuple[str, ...]
    locked_at: str
    lock_path: str

    def as_markdown(self) -> str:
        """A short Markdown section for page one of a report."""
        if self.verified:
            text = (
                f"**Pre-registered plan: verified** (locked {self.locked_at}, `{self.lock_path}`)."
            )
        else:
            items = "\n".join(f"- {d}" for d in self.deviations)
            text = (
                f"**Pre-registered plan: {len(self.deviations)} deviation(s)** from the plan "
                f"locked {self.locked_at} (`{self.lock_path}`):\n\n{items}"
            )
        if self.notes:
            text += "\n\nNotes: " + "; ".join(self.notes) + "."
        return text


def _diff_analysis(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for key in ("design", "estimator", "outcome", "treatment", "unit"):
        if old.get(key) != new.get(key):
            out.append(f"different {key}: {old.get(key)!r} locked, {new.get(key)!r} now")
    o_opts, n_opts = dict(old.get("options", {})), dict(new.get("options", {}))
    for k in sorted(set(o_opts) | set(n_opts)):
        if o_opts.get(k) != n_opts.get(k):
            out.append(
                f"changed option `{k}`: {o_opts.get(k, '(unset)')!r} locked, "
                f"{n_opts.get(k, '(unset)')!r} now"
            )
    o_cov, n_cov = list(old.get("covariates", [])), list(new.get("covariates", []))
    out += [f"added covariate {c!r}" for c in n_cov if c not in o_cov]
    out += [f"removed covariate {c!r}" for c in o_cov if c not in n_cov]
    for key in ("columns", "estimates", "data", "equity", "contract_inputs"):
        if old.get(key) != new.get(key):
            out.append(f"changed `{key}` section of the spec")
    return out


def verify_lock(
    lock_path: str | Path, spec_path: str | Path, contract_path: str | Path | None = None
) -> LockStatus:
    """Compare a spec, its contract and its pre-outcome data with a lock file.

    Parameters
    ----------
    lock_path : path
        The lock written by :func:`write_lock` (``impacteval lock``).
    spec_path : path
        The report spec as it is now.
    contract_path : path, optional
        The contract as it is now; default: the spec's ``[contract].path``, else the
        path recorded in the lock.

    Returns
    -------
    LockStatus
    """
    lock_p, spec_p = Path(lock_path), Path(spec_path)
    try:
        lock = json.loads(lock_p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataValidationError(
            f"`lock_path`: cannot read lock file {str(lock_p)!r}: {exc}"
        ) from None
    if contract_path is None:
        doc = _read_toml(spec_p, "spec")
        ref = dict(doc.get("contract", {})).get("path")
        contract_path = spec_p.parent / str(ref) if ref else Path(lock["contract"]["path"])
    now = _snapshot(spec_p, Path(contract_path))
    deviations = _diff_analysis(lock["spec"]["analysis"], now["spec"]["analysis"])
    notes: list[str] = []
    if lock["contract"]["sha256"] != now["contract"]["sha256"]:
        deviations.append("the contract differs from the locked contract (SHA-256 changed)")
    old_data, new_data = lock["pre_outcome_data"], now["pre_outcome_data"]
    if old_data["sha256"] != new_data["sha256"]:
        deviations.append(
            "pre-outcome data (assignment and covariates) differ from the locked data "
            f"({old_data['n_rows']} rows locked, {new_data['n_rows']} now)"
        )
    if lock["spec"]["sha256"] != now["spec"]["sha256"] and not deviations:
        notes.append("the spec text changed outside the analysis choices (e.g. title)")
    if lock["package_version"] != now["package_version"]:
        notes.append(
            f"impacteval {now['package_version']} now, {lock['package_version']} when locked"
        )
    return LockStatus(
        verified=not deviations,
        deviations=tuple(deviations),
        notes=tuple(notes),
        locked_at=str(lock.get("locked_at", "")),
        lock_path=lock_p.name,
    )


def plan_status(spec_path: str | Path, contract_path: str | Path | None = None) -> str:
    """The pre-registration line of a report's page one, in words.

    Reads the lock file beside the spec (:func:`lock_path_for`). Without one the line says
    the plan was not locked; with one it says "verified" or lists every deviation, so a
    changed analysis is visible on page one rather than in an appendix.

    Parameters
    ----------
    spec_path : path
        The report spec the report was built from.
    contract_path : path, optional
        The contract as it is now (default: the spec's ``[contract].path``).

    Returns
    -------
    str
        One line for the page-one facts table.
    """
    lock = lock_path_for(spec_path)
    if not lock.is_file():
        return f"not locked (no {lock.name} beside the spec; `impacteval lock SPEC CONTRACT`)"
    status = verify_lock(lock, spec_path, contract_path)
    if status.verified:
        return f"verified against the plan locked {status.locked_at} ({lock.name})"
    items = "; ".join(status.deviations)
    return f"{len(status.deviations)} deviation(s) from the plan locked {status.locked_at}: {items}"
