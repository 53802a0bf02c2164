"""Metadata of every dataset known to :mod:`impacteval.datasets`.

The facts here (rows, licences, pinned URLs and SHA-256 digests) mirror the project's
data-sources note; the committed files live in ``data/sample/`` with their own SOURCES.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["REGISTRY", "DatasetInfo"]

Kind = Literal["sample", "remote", "simulated"]


@dataclass(frozen=True)
class DatasetInfo:
    """Everything :func:`impacteval.datasets.describe` reports about one dataset.

    Attributes
    ----------
    name : str
        Dataset name, as passed to ``load``.
    kind : {"sample", "remote", "simulated"}
        ``"sample"``: registry-sourced file committed in ``data/sample``; ``"remote"``:
        repository-sourced file fetched on demand, never committed; ``"simulated"``:
        written by ``scripts/make_sample_data.py`` from a simulator in this package.
    source, licence, citation : str
        Where the data come from, under which terms, and which study to cite.
    columns : dict of str to str
        Column name to a one-line description.
    rows : int
        Number of rows of the loaded DataFrame.
    url : str or None
        Pinned download URL (remote data only).
    source_sha256 : str or None
        SHA-256 of the file at ``url`` (remote data only).
    source_format : {"csv", "rda"}
        Format of the file at ``url``.
    csv_sha256 : str or None
        SHA-256 of ``<name>.csv`` as accepted from ``$IMPACTEVAL_DATA_DIR``.
    sort_by : tuple of str
        Row order imposed after converting a non-CSV source.
    """

    name: str
    kind: Kind
    source: str
    licence: str
    citation: str
    columns: dict[str, str]
    rows: int
    url: str | None = None
    source_sha256: str | None = None
    source_format: Literal["csv", "rda"] = "csv"
    csv_sha256: str | None = None
    sort_by: tuple[str, ...] = field(default_factory=tuple)

    @property
    def committed(self) -> bool:
        """Whether the file ships in the repository's ``data/sample`` folder."""
        return self.kind != "remote"


_LALONDE_COLUMNS: dict[str, str] = {
    "id": "row identifier",
    "treat": "1 = assigned to the NSW job-training programme, 0 = comparison",
    "age": "age in years",
    "educ": "years of schooling",
    "black": "1 = Black",
    "hisp": "1 = Hispanic",
    "married": "1 = married",
    "nodegree": "1 = no high-school degree",
    "re74": "real earnings in 1974 (US dollars)",
    "re75": "real earnings in 1975 (US dollars)",
    "re78": "real earnings in 1978 (US dollars), the outcome",
}

_DW_CITATION = (
    "LaLonde, R. J. (1986). Evaluating the econometric evaluations of training programs "
    "with experimental data. American Economic Review 76(4), 604-620; Dehejia, R. H. and "
    "Wahba, S. (1999). Causal effects in nonexperimental studies: reevaluating the evaluation "
    "of training programs. Journal of the American Statistical Association 94(448), 1053-1062."
)

_BASQUE_COLUMNS: dict[str, str] = {
    "regionno": "region number (1 = Spain as a whole, 17 = Basque Country)",
    "regionname": "region name",
    "year": "calendar year, 1955-1997",
    "gdpcap": "real GDP per capita (thousands of 1986 USD)",
    "sec.agriculture": "agriculture, forestry and fishing share of production (%)",
    "sec.energy": "energy and water share of production (%)",
    "sec.industry": "industry share of production (%)",
    "sec.construction": "construction and engineering share of production (%)",
    "sec.services.venta": "marketable services share of production (%)",
    "sec.services.nonventa": "non-marketable services share of production (%)",
    "school.illit": "illiterate population aged 16+ (thousands)",
    "school.prim": "population aged 16+ with primary schooling or none (thousands)",
    "school.med": "population aged 16+ with some high school (thousands)",
    "school.high": "population aged 16+ with high school (thousands)",
    "school.post.high": "population aged 16+ with post-high-school education (thousands)",
    "popdens": "population density (people per km2)",
    "invest": "gross total investment as a share of GDP (%)",
}

_CK_COLUMNS: dict[str, str] = {
    "id": "store identifier (1-410)",
    "nj": "1 = New Jersey (minimum wage rose 1 April 1992), 0 = eastern Pennsylvania",
    "d": "survey wave: 0 = February-March 1992, 1 = November-December 1992",
    "d_nj": "nj x d interaction",
    "bk": "1 = Burger King",
    "kfc": "1 = KFC",
    "roys": "1 = Roy Rogers",
    "wendys": "1 = Wendy's",
    "co_owned": "1 = company-owned store (0 = franchised)",
    "centralj": "1 = central New Jersey",
    "southj": "1 = southern New Jersey",
    "pa1": "1 = Pennsylvania, Allentown-Easton area",
    "pa2": "1 = Pennsylvania, north-east suburbs of Philadelphia",
    "fte": "full-time-equivalent employment = ft + mgrs + 0.5 pt (0 for closed stores)",
    "ft": "number of full-time employees",
    "pt": "number of part-time employees",
    "mgrs": "number of managers and assistant managers",
    "wage": "starting wage (US dollars per hour)",
    "meal": "price of a full meal: soda, small fries and main item (US dollars)",
    "hrsopen": "hours open on a weekday",
    "bonus": "1 = cash bounty offered for recruiting new workers",
    "ncalls": "number of call-backs needed to complete the interview",
    "status": "wave-2 status: 0 refused, 1 interviewed, 2-5 closed (renovation, permanently, "
    "road works, mall fire)",
    "type": "interview type: 1 = telephone, 2 = in person",
    "inctime": "usual number of weeks until a worker's first raise",
    "firstinc": "usual amount of the first raise (US dollars per hour)",
    "nregs": "number of cash registers",
}

