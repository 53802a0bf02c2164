"""The built demo report as its readers get it: privacy of every table, and a real browser.

The demo report is built once (``impacteval demo``). The privacy scan reads every table of
the HTML (page one, every output) and refuses any count of people from 1 to
``min_cell_size - 1``. The browser test opens the report in headless Chromium (Debian's
``chromium``; ``.ci/run`` installs it when missing) and checks, with a script injected
into a copy of the page, that the verdict and the payment-chain table are in the first
viewport, that nothing overflows horizontally and that every image loaded.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from impacteval.reporting import ReportPaths
from impacteval.reporting.build import CHROMIUM_HEADLESS_FLAGS
from impacteval.reporting.cli import main

pytestmark = pytest.mark.slow

MIN_CELL_SIZE = 10  # examples/peterborough.toml, [equity] min_cell_size
#: table headers that count people or rows of people
COUNT_HEADER = re.compile(
    r"^(n|n_\w+|rows|treated|control|units|people|count|assigned|observed|excluded|"
    r"refused|refusals|exclusions|rows analysed|value)$"
)
CHROMIUM_FLAGS = list(CHROMIUM_HEADLESS_FLAGS)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> ReportPaths:
    out = tmp_path_factory.mktemp("reader") / "report"
    assert main(["demo", "-o", str(out)]) == 0
    return ReportPaths(out / "peterborough.ipynb", out / "peterborough.html")


class _Tables(HTMLParser):
    """Every <table> of a page as (headers, rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[list[str], list[list[str]]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._head: list[str] = []
        self._rows: list[list[str]] = []
        self._in_head = False
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            self._head, self._rows = [], []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._in_head:
                self._head = self._row  # the last header row names the columns
            else:
                self._rows.append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self.tables.append((self._head, self._rows))
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def small_counts(page: str, min_cell_size: int) -> list[str]:
    """Cells of count columns holding an integer from 1 to ``min_cell_size - 1``."""
    parser = _Tables()
    parser.feed(page)
    found = []
    for head, rows in parser.tables:
        for row in rows:
            # row headers (index cells) shift the data cells right: align from the right
            offset = len(row) - len(head)
            for j, name in enumerate(head):
                if not COUNT_HEADER.match(name.strip().lower()):
                    continue
                k = j + offset if offset >= 0 else j
                if not 0 <= k < len(row):
                    continue
                cell = row[k].replace(",", "")
                if re.fullmatch(r"\d+", cell) and 1 <= int(cell) < min_cell_size:
                    found.append(f"{head} / {row}: {name} = {cell}")
    return found


def test_the_scan_finds_a_small_count_when_there_is_one() -> None:
    page = (
        "<table><thead><tr><th></th><th>step</th><th>treated</th></tr></thead>"
        "<tbody><tr><th>0</th><td>died</td><td>5</td></tr></tbody></table>"
    )
    assert small_counts(page, 10) == ["['', 'step', 'treated'] / ['0', 'died', '5']: treated = 5"]
    assert small_counts(page.replace(">5<", ">15<"), 10) == []


def test_no_table_of_the_demo_report_shows_a_count_below_the_threshold(demo: ReportPaths) -> None:
    page = demo.html.read_text(encoding="utf-8")
    assert small_counts(page, MIN_CELL_SIZE) == []
    # the same holds for the notebook's HTML outputs, which the HTML is made from
    nb = nbformat.read(demo.notebook, as_version=4)
    outputs = "".join(
        o.data["text/html"]
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.outputs
        if "data" in o and "text/html" in o.data
    )
    assert small_counts(outputs, MIN_CELL_SIZE) == []
    # and the masking is visible: the sample flow's small exclusions are shown as masked
    assert f"&lt;{MIN_CELL_SIZE}" in page and "suppressed" in page


def test_page_one_comes_before_any_code_and_the_html_hides_code(demo: ReportPaths) -> None:
    page = demo.html.read_text(encoding="utf-8")
    verdict = page.index('class="ie-verdict"')
    assert verdict < page.index("<h2") and verdict < page.index('id="1.-Data"')
    assert "is due under the Peterborough SIB contract" in page
    # the pre-registration status is on page one, before section 1 (issue 14, item 6)
    plan = page.index("Pre-registered plan")
    assert plan < page.index('id="1.-Data"')
    assert page[plan : plan + 400].count("verified against the plan locked") == 1
    assert (
        "rt.decision_page(" not in page and "ie.payments.Contract" not in page
    )  # no code in the reader's HTML
    assert "/tmp/" not in page and "ipykernel" not in page  # no temporary kernel paths
    nb = nbformat.read(demo.notebook, as_version=4)
    assert nb.cells[1].cell_type == "markdown" and "ie-verdict" in nb.cells[1].source
    assert any(c.cell_type == "code" for c in nb.cells)  # the notebook keeps its code


PROBE = """<script>
window.addEventListener('load', () => {
  const vw = window.innerWidth, vh = window.innerHeight;
  const box = el => { if (!el) return null; const b = el.getBoundingClientRect();
    return {top: b.top, bottom: b.bottom, right: b.right}; };
  const over = [];
  for (const el of document.body.querySelectorAll('*')) {
    const b = el.getBoundingClientRect();
    if (b.width > 0 && b.height > 0 && b.right > vw + 1)
      over.push(el.tagName + '.' + String(el.className).slice(0, 60));
  }
  const imgs = Array.from(document.images);
  const res = {vw: vw, vh: vh, verdict: box(document.querySelector('.ie-verdict')),
    chain: box(document.querySelector('table.ie-chain')), overflow: over.slice(0, 30),
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    verdict_text: (document.querySelector('.ie-verdict') || {}).textContent || ''};
  const out = document.createElement('pre'); out.id = 'ie-check';
  out.textContent = JSON.stringify(res); document.body.appendChild(out);
});
</script>"""


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("headless Chromium is not installed (.ci/run installs Debian's chromium)")
    return exe


def test_demo_report_in_a_real_browser(demo: ReportPaths, tmp_path: Path) -> None:
    exe = _chromium()
    page = demo.html.read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,900"]
    dom = subprocess.run(
        [exe, *flags, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    match = re.search(r'<pre id="ie-check">(.*?)</pre>', dom, re.S)
    assert match, "the probe did not run"
    res = json.loads(match.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    # the verdict and the start of the payment-chain table are on the first screen
    assert res["verdict"] is not None and res["verdict"]["bottom"] <= res["vh"], res
    assert res["chain"] is not None and res["chain"]["top"] < res["vh"], res
    assert "is due" in res["verdict_text"]
    assert res["overflow"] == [], res["overflow"]
    assert res["images"] >= 3 and res["broken"] == 0, res
    shot = tmp_path / "first_screen.png"
    subprocess.run(
        [exe, *flags, f"--screenshot={shot}", demo.html.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_report_prints_to_pdf(demo: ReportPaths, tmp_path: Path) -> None:
    from impacteval.reporting.build import print_pdf

    _chromium()
    pdf = print_pdf(demo.html, tmp_path / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
