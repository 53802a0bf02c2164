"""Locating, verifying, downloading and caching dataset files.

Repository-sourced datasets are never committed. They are read, in this order, from
``$IMPACTEVAL_DATA_DIR`` (no network), from the cache (``$XDG_CACHE_HOME/impacteval`` or
``~/.cache/impacteval``) or from their pinned URL (never when ``$IMPACTEVAL_OFFLINE`` is set
to anything but ``0``); every file is checked against a pinned SHA-256 before it is parsed.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from impacteval.datasets._registry import DatasetInfo
from impacteval.exceptions import DataUnavailableError, DataValidationError

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "ENV_VAR",
    "OFFLINE_VAR",
    "cache_dir",
    "read_remote",
    "sample_dir",
    "sha256_file",
]

ENV_VAR = "IMPACTEVAL_DATA_DIR"
#: set to anything but "" or "0" to never download (fail at once with the instructions)
OFFLINE_VAR = "IMPACTEVAL_OFFLINE"
DOWNLOAD_TIMEOUT = 30.0
_RDA_READERS = ("rdata", "pyreadr")

# The URL opener; tests replace it (monkeypatch) to serve a local file.
_urlopen: Any = urllib.request.urlopen


def sample_dir() -> Path:
    """Return the ``data/sample`` folder: inside the installed package (wheel), or the
    repository's own (editable install); see :func:`impacteval._resources.resource_dir`."""
    from impacteval._resources import resource_dir

    return resource_dir("data/sample")