_SMOKING_COLUMNS: dict[str, str] = {
    "state": "US state (39: California plus 38 states without large tobacco programmes)",
    "year": "calendar year, 1970-2000 (Proposition 99 passed in 1988)",
    "cigsale": "per-capita cigarette sales (packs)",
    "lnincome": "log per-capita personal income",
    "beer": "per-capita beer consumption (gallons)",
    "age15to24": "share of the population aged 15-24",
    "retprice": "average retail price of a pack of cigarettes (cents)",
}

_REOFFENDING_COLUMNS: dict[str, str] = {
    "person_id": "person identifier (treated cohort first)",
    "treated": "1 = released from the scheme's prison (the Peterborough-like cohort), "
    "0 = national comparison pool",
    "cohort": "release window 1, 2 or 3 (quarters 1-4, 5-8, 9-12); set for both groups",
    "release_period": "quarter of release, 1-12 (1 = first quarter of the scheme)",
    "age": "age in whole years at release (18-70)",
    "female": "1 = female",
    "prior_convictions": "number of previous convictions",
    "offence_type": "index offence: acquisitive, violence, drugs, public_order, motoring, other",
    "sentence_months": "custodial sentence length in months (all under 12)",
    "excluded": "1 = excluded from the outcome measurement (see exclusion_reason)",
    "exclusion_reason": "missing when included; short_sentence (under 0.5 months), deported, "
    "died (within the 12-month follow-up) or no_pnc_match (no police record found)",
    "reconvictions": "reconviction events within 12 months of release; missing when "
    "follow-up is incomplete (deported, died, no_pnc_match)",
    "reconvicted": "1 = at least one reconviction (missing with reconvictions)",
}

_SCHOOL_COLUMNS: dict[str, str] = {
    "district": "district (1 or 2)",
    "block": "administrative block within the district",
    "stratum": "randomisation stratum (one per block); villages randomised within strata",
    "village": "village identifier: the unit of randomisation",
    "school": "school identifier (one or two schools per village)",
    "girl_id": "girl identifier",
    "age": "age in years at baseline (7-14)",
    "treatment": "1 = village assigned to the programme",
    "baseline_level": "ASER-style learning level at baseline, 0 (beginner) to 5",
    "endline_level": "learning level at endline, 0-5; missing for girls lost to follow-up",
    "enrolled": "1 = enrolled in school at endline",
}

_MPDTA_COLUMNS: dict[str, str] = {
    "countyreal": "county identifier (FIPS code)",
    "year": "year, 2003-2007",
    "lpop": "log county population (time-invariant)",
    "lemp": "log teen employment",
    "first_treat": "year the state minimum wage first rose (0 = never treated)",
    "treat": "1 = county ever treated",
}

_MPDTA_CITATION = (
    "Callaway, B. and Sant'Anna, P. H. C. (2021). Difference-in-differences with multiple "
    "time periods. Journal of Econometrics 225(2), 200-230."
)

