"""Result objects shared by every estimator: the result contract.

``EffectEstimate`` carries one effect with its uncertainty; ``EffectTable`` carries many
(event times, group-time cells, ...) with an optional ``overall`` effect. Both are frozen:
re-inference (another confidence level, say) returns a new object via :meth:`with_level`.

The five pinned numeric columns of ``to_frame()`` are ``estimate``, ``std_error``,
``ci_lower``, ``ci_upper`` and ``p_value``; their names never change with the level.
"""

from __future__ import annotations

import hashlib
import html
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
from scipy import special

from impacteval._validation import as_pandas
from impacteval._version import __version__
from impacteval._warn import warn_user
from impacteval.exceptions import NumericalError, SmallSampleWarning

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "EffectEstimate",
    "EffectTable",
    "Provenance",
    "Summary",
    "SummaryDisplay",
    "fingerprint",
    "fingerprint_in_background",
    "interval",
]

RESULT_COLUMNS: tuple[str, ...] = ("estimate", "std_error", "ci_lower", "ci_upper", "p_value")


def _freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def fingerprint(data: pd.DataFrame, columns: Iterable[str]) -> str:
    """SHA-256 of the named columns (names, dtypes and values, in row order).

    Parameters
    ----------
    data : pandas.DataFrame
        The input data.
    columns : iterable of str
        The columns the estimator actually used.

    Returns
    -------
    str
        Hex digest. Identical data and columns give the identical digest on any machine
        with the same byte order.
    """
    digest = hashlib.sha256()
    for chunk in _fingerprint_chunks(data, columns):
        digest.update(chunk)
    return digest.hexdigest()


def _fingerprint_chunks(data: pd.DataFrame, columns: Iterable[str]) -> list[Any]:
    """The byte chunks :func:`fingerprint` hashes, in order (buffers, not copies)."""
    chunks: list[Any] = []
    columns = list(dict.fromkeys(columns))
    if not isinstance(data, pd.DataFrame) and hasattr(data, "select"):
        # a polars / pyarrow table: hashed as the pandas frame the estimator read, so the
        # digest does not depend on the library the data came in
        data = cast(pd.DataFrame, as_pandas(data.select(columns)))
    for col in columns:
        series = data[col]
        chunks.append(str(col).encode())
        chunks.append(str(series.dtype).encode())
        values = series.to_numpy()
        if values.dtype == object or isinstance(series.dtype, pd.CategoricalDtype):
            chunks.append("\x1f".join(map(str, values.tolist())).encode())
        else:
            # raw bytes as a uint8 view (no copy; works for datetime64 too)
            chunks.append(np.ascontiguousarray(values).reshape(-1).view(np.uint8))
    return chunks


# below this many bytes hashing inline is cheaper than starting a thread
_BACKGROUND_MIN_BYTES = 2**20


def fingerprint_in_background(data: pd.DataFrame, columns: Iterable[str]) -> Callable[[], str]:
    """:func:`fingerprint`, hashed in a thread for large data; call the result for the digest.

    SHA-256 of a 10M-row panel takes about 0.2 s; hashlib releases the GIL while it hashes
    a buffer, so an estimator can hash on the second core while it computes. The buffers are
    taken here, in the caller's thread, so the thread runs no Python-level work that would
    compete for the GIL; small inputs (under 1 MB) are hashed inline. The data must not be
    modified meanwhile (estimators only read it).
    """
    try:
        chunks = _fingerprint_chunks(data, columns)
    except Exception as exc:  # report it when the digest is asked for, after validation
        error = exc

        def fail() -> str:
            raise error

        return fail
    digest = hashlib.sha256()
    if sum(memoryview(c).nbytes for c in chunks) < _BACKGROUND_MIN_BYTES:
        for chunk in chunks:
            digest.update(chunk)
        value = digest.hexdigest()
        return lambda: value

    def work() -> None:
        for chunk in chunks:
            digest.update(chunk)

    thread = threading.Thread(target=work, name="impacteval-fingerprint", daemon=True)
    thread.start()

    def result() -> str:
        thread.join()
        return digest.hexdigest()

    return result


# A standard error at most this fraction of a non-zero estimate is degenerate (rounding
# noise or a zero variance estimate): t = 1e12 would need of the order of 1e24 observations.
DEGENERATE_SE_RATIO = 1e-12


