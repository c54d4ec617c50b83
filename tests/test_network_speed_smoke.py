"""Smoke test of the network speed benchmark, plus its generator and agreement check.

The benchmark itself is run once on its small ``--quick`` set: it must finish,
time both tools and find the same pairs. Timings are never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    """Import a benchmark script by path (benchmarks/ is not a package)."""
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it executes
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


gen_events = _load("gen_events")
network_speed = _load("network_speed")


def test_generator_is_seeded_and_shaped_like_the_toolkit_csv():
    spec = gen_events.GenSpec(events=3_000, seed=3)
    first = gen_events.generate(spec)
    assert_frame_equal(first, gen_events.generate(spec))
    assert not first.equals(gen_events.generate(gen_events.GenSpec(events=3_000, seed=4)))
    assert tuple(first.columns) == gen_events.CNTK_COLUMNS
    assert first.height == 3_000
    reposts = first.filter(pl.col("repost_id").is_not_null())
    # Every repost points at an earlier original post (one with neither repost nor reply id).
    parents = first.select("message_id", "timestamp", "repost_id", "reply_id").join(
        reposts.select(pl.col("repost_id").alias("message_id"), pl.col("timestamp").alias("t_repost")), on="message_id"
    )
    assert parents.height == reposts.height
    assert parents["repost_id"].is_null().all() and parents["reply_id"].is_null().all()
    assert (parents["t_repost"] >= parents["timestamp"]).all()
    # Heavy-tailed activity: the busiest account does far more than the median one.
    per_account = first.group_by("user_id").len()["len"]
    assert per_account.max() > 10 * per_account.median()


def test_compare_flags_missing_pairs_and_wrong_directed_weights():
    theirs = pl.DataFrame({"a": ["u1", "u1", "u2"], "b": ["u2", "u3", "u3"], "ab": [2, 1, 1], "ba": [1, 1, 3]})
    # Ours in the other orientation: source > target is tolerated.
    ours = pl.DataFrame(
        {"source": ["u2", "u3", "u3"], "target": ["u1", "u1", "u2"], "source_events": [1, 1, 3], "target_events": [2, 1, 1]}
    )
    assert network_speed.compare(ours, theirs)["match"]
    wrong = ours.with_columns(pl.when(pl.col("source") == "u3").then(9).otherwise("target_events").alias("target_events"))
    broken = network_speed.compare(wrong.head(2), theirs)
    assert not broken["match"]
    assert (broken["only_cntk"], broken["only_ours"], broken["weight_mismatches"]) == (1, 0, 1)


@pytest.mark.slow
def test_quick_benchmark_times_both_tools_and_they_agree(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH / "network_speed.py"), "--quick", "--work", str(tmp_path / "work"),
         "--results", str(tmp_path / "results")],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "results" / "network_speed.md").read_text()
    assert "| quick | 50,000 | coordetect |" in table
    assert "| quick | 50,000 | cntk |" in table
    report = json.loads((tmp_path / "results" / "network_speed.json").read_text())
    runs = {r["tool"]: r for r in report["runs"]}
    assert set(runs) == {"coordetect", "cntk"}
    for run in runs.values():
        assert run["seconds"] > 0 and run["peak_rss_mib"] > 0
    agreement = report["agreement"]["quick"]
    assert agreement["match"], agreement
    assert runs["coordetect"]["pairs"] == runs["cntk"]["pairs"] == agreement["pairs_cntk"] > 100
    assert runs["coordetect"]["speedup_vs_toolkit"] > 0