def cache_dir() -> Path:
    """Return the download cache: ``$XDG_CACHE_HOME/impacteval`` or ``~/.cache/impacteval``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "impacteval"


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 digest of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str | None, info: DatasetInfo, hint: str) -> None:
    if expected is None:
        return
    got = sha256_file(path)
    if got != expected:
        raise DataValidationError(
            f"SHA-256 mismatch for {path} (dataset {info.name!r}): expected {expected}, "
            f"got {got}. The file is not the pinned version; {hint}"
        )


def _source_name(info: DatasetInfo) -> str:
    return f"{info.name}.{info.source_format}"


def _rda_reader_available() -> bool:
    return any(importlib.util.find_spec(mod) is not None for mod in _RDA_READERS)


def _read_rda(path: Path, info: DatasetInfo) -> pd.DataFrame:
    """Read the single data frame of an .rda file with ``rdata`` or ``pyreadr``."""
    frame: Any = None
    for mod_name in _RDA_READERS:
        if importlib.util.find_spec(mod_name) is None:
            continue
        mod = importlib.import_module(mod_name)
        with warnings.catch_warnings():  # rdata warns about tibble classes it maps to frames
            warnings.simplefilter("ignore")
            if mod_name == "rdata":
                if hasattr(mod, "read_rda"):
                    objects = mod.read_rda(str(path))
                else:  # rdata < 0.10
                    objects = mod.conversion.convert(mod.parser.parse_file(str(path)))
            else:
                objects = mod.read_r(str(path))
        frame = objects.get(info.name, next(iter(objects.values()), None))
        break
    else:
        raise DataUnavailableError(_no_reader_message(info))
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(
            f"{path} does not hold a data frame named {info.name!r}; got {type(frame).__name__}."
        )
    out = pd.DataFrame(frame).reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]  # rdata gives numpy string scalars
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            # Plain strings with NaN for missing, as read_csv gives (pandas 3: "str" dtype).
            values = [v if isinstance(v, str) else np.nan for v in out[col].tolist()]
            out[col] = pd.Series(np.array(values, dtype=object), index=out.index)
    if info.sort_by:
        out = out.sort_values(list(info.sort_by), kind="mergesort").reset_index(drop=True)
    return out


def _parse(path: Path, info: DatasetInfo) -> pd.DataFrame:
    if info.source_format == "rda":
        return _read_rda(path, info)
    return pd.read_csv(path)


def _no_reader_message(info: DatasetInfo) -> str:
    return (
        f"Dataset {info.name!r} is published as an R .rda file; reading it needs the optional "
        f"package 'rdata' or 'pyreadr' (pip install rdata). Alternatively put {info.name}.csv "
        f"(SHA-256 {info.csv_sha256}) in a folder and set the environment variable {ENV_VAR} "
        "to that folder."
    )


def _unavailable_message(info: DatasetInfo, reason: str) -> str:
    where = cache_dir() / _source_name(info)
    lines = [
        f"Dataset {info.name!r} is not shipped with impacteval (it comes from a public "
        f"repository, not a package registry), is not in {ENV_VAR} or the cache, and could "
        f"not be downloaded: {reason}.",
        f"Get it from {info.url} (SHA-256 {info.source_sha256}) and either",
        f"  - save it as {_source_name(info)} in a folder and set {ENV_VAR} to that folder, "
        f"e.g. `export {ENV_VAR}=/path/to/folder` (Windows: `set {ENV_VAR}=C:\\path`), or",
        f"  - save it as {where}.",
    ]
    if info.source_format != "csv":
        lines.append(
            f"Reading the .{info.source_format} file needs 'rdata' or 'pyreadr'; a "
            f"{info.name}.csv with SHA-256 {info.csv_sha256} in {ENV_VAR} works without them."
        )
    return "\n".join(lines)


def _from_env(info: DatasetInfo) -> Path | None:
    folder = os.environ.get(ENV_VAR)
    if not folder:
        return None
    csv = Path(folder).expanduser() / f"{info.name}.csv"
    if csv.is_file():
        return csv
    source = Path(folder).expanduser() / _source_name(info)
    return source if source.is_file() else None


def _download(info: DatasetInfo) -> bytes:
    if info.url is None:  # pragma: no cover - registry invariant
        raise DataUnavailableError(f"Dataset {info.name!r} has no download URL.")
    try:
        with _urlopen(info.url, timeout=DOWNLOAD_TIMEOUT) as response:
            data: bytes = response.read()
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        raise DataUnavailableError(_unavailable_message(info, repr(exc))) from exc
    got = hashlib.sha256(data).hexdigest()
    if got != info.source_sha256:
        raise DataValidationError(
            f"SHA-256 mismatch for the download of {info.name!r} from {info.url}: expected "
            f"{info.source_sha256}, got {got}. Nothing was cached."
        )
    return data


def _store(data: bytes, info: DatasetInfo) -> Path:
    """Write verified bytes to the cache atomically; use a temporary folder if it is read-only."""
    target = cache_dir() / _source_name(info)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{info.name}-", suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(target)
        return target
    except OSError:
        fallback = Path(tempfile.mkdtemp(prefix="impacteval-")) / _source_name(info)
        fallback.write_bytes(data)
        return fallback


def read_remote(info: DatasetInfo) -> pd.DataFrame:
    """Read a repository-sourced dataset from ``$IMPACTEVAL_DATA_DIR``, the cache or its URL.

    Parameters
    ----------
    info : DatasetInfo
        Registry entry with ``url`` and the pinned digests.

    Returns
    -------
    pandas.DataFrame
        The parsed file (dtypes not yet normalised).

    Raises
    ------
    DataValidationError
        If a local, cached or downloaded file does not match its pinned SHA-256.
    DataUnavailableError
        If the file is found nowhere and cannot be downloaded, or an .rda file cannot be
        read because neither ``rdata`` nor ``pyreadr`` is installed.
    """
    local = _from_env(info)
    if local is not None:
        expected = info.csv_sha256 if local.suffix == ".csv" else info.source_sha256
        _verify(local, expected, info, "replace it with the pinned file (see describe(name)).")
        if local.suffix == ".csv":
            return pd.read_csv(local)
        return _parse(local, info)

    cached = cache_dir() / _source_name(info)
    if cached.is_file():
        _verify(cached, info.source_sha256, info, "delete it so that it is downloaded again.")
        return _parse(cached, info)

    if info.source_format == "rda" and not _rda_reader_available():
        raise DataUnavailableError(_no_reader_message(info))
    if os.environ.get(OFFLINE_VAR, "").strip() not in ("", "0"):
        raise DataUnavailableError(
            _unavailable_message(info, f"downloads are switched off ({OFFLINE_VAR} is set)")
        )
    path = _store(_download(info), info)
    return _parse(path, info)
