"""Simulators of outcome-contract evaluations with known true effects.

Both functions return a :class:`pandas.DataFrame` whose numeric columns are float64 and
whose ``attrs`` record the true effect, the seed and the data-generating parameters, so an
estimator can be checked against the truth. The committed CSVs ``sib_reoffending.csv`` and
``dib_learning.csv`` are these functions at their default arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from impacteval.exceptions import DataValidationError

__all__ = ["simulate_reoffending", "simulate_school_trial"]

RngLike = int | np.random.Generator | None

_OFFENCES = ("acquisitive", "violence", "drugs", "public_order", "motoring", "other")
# Offence mix: the scheme's local prison takes more acquisitive (theft) offenders.
_OFFENCE_P_TREATED = np.array([0.45, 0.20, 0.12, 0.10, 0.05, 0.08])
_OFFENCE_P_COMPARISON = np.array([0.30, 0.25, 0.15, 0.10, 0.10, 0.10])
# Log rate-ratio of reconviction events by offence type (violence is the reference).
_OFFENCE_LOGRR = np.array([0.30, 0.0, 0.10, 0.15, -0.20, -0.10])


def _generator(rng: RngLike) -> np.random.Generator:
    """Return a numpy Generator from an int seed, a Generator or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        return np.random.default_rng(rng)
    raise DataValidationError(
        f"`rng` must be an int seed, a numpy.random.Generator or None; got {type(rng).__name__}."
    )


