"""Sphinx configuration of the impacteval documentation site (``make docs``).

Why Sphinx: the docstrings are numpydoc, which Sphinx renders natively (numpydoc), the
notebooks are executed at build time by MyST-NB, and Sphinx's ``-W`` plus ``nitpicky`` turn
every broken cross-reference into a build failure.

This build is offline (no intersphinx inventory can be fetched, and no installed package
ships one): references to our own objects resolve through autodoc; references to
Python/numpy/pandas/scipy/scikit-learn/statsmodels objects resolve through small inventories
written locally at every build (``_ext/offline_inventories.py``: each listed name is
imported, and linked to its page in that project's online documentation). Objects not
listed there stay plain text; ``nitpicky`` stays off until every docstring type resolves.

Pages generated on every build (never committed; under ``_generated/``):

* ``api/``: one page per subpackage from its ``__all__`` (``_ext/api_pages.py``);
* ``contracts/``: the contract language from :mod:`impacteval.payments.schema` and the
  loader's key sets, the report spec, and the shipped contracts (``_ext/contract_pages.py``);
* ``cli.md``: the command-line reference from the argument parser (``_ext/cli_page.py``);
* ``validation/``: the validation pages, from running the reference tests
  (``_ext/validation_pages.py`` with the pytest plugin ``_ext/validation_recorder.py``);
* ``inventories/``: the offline intersphinx inventories (``_ext/offline_inventories.py``);
* ``static/mathjax/``: MathJax copied from the ``docs`` extra (``_ext/offline_mathjax.py``).

The user guide (``user_guide/``) is written by hand; its examples are executed at build
time by MyST-NB (``{code-cell}`` blocks), like the gallery notebooks.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from offline_inventories import write as write_inventories  # noqa: E402
from offline_mathjax import install as install_mathjax  # noqa: E402

import impacteval  # noqa: E402

project = "impacteval"
author = "impacteval developers"
copyright = "impacteval developers"
release = impacteval.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "api_pages",
    "contract_pages",
    "cli_page",
    "validation_pages",
    "sphinx.ext.intersphinx",
]

# -- intersphinx (offline: local inventories, see the module docstring) -----------------
intersphinx_mapping = write_inventories(HERE / "_generated" / "inventories")
intersphinx_cache_limit = 0

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "gallery/.ipynb_checkpoints",
    "**/.ipynb_checkpoints",
    "README.md",
]

# every reference must resolve (own objects through autodoc, others through offline_xref)
# TODO(issue 18): nitpicky = True with an offline resolver for pandas/numpy/statsmodels
nitpicky = False
# numpydoc type phrases that are prose, not objects
nitpick_ignore_regex = [
    (
        "py:class",
        r"(optional|default.*|or|of|and|None|callable|array[-_ ]like|sequence"
        r"|iterable|mapping|scalar|positive|non-negative|tuple of .*|list of .*|dict of .*"
        r"|int or .*|float or .*|str or .*|bool or .*|\{.*\}|.*\}|\{.*|'.*'|\".*\"|-?\d.*)",
    ),
]

# -- autodoc / autosummary / numpydoc -----------------------------------------------------
autodoc_default_options = {"members": False, "inherited-members": False}
autodoc_typehints = "none"  # the numpydoc Parameters section states the types
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# parameter types are cross-referenced: pandas/numpy/... objects through the offline
# inventories, ours through autodoc; unresolved words stay plain text (nitpicky is off)
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "DataFrame": "pandas.DataFrame",
    "Series": "pandas.Series",
    "ndarray": "numpy.ndarray",
    "Generator": "numpy.random.Generator",
    "Decimal": "decimal.Decimal",
    "Path": "pathlib.Path",
    "EffectEstimate": "impacteval.EffectEstimate",
    "EffectTable": "impacteval.EffectTable",
}
numpydoc_xref_ignore = {"optional", "default", "of", "or", "and", "type", "shape", "length"}
numpydoc_validation_checks: set[str] = set()

# -- MyST / MyST-NB --------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# executed at build time, so the gallery never shows stale outputs. "cache" keeps the
# outputs in _build/.jupyter_cache keyed by the notebook's code: a rebuild re-runs only the
# notebooks whose code changed. IMPACTEVAL_DOCS_EXECUTE=force re-runs every notebook.
nb_execution_mode = os.environ.get("IMPACTEVAL_DOCS_EXECUTE", "cache")
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
nb_execution_timeout = 900
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_execution_excludepatterns: list[str] = []

# -- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"impacteval {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# the validation pages' tables need the width (each page links the others)
html_sidebars = {"_generated/validation/*": []}
html_static_path = ["_static"]
# MathJax from the site itself when the docs extra provides it (offline formulas)
_mathjax = install_mathjax(HERE / "_generated" / "static")
if _mathjax is not None:
    html_static_path.append("_generated/static")
    mathjax_path = _mathjax
html_css_files = ["impacteval.css"]
html_show_sourcelink = False
