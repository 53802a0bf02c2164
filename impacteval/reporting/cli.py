"""The ``impacteval`` command line.

``impacteval demo`` runs the randomised-trial analysis of the embedded simulated
Educate-Girls-like school trial (``dib_learning``) and prints it.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

__all__ = ["main"]


def _demo() -> int:
    import impacteval as ie
    from impacteval.exceptions import MissingDataWarning

    data = ie.datasets.load("dib_learning")
    print("impacteval demo: village-clustered school trial (simulated, `dib_learning`)")
    print(f"{len(data):,} girls in {data['village'].nunique():,} villages\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        dim = ie.rct.difference_in_means(
            data, outcome="endline_level", treatment="treatment", cluster="village"
        )
        lin = ie.rct.regression(
            data,
            outcome="endline_level",
            treatment="treatment",
            covariates=["baseline_level"],
            cluster="village",
            fixed_effects="stratum",
        )
    print(dim.summary().as_text(), "\n")
    print(lin.summary().as_text(), "\n")
    true = data.attrs.get("true_effect")
    if true is not None:
        print(f"True effect used by the simulator: {true}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``impacteval`` command."""
    parser = argparse.ArgumentParser(prog="impacteval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="analyse the embedded sample trial and print the results")
    p_settle = sub.add_parser("settle", help="settle an outcome contract on estimates (JSON)")
    p_settle.add_argument("contract", help="contract TOML file")
    p_settle.add_argument("inputs", help='JSON: {metric_id: {"estimate": x, "std_error": s}}')
    p_settle.add_argument("--audit-out", default=None, help="write the audit record (JSON)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo()
    if args.command == "settle":
        from impacteval.payments.cli import settle_command

        return int(settle_command(args.contract, args.inputs, args.audit_out))
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
