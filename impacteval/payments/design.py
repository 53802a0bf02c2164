"""Contract design by error rates: how a contract behaves before it is signed.

Given a contract and the evaluation's expected precision (sample size and outcome SD,
optionally clustered, or a standard error), :func:`design` reports for every payment line

* ``P(pay | no effect)``: the probability the line pays when every true effect is zero;
* ``P(no pay | target met)``: the probability it pays nothing when every true effect
  equals its target;
* the expected payment as a function of the true effect (the operating characteristic);

and :func:`solve_threshold` / :func:`required_sample_size` give the threshold, or the
sample size, that meets stated error rates for a one-threshold rule.

Assumptions
-----------
* Each estimated effect is normal around its true value with the stated standard error
  (t degrees of freedom are ignored); verified counts are fixed at the values given.
* Standard error from a sample: ``sd * sqrt(deff) * sqrt(1 / (p n) + 1 / ((1 - p) n))``
  for ``n`` units in total, a share ``p`` treated, and the design effect
  ``deff = 1 + (m - 1) * icc`` of clusters of ``m`` units.
* Control means of relative reductions are known (only ``T - C`` is uncertain).
* Closed forms apply where one estimate drives a line that switches on at a single value
  ``e*`` of that estimate: ``P(pay | true t) = Phi((t - e*) / se)`` (reversed when the
  line pays below ``e*``). Everything else is simulated with the settlement engine
  (seeded; the Monte Carlo standard error is reported).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from impacteval._parallel import run_tasks
from impacteval._validation import check_positive_int, check_rng
from impacteval.exceptions import DataValidationError
from impacteval.payments.contract import Contract
from impacteval.payments.engine import run
from impacteval.payments.inputs import MetricInput, normalise_inputs, to_decimal
from impacteval.payments.metrics import multiplier
from impacteval.results import Summary, SummaryDisplay

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "ContractDesign",
    "ThresholdSolution",
    "design",
    "required_sample_size",
    "sample_std_error",
    "solve_threshold",
]


def sample_std_error(
    n: float, sd: float, *, icc: float = 0.0, cluster_size: float = 1.0, treated_share: float = 0.5
) -> float:
    """Standard error of a difference in means for ``n`` units (see the module notes)."""
    for name, value in (("n", n), ("sd", sd), ("cluster_size", cluster_size)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise DataValidationError(f"`{name}` must be a finite number > 0; received {value!r}")
    if not 0 <= icc <= 1:
        raise DataValidationError(f"`icc` must be in [0, 1]; received {icc!r}")
    if not 0 < treated_share < 1:
        raise DataValidationError(f"`treated_share` must be in (0, 1); received {treated_share!r}")
    deff = 1.0 + (cluster_size - 1.0) * icc
    return float(
        sd * math.sqrt(deff) * math.sqrt(1 / (treated_share * n) + 1 / ((1 - treated_share) * n))
    )


@dataclass(frozen=True)
class ThresholdSolution:
    """Thresholds (in metric units) meeting both error rates of a one-threshold rule.

    Attributes
    ----------
    lowest, highest : float
        Any threshold in ``[lowest, highest]`` gives ``P(pay | null) <= alpha`` and
        ``P(no pay | target) <= beta``; ``feasible`` is False when ``lowest > highest``.
    se : float
        Standard error of the decision statistic (metric units).
    """

    target: float
    se: float
    alpha: float
    beta: float
    lowest: float
    highest: float

    @property
    def feasible(self) -> bool:
        """Whether some threshold meets both error rates."""
        return self.lowest <= self.highest


def _check_rates(alpha: float, beta: float) -> None:
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not 0 < v < 0.5:
            raise DataValidationError(f"`{name}` must be in (0, 0.5); received {v!r}")


def solve_threshold(
    target: float, se: float, *, alpha: float = 0.05, beta: float = 0.20
) -> ThresholdSolution:
    """Thresholds of a rule "pay when the point estimate >= threshold" meeting both rates.

    ``P(pay | 0) = 1 - Phi(thr / se) <= alpha`` needs ``thr >= z_(1-alpha) se``;
    ``P(no pay | target) = Phi((thr - target) / se) <= beta`` needs
    ``thr <= target - z_(1-beta) se``. ``target`` and ``se`` are in metric units.
    """
    _check_rates(alpha, beta)
    if not (math.isfinite(se) and se > 0):
        raise DataValidationError(f"`se` must be a finite number > 0; received {se!r}")
    if not (math.isfinite(target) and target > 0):
        raise DataValidationError(f"`target` must be a finite number > 0; received {target!r}")
    za, zb = float(stats.norm.isf(alpha)), float(stats.norm.isf(beta))
    return ThresholdSolution(target, se, alpha, beta, za * se, target - zb * se)


def required_sample_size(
    target: float,
    sd: float,
    *,
    alpha: float = 0.05,
    beta: float = 0.20,
    scale: float = 1.0,
    icc: float = 0.0,
    cluster_size: float = 1.0,
    treated_share: float = 0.5,
) -> int:
    """Smallest total ``n`` for which some threshold meets both error rates.

    Feasible when ``target >= (z_(1-alpha) + z_(1-beta)) * se``; ``se`` is
    :func:`sample_std_error` times ``|scale|`` (the metric's multiplier ``k``: 1 for an
    absolute effect, ``1 / C`` for a relative reduction).
    """
    _check_rates(alpha, beta)
    unit_se = abs(scale) * sample_std_error(
        1.0, sd, icc=icc, cluster_size=cluster_size, treated_share=treated_share
    )
    z = float(stats.norm.isf(alpha) + stats.norm.isf(beta))
    return math.ceil((z * unit_se / target) ** 2 - 1e-9)


@dataclass(frozen=True)
class ContractDesign(SummaryDisplay):
    """Operating characteristics of a contract (see :func:`design`).

    Attributes
    ----------
    lines : pandas.DataFrame
        One row per payment component: ``p_pay_null``, ``p_no_pay_target``, ``method``
        ("closed form" or "simulation"), ``mc_se`` (Monte Carlo standard error; 0 for
        closed forms) and ``pay_threshold`` (``e*`` in raw estimate units, where single).
    curve : pandas.DataFrame
        ``fraction_of_target``, the true effect of each stochastic metric (raw units),
        ``expected_payment`` (outcome total), ``p_pay`` and ``expected:<component>``.
    std_errors : Mapping
        Standard error of each stochastic metric's raw estimate.
    targets : Mapping
        True raw effect at which each target is met.
    """

    contract: str
    currency: str
    lines: pd.DataFrame
    curve: pd.DataFrame
    std_errors: Mapping[str, float]
    targets: Mapping[str, float]
    n_draws: int
    seed: int | None
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of the per-line error rates."""
        facts = tuple(
            (f"SE of {k} (raw units)", f"{v:.6g}") for k, v in self.std_errors.items()
        ) + tuple((f"Target effect of {k} (raw)", f"{v:.6g}") for k, v in self.targets.items())
        facts += (("Draws", f"{self.n_draws:,} (seed {self.seed})"),)
        return Summary(
            f"Contract design: {self.contract}",
            facts,
            self.lines.set_index("component"),
            self.notes,
        )

    def plot(self, ax: Axes | None = None) -> Axes:
        """Operating-characteristic curves: P(pay) of the contract and expected payment."""
        from impacteval.plotting.payments import OperatingCharacteristicDisplay

        return OperatingCharacteristicDisplay(self.curve, self.contract, self.currency).draw(ax)