REGISTRY: dict[str, DatasetInfo] = {
    "nsw_dw": DatasetInfo(
        name="nsw_dw",
        kind="sample",
        source="NSW experimental sample of Dehejia & Wahba (1999): 185 treated, 260 "
        "experimental controls; from PyPI causaldata 0.1.5 (nsw_mixtape)",
        licence="MIT",
        citation=_DW_CITATION,
        columns=_LALONDE_COLUMNS,
        rows=445,
        csv_sha256="980203d7e70e39c29a2d2f551e923a813956d42a9972c4dbb9dd77d04e2363a1",
    ),
    "cps1_controls": DatasetInfo(
        name="cps1_controls",
        kind="sample",
        source="CPS-1 non-experimental comparison group of Dehejia & Wahba (1999), all "
        "controls (ids from 100001); from PyPI causaldata 0.1.5 (cps_mixtape)",
        licence="MIT",
        citation=_DW_CITATION,
        columns=_LALONDE_COLUMNS,
        rows=15_992,
        csv_sha256="bdfab70d89d6acb23d6118b01f4b496eddf1d19912ab69aa6bccefa41b02983a",
    ),
    "lalonde_psid": DatasetInfo(
        name="lalonde_psid",
        kind="sample",
        source="NSW treated (185) plus PSID comparison group (429), as MatchIt::lalonde; "
        "from Debian r-cran-matchit (also lalonde.csv in PyPI causalpy)",
        licence="GPL (MatchIt) / Apache-2.0 (causalpy)",
        citation=_DW_CITATION,
        columns=_LALONDE_COLUMNS,
        rows=614,
        csv_sha256="cd881a3a4d1f8f49c7b71ca50b38ca996aa58a4f28f8b881ddd03d0767413da7",
    ),
    "mpdta": DatasetInfo(
        name="mpdta",
        kind="sample",
        source="County teen employment panel, 500 counties x 2003-2007, as R did::mpdta; "
        "from PyPI moderndid",
        licence="MIT",
        citation=_MPDTA_CITATION,
        columns=_MPDTA_COLUMNS,
        rows=2_500,
        csv_sha256="66847f3fd2b04ce28f1519714aadeaa9c04825faea40296b47117514c9dcc78b",
    ),
    "smoking": DatasetInfo(
        name="smoking",
        kind="remote",
        source="California Proposition 99 panel (39 states x 1970-2000), tidysynth's "
        "smoking.rda on GitHub, sorted by state and year",
        licence="MIT",
        citation="Abadie, A., Diamond, A. and Hainmueller, J. (2010). Synthetic control "
        "methods for comparative case studies. Journal of the American Statistical "
        "Association 105(490), 493-505.",
        columns=_SMOKING_COLUMNS,
        rows=1_209,
        url="https://github.com/edunford/tidysynth/raw/"
        "58eda583ea28645a3531cd769b7852ff504656df/data/smoking.rda",
        source_sha256="a946d153e8faee62e6deba7a16db6f4c1251d9e56d5b41de7e79a593eb8110d9",
        source_format="rda",
        csv_sha256="ef65db90fc3e6c792edef1e77a225391c0b7ef69bd140d0cb3a9f0a06ed77d6d",
        sort_by=("state", "year"),
    ),
    "basque": DatasetInfo(
        name="basque",
        kind="remote",
        source="Basque Country terrorism panel (18 regions incl. Spain x 1955-1997), "
        "pysyncon's data/basque.csv on GitHub",
        licence="MIT",
        citation="Abadie, A. and Gardeazabal, J. (2003). The economic costs of conflict: a "
        "case study of the Basque Country. American Economic Review 93(1), 113-132.",
        columns=_BASQUE_COLUMNS,
        rows=774,
        url="https://raw.githubusercontent.com/sdfordham/pysyncon/"
        "34350ca548370902bc40cfcf6d37d97b9de0839e/data/basque.csv",
        source_sha256="7f7f90d7a01984a33a2ea3efc311ce826c05b61234a52c27445adacc6f52bf70",
        csv_sha256="7f7f90d7a01984a33a2ea3efc311ce826c05b61234a52c27445adacc6f52bf70",
    ),
    "card_krueger": DatasetInfo(
        name="card_krueger",
        kind="remote",
        source="New Jersey / Pennsylvania fast-food employment, 410 stores x 2 waves (long), "
        "built from D. Card's public njmin file; UChicago SOSC13200-W23 data/card-krueger.csv",
        licence="GPL-3 (repository); data from Card & Krueger's replication file",
        citation="Card, D. and Krueger, A. B. (1994). Minimum wages and employment: a case "
        "study of the fast-food industry in New Jersey and Pennsylvania. American Economic "
        "Review 84(4), 772-793.",
        columns=_CK_COLUMNS,
        rows=820,
        url="https://raw.githubusercontent.com/UChicago-pol-methods/SOSC13200-W23/"
        "40e39596cdc022002244cd19de035ba3f501b03c/data/card-krueger.csv",
        source_sha256="16f311f19b85ccf724c8a2833a454710142d4e955434a1a527de2085c4344d41",
        csv_sha256="16f311f19b85ccf724c8a2833a454710142d4e955434a1a527de2085c4344d41",
    ),
    "sib_reoffending": DatasetInfo(
        name="sib_reoffending",
        kind="simulated",
        source="Simulated with impacteval.datasets.simulate_reoffending() at its default "
        "seed (20101) by scripts/make_sample_data.py; modelled loosely on the Peterborough "
        "social impact bond",
        licence="MIT (part of impacteval)",
        citation="Simulated data. Design modelled on: Jolliffe, D. and Hedderman, C. (2014). "
        "Peterborough Social Impact Bond: final report on cohort 1 analysis. Ministry of "
        "Justice / QinetiQ.",
        columns=_REOFFENDING_COLUMNS,
        rows=21_000,
    ),
    "dib_learning": DatasetInfo(
        name="dib_learning",
        kind="simulated",
        source="Simulated with impacteval.datasets.simulate_school_trial() at its default "
        "seed (20151) by scripts/make_sample_data.py; modelled loosely on the Educate Girls "
        "development impact bond",
        licence="MIT (part of impacteval)",
        citation="Simulated data. Design modelled on: IDinsight (2018). Educate Girls "
        "Development Impact Bond: final evaluation report.",
        columns=_SCHOOL_COLUMNS,
        rows=7_017,
    ),
}
