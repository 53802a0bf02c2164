"""Example datasets and simulators with known true effects.

Three kinds of data are available through :func:`load`:

- registry-sourced study data shipped in the repository's ``data/sample`` folder
  (``nsw_dw``, ``cps1_controls``, ``lalonde_psid``, ``mpdta``);
- repository-sourced study data that may not be redistributed here (``smoking``,
  ``basque``, ``card_krueger``): read from ``$IMPACTEVAL_DATA_DIR`` when it holds the file,
  else from the cache, else downloaded from a pinned URL and checked against a pinned
  SHA-256;
- simulated outcome-contract evaluations (``sib_reoffending``, ``dib_learning``), written
  to ``data/sample`` by ``scripts/make_sample_data.py`` from :func:`simulate_reoffending`
  and :func:`simulate_school_trial` at their default seeds.
"""

from __future__ import annotations

import difflib
from typing import Any

import numpy as np
import pandas as pd

from impacteval.datasets._fetch import read_remote, sample_dir
from impacteval.datasets._registry import REGISTRY, DatasetInfo
from impacteval.datasets.simulate import simulate_reoffending, simulate_school_trial
from impacteval.exceptions import DataUnavailableError, DataValidationError

__all__ = ["describe", "load", "names", "simulate_reoffending", "simulate_school_trial"]

_SIMULATED_ATTRS: dict[str, dict[str, Any]] = {
    "sib_reoffending": {
        "true_effect": -0.10,
        "true_rate_ratio": 0.90,
        "estimand": "relative change in expected reconviction events within 12 months "
        "(rate ratio - 1); constant, so ATT = ATE",
        "seed": 20101,
    },
    "dib_learning": {
        # simulate_school_trial().attrs["true_effect"]; a unit test keeps the two in step.
        "true_effect": 0.2717685620635599,
        "true_effect_observed": 0.2694805194805195,
        "latent_effect": 0.30,
        "true_effect_enrolled": 0.05,
        "estimand": "sample average treatment effect on endline_level (all girls)",
        "seed": 20151,
    },
}


def names() -> list[str]:
    """Return the names of all datasets :func:`load` knows.

    Returns
    -------
    list of str
        Registry-sourced samples, repository-sourced data and simulated data, in that order.

    Examples
    --------
    >>> from impacteval import datasets
    >>> "nsw_dw" in datasets.names()
    True
    """
    return list(REGISTRY)


def _info(name: str) -> DatasetInfo:
    if not isinstance(name, str) or name not in REGISTRY:
        close = difflib.get_close_matches(str(name), list(REGISTRY), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataValidationError(
            f"`name` must be one of {', '.join(REGISTRY)}; got {name!r}.{hint}"
        )
    return REGISTRY[name]


def describe(name: str) -> dict[str, Any]:
    """Describe a dataset: origin, licence, citation, columns and how it is obtained.

    Parameters
    ----------
    name : str
        A name from :func:`names`.

    Returns
    -------
    dict
        Keys ``name``, ``source``, ``licence``, ``citation``, ``columns`` (column name to
        description), ``rows``, ``committed`` (whether the file ships in ``data/sample``),
        ``kind`` ("sample", "remote" or "simulated"), and for data fetched on demand
        ``url``, ``sha256`` (of the file at ``url``) and ``csv_sha256`` (of
        ``<name>.csv`` as accepted from ``$IMPACTEVAL_DATA_DIR``).

    Raises
    ------
    DataValidationError
        If ``name`` is unknown (the message lists valid names and the closest match).

    Examples
    --------
    >>> from impacteval import datasets
    >>> datasets.describe("mpdta")["rows"]
    2500
    """
    info = _info(name)
    out: dict[str, Any] = {
        "name": info.name,
        "kind": info.kind,
        "source": info.source,
        "licence": info.licence,
        "citation": info.citation,
        "columns": dict(info.columns),
        "rows": info.rows,
        "committed": info.committed,
    }
    if not info.committed:
        out.update(url=info.url, sha256=info.source_sha256, csv_sha256=info.csv_sha256)
    return out


def _normalise_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Integers as int64, other numbers as float64; text columns as they are.

    A column loads as ``int64`` when it is stored as integers or booleans (any width, so
    ``age ** 2`` cannot overflow an int8), or when it is stored as floating point but every
    value is a whole number below 2**53 and none is missing (identifiers, years, counts and
    0/1 indicators written as ``1.0``). Every other numeric column loads as ``float64``
    (float32 earnings are widened).
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_integer_dtype(s):
            if not s.isna().any():
                out[col] = s.astype(np.int64)
            else:
                out[col] = s.astype(np.float64)
        elif pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(dtype=np.float64)
            whole = (
                v.size > 0
                and bool(np.isfinite(v).all())
                and bool((np.abs(v) < 2.0**53).all())
                and bool((v == np.round(v)).all())
            )
            out[col] = v.astype(np.int64) if whole else v
    return out


def load(name: str) -> pd.DataFrame:
    """Load a dataset as a DataFrame: whole-number columns as int64, other numbers float64.

    Parameters
    ----------
    name : str
        A name from :func:`names`.

    Returns
    -------
    pandas.DataFrame
        The data, with a fresh RangeIndex. For the simulated sets ``attrs`` carries the
        true effect (``true_effect``) and the seed that produced the committed CSV.

    Raises
    ------
    DataValidationError
        If ``name`` is unknown, or a local, cached or downloaded file fails its SHA-256
        check (the message names the file, the expected and the actual digest).
    DataUnavailableError
        If a repository-sourced file is neither in ``$IMPACTEVAL_DATA_DIR`` nor cached and
        cannot be downloaded (the message says where to get it and how to set
        ``IMPACTEVAL_DATA_DIR``), or a committed sample file is missing.

    Notes
    -----
    ``smoking``, ``basque`` and ``card_krueger`` are read, in order, from
    ``$IMPACTEVAL_DATA_DIR/<name>.csv`` (no network; for ``smoking`` the original
    ``smoking.rda`` is accepted too), from the cache (``$XDG_CACHE_HOME/impacteval`` or
    ``~/.cache/impacteval``), or downloaded (30 s timeout) from the pinned URL in
    :func:`describe`, verified and cached; with ``$IMPACTEVAL_OFFLINE`` set (not ``0``)
    nothing is downloaded. ``smoking`` is published as an R ``.rda`` file;
    converting it needs the optional package ``rdata`` or ``pyreadr``.

    Examples
    --------
    >>> from impacteval import datasets
    >>> df = datasets.load("nsw_dw")
    >>> df.shape, int(df["treat"].sum()), str(df["age"].dtype), str(df["re78"].dtype)
    ((445, 11), 185, 'int64', 'float64')
    """
    info = _info(name)
    if info.kind == "remote":
        df = read_remote(info)
    else:
        path = sample_dir() / f"{info.name}.csv"
        if not path.is_file():
            hint = (
                "run `python scripts/make_sample_data.py` from the repository root"
                if info.kind == "simulated"
                else "the installation is incomplete: reinstall impacteval (the wheel ships "
                "data/sample), or restore the file in a clone"
            )
            raise DataUnavailableError(f"Sample file {path} is missing; {hint}.")
        df = pd.read_csv(path)
    df = _normalise_dtypes(df).reset_index(drop=True)
    if info.kind == "simulated":
        df.attrs.update(_SIMULATED_ATTRS.get(info.name, {}))
        if info.name == "dib_learning":
            df.attrs["n_missing_endline"] = int(df["endline_level"].isna().sum())
    return df
