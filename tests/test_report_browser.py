"""report.html in headless Chromium (Debian's package, installed by `make test`): drawn, offline, and safe.

The page is opened from disk as an analyst would. Every request the page makes
is recorded; the only one allowed is the file itself. The pictures must be
drawn (elements with area, and screenshots that are not one flat colour), and
markup planted in a handle and a post must show as text without running.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl
import pytest
from playwright.sync_api import sync_playwright

from benchmarks.report_screenshot import launch_chromium
from detector.cli import main
from tests.hostile import IMG_TEXT, SCRIPT_HANDLE, hostile_copy

pytestmark = pytest.mark.slow


def run(*argv):
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


def open_report(browser, report: Path):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.resolve().as_uri())
    return page, requests, errors


def colours_in(png: bytes) -> int:
    """Distinct colours in a screenshot: a blank or flat area has one or two."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return len(image.getcolors(maxcolors=1 << 20) or [])


def ink_share(png: bytes) -> float:
    """Share of pixels that are clearly not the light background."""
    from PIL import Image

    grey = Image.open(io.BytesIO(png)).convert("L")
    histogram = grey.histogram()
    return sum(histogram[:200]) / max(sum(histogram), 1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    assert run("demo", "--accounts", 1500, "--seed", 7, "--out", out, "--quiet") == 0
    return out / "scored"


def test_generated_report_draws_cards_timelines_and_graphs_offline(browser, demo, tmp_path):
    flagged = pl.read_parquet(demo / "clusters.parquet").filter("flagged")
    assert flagged.height >= 2, "the demo data should give several flagged clusters"
    page, requests, errors = open_report(browser, demo / "report.html")
    cards = page.query_selector_all("section.card")
    assert len(cards) == min(flagged.height, 60)
    for card in cards:
        for selector, marks in (("svg.timeline", "rect"), ("svg.burst", "circle"), ("svg.graph", "line"), ("svg.histogram", "rect")):
            picture = card.query_selector(selector)
            if picture is None and selector == "svg.burst":
                # A farm (flagged on shared infrastructure and the objects it owns beyond chance) may have
                # no significant co-action link inside: no burst to draw, and the card says so.
                assert "no shared objects" in card.inner_text() and "expected by chance" in card.inner_text()
                continue
            assert picture is not None, selector
            box = picture.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 40, selector
            assert len(picture.query_selector_all(marks)) >= 2, selector
    first = cards[0]
    for selector in ("svg.timeline", "svg.graph"):
        shot = first.query_selector(selector).screenshot()
        assert colours_in(shot) > 8 and ink_share(shot) > 0.01, selector
    red = first.query_selector_all('svg.timeline rect[fill="#d62728"]')
    assert red, "the timeline marks actions on shared objects"
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert requests == [(demo / "report.html").resolve().as_uri()], requests
    assert errors == []
    page.close()


def test_cluster_table_sorts_on_click(browser, demo):
    page, _, errors = open_report(browser, demo / "report.html")

    def column(index: int) -> list[float]:
        return [float(v) for v in page.eval_on_selector_all(f"#cluster-table tbody tr td:nth-child({index})", "cells => cells.map(c => c.dataset.value)")]

    scores = column(3)
    assert scores == sorted(scores, reverse=True)
    page.click("#cluster-table th:nth-child(2)")  # accounts, largest first
    sizes = column(2)
    assert sizes == sorted(sizes, reverse=True)
    page.click("#cluster-table th:nth-child(2)")  # and again: smallest first
    assert column(2) == sorted(sizes)
    assert errors == []
    page.close()


def test_markup_in_handles_and_texts_shows_as_text(browser, tmp_path):
    data = hostile_copy(tmp_path / "data")
    out = tmp_path / "out"
    assert run("score", data / "events.csv", "--accounts", data / "accounts.csv", "--quiet", "--out", out) == 0
    page, requests, errors = open_report(browser, out / "report.html")
    text = page.inner_text("body")
    assert SCRIPT_HANDLE in text  # the member list shows the handle as typed
    assert IMG_TEXT in text  # the shared post's text, as typed
    assert page.evaluate("window.__pwned") is None  # neither ran
    assert page.query_selector_all("img") == []
    assert len(page.query_selector_all("script")) == 1
    assert requests == [(out / "report.html").resolve().as_uri()], requests
    assert errors == []
    page.close()
