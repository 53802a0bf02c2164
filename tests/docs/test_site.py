"""The built documentation site renders in headless Chromium without console errors.

Needs the site (``make docs``) and the Debian ``chromium`` package. ``.ci/run`` builds the
site first and sets ``IMPACTEVAL_REQUIRE_DOCS=1``, so in CI a missing site or browser is a
failure; elsewhere the test is skipped with the reason printed (``-ra``).
Screenshots are written to ``docs/_build/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from impacteval.reporting.build import CHROMIUM_HEADLESS_FLAGS

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "docs" / "_build" / "html"
SHOTS = ROOT / "docs" / "_build" / "screenshots"
PAGES = {
    "home": "index.html",
    "api": "_generated/api/impacteval_rct.html",
    "notebook": "gallery/00_quickstart.html",
    "user_guide": "user_guide/index.html",
    "design": "user_guide/did.html",
    "choosing": "user_guide/choosing.html",
    "validation": "_generated/validation/rct.html",
}
FLAGS = [
    *CHROMIUM_HEADLESS_FLAGS,
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1280,1000",
    "--hide-scrollbars",
]
# console messages Chromium logs for uncaught exceptions, console.error and failed loads
CONSOLE_ERROR = re.compile(r"CONSOLE.*(Uncaught|Error|error|Failed to load)|ERR_FILE_NOT_FOUND")


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _prerequisites() -> str:
    missing = []
    if not (SITE / "index.html").is_file():
        missing.append(f"no built site at {SITE} (run `make docs`)")
    if _chromium() is None:
        missing.append("no chromium on PATH (apt-get install chromium)")
    if missing and os.environ.get("IMPACTEVAL_REQUIRE_DOCS") == "1":
        pytest.fail("; ".join(missing))
    if missing:
        pytest.skip("; ".join(missing))
    return str(_chromium())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_renders_without_console_errors(name: str) -> None:
    browser = _prerequisites()
    page = SITE / PAGES[name]
    assert page.is_file(), f"{PAGES[name]} is missing from the built site"
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{name}.png"
    shot.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert run.returncode == 0, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if CONSOLE_ERROR.search(line)]
    assert not errors, "\n".join(errors)
    assert shot.is_file() and shot.stat().st_size > 10_000, "no (or an empty) screenshot"
    html = page.read_text()
    assert "<main" in html and "impacteval" in html
