"""The report as a person receives it: opened in a real browser, offline, printed; the workbook reopened.

Chromium is Debian's `chromium` (installed by .ci/run). Network: the browser is pointed at a proxy listening
on 127.0.0.1 that records every connection, so a request the page made would be seen there and would never
leave the machine.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest

from fluxopt.report.html import gather, report_files, write_report
from report_factories import base_config, recount_counted, recount_targets, rich_scenario

AS_OF = dt.date(2026, 6, 30)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Chromium's own service pings (component updater, account service, time): made by the browser, not by the
# page; the local proxy catches them too, so they never leave the machine either. Hosts that pages load
# resources from (web fonts, script CDNs, analytics) never count as the browser's.
BROWSER_SERVICE_SUFFIXES = (".google.com", ".googleapis.com", ".gvt1.com", ".gvt2.com")
PAGE_RESOURCE_HOSTS = {
    "fonts.googleapis.com",
    "fonts.gstatic.com",
    "ajax.googleapis.com",
    "storage.googleapis.com",
    "maps.googleapis.com",
    "www.google-analytics.com",
    "www.googletagmanager.com",
}


def page_requests(hosts: set[str]) -> set[str]:
    """Hosts a page could have asked for: everything but the browser's own service hosts."""
    return {h for h in hosts if h in PAGE_RESOURCE_HOSTS or not h.endswith(BROWSER_SERVICE_SUFFIXES)}


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium introuvable (apt-get install chromium) ; .ci/run l'installe en CI",
)


class _Proxy:
    """A loopback listener that records the first bytes of every connection and closes it."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(32)
        self.port = self.server.getsockname()[1]
        self.requests: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.requests.append(conn.recv(300).decode("latin-1"))
            except OSError:
                self.requests.append("?")
            finally:
                conn.close()

    def hosts(self) -> set[str]:
        out = set()
        for r in self.requests:
            m = re.match(r"(?:CONNECT|GET|POST|HEAD|PUT|OPTIONS) (?:https?://)?([^/:\s]+)", r)
            out.add(m.group(1) if m else r[:40])
        return out

    def close(self) -> None:
        self.server.close()


def chromium(*args: str, proxy: _Proxy) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None, "chromium est requis en CI (.ci/run l'installe)"
    profile = tempfile.mkdtemp(prefix="fluxopt-chromium-")
    try:
        return subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-pings",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                f"--proxy-server=http://127.0.0.1:{proxy.port}",
                "--proxy-bypass-list=<-loopback>",
                "--hide-scrollbars",
                *args,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scenario, _ = rich_scenario()
    folder = tmp_path_factory.mktemp("rapport")
    write_report(scenario, folder, as_of=AS_OF)
    return folder


class _Resources(HTMLParser):
    """Collects every tag and attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action", "poster", "data", "srcset") and value:
                self.urls.append(value)


def test_html_is_self_contained(written: Path) -> None:
    html = (written / "rapport.html").read_text(encoding="utf-8")
    parser = _Resources()
    parser.feed(html)
    assert not {"script", "link", "iframe", "img", "object", "embed"} & set(parser.tags)
    assert all(u.startswith("#") for u in parser.urls), [u for u in parser.urls if not u.startswith("#")][:5]
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "@media print" in html and "@page" in html
    assert html.count("<svg") >= 1 + 7 + 1  # gap bars, one cumulative chart per convention, heat map


