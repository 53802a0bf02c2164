"""The command-line reference, generated from the ``impacteval`` argument parser.

The parser is built inside :func:`impacteval.reporting.cli.main`; it is captured by
intercepting ``parse_args`` (nothing is run), so new subcommands appear on the next build.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__("captured")
        self.parser = parser


def _parser() -> argparse.ArgumentParser:
    from impacteval.reporting import cli

    original = argparse.ArgumentParser.parse_args

    def capture(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        raise _Captured(self)

    argparse.ArgumentParser.parse_args = capture  # type: ignore[method-assign]
    try:
        cli.main(["--help"])
    except _Captured as done:
        return done.parser
    finally:
        argparse.ArgumentParser.parse_args = original  # type: ignore[method-assign]
    raise RuntimeError("impacteval.reporting.cli.main did not build a parser")


def generate(app: Any) -> None:
    parser = _parser()
    lines = ["# Command-line reference", "", "Generated from the argument parser.", ""]
    lines += ["```text", parser.format_help().rstrip(), "```", ""]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                lines += [f"## `impacteval {name}`", "", "```text"]
                lines += [sub.format_help().rstrip(), "```", ""]
    out = Path(app.srcdir) / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cli.md").write_text("\n".join(lines))


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True}
