"""Diagnostic cells of a synth report with several treated units (``columns.treatment``).

:class:`~impacteval.reporting._designs.MultiSynthSection` writes them: before the fit,
the treated units and their adoption periods read off the 0/1 treatment column; after a
``multisynth`` fit, the event-time effects with their jackknife intervals, each treated
unit's average effect, and the pooling weight ``nu`` with the pre-treatment imbalance it
trades off.
"""

from __future__ import annotations

from impacteval.reporting._cells import Cells

__all__ = ["adoption_cells", "multisynth_cells"]

_ADOPTION = """
# treated units: a unit's first period with TREATMENT == 1 is its adoption (absorbing)
treated_rows = sample[sample[TREATMENT] == 1]
adoption = treated_rows.groupby(UNIT)[TIME].min()
adoption_table = pd.DataFrame(
    {
        "adoption": adoption,
        "periods before": [int((sample.loc[sample[UNIT] == u, TIME] < a).sum())
                           for u, a in adoption.items()],
        "periods treated": treated_rows.groupby(UNIT).size(),
    }
).sort_values("adoption")
adoption_table.index.name = "treated unit"
never = sample[UNIT].nunique() - len(adoption_table)
print(
    f"{len(adoption_table)} treated units adopting in {adoption.nunique()} periods; "
    f"{never} units never treated (the donors)"
)
rt.readable_frame(adoption_table, keep=["adoption"])
"""

_EVENT = """
ms = {first}
ms.plot()
plt.show()
print(
    f"overall effect (average over treated units of each unit's average post-treatment "
    f"effect): {{ms.estimate:.4g}}, jackknife SE {{ms.std_error:.4g}}, "
    f"{{ms.level:.0%}} CI [{{ms.ci_lower:.4g}}, {{ms.ci_upper:.4g}}]"
)
# one row per event time (negative: the pre-treatment fit); n_units = treated units observed
rt.readable_frame(ms.table.set_index("event_time").drop(columns="p_value"), keep=["n_units"])
"""

_UNITS = """
ms.plot(kind="units")
plt.show()
# each treated unit's average post-treatment effect, with its adoption period
averages = ms.unit_averages.table.set_index("unit").drop(columns="p_value")
rt.readable_frame(averages, keep=["adoption"])
"""

_POOLING = """
print(
    f"pooling nu = {ms.nu:.3g}; pre-treatment imbalance (root mean square of treated minus "
    f"synthetic): pooled {ms.pooled_imbalance:.4g}, separate {ms.separate_imbalance:.4g}"
)
# each treated unit's root mean square imbalance over its own pre-treatment lags (an early
# adopter has fewer); the separate imbalance is the root mean square of these
periods = np.sort(sample[TIME].unique())
n_lags = {
    u: min(int((periods < a).sum()), len(ms.imbalance))
    for u, a in zip(ms.unit_averages.table["unit"], ms.unit_averages.table["adoption"])
}
rms = {u: float(np.sqrt((ms.imbalance[u] ** 2).sum() / n)) for u, n in n_lags.items()}
rms["average over treated units (pooled)"] = ms.pooled_imbalance
rt.readable_frame(pd.Series(rms, name="RMS pre-treatment imbalance").to_frame())
"""


def adoption_cells(c: Cells) -> None:
    """The treated units and their adoption periods, read off the treatment column."""
    c.md(
        """
Several treated units may adopt treatment at different times (staggered adoption). The
0/1 treatment column says who and when: each treated unit's first treated period is its
adoption; units never treated are the donors. A unit's synthetic control is fitted on its
own pre-treatment periods, so a unit adopting early has fewer periods to fit.
"""
    )
    c.code(_ADOPTION, "diagnostics", "adoption")


def multisynth_cells(c: Cells, first: str) -> None:
    """Event-time effects, per-unit average effects, and ``nu`` with the imbalance.

    ``first`` is the source text of the first fitted result (the primary multisynth).
    """
    c.md(
        """
**Effects by event time** (periods since adoption, averaged over the treated units
observed then). Left of zero is the pre-treatment fit: estimates near zero there mean the
synthetic controls track the treated units before treatment. Intervals are normal, from
leave-one-unit-out jackknife standard errors (every unit, treated or donor, left out in
turn with `nu` held fixed). The overall effect, the average over treated units of each
unit's average post-treatment effect, is the estimate of section 3 (and, with a contract,
the one settled on).
"""
    )
    c.code(_EVENT.format(first=first), "diagnostics", "multisynth-event")
    c.md("**Effects by treated unit** (each unit's average over its post-treatment periods).")
    c.code(_UNITS, "diagnostics", "multisynth-units")
    c.md(
        """
**Pooling.** Separate synthetic controls (`nu = 0`) fit each treated unit as well as they
can but may leave the average badly fitted; a fully pooled fit (`nu = 1`) balances only
the average. `nu` between trades the pooled imbalance (of the average over treated units)
against the separate one (of each unit); unless the spec sets `nu`, it is the ratio of
the two for the separate fit (Ben-Michael, Feller & Rothstein 2022).
"""
    )
    c.code(_POOLING, "diagnostics", "multisynth-pooling")