def _template(
    contract: Contract, inputs: Mapping[str, Any] | None, ses: Mapping[str, float]
) -> dict[str, MetricInput]:
    """Normalised inputs with each stochastic estimate at 0 and its design SE."""
    raw: dict[str, Any] = dict(inputs or {})
    for mid, se in ses.items():
        given = raw.get(mid)
        base = dict(given) if isinstance(given, Mapping) else {}
        base.pop("treated_rate", None)
        base.pop("value", None)
        base.update(estimate=0.0, std_error=se)
        raw[mid] = base
    return normalise_inputs(contract.spec, raw)


def _amounts(
    contract: Contract, norm: dict[str, MetricInput]
) -> tuple[dict[str, Decimal], Decimal]:
    out = run(contract.spec, norm)
    per: dict[str, Decimal] = {}
    for ln in out.lines:
        if ln.component in {c.id for c in contract.spec.payments}:
            per[ln.component] = ln.amount
    return per, out.outcome_total


def _with(norm: dict[str, MetricInput], effects: Mapping[str, float]) -> dict[str, MetricInput]:
    trial = dict(norm)
    for mid, e in effects.items():
        trial[mid] = norm[mid].with_estimate(to_decimal(float(e)))
    return trial


def _switch(
    contract: Contract, norm: dict[str, MetricInput], mid: str, comp: str, se: float, near: float
) -> tuple[float, int] | None:
    """``(e*, +1|-1)`` where line ``comp`` starts paying as ``mid`` moves, if single."""

    def pays(e: float) -> bool:
        return _amounts(contract, _with(norm, {mid: e}))[0][comp] > 0

    lo, hi, span = near - se, near + se, se
    for _ in range(60):
        if pays(lo) != pays(hi):
            break
        lo, hi, span = lo - span, hi + span, span * 2.0
    else:
        return None
    direction = 1 if pays(hi) else -1
    for _ in range(200):
        m = 0.5 * (lo + hi)
        if pays(m) == (direction == 1):
            hi = m
        else:
            lo = m
        if hi - lo <= 1e-13 * max(1.0, abs(hi)):
            break
    e_star = hi if direction == 1 else lo
    grid = np.linspace(e_star - 8 * se, e_star + 8 * se, 41)
    flags = [pays(float(g)) for g in grid]
    switches = sum(a != b for a, b in itertools.pairwise(flags))
    return (e_star, direction) if switches == 1 else None


