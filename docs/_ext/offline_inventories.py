"""Intersphinx inventories written locally, so cross-links work with no network.

The build (and CI) is offline, so the projects' own ``objects.inv`` files cannot be fetched,
and no installed package ships one. Instead this module writes a small inventory per project
for the objects these docs (and the docstrings' parameter types) mention, each pointing at
the page where that project's documentation puts the object. The URL patterns are the
projects' documented layouts (pandas ``reference/api/<name>.html``, numpy/scipy
``reference/generated/<name>.html``, scikit-learn ``modules/generated/<name>.html``,
statsmodels ``generated/<name>.html``, the Python library reference by module page).

Every name is imported while the inventory is written: a name that the installed version
does not have fails the build (no link to a page that cannot exist). To link a new object,
add it to ``OBJECTS``.
"""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path

# project -> (documentation root, {object name: (role, page relative to the root)});
# page None = the project's standard pattern for that name.
ROOTS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "statsmodels": "https://www.statsmodels.org/stable/",
}
PATTERNS = {
    "numpy": "reference/generated/{name}.html",
    "pandas": "reference/api/{name}.html",
    "scipy": "reference/generated/{name}.html",
    "sklearn": "modules/generated/{name}.html",
    "statsmodels": "generated/{name}.html",
}
OBJECTS: dict[str, dict[str, tuple[str, str | None]]] = {
    "python": {
        "decimal.Decimal": ("class", "library/decimal.html#decimal.Decimal"),
        "pathlib.Path": ("class", "library/pathlib.html#pathlib.Path"),
        "tomllib.loads": ("function", "library/tomllib.html#tomllib.loads"),
        "hashlib.sha256": ("function", "library/hashlib.html#hashlib.sha256"),
    },
    "numpy": {
        "numpy.ndarray": ("class", None),
        "numpy.random.Generator": (
            "class",
            "reference/random/generator.html#numpy.random.Generator",
        ),
        "numpy.random.default_rng": (
            "function",
            "reference/random/generator.html#numpy.random.default_rng",
        ),
        "numpy.linalg.lstsq": ("function", None),
    },
    "pandas": {
        "pandas.DataFrame": ("class", None),
        "pandas.Series": ("class", None),
        "pandas.Index": ("class", None),
        "pandas.MultiIndex": ("class", None),
        "pandas.read_csv": ("function", None),
        "pandas.DataFrame.pivot": ("method", None),
        "pandas.DataFrame.to_csv": ("method", None),
    },
    "scipy": {
        "scipy.stats.norm": ("data", None),
        "scipy.stats.t": ("data", None),
        "scipy.optimize.brentq": ("function", None),
        "scipy.optimize.minimize": ("function", None),
        "scipy.linalg.qr": ("function", None),
    },
    "sklearn": {
        "sklearn.linear_model.LogisticRegression": ("class", None),
        "sklearn.linear_model.LinearRegression": ("class", None),
        "sklearn.linear_model.Ridge": ("class", None),
        "sklearn.ensemble.GradientBoostingClassifier": ("class", None),
        "sklearn.ensemble.GradientBoostingRegressor": ("class", None),
        "sklearn.ensemble.RandomForestClassifier": ("class", None),
        "sklearn.ensemble.RandomForestRegressor": ("class", None),
        "sklearn.base.clone": ("function", None),
    },
    "statsmodels": {
        "statsmodels.regression.linear_model.OLS": ("class", None),
        "statsmodels.regression.linear_model.WLS": ("class", None),
        "statsmodels.discrete.discrete_model.Logit": ("class", None),
        "statsmodels.stats.power.TTestIndPower": ("class", None),
        "statsmodels.stats.multitest.multipletests": ("function", None),
        "statsmodels.stats.sandwich_covariance.cov_hc2": ("function", None),
    },
}
# glossary terms and labels that numpydoc's default type aliases point at ("sequence",
# "iterable", "bool", "array_like"): project -> [(name, domain:role, page#anchor, title)]
LABELS: dict[str, list[tuple[str, str, str, str]]] = {
    "python": [
        ("sequence", "std:term", "glossary.html#term-sequence", "sequence"),
        ("iterable", "std:term", "glossary.html#term-iterable", "iterable"),
        ("mapping", "std:term", "glossary.html#term-mapping", "mapping"),
        ("callable", "std:term", "glossary.html#term-callable", "callable"),
        (
            "bltin-boolean-values",
            "std:label",
            "library/stdtypes.html#bltin-boolean-values",
            "Boolean Values",
        ),
    ],
    "numpy": [
        ("array_like", "std:term", "glossary.html#term-array_like", "array_like"),
        ("array-like", "std:term", "glossary.html#term-array-like", "array-like"),
    ],
}


def _resolve(name: str) -> object:
    """Import ``name`` (module path plus attributes); raise if it does not exist."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def write(folder: Path) -> dict[str, tuple[str, str]]:
    """Write ``<project>.inv`` into ``folder``; return an ``intersphinx_mapping``."""
    folder.mkdir(parents=True, exist_ok=True)
    mapping: dict[str, tuple[str, str]] = {}
    for project, objects in OBJECTS.items():
        lines = []
        for name, (role, page) in sorted(objects.items()):
            try:
                _resolve(name)
            except (ImportError, AttributeError) as exc:
                raise RuntimeError(
                    f"offline inventory: {name!r} does not exist in the installed {project} "
                    f"({exc}); remove it from docs/_ext/offline_inventories.py"
                ) from exc
            uri = page or PATTERNS[project].format(name=name)
            lines.append(f"{name} py:{role} 1 {uri} -")
        for name, role, uri, title in LABELS.get(project, []):
            lines.append(f"{name} {role} -1 {uri} {title}")
        header = (
            "# Sphinx inventory version 2\n"
            f"# Project: {project}\n"
            "# Version: \n"
            "# The remainder of this file is compressed using zlib.\n"
        )
        body = zlib.compress(("\n".join(lines) + "\n").encode())
        path = folder / f"{project}.inv"
        path.write_bytes(header.encode() + body)
        mapping[project] = (ROOTS[project], str(path))
    return mapping
