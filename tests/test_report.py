"""report.html without a browser: what the page holds, that it names nothing outside itself, escaping, `coordetect report DIR`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from detector.cli import main
from detector.report import svg
from tests.hostile import IMG_TEXT, SCRIPT_HANDLE, hostile_copy


def run(*argv):
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    data = hostile_copy(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("score") / "out"
    assert run("score", data / "events.csv", "--accounts", data / "accounts.csv", "--quiet", "--out", out) == 0
    return out


def test_score_writes_a_card_for_each_flagged_cluster(scored):
    page = (scored / "report.html").read_text()
    flagged = pl.read_parquet(scored / "clusters.parquet").filter("flagged")
    assert flagged.height == 1
    assert page.count('<section class="card"') == 1 and f'id="cluster-{flagged["cluster_id"][0]}"' in page
    for picture in ('class="timeline"', 'class="burst"', 'class="graph"', 'class="histogram"'):
        assert picture in page, picture
    assert "6 of 6 members created within 24 hours of each other" in page
    assert page.count("<tr class=") == pl.read_parquet(scored / "clusters.parquet").height  # the sortable table


def test_page_refers_to_nothing_outside_itself(scored):
    page = (scored / "report.html").read_text()
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:|//|file:)""", page, re.I)
    assert "@import" not in page and "url(" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_input_markup_is_escaped_everywhere(scored):
    page = (scored / "report.html").read_text()
    assert SCRIPT_HANDLE not in page and "<img" not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page  # the member list, the timeline rows, the graph node titles
    assert "&#34;&gt;&lt;img src=x onerror=" in page or "&quot;&gt;&lt;img src=x onerror=" in page  # the shared post's text
    assert page.count("<script>") == 1  # only the page's own sorting script


def test_svg_pictures_escape_their_labels():
    picture = svg.subgraph(["<b>x</b>", "a&b"], [(0.0, 0.0), (1.0, 1.0)], [svg.GraphEdge(0, 1, 1.0, "share")])
    assert "<b>" not in picture and "&lt;b&gt;x&lt;/b&gt;" in picture and "a&amp;b" in picture
    timeline = svg.activity_timeline(['"><svg onload=1>'], [svg.TimelineCell(0, 0, 3, 1)], columns=10, start_s=0, end_s=3600)
    assert "<svg onload" not in timeline and "&lt;svg onload=1&gt;" in timeline


def test_report_command_rebuilds_the_same_page(scored):
    before = (scored / "report.html").read_bytes()
    (scored / "report.html").unlink()
    assert run("report", scored, "--quiet") == 0
    assert (scored / "report.html").read_bytes() == before


def test_report_refuses_changed_input_and_keeps_the_old_page(tmp_path, capsys):
    data = hostile_copy(tmp_path / "data")
    out = tmp_path / "out"
    assert run("score", data / "events.csv", "--accounts", data / "accounts.csv", "--quiet", "--out", out) == 0
    before = (out / "report.html").read_bytes()
    with open(data / "events.csv", "a") as handle:
        handle.write("e99999,user_01,2024-03-30T00:00:00Z,post,,late post,\n")
    assert run("report", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "events.csv" in err and "changed" in err
    assert (out / "report.html").read_bytes() == before
    moved = tmp_path / "moved"
    shutil.move(data, moved)
    assert run("report", out) == 2 and "is gone" in capsys.readouterr().err
    assert run("report", out, "--events", moved / "events.csv", "--accounts", moved / "accounts.csv", "--quiet") == 0


def test_report_needs_a_scored_folder(tmp_path, capsys):
    assert run("report", tmp_path / "nothing") == 2
    assert "nothing" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run("report", tmp_path / "empty") == 2
    assert "run.json" in capsys.readouterr().err


def test_a_run_with_nothing_flagged_says_so(tmp_path):
    events = tmp_path / "posts.csv"
    events.write_text("account_id,timestamp,action\na,2021-01-01T00:00:00Z,post\nb,2021-01-01T00:00:05Z,post\n")
    assert run("score", events, "--quiet", "--out", tmp_path / "o") == 0
    page = (tmp_path / "o" / "report.html").read_text()
    assert "No cluster scored above the threshold." in page and '<section class="card"' not in page


def test_copy_events_find_the_detectors_families_in_texts_with_links():
    """The report rebuilds copy families the way the detector named them: a text pasted with another t.co link each time is one family."""
    from detector.config import Config
    from detector.report.build import _copy_events

    pasted = "Stop the steal, everyone come out"
    members = pl.DataFrame({
        "event": ["e1", "e2", "e3"],
        "account_id": ["a", "b", "b"],
        "timestamp": pl.Series(["2024-01-01T00:00:00", "2024-01-01T00:01:00", "2024-01-01T00:02:00"]).str.to_datetime(time_zone="UTC"),
        "action": ["post", "post", "share"],
        "text": [f"{pasted} https://t.co/Xy12Ab34Cd", f"{pasted} https://t.co/Qr56St78Uv", f"{pasted} https://t.co/Mn90Op12Qr"],
    })
    family = "stop the steal, everyone come out"  # the detector's name: copy_text of the pasted text
    copies = _copy_events(members, pl.Series([family]), Config())
    assert copies.select("event", "object").rows() == [("e1", family), ("e2", family)]  # the share copies its original
