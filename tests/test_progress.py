"""Progress reporting: a live status line for a person at a terminal, silence otherwise."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from detector.cli import main
from detector.config import Config
from detector.io import read_dataset
from detector.pipeline import detect
from detector.progress import silent, status_line

FIXTURE = Path(__file__).parent / "fixtures" / "planted"


def test_pipeline_reports_every_stage_and_signal():
    data = read_dataset(FIXTURE / "events.csv", accounts_path=FIXTURE / "accounts.csv")
    heard: list[str] = []
    detect(data.events, data.accounts, Config(), report=heard.append)
    assert heard[0] == "coaction..."
    assert any(m.startswith("co-action: share (") for m in heard)
    assert any(m.startswith("co-action: copied texts") for m in heard)
    for stage in ("infrastructure...", "identity...", "cluster...", "score..."):
        assert stage in heard


def test_status_line_draws_on_a_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80)
    with status_line(True, console=console) as report:
        report("co-action: share (1/3)")
    assert "co-action: share (1/3)" in buffer.getvalue()


def test_status_line_is_silent_off_a_terminal():
    with status_line(False) as report:
        assert report is silent


def test_score_prints_no_progress_into_a_pipe(tmp_path, capsys):
    assert main(["score", str(FIXTURE / "events.csv"), "--out", str(tmp_path / "o")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "clusters flagged" in captured.out
