"""Payment risk: how a contract's payment behaves under the estimates' sampling error.

For every metric bound to an estimate with a standard error, the estimate is redrawn
around an assumed true effect, either from a normal distribution with the reported
standard error or, when the result carries ``details["bootstrap_draws"]``, by resampling
the centred bootstrap draws. Verified counts carry no sampling error and are held at their
reported values. The contract is settled on every draw with the same engine as
:meth:`Contract.settle`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from impacteval._parallel import run_tasks
from impacteval._validation import check_n_jobs, check_positive_int, check_rng
from impacteval.exceptions import DataValidationError
from impacteval.payments.contract import Contract
from impacteval.payments.engine import run
from impacteval.payments.inputs import MetricInput, normalise_inputs, to_decimal
from impacteval.payments.metrics import multiplier
from impacteval.results import Summary, SummaryDisplay

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PaymentRisk", "payment_risk"]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True)
class PaymentRisk(SummaryDisplay):
    """Payment risk of a contract (see :func:`payment_risk`).

    Attributes
    ----------
    p_pay_null : float
        Monte Carlo probability that outcome payments are due when every true effect is 0.
    p_fail_at_target : float
        Probability that nothing is paid when every true effect equals its target.
    exact_p_pay_null, exact_p_fail_at_target : float or None
        Closed forms, where they exist: one normal statistic and a payment that switches
        on at a single threshold ``e*`` of the raw estimate:
        ``P(pay | true = t) = Phi((t - e*) / se)`` (reversed for a decreasing rule).
    expected_payment : float
        Mean outcome payment when the true effects equal the observed estimates.
    quantiles : pandas.Series
        Payment quantiles (5, 25, 50, 75, 95%) under the same assumption.
    targets : Mapping
        The true effects (raw estimate units) used as "target", per stochastic metric.
    pay_threshold : Mapping
        ``e*`` per metric where a single switching point was found (others at observed).
    curve : pandas.DataFrame
        ``fraction_of_target``, ``true_effect`` (first metric), ``expected_payment``,
        ``p_pay``: every true effect set to ``fraction x target``. "Expected payment"
        means the same everywhere: the mean payment over the estimates' sampling
        distribution centred on the given true effects (``expected_payment`` above is the
        curve's definition at the observed estimates, with ``n_draws`` draws).
    fixed_inputs : tuple of str
        Inputs held at their values (verified counts, measurements, rate cards).
    """

    contract: str
    currency: str
    n_draws: int
    seed: int | None
    p_pay_null: float
    p_fail_at_target: float
    exact_p_pay_null: float | None
    exact_p_fail_at_target: float | None
    expected_payment: float
    quantiles: pd.Series
    targets: Mapping[str, float]
    pay_threshold: Mapping[str, float]
    curve: pd.DataFrame
    notes: tuple[str, ...] = field(default=())
    fixed_inputs: tuple[str, ...] = field(default=())

    def summary(self) -> Summary:
        """A :class:`~impacteval.results.Summary` of the risk figures."""

        def pct(x: float | None) -> str:
            return "n/a" if x is None or math.isnan(x) else f"{x:.2%}"

        facts = (
            ("Draws", f"{self.n_draws:,} (seed {self.seed})"),
            ("P(pay | true effect 0), Monte Carlo", pct(self.p_pay_null)),
            ("P(pay | true effect 0), exact", pct(self.exact_p_pay_null)),
            ("P(no pay | effect = target), Monte Carlo", pct(self.p_fail_at_target)),
            ("P(no pay | effect = target), exact", pct(self.exact_p_fail_at_target)),
            ("Expected payment (true = observed)", f"{self.currency} {self.expected_payment:,.2f}"),
        )
        table = self.curve.set_index("fraction_of_target")
        return Summary(f"Payment risk: {self.contract}", facts, table, self.notes)

    def plot(self, ax: Axes | None = None) -> Axes:
        """Expected payment (left axis) and P(pay) (right axis) against the true effect."""
        from impacteval.plotting.payments import PaymentRiskDisplay

        display = PaymentRiskDisplay(self.curve, self.contract, self.currency, self.p_pay_null)
        return display.draw(ax)


def _stochastic(norm: Mapping[str, MetricInput]) -> list[str]:
    return [k for k in sorted(norm) if norm[k].std_error is not None and norm[k].persons is None]


def _pays(contract: Contract, norm: dict[str, MetricInput], mid: str, e: float) -> bool:
    trial = dict(norm)
    trial[mid] = norm[mid].with_estimate(to_decimal(e))
    return run(contract.spec, trial).outcome_total > 0


def _threshold(
    contract: Contract, norm: dict[str, MetricInput], mid: str
) -> tuple[float, int] | None:
    """``(e*, +1|-1)``: the raw estimate where paying switches on (+1: pays above)."""
    inp = norm[mid]
    se = inp.std_error or 1.0
    centre = float(inp.estimate)
    lo, hi = centre - 1.0, centre + 1.0
    span = max(se, abs(centre), 1e-9)
    for _ in range(60):
        if _pays(contract, norm, mid, lo) != _pays(contract, norm, mid, hi):
            break
        lo, hi = lo - span, hi + span
        span *= 2.0
    else:
        return None
    direction = 1 if _pays(contract, norm, mid, hi) else -1
    for _ in range(100):
        mid_x = 0.5 * (lo + hi)
        paying = _pays(contract, norm, mid, mid_x)
        if paying == (direction == 1):
            hi = mid_x
        else:
            lo = mid_x
        if hi - lo <= 1e-12 * max(1.0, abs(hi)):
            break
    e_star = hi if direction == 1 else lo
    # single switch? (monotone in this metric, holding the others at their inputs)
    grid = np.linspace(e_star - 8 * se, e_star + 8 * se, 33)
    pays = [_pays(contract, norm, mid, float(g)) for g in grid]
    switches = sum(a != b for a, b in itertools.pairwise(pays))
    return (e_star, direction) if switches == 1 else None


def _trigger_target(contract: Contract, norm: Mapping[str, MetricInput], mid: str) -> float | None:
    """The raw estimate at which the metric reaches its own trigger threshold (linear scales)."""
    metric = contract.spec.metric(mid)
    for trig in contract.spec.triggers:
        if trig.metric != mid or trig.comparison not in (">=", ">", "<=", "<"):
            continue
        try:
            k = float(multiplier(metric, norm[mid]))
        except ValueError:
            return None
        return float(trig.threshold) / k if k else None
    return None


_CHUNK = 250  # draws settled per task (the numbers do not depend on it)


def _simulate(
    contract: Contract,
    norm: dict[str, MetricInput],
    truth: Mapping[str, float],
    noise: Mapping[str, np.ndarray],
    n_jobs: int | None = None,
) -> np.ndarray:
    """Outcome payment on every draw; chunks of draws are joblib tasks (see ``_parallel``)."""
    n = len(next(iter(noise.values())))
    tasks = [
        (contract, norm, truth, {m: v[i : i + _CHUNK] for m, v in noise.items()})
        for i in range(0, n, _CHUNK)
    ]
    return np.concatenate(run_tasks(settle_draws, tasks, n_jobs=n_jobs))


def settle_draws(
    contract: Contract,
    norm: dict[str, MetricInput],
    truth: Mapping[str, float],
    noise: Mapping[str, np.ndarray],
) -> np.ndarray:
    """Outcome payment with each metric's estimate set to ``truth + noise[i]``, per draw."""
    n = len(next(iter(noise.values())))
    out = np.empty(n)
    for i in range(n):
        trial = dict(norm)
        for mid, t in truth.items():
            trial[mid] = norm[mid].with_estimate(to_decimal(t + float(noise[mid][i])))
        out[i] = float(run(contract.spec, trial).outcome_total)
    return out


def payment_risk(
    contract: Contract,
    inputs: Mapping[str, Any],
    *,
    n_draws: int = 4000,
    rng: int | np.random.Generator | None = None,
    true_effects: Mapping[str, float] | None = None,
    curve_points: Sequence[float] = (-0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5),
    curve_draws: int = 500,
    n_jobs: int | None = None,
) -> PaymentRisk:
    """Probability of paying a null programme, of failing a programme on target, and more.

    Parameters
    ----------
    contract : Contract
        The contract.
    inputs : mapping
        As for :meth:`Contract.settle`; estimates need a standard error (or bootstrap
        draws) to carry sampling error.
    n_draws : int, default 4000
        Monte Carlo draws per scenario (null, target, observed).
    rng : int, numpy Generator or None
        Seed or generator; the same seed gives the same numbers.
    true_effects : mapping, optional
        Target true effects in the units of each raw estimate (treated minus control).
        Default: the metric's ``target`` when the contract states one, else the estimate
        ``e*`` at which the contract starts to pay (others held at their inputs).
    curve_points : sequence of float
        Fractions of the targets at which to trace expected payment and P(pay).
    curve_draws : int, default 500
        Draws per curve point.
    n_jobs : int, optional
        joblib workers settling chunks of draws (``None``: serial, or the active joblib
        context's backend, e.g. Dask; -1: all cores). The draws are made here first, so the
        numbers do not depend on ``n_jobs`` or the backend.

    Returns
    -------
    PaymentRisk

    Notes
    -----
    "Pays" means outcome payments (``outcome = true`` components, after caps) are > 0.
    Draws are common across scenarios (the same standard-normal or bootstrap deviations),
    so differences between scenarios are not Monte Carlo noise. The normal approximation
    ignores t degrees of freedom in the draws. Control means of relative reductions are
    treated as known (only ``T - C`` is redrawn).

    Examples
    --------
    >>> c = Contract.from_toml('''
    ... [contract]
    ... name = "Threshold"
    ... currency = "USD"
    ... [metrics.effect]
    ... [payments.pay]
    ... rule = "tiers"
    ... metric = "effect"
    ... tiers = [{from = 0.1, amount = "1000"}]
    ... ''')
    >>> r = payment_risk(c, {"effect": {"estimate": 0.12, "std_error": 0.05}},
    ...                  n_draws=2000, rng=1, curve_points=(0.0, 1.0), curve_draws=100)
    >>> round(r.exact_p_pay_null, 4)  # Phi((0 - 0.1) / 0.05)
    0.0228
    """
    if not isinstance(contract, Contract):
        raise DataValidationError(
            f"`contract` must be a Contract; received {type(contract).__name__}"
        )
    n_draws = check_positive_int(n_draws, "n_draws", minimum=100)
    curve_draws = check_positive_int(curve_draws, "curve_draws", minimum=10)
    gen, seed = check_rng(rng)
    n_jobs = check_n_jobs(n_jobs)
    norm = normalise_inputs(contract.spec, inputs)
    _require_sampling_error(contract, norm)
    sto = _stochastic(norm)
    notes: list[str] = []
    if not sto:
        notes.append("no input carries sampling error: the payment is deterministic")
    guards = contract.spec.safeguards
    if guards is not None and guards.on_breach == "withhold":
        notes.append(
            "safeguards (on_breach = withhold) are not simulated: the risk assumes no breach"
        )
    thresholds, targets = _targets(contract, norm, sto, true_effects, notes)
    z = _noise(gen, norm, sto, n_draws) if sto else {}
    if sto:
        null = _simulate(contract, norm, dict.fromkeys(sto, 0.0), z, n_jobs)
        at_target = (
            _simulate(contract, norm, targets, z, n_jobs)
            if all(math.isfinite(t) for t in targets.values())
            else np.full(n_draws, np.nan)
        )
        observed = _simulate(contract, norm, {m: float(norm[m].estimate) for m in sto}, z, n_jobs)
    else:
        pay = float(run(contract.spec, norm).outcome_total)
        null = at_target = observed = np.full(n_draws, pay)
    exact_null, exact_fail = _exact(norm, sto, thresholds, targets)
    zc = _noise(gen, norm, sto, curve_draws) if sto else {}
    rows = []
    for frac in curve_points:
        truth = {m: frac * targets[m] for m in sto if math.isfinite(targets[m])}
        pays = _simulate(contract, norm, truth, zc, n_jobs) if truth else observed[:curve_draws]
        first = sto[0] if sto else None
        rows.append(
            {
                "fraction_of_target": float(frac),
                "true_effect": truth.get(first, 0.0) if first else 0.0,
                "expected_payment": float(pays.mean()),
                "p_pay": float((pays > 0).mean()),
            }
        )
    return PaymentRisk(
        contract=contract.name,
        currency=contract.currency,
        n_draws=n_draws,
        seed=seed,
        p_pay_null=float((null > 0).mean()),
        p_fail_at_target=float((at_target <= 0).mean())
        if np.all(np.isfinite(at_target))
        else math.nan,
        exact_p_pay_null=exact_null,
        exact_p_fail_at_target=exact_fail,
        expected_payment=float(observed.mean()),
        quantiles=pd.Series(np.quantile(observed, QUANTILES), index=list(QUANTILES)),
        targets=targets,
        pay_threshold={k: v[0] for k, v in thresholds.items()},
        curve=pd.DataFrame(rows),
        notes=tuple(notes),
        fixed_inputs=tuple(sorted(set(norm) - set(sto))),
    )


def _require_sampling_error(contract: Contract, norm: Mapping[str, MetricInput]) -> None:
    """Refuse estimate inputs without a standard error or bootstrap draws."""
    for m in contract.spec.metrics:
        inp = norm.get(m.id)
        if m.is_blend or inp is None or m.input != "estimate":
            continue
        if inp.std_error is None and inp.draws is None:
            raise DataValidationError(
                f"`inputs.{m.id}`: payment risk needs the estimate's standard error (or "
                "bootstrap draws); without one the risk would look certain. Verified counts "
                '(input = "count") are held fixed instead'
            )


def _targets(
    contract: Contract,
    norm: dict[str, MetricInput],
    sto: Sequence[str],
    true_effects: Mapping[str, float] | None,
    notes: list[str],
) -> tuple[dict[str, tuple[float, int]], dict[str, float]]:
    """Pay thresholds ``e*`` (where single) and the target true effect of each metric.

    The target is, in order: ``true_effects``, the contract's ``target``, the estimate at
    which the metric's trigger is reached, ``e*``, the observed estimate (noted).
    """
    thresholds: dict[str, tuple[float, int]] = {}
    targets: dict[str, float] = {}
    for mid in sto:
        found = _threshold(contract, norm, mid)
        if found is not None:
            thresholds[mid] = found
        metric = contract.spec.metric(mid)
        if true_effects is not None and mid in true_effects:
            targets[mid] = float(true_effects[mid])
        elif metric.target is not None:
            targets[mid] = float(metric.target)
        elif (at_trigger := _trigger_target(contract, norm, mid)) is not None:
            targets[mid] = at_trigger
            notes.append(
                f"{mid}: no target in the contract; target taken as the estimate at which its "
                f"trigger threshold is reached (e = {at_trigger:.6g})"
            )
        elif found is not None:
            targets[mid] = found[0]
            notes.append(f"{mid}: target taken as the pay threshold e* = {found[0]:.6g}")
        else:
            targets[mid] = float(norm[mid].estimate)
            notes.append(
                f"{mid}: no target, trigger or single pay threshold; target taken as the "
                "observed estimate"
            )
    if true_effects is not None:
        unknown = sorted(set(true_effects) - set(sto))
        if unknown:
            raise DataValidationError(
                f"`true_effects`: {unknown} are not estimate inputs with a standard error "
                f"(stochastic metrics: {list(sto)})"
            )
    return thresholds, targets


def _noise(
    gen: np.random.Generator, norm: Mapping[str, MetricInput], sto: Sequence[str], n: int
) -> dict[str, np.ndarray]:
    """``n`` sampling deviations per stochastic metric (bootstrap or normal), in order."""
    out = {}
    for mid in sto:
        inp = norm[mid]
        if inp.draws is not None:
            centred = inp.draws - inp.draws.mean()
            out[mid] = gen.choice(centred, size=n, replace=True)
        else:
            out[mid] = gen.standard_normal(n) * float(inp.std_error or 0.0)
    return out


def _exact(
    norm: Mapping[str, MetricInput],
    sto: Sequence[str],
    thresholds: Mapping[str, tuple[float, int]],
    targets: Mapping[str, float],
) -> tuple[float | None, float | None]:
    """Closed-form P(pay | 0) and P(no pay | target): one normal metric, one threshold."""
    if not (len(sto) == 1 and sto[0] in thresholds and norm[sto[0]].draws is None):
        return None, None
    mid = sto[0]
    e_star, direction = thresholds[mid]
    se = float(norm[mid].std_error or 0.0)

    def p_pay(t: float) -> float:
        return float(stats.norm.sf((e_star - t) / se * direction)) if se > 0 else math.nan

    exact_fail = 1.0 - p_pay(targets[mid]) if math.isfinite(targets[mid]) else None
    return p_pay(0.0), exact_fail
