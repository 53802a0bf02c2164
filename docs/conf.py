"""Sphinx configuration of the impacteval documentation site (``make docs``).

Why Sphinx: the docstrings are numpydoc, which Sphinx renders natively (numpydoc), the
notebooks are executed at build time by MyST-NB, and Sphinx's ``-W`` plus ``nitpicky`` turn
every broken cross-reference into a build failure.

This build is offline (no intersphinx inventories can be fetched): references to our own
objects resolve through autodoc; numpy/pandas/statsmodels/scikit-learn types are shown as
plain text for now (not yet cross-linked), and ``nitpicky`` is off until they are.

Pages generated on every build (never committed; under ``_generated/``):

* ``api/``: one page per subpackage from its ``__all__`` (``_ext/api_pages.py``);
* ``contracts/``: the contract language from :mod:`impacteval.payments.schema` and the
  loader's key sets, the report spec, and the shipped contracts (``_ext/contract_pages.py``);
* ``cli.md``: the command-line reference from the argument parser (``_ext/cli_page.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

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
]

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
# types stay plain text: numpydoc would link them to the numpy/python glossaries, which
# need intersphinx inventories (network); this build is offline
numpydoc_xref_param_type = False
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
html_static_path: list[str] = []
html_show_sourcelink = False
