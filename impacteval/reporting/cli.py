"""The ``impacteval`` command line.

``impacteval demo`` builds the Peterborough-style evaluation report (matched comparison of
the simulated releases in ``data/sample/sib_reoffending.csv``, settled under
``contracts/peterborough.toml``) into ``./report/`` and prints the paths.
``impacteval report SPEC -o DIR`` builds the report a spec describes;
``impacteval settle CONTRACT INPUTS`` settles a contract on estimates given as JSON;
``design``, ``ledger``, ``lock`` and ``schema`` serve contract design, the settlement
ledger, locked analysis plans and the JSON Schemas (``impacteval COMMAND --help``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from impacteval._resources import resource_dir

__all__ = ["DEMO_SPEC", "main"]

#: the demo's report spec: examples/peterborough.toml, shipped inside the package
#: (impacteval._resources; the repository's examples/ folder for an editable install)
DEMO_SPEC = resource_dir("examples") / "peterborough.toml"


def _report(spec: str | Path, output: str, name: str | None, pdf: bool = False) -> int:
    from impacteval.reporting import build_report
    from impacteval.reporting.build import print_pdf
    from impacteval.reporting.errors import ReportExecutionError, ReportSpecError

    try:
        paths = build_report(spec, output, name=name, progress=True)
    except (ReportSpecError, ReportExecutionError) as exc:
        print(f"impacteval: {exc}", file=sys.stderr)
        return 1
    verdict = _verdict(paths.notebook)
    if verdict:
        print(f"verdict:  {verdict}")
    print(f"notebook: {paths.notebook}")
    print(f"html:     {paths.html}")
    if pdf:
        try:
            print(f"pdf:      {print_pdf(paths.html)}")
        except ReportExecutionError as exc:
            print(f"impacteval: {exc}", file=sys.stderr)
            return 1
    return 0


def _verdict(notebook: Path) -> str:
    """The verdict sentence the build stored in the notebook's metadata ("" without one)."""
    import json

    meta = json.loads(notebook.read_text(encoding="utf-8")).get("metadata", {})
    return str(meta.get("impacteval", {}).get("verdict", ""))


def _demo(output: str, pdf: bool = False) -> int:
    if not DEMO_SPEC.is_file():
        print(
            f"impacteval demo: the demo spec {DEMO_SPEC} is not here; the installation is "
            "incomplete (reinstall impacteval, or run `make demo` in a clone)",
            file=sys.stderr,
        )
        return 1
    print("impacteval demo: Peterborough-style SIB report (simulated data, matched comparison)")
    return _report(DEMO_SPEC, output, None, pdf)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``impacteval`` command."""
    parser = argparse.ArgumentParser(prog="impacteval", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="build the Peterborough-style report into ./report")
    p_demo.add_argument("-o", "--output", default="report", help="output folder (./report)")
    p_demo.add_argument("--pdf", action="store_true", help="also print the HTML to PDF")
    p_report = sub.add_parser("report", help="build the report a spec (TOML) describes")
    p_report.add_argument("spec", help="report spec (TOML)")
    p_report.add_argument("-o", "--output", required=True, help="output folder")
    p_report.add_argument("--name", default=None, help="file stem (default: the spec's)")
    p_report.add_argument("--pdf", action="store_true", help="also print the HTML to PDF")
    from impacteval.payments.cli import register

    register(sub)  # settle, schema, design, ledger, lock
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is not None:
        return int(args.handler(args))
    if args.command == "demo":
        return _demo(args.output, args.pdf)
    if args.command == "report":
        return _report(args.spec, args.output, args.name, args.pdf)
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