def interval(
    estimate: float, std_error: float, level: float, df: float | None
) -> tuple[float, float, float]:
    """Two-sided Wald interval and p-value from a t (``df`` given) or normal reference.

    Returns
    -------
    tuple of float
        ``(ci_lower, ci_upper, p_value)``; p-values use survival functions, not ``1 - cdf``.
    """
    if not np.isfinite(std_error) or std_error < 0:
        return (math.nan, math.nan, math.nan)
    use_t = df is not None and bool(np.isfinite(df))
    tail = (1.0 - level) / 2.0
    # scipy.special's ufuncs are what scipy.stats.norm/t evaluate (bit-identical), without
    # the ~70 us of argument handling per scipy.stats call
    crit = float(-special.stdtrit(df, tail) if use_t else -special.ndtri(tail))
    if std_error == 0:
        p = 1.0 if estimate == 0 else 0.0
        return (estimate, estimate, p)
    stat = abs(estimate / std_error)
    p_value = float(2.0 * (special.stdtr(df, -stat) if use_t else special.ndtr(-stat)))
    return (estimate - crit * std_error, estimate + crit * std_error, p_value)


@dataclass(frozen=True)
class Provenance:
    """Where a result came from: enough to reproduce it.

    Attributes
    ----------
    package_version : str
        impacteval version that produced the result.
    options : Mapping
        The options actually used, after defaults were resolved.
    data_fingerprint : str
        SHA-256 of the input columns used (see :func:`fingerprint`).
    seed : int or None
        The integer seed, when randomness was involved and an int was given.
    """

    package_version: str = __version__
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    data_fingerprint: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _freeze(self.options))

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (for audit records and JSON)."""
        return {
            "package_version": self.package_version,
            "options": {k: _jsonable(v) for k, v in self.options.items()},
            "data_fingerprint": self.data_fingerprint,
            "seed": self.seed,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "nan" if np.isnan(value) else str(float(value))
        if value != 0 and (abs(float(value)) < 10 ** (-digits) or abs(float(value)) >= 1e9):
            return f"{value:.{digits}e}"
        return f"{value:,.{digits}f}"
    return str(value)


@dataclass(frozen=True)
class Summary:
    """A printable summary: a title, header facts and a table.

    Render with :meth:`as_text`, :meth:`as_markdown`, :meth:`as_latex`, or let Jupyter call
    ``_repr_html_``.
    """

    title: str
    facts: tuple[tuple[str, str], ...]
    table: pd.DataFrame
    notes: tuple[str, ...] = ()

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        header = [str(self.table.index.name or "")] + [str(c) for c in self.table.columns]
        rows = [
            [str(idx)] + [_fmt(v) for v in row]
            for idx, row in zip(self.table.index, self.table.itertuples(index=False), strict=True)
        ]
        return header, rows

    def as_text(self) -> str:
        """Fixed-width plain text."""
        header, rows = self._cells()
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        line = "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
        body = [
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in rows
        ]
        rule = "=" * max(len(line), len(self.title))
        out = [self.title, rule]
        kw = max((len(k) for k, _ in self.facts), default=0)
        out += [f"{k.ljust(kw)} : {v}" for k, v in self.facts]
        out += ["-" * len(rule), line, "-" * len(rule), *body, rule]
        out += [f"Note: {n}" for n in self.notes]
        return "\n".join(out)

    def as_markdown(self) -> str:
        """GitHub-flavoured markdown."""
        header, rows = self._cells()
        out = [f"**{self.title}**", ""]
        out += [f"- {k}: {v}" for k, v in self.facts]
        out += [
            "",
            "| " + " | ".join(header) + " |",
            "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
        ]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        out += [f"\n_Note: {n}_" for n in self.notes]
        return "\n".join(out)

    def as_latex(self) -> str:
        """A LaTeX ``tabular`` (booktabs rules), with facts as a caption-like header."""

        def esc(s: str) -> str:
            for a, b in (
                ("\\", r"\textbackslash{}"),
                ("&", r"\&"),
                ("%", r"\%"),
                ("$", r"\$"),
                ("#", r"\#"),
                ("_", r"\_"),
                ("{", r"\{"),
                ("}", r"\}"),
            ):
                s = s.replace(a, b)
            return s

        header, rows = self._cells()
        spec = "l" + "r" * (len(header) - 1)
        out = [f"% {esc(self.title)}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
        out.append(" & ".join(esc(h) for h in header) + r" \\")
        out.append(r"\midrule")
        out += [" & ".join(esc(c) for c in r) + r" \\" for r in rows]
        out.append(r"\bottomrule")
        out.append(r"\end{tabular}")
        out += [f"% {esc(k)}: {esc(v)}" for k, v in self.facts]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        header, rows = self._cells()
        facts = "".join(
            f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
            f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
            for k, v in self.facts
        )
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
        )
        notes = "".join(f"<p><em>Note: {html.escape(n)}</em></p>" for n in self.notes)
        return (
            f"<div><strong>{html.escape(self.title)}</strong>"
            f"<table>{facts}</table><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{notes}</div>"
        )

    def __str__(self) -> str:
        return self.as_text()


class SummaryDisplay:
    """Mixin: ``str(obj)`` and Jupyter's rich display both come from ``obj.summary()``.

    A class using it defines ``summary() -> Summary``; nothing else is needed for the
    plain-text print-out and the HTML table a notebook shows.
    """

    __slots__ = ()

    def summary(self) -> Summary:  # pragma: no cover - always overridden
        """Return the printable :class:`Summary` (defined by each result class)."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __str__(self) -> str:
        return self.summary().as_text()