def _check_positive_int(value: int, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise DataValidationError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")


def _check_range(value: float, name: str, low: float, high: float) -> None:
    if not isinstance(value, int | float | np.floating) or not low <= float(value) <= high:
        raise DataValidationError(f"`{name}` must be a number in [{low}, {high}]; got {value!r}.")


def _seed_attr(rng: RngLike) -> int | None:
    return int(rng) if isinstance(rng, int | np.integer) else None


def simulate_reoffending(
    n_cohort: int = 1000,
    n_comparison: int = 20000,
    effect: float = -0.10,
    *,
    overdispersion: float = 0.5,
    rng: RngLike = 20101,
) -> pd.DataFrame:
    """Simulate a Peterborough-like reoffending evaluation with selection on observables.

    A cohort of prisoners released from one prison that runs a resettlement scheme
    (``treated = 1``) is compared with a national pool of short-sentence releases
    (``treated = 0``) from the same twelve quarters. The two groups differ in age, gender,
    criminal history, offence and sentence length, and these drive reconviction, so a naive
    comparison is biased while adjustment for the observables recovers the effect.

    Parameters
    ----------
    n_cohort : int, default 1000
        Number of treated releases, spread over three cohorts (release windows).
    n_comparison : int, default 20000
        Number of releases in the national comparison pool.
    effect : float, default -0.10
        True relative change in the expected number of reconviction events within 12 months
        (rate ratio minus one); -0.10 is a 10% reduction. Must lie in [-0.9, 1].
    overdispersion : float, default 0.5
        NB2 overdispersion ``alpha``: Var(Y | x) = mu + alpha mu^2 (0 gives Poisson).
    rng : int, numpy.random.Generator or None, default 20101
        Seed or generator; the same seed gives the same data.

    Returns
    -------
    pandas.DataFrame
        One row per release, ``n_cohort + n_comparison`` rows, columns

        - ``person_id``: identifier, treated first.
        - ``treated``: 1 for the scheme's cohort, 0 for the comparison pool.
        - ``cohort``: release window 1, 2 or 3 (quarters 1-4, 5-8, 9-12), for both groups.
        - ``release_period``: quarter of release, 1-12.
        - ``age``: whole years at release, 18-70 (treated younger on average).
        - ``female``: 1 = female (about 3% treated, 9% comparison).
        - ``prior_convictions``: count of previous convictions (treated more).
        - ``offence_type``: acquisitive, violence, drugs, public_order, motoring or other.
        - ``sentence_months``: sentence in months, all under 12 (treated shorter).
        - ``excluded``: 1 if the measurement rules exclude the release.
        - ``exclusion_reason``: missing if included, else the first that applies of
          ``short_sentence`` (sentence under 0.5 months), ``deported`` (removed from the
          country on release), ``died`` (within the follow-up) and ``no_pnc_match`` (no
          police record could be matched).
        - ``reconvictions``: reconviction events within 12 months; missing for
          ``deported``, ``died`` and ``no_pnc_match`` (follow-up incomplete), observed
          for ``short_sentence`` exclusions.
        - ``reconvicted``: 1 if ``reconvictions > 0``; missing where that is missing.

        ``attrs`` holds ``true_effect`` (= ``effect``), ``true_rate_ratio``
        (= 1 + ``effect``), ``estimand``, ``seed`` and ``params``.

    Raises
    ------
    DataValidationError
        If a size is not a positive integer, ``effect`` or ``overdispersion`` is out of
        range, or ``rng`` is of the wrong type.

    Notes
    -----
    Reconviction events follow a negative binomial (Poisson-gamma) model,

    .. math:: Y_i \\sim \\text{Poisson}(\\mu_i G_i), \\quad G_i \\sim
              \\text{Gamma}(1/\\alpha, \\alpha), \\quad
              \\log \\mu_i = x_i'\\beta + \\log(1 + \\tau) T_i,

    with :math:`x_i` = log(1 + prior convictions), (age - 30)/10, female, offence dummies,
    log sentence length and a linear trend in release quarter. The treatment effect is
    multiplicative and constant, so :math:`\\tau` is both the ATT and the ATE on the
    ratio scale: :math:`E[Y(1)] / E[Y(0)] - 1 = \\tau` for every covariate value.
    Treatment is assigned by where the person was held, which depends only on the
    observables above: conditional ignorability holds by construction. The real
    Peterborough cohort was adult men only; a few women are kept so that gender is a
    non-trivial covariate. Exclusions do not depend on treatment or outcome.

    References
    ----------
    Jolliffe, D. and Hedderman, C. (2014). Peterborough Social Impact Bond: final report on
    cohort 1 analysis. Ministry of Justice.

    Examples
    --------
    >>> from impacteval.datasets import simulate_reoffending
    >>> df = simulate_reoffending(n_cohort=200, n_comparison=1000)
    >>> df.attrs["true_effect"]
    -0.1
    >>> int(df["treated"].sum())
    200
    """
    _check_positive_int(n_cohort, "n_cohort")
    _check_positive_int(n_comparison, "n_comparison")
    _check_range(effect, "effect", -0.9, 1.0)
    _check_range(overdispersion, "overdispersion", 0.0, 10.0)
    gen = _generator(rng)
    n = int(n_cohort) + int(n_comparison)
    treated = np.r_[np.ones(n_cohort), np.zeros(n_comparison)]
    is_t = treated == 1.0

    cov = _offender_covariates(gen, is_t)
    reconvictions = _reconvictions(gen, cov, treated, effect, overdispersion)
    reason = _exclusion_reasons(gen, is_t, cov["sentence"])
    excluded = np.array([isinstance(r, str) for r in reason], dtype=np.float64)
    unobserved = np.isin(reason, ["no_pnc_match", "died", "deported"])
    reconvictions[unobserved] = np.nan
    reconvicted = np.where(np.isnan(reconvictions), np.nan, (reconvictions > 0).astype(float))
    release_period, age, female = cov["release_period"], cov["age"], cov["female"]
    prior, sentence = cov["prior"], cov["sentence"]
    cohort = np.floor((release_period - 1.0) / 4.0) + 1.0
    offence_type = np.asarray(_OFFENCES, dtype=object)[cov["offence_idx"]]

    df = pd.DataFrame(
        {
            "person_id": np.arange(1, n + 1, dtype=np.float64),
            "treated": treated,
            "cohort": cohort,
            "release_period": release_period,
            "age": age,
            "female": female,
            "prior_convictions": prior,
            "offence_type": offence_type,
            "sentence_months": sentence,
            "excluded": excluded,
            "exclusion_reason": reason,
            "reconvictions": reconvictions,
            "reconvicted": reconvicted,
        }
    )
    df.attrs.update(
        {
            "true_effect": float(effect),
            "true_rate_ratio": 1.0 + float(effect),
            "estimand": "relative change in expected reconviction events within 12 months "
            "(rate ratio - 1); constant, so ATT = ATE",
            "seed": _seed_attr(rng),
            "params": _params(
                n_cohort=n_cohort,
                n_comparison=n_comparison,
                effect=effect,
                overdispersion=overdispersion,
            ),
        }
    )
    return df


def _offender_covariates(gen: np.random.Generator, is_t: np.ndarray) -> dict[str, np.ndarray]:
    """Release quarter, age, sex, prior convictions, offence and sentence (drawn in order)."""
    n = is_t.size
    release_period = gen.integers(1, 13, size=n).astype(np.float64)
    age = np.where(is_t, 18.0 + gen.gamma(2.0, 6.0, size=n), 18.0 + gen.gamma(2.5, 6.4, size=n))
    age = np.clip(np.floor(age), 18.0, 70.0)
    female = (gen.random(n) < np.where(is_t, 0.03, 0.09)).astype(np.float64)
    # Previous convictions: negative binomial, mean 14 (treated) vs 9 (comparison).
    prior_mean = np.where(is_t, 14.0, 9.0)
    prior = gen.negative_binomial(1.5, 1.5 / (1.5 + prior_mean)).astype(np.float64)
    u = gen.random(n)
    offence_idx = np.where(
        is_t,
        np.searchsorted(np.cumsum(_OFFENCE_P_TREATED), u, side="right"),
        np.searchsorted(np.cumsum(_OFFENCE_P_COMPARISON), u, side="right"),
    )
    offence_idx = np.minimum(offence_idx, len(_OFFENCES) - 1)
    sentence = np.exp(np.log(np.where(is_t, 3.0, 4.0)) + 0.7 * gen.standard_normal(n))
    sentence = np.round(np.clip(sentence, 0.25, 11.75), 2)
    return {
        "release_period": release_period,
        "age": age,
        "female": female,
        "prior": prior,
        "offence_idx": offence_idx,
        "sentence": sentence,
    }


def _reconvictions(
    gen: np.random.Generator,
    cov: dict[str, np.ndarray],
    treated: np.ndarray,
    effect: float,
    overdispersion: float,
) -> np.ndarray:
    """Negative-binomial reconviction counts (see :func:`simulate_reoffending`'s Notes)."""
    log_mu = (
        -1.0
        + 0.45 * np.log1p(cov["prior"])
        - 0.25 * (cov["age"] - 30.0) / 10.0
        - 0.30 * cov["female"]
        + _OFFENCE_LOGRR[cov["offence_idx"]]
        - 0.10 * np.log(cov["sentence"])
        - 0.01 * (cov["release_period"] - 6.5)
        + np.log1p(effect) * treated
    )
    mu = np.exp(log_mu)
    if overdispersion > 0:
        mu = mu * gen.gamma(1.0 / overdispersion, overdispersion, size=treated.size)
    counts: np.ndarray = gen.poisson(mu).astype(np.float64)
    return counts


def _exclusion_reasons(
    gen: np.random.Generator, is_t: np.ndarray, sentence: np.ndarray
) -> np.ndarray:
    """The exclusion reason per person (NaN if included); the last rule that hits wins."""
    n = is_t.size
    reason = np.full(n, np.nan, dtype=object)
    draws = gen.random((3, n))
    rules = [
        ("no_pnc_match", draws[0] < 0.01),
        ("died", draws[1] < 0.006),
        ("deported", draws[2] < np.where(is_t, 0.015, 0.025)),
        ("short_sentence", sentence < 0.5),
    ]
    for label, hit in rules:  # listed from lowest to highest priority; the last hit wins
        reason[hit] = label
    return reason


def _villages(gen: np.random.Generator, n_villages: int, n_strata: int) -> dict[str, np.ndarray]:
    """Villages: stratum, district, block, treatment within strata, effects, schools."""
    v_stratum = np.sort(np.arange(n_villages) % n_strata) + 1
    treat_v = np.zeros(n_villages)
    for s in range(1, n_strata + 1):
        idx = np.flatnonzero(v_stratum == s)
        n_treat = len(idx) // 2 + (gen.random() < 0.5 if len(idx) % 2 else 0)
        treat_v[gen.permutation(idx)[:n_treat]] = 1.0
    per_district = -(-n_strata // 2)
    v_effect = gen.normal(0.0, 0.5, n_villages)
    v_growth = 0.6 + gen.normal(0.0, 0.25, n_villages)
    v_nschool = 1 + (gen.random(n_villages) < 0.2)
    return {
        "stratum": v_stratum,
        "district": (v_stratum - 1) // per_district + 1,
        "block": (v_stratum - 1) % per_district + 1,
        "treatment": treat_v,
        "effect": v_effect,
        "growth": v_growth,
        "n_schools": v_nschool,
        "school_offset": np.r_[0, np.cumsum(v_nschool)[:-1]],
    }


def _girls(
    gen: np.random.Generator, v: dict[str, np.ndarray], girls_per_village: int
) -> dict[str, np.ndarray]:
    """Girls per village (5 + Poisson), their school, the school effects and their age."""
    n_villages = v["stratum"].size
    sizes = 5 + gen.poisson(girls_per_village - 5, n_villages)
    village = np.repeat(np.arange(n_villages), sizes)
    n = int(sizes.sum())
    school_local = (gen.random(n) * v["n_schools"][village]).astype(np.int64)
    school = v["school_offset"][village] + school_local
    school_effect = gen.normal(0.0, 0.2, int(v["n_schools"].sum()))
    age = gen.integers(7, 15, size=n).astype(np.float64)
    return {"village": village, "school": school, "school_effect": school_effect, "age": age}


def _learning_levels(
    gen: np.random.Generator,
    v: dict[str, np.ndarray],
    g: dict[str, np.ndarray],
    effect: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Baseline level and the endline levels without (``y0``) and with (``y1``) treatment."""
    village, age = g["village"], g["age"]
    n = age.size
    ability = 1.6 + v["effect"][village] + g["school_effect"][g["school"]] + 0.25 * (age - 10.0)
    ability = ability + gen.normal(0.0, 0.9, n)
    # "+ 0.0" turns the -0.0 that rounding can produce into 0.0.
    baseline = np.clip(np.round(ability + gen.normal(0.0, 0.5, n)), 0.0, 5.0) + 0.0
    latent_end = ability + v["growth"][village] + gen.normal(0.0, 0.5, n)
    y0 = np.clip(np.round(latent_end), 0.0, 5.0) + 0.0
    y1 = np.clip(np.round(latent_end + effect), 0.0, 5.0) + 0.0
    return baseline, y0, y1


def _params(**kwargs: Any) -> dict[str, Any]:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in kwargs.items()}


def simulate_school_trial(
    n_villages: int = 280,
    girls_per_village: int = 25,
    effect: float = 0.30,
    *,
    n_strata: int = 8,
    enrolment_effect: float = 0.05,
    attrition: float = 0.08,
    rng: RngLike = 20151,
) -> pd.DataFrame:
    """Simulate an Educate-Girls-like village-clustered RCT of girls' learning.

    Villages are grouped into strata (administrative blocks within two districts) and half
    the villages of each stratum, rounded at random, are assigned to the programme. Girls
    aged 7-14 are assessed at baseline and endline on an ASER-style learning level (0-5);
    some are lost to follow-up, so their endline level is missing.

    Parameters
    ----------
    n_villages : int, default 280
        Number of villages (clusters). Must be at least ``2 * n_strata``.
    girls_per_village : int, default 25
        Mean number of girls per village (sizes vary: 5 + Poisson(girls_per_village - 5)).
    effect : float, default 0.30
        Shift of the latent endline learning score, in levels; the effect on the observed
        (rounded, capped) level is ``attrs["true_effect"]``, slightly smaller because girls
        at level 5 cannot move up. Must lie in [-2, 2].
    n_strata : int, default 8
        Number of randomisation strata (blocks), split evenly over two districts.
    enrolment_effect : float, default 0.05
        Additive effect on the probability of being enrolled at endline, in [0, 0.1].
    attrition : float, default 0.08
        Average probability that a girl's endline level is missing, in [0, 0.5]. Older
        girls and girls with lower baseline levels are lost more often; attrition does not
        depend on treatment.
    rng : int, numpy.random.Generator or None, default 20151
        Seed or generator; the same seed gives the same data.

    Returns
    -------
    pandas.DataFrame
        One row per girl, columns ``district``, ``block``, ``stratum``, ``village``,
        ``school``, ``girl_id``, ``age``, ``treatment`` (village level), ``baseline_level``,
        ``endline_level`` (missing when lost to follow-up) and ``enrolled`` (endline). All
        float64. ``attrs`` holds ``true_effect`` (the sample average effect on
        ``endline_level`` over all girls, from both potential outcomes),
        ``true_effect_observed`` (the same over girls whose endline level is observed:
        what a complete-case analysis targets), ``latent_effect``,
        ``true_effect_enrolled``, ``n_missing_endline``, ``seed`` and ``params``.

    Raises
    ------
    DataValidationError
        If a size or probability is out of range or ``rng`` is of the wrong type.

    Notes
    -----
    Latent ability :math:`a_{ij} = v_j + s_{k(j)} + 0.25(\\text{age}_{ij} - 10) + e_{ij}`
    (village, school and girl terms). Observed levels round and cap a latent score:
    baseline :math:`L^0 = \\text{clip}(\\text{round}(a + \\epsilon^0), 0, 5)`, endline
    :math:`L^1(t) = \\text{clip}(\\text{round}(a + g_j + \\delta t + \\epsilon^1), 0, 5)`
    with village growth :math:`g_j` (so endline effects are clustered). Both potential
    endline levels are drawn with the same noise, and ``true_effect`` is their mean
    difference over all girls. Randomisation is by village within strata, so a
    difference in means with village-clustered standard errors (ideally adjusting for the
    baseline level and strata) is unbiased for the effect among girls observed at endline,
    ``true_effect_observed``. Attrition does not depend on treatment but is higher for
    older girls and girls with low baseline levels, whose effects differ (the cap of 5
    binds less often), so dropping rows changes the estimand slightly (by under 0.01
    levels at the defaults); that is why the number of missing endline values is
    reported.

    Examples
    --------
    >>> from impacteval.datasets import simulate_school_trial
    >>> df = simulate_school_trial(n_villages=40, girls_per_village=10)
    >>> sorted(df["treatment"].unique().tolist())
    [0.0, 1.0]
    """
    _check_positive_int(n_strata, "n_strata")
    _check_positive_int(n_villages, "n_villages", minimum=2 * int(n_strata))
    _check_positive_int(girls_per_village, "girls_per_village", minimum=5)
    _check_range(effect, "effect", -2.0, 2.0)
    _check_range(enrolment_effect, "enrolment_effect", 0.0, 0.1)
    _check_range(attrition, "attrition", 0.0, 0.5)
    gen = _generator(rng)

    v = _villages(gen, int(n_villages), int(n_strata))
    g = _girls(gen, v, int(girls_per_village))
    village, age, t = g["village"], g["age"], v["treatment"][g["village"]]
    baseline, y0, y1 = _learning_levels(gen, v, g, effect)
    endline = np.where(t == 1.0, y1, y0)

    p_enrol = np.clip(0.88 - 0.03 * (age - 10.0), 0.5, 0.9)
    u_enrol = gen.random(age.size)
    enrolled = (u_enrol < p_enrol + enrolment_effect * t).astype(np.float64)

    # Attrition: logistic in age and baseline level, scaled to the requested mean.
    risk = np.exp(0.25 * (age - 10.0) - 0.3 * (baseline - 2.0))
    p_miss = np.clip(attrition * risk / risk.mean(), 0.0, 0.95)
    missing = gen.random(age.size) < p_miss
    endline = np.where(missing, np.nan, endline)
    v_district, v_block, v_stratum = v["district"], v["block"], v["stratum"]
    school, n = g["school"], age.size

    df = pd.DataFrame(
        {
            "district": v_district[village].astype(np.float64),
            "block": v_block[village].astype(np.float64),
            "stratum": v_stratum[village].astype(np.float64),
            "village": (village + 1).astype(np.float64),
            "school": (school + 1).astype(np.float64),
            "girl_id": np.arange(1, n + 1, dtype=np.float64),
            "age": age,
            "treatment": t,
            "baseline_level": baseline,
            "endline_level": endline,
            "enrolled": enrolled,
        }
    )
    df.attrs.update(
        {
            "true_effect": float(np.mean(y1 - y0)),
            "true_effect_observed": float(np.mean((y1 - y0)[~missing])),
            "latent_effect": float(effect),
            "true_effect_enrolled": float(enrolment_effect),
            "estimand": "sample average treatment effect on endline_level (all girls)",
            "n_missing_endline": int(missing.sum()),
            "seed": _seed_attr(rng),
            "params": _params(
                n_villages=n_villages,
                girls_per_village=girls_per_village,
                effect=effect,
                n_strata=n_strata,
                enrolment_effect=enrolment_effect,
                attrition=attrition,
            ),
        }
    )
    return df