def design(
    contract: Contract,
    *,
    n: float | Mapping[str, float] | None = None,
    sd: float | Mapping[str, float] | None = None,
    std_error: float | Mapping[str, float] | None = None,
    icc: float = 0.0,
    cluster_size: float = 1.0,
    treated_share: float = 0.5,
    inputs: Mapping[str, Any] | None = None,
    targets: Mapping[str, float] | None = None,
    curve_points: Sequence[float] = (-0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5),
    n_draws: int = 2000,
    curve_draws: int = 400,
    rng: int | np.random.Generator | None = 0,
) -> ContractDesign:
    """Error rates and expected payments of a contract under a planned evaluation.

    Parameters
    ----------
    contract : Contract
        The contract being designed.
    n, sd : float or mapping, optional
        Total sample size and outcome standard deviation (per estimate metric, or one value
        for all); the standard error follows :func:`sample_std_error`.
    std_error : float or mapping, optional
        The raw estimate's standard error directly (instead of ``n`` and ``sd``).
    icc, cluster_size : float
        Intra-cluster correlation and units per cluster of a clustered design.
    treated_share : float, default 0.5
        Share of units treated.
    inputs : mapping, optional
        Settlement-style inputs for what is not simulated: verified counts, and fields of
        estimate metrics other than the estimate (``control_rate``, ``units``).
    targets : mapping, optional
        True effect (raw estimate units: treated minus control) at which each estimate
        metric's target is met. Default: the metric's ``target`` (achievement scale) ...
        required otherwise.
    curve_points : sequence of float
        Fractions of the targets at which expected payment and P(pay) are traced.
    n_draws, curve_draws : int
        Monte Carlo draws for the error rates and per curve point.
    rng : int, Generator or None, default 0
        Seed: the same seed gives the same numbers.

    Returns
    -------
    ContractDesign
    """
    if not isinstance(contract, Contract):
        raise DataValidationError(
            f"`contract` must be a Contract; received {type(contract).__name__}"
        )
    n_draws = check_positive_int(n_draws, "n_draws", minimum=100)
    curve_draws = check_positive_int(curve_draws, "curve_draws", minimum=10)
    gen, seed = check_rng(rng)
    spec = contract.spec
    stochastic = [m.id for m in spec.metrics if not m.is_blend and m.input == "estimate"]
    if not stochastic:
        raise DataValidationError(
            f"`contract`: {contract.name!r} has no estimated metric; its payment has no error rate"
        )

    ses = {
        mid: _design_se(mid, stochastic, n, sd, std_error, icc, cluster_size, treated_share)
        for mid in stochastic
    }
    norm = _template(contract, inputs, ses)
    goals = _goals(contract, norm, stochastic, targets)
    comps = [c.id for c in spec.payments]
    z = {mid: gen.standard_normal(n_draws) * ses[mid] for mid in stochastic}
    a_null, _ = _simulate_lines(contract, norm, comps, dict.fromkeys(stochastic, 0.0), z)
    a_goal, _ = _simulate_lines(contract, norm, comps, goals, z)
    rows = [
        _line_row(contract, norm, comp, a_null[:, j], a_goal[:, j], ses, goals)
        for j, comp in enumerate(comps)
    ]
    notes: list[str] = []
    if len(stochastic) > 1:
        notes.append("several estimated metrics: every error rate is simulated")
    zc = {mid: gen.standard_normal(curve_draws) * ses[mid] for mid in stochastic}
    curve = []
    for frac in curve_points:
        truth = {m: float(frac) * goals[m] for m in stochastic}
        amounts, totals = _simulate_lines(contract, norm, comps, truth, zc)
        point: dict[str, Any] = {"fraction_of_target": float(frac)}
        point.update({f"true_effect:{m}": truth[m] for m in stochastic})
        point["expected_payment"] = float(totals.mean())
        point["p_pay"] = float((totals > 0).mean())
        for j, comp in enumerate(comps):
            point[f"expected:{comp}"] = float(amounts[:, j].mean())
        curve.append(point)
    return ContractDesign(
        contract=contract.name,
        currency=contract.currency,
        lines=pd.DataFrame(rows),
        curve=pd.DataFrame(curve),
        std_errors=ses,
        targets=goals,
        n_draws=n_draws,
        seed=seed,
        notes=tuple(notes),
    )