@dataclass(frozen=True, kw_only=True, repr=False)
class EffectEstimate(SummaryDisplay):
    """One counterfactual effect estimate with its uncertainty.

    Attributes
    ----------
    estimate, std_error, ci_lower, ci_upper, p_value : float
        The effect, its standard error, the two-sided interval at ``level`` and the
        two-sided p-value for a zero effect.
    level : float
        Confidence level of the interval (0.95 by default; never ``alpha``).
    estimand : str
        "ATE", "ATT", "ATC", ...
    method : str
        Human-readable name of the estimator and variance (e.g. "difference in means
        (Neyman)").
    n_obs, n_treated, n_control : int
        Observations used (after dropping missing values) and per arm.
    n_clusters : int or None
        Clusters used for the variance, when clustered.
    df : float or None
        Degrees of freedom of the t reference distribution; None means normal.
    ci_method : str
        How the interval was formed: "t", "normal", "permutation", "bootstrap", ...
    n_dropped : int
        Rows dropped for missing values in the columns used (never dropped silently).
    warnings : tuple of str
        Warnings raised while estimating, kept with the result.
    provenance : Provenance
        Package version, resolved options, data fingerprint and seed.
    details : Mapping
        Design-specific extras (e.g. the full coefficient table); read-only.
    """

    estimate: float
    std_error: float
    ci_lower: float
    ci_upper: float
    p_value: float
    level: float = 0.95
    estimand: str = "ATE"
    method: str = ""
    n_obs: int = 0
    n_treated: int | None = None
    n_control: int | None = None
    n_clusters: int | None = None
    df: float | None = None
    ci_method: str = "t"
    statistic: float | None = None
    outcome: str | None = None
    n_dropped: int = 0
    warnings: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", _freeze(self.details))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_wald(
        cls,
        estimate: float,
        std_error: float,
        *,
        level: float,
        df: float | None,
        **kwargs: Any,
    ) -> EffectEstimate:
        """Build a result whose interval and p-value are Wald (t if ``df`` else normal).

        Raises
        ------
        NumericalError
            When the estimate is infinite or NaN, or the standard error infinite: such a
            number comes from an overflow or a zero denominator, never from the data's
            information, and is refused rather than returned. (A NaN standard error is
            allowed: estimators return it, with a warning saying why, when it is not
            identified.)

        Warns
        -----
        SmallSampleWarning
            When the standard error is at most ``DEGENERATE_SE_RATIO`` (1e-12) times a
            non-zero estimate: no sample is that informative, so the variance estimate is
            degenerate; it is then reported as NaN (a zero SE would give p = 0).
        """
        if not math.isfinite(float(estimate)) or math.isinf(float(std_error)):
            raise NumericalError(
                f"{kwargs.get('method') or 'the estimator'}: the estimate is "
                f"{float(estimate)!r} and its standard error {float(std_error)!r}: a "
                "computation overflowed or divided by zero; rescale the outcome or check for "
                "an empty group"
            )
        if float(estimate) != 0.0 and float(std_error) <= DEGENERATE_SE_RATIO * abs(
            float(estimate)
        ):
            msg = (
                f"the standard error ({float(std_error):.3g}) is zero relative to the estimate "
                f"({float(estimate):.6g}): the variance estimate is degenerate (e.g. identical "
                "pair differences, an exact fit, or one cluster per arm), not a sign of "
                "precision; the standard error, interval and p-value are reported as NaN"
            )
            warn_user(msg, SmallSampleWarning)  # the user's line, at any depth of builder
            std_error = math.nan
            kwargs["warnings"] = (*tuple(kwargs.get("warnings", ())), msg)
        lo, hi, p = interval(float(estimate), float(std_error), level, df)
        stat = float(estimate) / float(std_error) if std_error > 0 else math.nan
        return cls(
            estimate=float(estimate),
            std_error=float(std_error),
            ci_lower=lo,
            ci_upper=hi,
            p_value=p,
            level=level,
            df=None if df is None else float(df),
            ci_method="t" if df is not None and np.isfinite(df) else "normal",
            statistic=stat,
            **kwargs,
        )

    def with_level(self, level: float) -> EffectEstimate:
        """Return a new result with the Wald interval recomputed at ``level``.

        Only defined for Wald intervals (``ci_method`` "t" or "normal"); others must be
        recomputed by their estimator.
        """
        from impacteval._validation import check_level

        check_level(level)
        if self.ci_method not in ("t", "normal"):
            raise ValueError(
                f"with_level: the interval of this result was formed by {self.ci_method!r}; "
                "rerun the estimator with the new `level` instead"
            )
        lo, hi, p = interval(self.estimate, self.std_error, level, self.df)
        return replace(self, level=level, ci_lower=lo, ci_upper=hi, p_value=p)

    # -- display ------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One-row DataFrame with snake_case columns that do not depend on the level."""
        row: dict[str, Any] = {name: getattr(self, name) for name in RESULT_COLUMNS}
        for name in (
            "level",
            "estimand",
            "method",
            "n_obs",
            "n_treated",
            "n_control",
            "n_clusters",
            "df",
            "ci_method",
            "n_dropped",
        ):
            row[name] = getattr(self, name)
        return pd.DataFrame([row], index=pd.Index([self.outcome or "effect"], name="outcome"))

    def _facts(self) -> tuple[tuple[str, str], ...]:
        facts = [
            ("Estimand", self.estimand),
            ("Method", self.method),
            ("Observations", _fmt(self.n_obs)),
        ]
        if self.n_treated is not None:
            facts.append(("Treated / control", f"{self.n_treated:,} / {self.n_control or 0:,}"))
        if self.n_clusters is not None:
            facts.append(("Clusters", _fmt(self.n_clusters)))
        if self.df is not None and "bootstrap" not in self.ci_method:
            # a bootstrap interval uses no t degrees of freedom: showing the analytic df
            # next to it would suggest it does (``df`` itself stays on the result)
            facts.append(("Degrees of freedom", _fmt(self.df, 2)))
        facts.append(("Interval", f"{self.level:.0%} ({self.ci_method})"))
        if self.n_dropped:
            facts.append(("Rows dropped (missing)", _fmt(self.n_dropped)))
        return tuple(facts)

    def summary(self) -> Summary:
        """A :class:`Summary` of the effect (and the coefficient table, when there is one)."""
        table = self.to_frame()[list(RESULT_COLUMNS)]
        coefs = self.details.get("coefficients")
        if isinstance(coefs, pd.DataFrame):
            table = coefs[list(RESULT_COLUMNS)]
        return Summary(
            title=f"{self.estimand}: {self.outcome or 'effect'}",
            facts=self._facts(),
            table=table,
            notes=self.warnings,
        )

    def __repr__(self) -> str:
        return (
            f"EffectEstimate({self.estimand}={self.estimate:.6g}, std_error="
            f"{self.std_error:.6g}, {self.level:.0%} CI [{self.ci_lower:.6g}, "
            f"{self.ci_upper:.6g}], p_value={self.p_value:.4g}, n_obs={self.n_obs}, "
            f"method={self.method!r})"
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Point estimate with its confidence interval."""
        from impacteval.plotting import plot_estimates

        return plot_estimates(self.to_frame(), ax=ax)


@dataclass(frozen=True, kw_only=True)
class EffectTable(SummaryDisplay):
    """Many effects indexed by design-specific columns (event time, group, period, ...).

    Attributes
    ----------
    table : pandas.DataFrame
        Index columns (``index_columns``) followed by the five result columns.
    index_columns : tuple of str
        Names of the columns that identify each row, e.g. ``("event_time",)``.
    overall : EffectEstimate or None
        The overall effect, where one is defined.
    estimate, std_error, ci_lower, ci_upper, p_value : float
        Read-only shortcuts to the same attributes of ``overall``, so that every result
        has them; an :class:`AttributeError` saying why when there is no overall effect.
    vcov : pandas.DataFrame or None
        Covariance matrix of the rows' estimates (rows and columns in the order of
        ``table``), where the estimator provides one; what joint inference and the
        parallel-trends sensitivity analysis read. None when not available.
    level, estimand, method, n_obs, ci_method, warnings, provenance, details
        As for :class:`EffectEstimate`.
    """

    table: pd.DataFrame
    index_columns: tuple[str, ...]
    overall: EffectEstimate | None = None
    level: float = 0.95
    estimand: str = "ATT"
    method: str = ""
    n_obs: int = 0
    n_treated: int | None = None
    n_control: int | None = None
    n_clusters: int | None = None
    df: float | None = None
    ci_method: str = "t"
    n_dropped: int = 0
    warnings: tuple[str, ...] = ()
    provenance: Provenance = field(default_factory=Provenance)
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    vcov: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        missing = [c for c in (*self.index_columns, *RESULT_COLUMNS) if c not in self.table.columns]
        if missing:
            raise ValueError(f"EffectTable.table lacks columns {missing}")
        frozen = self.table.copy()
        for col in frozen.columns:
            arr = frozen[col].to_numpy()
            if isinstance(arr, np.ndarray):
                arr.flags.writeable = False
        object.__setattr__(self, "table", frozen)
        if self.vcov is not None:
            k = len(self.table)
            if self.vcov.shape != (k, k):
                raise ValueError(
                    f"EffectTable.vcov must be {k} x {k} (one row and column per table row); "
                    f"received shape {self.vcov.shape}"
                )
            vcov = self.vcov.copy()
            vcov.to_numpy().flags.writeable = False
            object.__setattr__(self, "vcov", vcov)
        object.__setattr__(self, "details", _freeze(self.details))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    def to_frame(self) -> pd.DataFrame:
        """The index columns plus the five result columns (a fresh, writable copy)."""
        return self.table.copy()

    def _overall_value(self, name: str) -> float:
        if self.overall is None:
            raise AttributeError(
                f"`{name}`: this {type(self).__name__} ({self.method or 'table of effects'}) "
                f"has no single overall effect, so no overall {name}; read the rows with "
                "`.to_frame()`, or aggregate first (e.g. att_gt(...).aggregate('simple'))"
            )
        return float(getattr(self.overall, name))

    @property
    def estimate(self) -> float:
        """The overall effect's estimate (``.overall.estimate``) where one is defined."""
        return self._overall_value("estimate")

    @property
    def std_error(self) -> float:
        """The overall effect's standard error (``.overall.std_error``)."""
        return self._overall_value("std_error")

    @property
    def ci_lower(self) -> float:
        """Lower end of the overall effect's interval (``.overall.ci_lower``)."""
        return self._overall_value("ci_lower")

    @property
    def ci_upper(self) -> float:
        """Upper end of the overall effect's interval (``.overall.ci_upper``)."""
        return self._overall_value("ci_upper")

    @property
    def p_value(self) -> float:
        """The overall effect's p-value (``.overall.p_value``)."""
        return self._overall_value("p_value")

    def __len__(self) -> int:
        return len(self.table)

    def summary(self) -> Summary:
        """A :class:`Summary` of every row (and the overall effect, if any)."""
        table = self.table.set_index(list(self.index_columns))[list(RESULT_COLUMNS)]
        if len(self.index_columns) > 1:
            table.index = pd.Index(
                [", ".join(map(str, i)) for i in table.index], name=", ".join(self.index_columns)
            )
        facts: list[tuple[str, str]] = [
            ("Estimand", self.estimand),
            ("Method", self.method),
            ("Observations", _fmt(self.n_obs)),
            ("Interval", f"{self.level:.0%} ({self.ci_method})"),
        ]
        if self.overall is not None:
            o = self.overall
            facts.append(("Overall", f"{_fmt(o.estimate)} (SE {_fmt(o.std_error)})"))
        return Summary(
            title=self.method or "Effects", facts=tuple(facts), table=table, notes=self.warnings
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Estimates with intervals against the (first) index column."""
        from impacteval.plotting import plot_estimates

        return plot_estimates(self.table.set_index(list(self.index_columns)), ax=ax)


def result_fields(cls: type[EffectEstimate] | type[EffectTable]) -> Sequence[str]:
    """Names of the dataclass fields of a result class (for tests and docs)."""
    return [f.name for f in fields(cls)]