@needs_chromium
def test_the_browser_shows_the_charts_and_requests_nothing(written: Path, tmp_path: Path) -> None:
    proxy = _Proxy()
    try:
        shot = tmp_path / "rapport.png"
        dom = chromium(
            "--dump-dom",
            f"--screenshot={shot}",
            "--window-size=1280,2400",
            (written / "rapport.html").as_uri(),
            proxy=proxy,
        )
    finally:
        proxy.close()
    text = dom.stdout.decode("utf-8")
    assert text.count("<svg") >= 9, dom.stderr.decode("utf-8", "replace")[-2000:]
    assert "Suivi de la gestion en flux" in text and "AL-92" in text
    assert not page_requests(proxy.hosts()), proxy.requests
    # The screenshot is a real picture: many colours, not a blank page.
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2400)
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 200
    white = (
        max(count for count, c in colours if c == (255, 255, 255))
        if any(c == (255, 255, 255) for _, c in colours)
        else 0
    )
    assert white < 0.95 * image.size[0] * image.size[1]
    keep = os.environ.get("FLUXOPT_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


@needs_chromium
def test_the_harness_would_see_a_request_from_the_page(tmp_path: Path) -> None:
    """Positive control: a page that loads an image from a host is caught by the local proxy."""
    page = tmp_path / "canary.html"
    page.write_text(
        '<html><body><img src="http://canary.fluxopt.invalid/x.png"></body></html>', encoding="utf-8"
    )
    proxy = _Proxy()
    try:
        chromium("--dump-dom", page.as_uri(), proxy=proxy)
    finally:
        proxy.close()
    assert "canary.fluxopt.invalid" in page_requests(proxy.hosts())


@needs_chromium
def test_it_prints_on_several_landscape_pages(written: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "rapport.pdf"
    proxy = _Proxy()
    try:
        chromium(
            f"--print-to-pdf={pdf}",
            "--no-pdf-header-footer",
            (written / "rapport.html").as_uri(),
            proxy=proxy,
        )
    finally:
        proxy.close()
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 5  # one section per page at least for the big ones
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert box is not None and float(box.group(1)) > float(box.group(2))  # landscape


def test_outputs_are_byte_identical(written: Path) -> None:
    scenario, _ = rich_scenario()
    again = report_files(gather(scenario, as_of=AS_OF))
    assert again == {name: (written / name).read_bytes() for name in again}


def test_html_figures_match_a_recount(written: Path) -> None:
    _, raw = rich_scenario()
    html = (written / "rapport.html").read_text(encoding="utf-8")
    targets = recount_targets(base_config(), raw, 2026, AS_OF)
    counted = recount_counted(base_config(), raw, 2026, AS_OF)
    for conv in ("AL-92", "VILLE", "CD93"):
        row = re.search(rf"<tr><td>{re.escape(conv)}</td>(.*?)</tr>", html, re.S)
        assert row is not None, conv
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        target = f"{targets[conv]:.1f}".replace(".", ",")
        assert target in cells, (conv, target, cells)
        assert str(counted[conv]) in cells


def test_workbook_reopens_with_sheets_charts_and_recounted_figures(written: Path) -> None:
    _, raw = rich_scenario()
    book = openpyxl.load_workbook(written / "rapport.xlsx")
    assert book.sheetnames == ["Conventions", "Détail", "Cumul mensuel", "Obligations"]
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate)
    ws = book["Conventions"]
    header = next(r for r in range(1, 12) if ws.cell(r, 1).value == "Convention")
    headers = [ws.cell(header, c).value for c in range(1, ws.max_column + 1)]
    assert ws.freeze_panes == f"A{header + 1}" and ws.auto_filter.ref
    assert len(ws._charts) == 2 and len(book["Cumul mensuel"]._charts) == 7
    col = {h: i + 1 for i, h in enumerate(headers)}
    targets = recount_targets(base_config(), raw, 2026, AS_OF)
    counted = recount_counted(base_config(), raw, 2026, AS_OF)
    seen = set()
    for r in range(header + 1, ws.max_row + 1):
        conv = ws.cell(r, 1).value
        if conv is None:
            continue
        seen.add(conv)
        assert ws.cell(r, col["Objectif à date"]).value == pytest.approx(round(targets[conv], 2))
        assert ws.cell(r, col["Imputés"]).value == counted[conv]
        share = ws.cell(r, col["Part du flux (%)"])
        if conv != "BAILLEUR":
            assert share.number_format == "0.0%" and 0 < share.value < 1
    assert seen == set(targets)
