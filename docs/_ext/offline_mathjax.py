"""MathJax served from the built site itself, so formulas render with no network.

Sphinx loads MathJax from a CDN by default; offline (CI, an evaluator's air-gapped
machine) the formulas of the user guide would then show as raw TeX. The ``docs`` extra
installs ``django-static-mathjax`` (MathJax 3.2.2's distribution files, Apache-2.0, as a
Python package with no dependencies); this module copies the one component the site needs
(``es5/tex-mml-chtml.js``) and its web fonts into ``_generated/mathjax/``, which conf.py
adds to ``html_static_path``. Without that package the CDN default is kept.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

COMPONENT = "tex-mml-chtml.js"
FONTS = Path("output") / "chtml" / "fonts" / "woff-v2"


def _distribution() -> Path | None:
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        return None
    es5 = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    return es5 if (es5 / COMPONENT).is_file() and (es5 / FONTS).is_dir() else None


def install(target: Path) -> str | None:
    """Copy MathJax into ``target/mathjax``; return its ``mathjax_path`` or None."""
    es5 = _distribution()
    if es5 is None:
        return None
    out = target / "mathjax"
    (out / FONTS).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(es5 / COMPONENT, out / COMPONENT)
    for font in (es5 / FONTS).iterdir():
        shutil.copyfile(font, out / FONTS / font.name)
    return f"mathjax/{COMPONENT}"
