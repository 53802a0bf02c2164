"""Generate one API page per public subpackage from its ``__all__`` (nothing listed by hand).

Names added to a package's ``__all__`` appear on the next build.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

PACKAGES = [
    "impacteval",
    "impacteval.rct",
    "impacteval.did",
    "impacteval.matching",
    "impacteval.synth",
    "impacteval.diagnostics",
    "impacteval.inference",
    "impacteval.payments",
    "impacteval.reporting",
    "impacteval.datasets",
    "impacteval.plotting",
    "impacteval.exceptions",
]


def _page(package: str) -> str:
    module = importlib.import_module(package)
    title = f"``{package}``"
    lines = [title, "=" * len(title), "", f".. automodule:: {package}", "   :no-members:", ""]
    for name in sorted(getattr(module, "__all__", [])):
        obj: Any = getattr(module, name)
        if inspect.ismodule(obj) or name.startswith("__"):
            continue
        target = f"{package}.{name}"
        if inspect.isclass(obj):
            lines += [f".. autoclass:: {target}", "   :members:", ""]
        elif callable(obj):
            lines += [f".. autofunction:: {target}", ""]
        else:
            lines += [f".. autodata:: {target}", "   :no-value:", ""]
    return "\n".join(lines)


def generate(app: Any) -> None:
    out = Path(app.srcdir) / "_generated" / "api"
    out.mkdir(parents=True, exist_ok=True)
    index = ["API reference", "=============", "", ".. toctree::", "   :maxdepth: 1", ""]
    for package in PACKAGES:
        stem = package.replace(".", "_")
        (out / f"{stem}.rst").write_text(_page(package))
        index.append(f"   {stem}")
    (out / "index.rst").write_text("\n".join(index) + "\n")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
