"""Smoke test of the scale benchmark: its ``--quick`` run scores two tiny sets end to end and records them.

Timings are never asserted; the table, the JSON and the growth fit must be there.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_quick_scale_run_records_both_sizes_and_a_fit(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH / "scale.py"), "--quick", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "results" / "scale.md").read_text()
    assert "| quick-300 | 300 |" in table and "| quick-900 | 900 |" in table
    report = json.loads((tmp_path / "results" / "scale.json").read_text())
    runs = report["runs"]
    assert [r["accounts"] for r in runs] == [300, 900]
    for run in runs:
        assert run["events"] > 1000 and run["seconds"] > 0 and run["peak_rss_gib"] > 0
        assert {"read", "coaction", "cluster", "score", "write"} <= set(run["stages_s"])
        assert abs(sum(run["shares"].values()) - 1.0) < 0.05
    assert report["growth"]["wall"] is not None and report["growth"]["peak_memory"] is not None
    assert report["slowest_stage"] in runs[-1]["stages_s"]
    # The cached data sets are reused on a second run (same simulator code).
    metas = sorted((tmp_path / "data").glob("*.meta.json"))
    assert len(metas) == 2
