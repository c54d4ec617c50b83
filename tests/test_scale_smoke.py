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


@pytest.mark.slow
def test_spark_comparison_scores_both_engines_and_compares_their_outputs(tmp_path):
    pytest.importorskip("pyspark")
    proc = subprocess.run(
        [sys.executable, str(BENCH / "scale.py"), "--sizes", "200", "--engine", "spark", "--spark-master", "local[2]",
         "--data", str(tmp_path / "data"), "--out", str(tmp_path / "results")],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "results" / "scale.md").read_text()
    assert "## Polars vs Spark (`--engine spark --spark-master local[2]`)" in table
    assert "| 200 accounts |" in table and "| polars |" in table and "| spark |" in table
    report = json.loads((tmp_path / "results" / "scale.json").read_text())
    (polars,), (spark,) = report["runs"], report["spark"]["runs"]
    assert (polars["engine"], spark["engine"]) == ("polars", "spark") and polars["events"] == spark["events"]
    assert spark["same_as_polars"] == {"clusters": True, "edges": True}
    # Spark's JVM is a child of the driver: the process tree holds more than the driver alone.
    assert spark["tree_peak_gib"] > spark["peak_rss_gib"] > 0 and polars["tree_peak_gib"] >= polars["peak_rss_gib"] > 0
    assert not list((tmp_path / "data").glob("*.scored*"))  # both outputs removed after the comparison