def _per(value: float | Mapping[str, float] | None, name: str, mid: str) -> float | None:
    """``value`` itself, or its entry for metric ``mid`` when it is a mapping."""
    if value is None or isinstance(value, int | float):
        return value
    if mid not in value:
        raise DataValidationError(f"`{name}` gives no value for metric {mid!r}")
    return float(value[mid])


def _design_se(
    mid: str,
    stochastic: Sequence[str],
    n: float | Mapping[str, float] | None,
    sd: float | Mapping[str, float] | None,
    std_error: float | Mapping[str, float] | None,
    icc: float,
    cluster_size: float,
    treated_share: float,
) -> float:
    """The planned standard error of metric ``mid`` (given, or from ``n`` and ``sd``)."""
    se = _per(std_error, "std_error", mid)
    if se is None:
        n_m, sd_m = _per(n, "n", mid), _per(sd, "sd", mid)
        if n_m is None or sd_m is None:
            raise DataValidationError(
                f"give `std_error`, or `n` and `sd`, for the estimated metrics {list(stochastic)}"
            )
        se = sample_std_error(
            n_m, sd_m, icc=icc, cluster_size=cluster_size, treated_share=treated_share
        )
    if not (math.isfinite(se) and se > 0):
        raise DataValidationError(f"`std_error` of {mid!r} must be > 0; received {se!r}")
    return se


def _goals(
    contract: Contract,
    norm: dict[str, MetricInput],
    stochastic: Sequence[str],
    targets: Mapping[str, float] | None,
) -> dict[str, float]:
    """The true effect (raw units) at which each estimated metric meets its target."""
    goals: dict[str, float] = {}
    for mid in stochastic:
        metric = contract.spec.metric(mid)
        if targets is not None and mid in targets:
            goals[mid] = float(targets[mid])
        elif metric.scale == "achievement" and metric.target is not None:
            goals[mid] = float(Decimal(1) / multiplier(metric, norm[mid]))
        else:
            raise DataValidationError(
                f"`targets` must give the true effect (raw units, treated minus control) at "
                f"which metric {mid!r} meets its target"
            )
    return goals


def _simulate_lines(
    contract: Contract,
    norm: dict[str, MetricInput],
    comps: Sequence[str],
    truth: Mapping[str, float],
    noise: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Amount per line (draws x lines) and outcome total per draw at ``truth + noise``.

    Chunks of the pre-drawn noise are joblib tasks, so an active joblib context (e.g.
    ``joblib.parallel_config(backend="dask")``) settles them on its workers; the numbers do
    not depend on it.
    """
    size = len(next(iter(noise.values())))
    tasks = [
        (contract, norm, comps, truth, {m: v[i : i + _CHUNK] for m, v in noise.items()})
        for i in range(0, size, _CHUNK)
    ]
    parts = run_tasks(settle_lines, tasks, n_jobs=None)
    return np.vstack([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


_CHUNK = 250  # draws settled per task


def settle_lines(
    contract: Contract,
    norm: dict[str, MetricInput],
    comps: Sequence[str],
    truth: Mapping[str, float],
    noise: Mapping[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of :func:`_simulate_lines`: amounts per line and totals, draw by draw."""
    size = len(next(iter(noise.values())))
    amounts = np.empty((size, len(comps)))
    totals = np.empty(size)
    for i in range(size):
        per_line, total = _amounts(
            contract, _with(norm, {m: truth[m] + float(noise[m][i]) for m in noise})
        )
        amounts[i] = [float(per_line[c]) for c in comps]
        totals[i] = float(total)
    return amounts, totals


def _line_row(
    contract: Contract,
    norm: dict[str, MetricInput],
    comp: str,
    a_null: np.ndarray,
    a_goal: np.ndarray,
    ses: Mapping[str, float],
    goals: Mapping[str, float],
) -> dict[str, Any]:
    """Error rates of one payment line: simulated, or closed form for one normal metric."""
    p_null = float((a_null > 0).mean())
    p_fail = float((a_goal <= 0).mean())
    n_draws = a_null.size
    row: dict[str, Any] = {
        "component": comp,
        "p_pay_null": p_null,
        "p_no_pay_target": p_fail,
        "method": "simulation",
        "mc_se": max(
            math.sqrt(p_null * (1 - p_null) / n_draws),
            math.sqrt(p_fail * (1 - p_fail) / n_draws),
        ),
        "pay_threshold": math.nan,
    }
    if len(ses) == 1:
        mid = next(iter(ses))
        found = _switch(contract, norm, mid, comp, ses[mid], goals[mid] / 2)
        if found is not None:
            e_star, direction = found
            se_m = ses[mid]
            row.update(
                p_pay_null=float(stats.norm.sf(direction * (e_star - 0.0) / se_m)),
                p_no_pay_target=float(stats.norm.cdf(direction * (e_star - goals[mid]) / se_m)),
                method="closed form",
                mc_se=0.0,
                pay_threshold=e_star,
            )
    return row
