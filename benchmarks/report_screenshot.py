"""Screenshot of report.html in headless Chromium, for the record and for review.

    python -m benchmarks.report_screenshot [--accounts 2000] [--seed 7] [--out benchmarks/results]

Runs the demo (a simulated ``mixed`` data set, scored), opens its report.html
in Debian's Chromium driven by Playwright, and saves the top of the page and
the first flagged cluster's card as PNG files. It also prints every request
the page made (there should be exactly one: the file itself).

``launch_chromium`` is shared with the report's browser test, so both start
Chromium the same way: headless, no sandbox (we run as root in CI), and with
background networking off (this machine's network is closed, and a report
must not need it anyway).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

CHROMIUM = os.environ.get("COORDETECT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright):
    """Headless Chromium from the system (Debian's package), not a downloaded build."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM}: not found; install Debian's chromium (make test does: apt-get install chromium) or set COORDETECT_CHROMIUM")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def screenshot(report: Path, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Save the page top and the first card; return the files and the URLs the page requested."""
    from playwright.sync_api import sync_playwright

    out_dir.mkdir(parents=True, exist_ok=True)
    saved, requests = [], []
    with sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.resolve().as_uri())
        top = out_dir / "report.png"
        page.screenshot(path=str(top))
        saved.append(top)
        card = page.query_selector("section.card")
        if card is not None:
            card_file = out_dir / "report-card.png"
            card.screenshot(path=str(card_file))
            saved.append(card_file)
        browser.close()
    return saved, requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)

    from detector.cli import main as coordetect

    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        status = coordetect(["demo", "--accounts", str(args.accounts), "--seed", str(args.seed), "--out", str(demo), "--quiet"])
        if status:
            return status
        saved, requests = screenshot(demo / "scored" / "report.html", args.out)
    for path in saved:
        print(f"saved {path}")
    print(f"requests made by the page: {len(requests)} ({', '.join(sorted(set(r.split(':')[0] for r in requests)))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
