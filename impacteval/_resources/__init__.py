"""Files that ship with the package: sample data, example contracts, example report specs.

In the repository they live at the top level (``data/sample``, ``contracts``,
``examples``), where users and tests read and edit them. The wheel carries them inside this
package (``pyproject.toml`` maps ``impacteval._resources.<name>`` onto those folders), so
an installed impacteval finds them with :mod:`importlib.resources`; an editable install or
a source checkout falls back to the top-level folders. The relative paths inside the
example specs (``../data/sample/...``, ``../contracts/...``) hold in both layouts.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = ["resource_dir"]

Kind = Literal["examples", "contracts", "data/sample"]
_KINDS: tuple[str, ...] = ("examples", "contracts", "data/sample")


def resource_dir(kind: Kind) -> Path:
    """Folder holding the shipped ``kind`` files.

    Parameters
    ----------
    kind : {"examples", "contracts", "data/sample"}

    Returns
    -------
    pathlib.Path
        ``impacteval/_resources/<kind>`` of an installed wheel, else ``<checkout>/<kind>``
        (editable install); the path may not exist if neither layout holds the files.
    """
    if kind not in _KINDS:
        raise ValueError(f"`kind` must be one of {_KINDS}; received {kind!r}")
    packaged = Path(str(resources.files(__name__))).joinpath(*kind.split("/"))
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[2]
    return checkout.joinpath(*kind.split("/"))
