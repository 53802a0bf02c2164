"""Write the simulated sample datasets to ``data/sample``.

Usage (from the repository root)::

    python scripts/make_sample_data.py [--out DIR]

Writes ``sib_reoffending.csv`` (:func:`impacteval.datasets.simulate_reoffending`) and
``dib_learning.csv`` (:func:`impacteval.datasets.simulate_school_trial`) at the simulators'
default arguments and seeds. Floats are written at full precision (shortest round-trip
representation), so ``impacteval.datasets.load`` returns exactly the simulated values; a
unit test checks that the committed files equal a fresh simulation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from impacteval.datasets import simulate_reoffending, simulate_school_trial

OUT_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` without its index, floats at full precision, Unix line endings."""
    df.to_csv(path, index=False, float_format=None, lineterminator="\n")


def main(argv: list[str] | None = None) -> None:
    """Simulate both datasets at their defaults and write them as CSV."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    for name, df in (
        ("sib_reoffending", simulate_reoffending()),
        ("dib_learning", simulate_school_trial()),
    ):
        path = out / f"{name}.csv"
        write_csv(df, path)
        print(f"wrote {path}: {len(df)} rows, true_effect={df.attrs['true_effect']!r}")


if __name__ == "__main__":
    main()
