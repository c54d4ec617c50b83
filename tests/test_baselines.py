"""Peer baselines on tiny hand-made event frames with a planted group and a known answer."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from benchmarks.baselines import component_accounts, cntk_components, coortweet, main, pacheco
from detector.evaluate import evaluate_dir
from detector.schema import EVENTS, OUT_ACCOUNTS, conform

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
GROUP = ["g1", "g2", "g3", "g4"]


def events_from(rows: list[tuple[str, float, str]], *, event_ids: list[str] | None = None, actions=None) -> pl.DataFrame:
    """Canonical events from (account_id, seconds after T0, shared target) rows."""
    frame = pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "timestamp": [T0 + dt.timedelta(seconds=r[1]) for r in rows],
            "action": actions or ["share"] * len(rows),
            "target": [r[2] for r in rows],
            "event_id": event_ids or [f"e{i}" for i in range(len(rows))],
        }
    ).with_columns(pl.col("timestamp").cast(pl.Datetime("us", "UTC")))
    return conform(frame, EVENTS)


def planted(*, n_posts: int = 12, gap_s: float = 2.0, n_organic: int = 60, seed: int = 7) -> pl.DataFrame:
    """A group that shares the same posts seconds apart, among organic accounts sharing at random.

    Ten organic pairs also coincide once within 3 s (weight-1 edges: chance, not coordination).
    """
    rng = np.random.default_rng(seed)
    rows = [(a, 3600.0 * k + gap_s * i, f"camp{k}") for k in range(n_posts) for i, a in enumerate(GROUP)]
    for o in range(n_organic):
        for post in rng.choice(200, size=12, replace=False):
            rows.append((f"o{o:02d}", float(rng.uniform(0, 30 * 86400)), f"pop{post}"))
    for pair in range(10):
        t = 40 * 86400.0 + 7200 * pair
        rows += [(f"o{2 * pair:02d}", t, f"coinc{pair}"), (f"o{2 * pair + 1:02d}", t + 3, f"coinc{pair}")]
    return events_from(rows)


def flagged_groups(accounts: pl.DataFrame) -> list[list[str]]:
    """The flagged clusters as sorted lists of account ids, sorted."""
    groups = (
        accounts.filter(pl.col("flagged"))
        .group_by("cluster_id")
        .agg(pl.col("account_id").sort())
        .get_column("account_id")
        .to_list()
    )
    return sorted(groups)


def assert_accounts_contract(accounts: pl.DataFrame, events: pl.DataFrame) -> None:
    assert accounts.schema == pl.Schema(OUT_ACCOUNTS)
    assert sorted(accounts["account_id"].to_list()) == sorted(events["account_id"].unique().to_list())
    assert accounts["score"].is_between(0.0, 1.0).all()
    assert (accounts["flagged"] == (accounts["cluster_id"] >= 0)).all()


BASELINES = {"cntk_components": cntk_components.run, "pacheco": pacheco.run, "coortweet": coortweet.run}


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_finds_exactly_the_planted_group(name):
    events = planted()
    accounts = BASELINES[name](events)
    assert_accounts_contract(accounts, events)
    assert flagged_groups(accounts) == [GROUP]


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_is_row_order_invariant(name):
    events = planted()
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=3)
    assert BASELINES[name](shuffled).sort("account_id").equals(BASELINES[name](events).sort("account_id"))


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_handles_no_shares(name):
    events = events_from([("a", 0, "x"), ("b", 1, "x")], actions=["post", "like"])
    accounts = BASELINES[name](events)
    assert accounts["account_id"].to_list() == ["a", "b"]
    assert not accounts["flagged"].any()
    assert accounts["cluster_id"].to_list() == [-1, -1]


def test_windows_differ_cntk_60s_catches_30s_gaps_coortweet_10s_does_not():
    events = planted(gap_s=30.0)
    assert flagged_groups(cntk_components.run(events)) == [GROUP]
    assert flagged_groups(coortweet.run(events)) == []


def test_cntk_links_on_either_direction_reaching_min_edge_weight():
    # h shares camp0 twice right after g1: two of h's messages have a partner in g1,
    # so the toolkit's directed weight h->g1 is 2 although they co-shared one object.
    rows = [("g1", 0, "camp0"), ("h", 1, "camp0"), ("h", 2, "camp0"), ("g1", 3600, "camp1"), ("k", 3601, "camp1")]
    accounts = cntk_components.run(events_from(rows))
    assert flagged_groups(accounts) == [["g1", "h"]]
    # And min_edge_weight=3 drops it.
    assert flagged_groups(cntk_components.run(events_from(rows), min_edge_weight=3)) == []


def test_coortweet_keeps_only_edges_strictly_above_the_median():
    # Edge weights: (a,b)=3, (c,d)=2, (e,f)=1 -> median 2 -> only (a,b) is kept.
    rows = []
    for k in range(3):
        rows += [("a", 100 * k, f"p{k}"), ("b", 100 * k + 1, f"p{k}")]
    for k in range(2):
        rows += [("c", 1000 + 100 * k, f"q{k}"), ("d", 1000 + 100 * k + 1, f"q{k}")]
    rows += [("e", 5000, "r0"), ("f", 5001, "r0"), ("e", 9000, "r1"), ("f", 99000, "r2")]
    assert flagged_groups(coortweet.run(events_from(rows))) == [["a", "b"]]


def test_coortweet_min_participation_filters_before_the_median():
    # a and b co-share two posts; x, y, z share once each next to a (weight-1 edges).
    # Default: x, y, z are dropped (one share each), the only edge (a,b)=2 is the median,
    # and nothing is strictly above it. With min_participation=1 the weight-1 edges stay,
    # the median falls to 1 and (a,b) is kept.
    rows = [("a", 0, "p0"), ("b", 1, "p0"), ("a", 1000, "p1"), ("b", 1001, "p1")]
    rows += [(w, 2000 + 100 * i, f"q{i}") for i, w in enumerate(["x", "y", "z"])]
    rows += [("a", 2001 + 100 * i, f"q{i}") for i in range(3)]
    events = events_from(rows)
    assert flagged_groups(coortweet.run(events)) == []
    assert flagged_groups(coortweet.run(events, min_participation=1)) == [["a", "b"]]


def test_pacheco_tfidf_cosine_matches_hand_computation():
    # a: p1 x2, p2 ; b: p1, p3 ; c: p2, p3  (min_df=1, so every post is a term; n = 3 documents)
    counts = pl.DataFrame(
        {"account_id": ["a", "a", "b", "b", "c", "c"], "target": ["p1", "p2", "p1", "p3", "p2", "p3"], "count": [2, 1, 1, 1, 1, 1]}
    )
    idf = np.log(4 / 3) + 1  # every post is in 2 of 3 accounts: ln((1+3)/(1+2)) + 1
    tf = {"a": np.array([1 + np.log(2), 1, 0]), "b": np.array([1, 0, 1]), "c": np.array([0, 1, 1])}
    unit = {k: v * idf / np.linalg.norm(v * idf) for k, v in tf.items()}
    edges = pacheco.similarity_edges(counts, min_df=1).sort("source", "target")
    assert edges.select("source", "target").rows() == [("a", "b"), ("a", "c"), ("b", "c")]
    expected = [unit["a"] @ unit["b"], unit["a"] @ unit["c"], unit["b"] @ unit["c"]]
    assert edges["weight"].to_list() == pytest.approx(expected)


def test_pacheco_min_df_drops_posts_fewer_than_three_accounts_shared():
    # p_rare is shared by a and b only (df 2 < 3): with min_df=3 it no longer links them.
    counts = pl.DataFrame(
        {
            "account_id": ["a", "a", "b", "b", "c", "c", "d"],
            "target": ["p_rare", "p_pop", "p_rare", "x", "p_pop", "y", "p_pop"],
            "count": [1, 1, 1, 1, 1, 1, 1],
        }
    )
    pairs = pacheco.similarity_edges(counts, min_df=3).select("source", "target").rows()
    assert ("a", "b") not in pairs and ("a", "c") in pairs
    assert ("a", "b") in pacheco.similarity_edges(counts, min_df=1).select("source", "target").rows()


def test_pacheco_support_filter_and_self_retweets():
    # s has 11 shares (kept: support > 10), t has exactly 10 (dropped); u's 11 shares
    # include one of its own posts, so only 10 count and u is dropped too.
    rows, ids = [], []
    for k in range(11):
        rows.append(("s", k, f"p{k}"))
        ids.append(f"s{k}")
    for k in range(10):
        rows.append(("t", k, f"p{k}"))
        ids.append(f"t{k}")
    for k in range(10):
        rows.append(("u", k, f"p{k}"))
        ids.append(f"u{k}")
    rows.append(("u", 50, "own1"))
    ids.append("u_rt")
    rows.append(("u", 0, None))  # u's own post, the target of its self-retweet
    ids.append("own1")
    actions = ["share"] * (len(rows) - 1) + ["post"]
    counts = pacheco.retweet_counts(events_from(rows, event_ids=ids, actions=actions))
    assert counts["account_id"].unique().to_list() == ["s"]
    assert counts["count"].sum() == 11


def test_pacheco_top_half_percent_is_the_group_here_and_grows_with_the_network():
    small = pacheco.similarity_edges(pacheco.retweet_counts(planted()))
    cut = np.quantile(small["weight"].to_numpy(), 1 - pacheco.TOP_SHARE)
    kept = small.filter(pl.col("weight") >= cut)
    assert sorted(kept.select("source", "target").rows()) == [(a, b) for i, a in enumerate(GROUP) for b in GROUP[i + 1:]]
    # The filter keeps a share of the edges, not a level of similarity: a larger
    # organic crowd pushes some organic pairs into the top 0.5% too.
    large = pacheco.run(planted(n_organic=100))
    assert GROUP in flagged_groups(large)
    assert large["flagged"].sum() > len(GROUP)


def test_component_accounts_numbers_clusters_by_smallest_account():
    edges = pl.DataFrame({"source": ["m", "a", "x"], "target": ["n", "b", "y"], "weight": [2.0, 4.0, 1.0]})
    ids = pl.Series(["z", "y", "x", "n", "m", "b", "a", "lonely"])
    table = component_accounts(ids, edges, method="t", link="edge").sort("account_id")
    assert dict(zip(table["account_id"], table["cluster_id"])) == {
        "a": 0, "b": 0, "lonely": -1, "m": 1, "n": 1, "x": 2, "y": 2, "z": -1,
    }
    scores = dict(zip(table["account_id"], table["score"]))
    assert scores["a"] == 1.0 and scores["m"] == 0.5 and scores["x"] == 0.25 and scores["z"] == 0.0


@pytest.mark.parametrize("name", list(BASELINES))
def test_command_line_writes_accounts_that_evaluate_scores(name, tmp_path):
    events = planted()
    events.write_parquet(tmp_path / "events.parquet")
    truth = events.select(pl.col("account_id").unique().sort()).with_columns(
        operator_id=pl.when(pl.col("account_id").is_in(GROUP)).then(pl.lit("op")).otherwise(None),
        role=pl.lit("x"),
    )
    truth.write_parquet(tmp_path / "truth.parquet")
    assert main(BASELINES[name], prog=name, argv=[str(tmp_path / "events.parquet"), "--out", str(tmp_path / "out")]) == 0
    metrics = evaluate_dir(tmp_path / "out", tmp_path / "truth.parquet")
    assert metrics["precision"] == metrics["recall"] == metrics["operator_ari"] == 1.0


def test_command_line_reports_bad_input_with_status_2(tmp_path, capsys):
    (tmp_path / "events.csv").write_text("who,when\nx,y\n")
    assert main(pacheco.run, prog="pacheco", argv=[str(tmp_path / "events.csv"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pacheco: ") and "events.csv" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ quality harness


def test_quality_summary_averages_over_seeds_and_skips_undefined_values():
    from benchmarks.quality import markdown_table, summarize

    runs = [
        {"scenario": "s", "method": "m", "seed": 0, "precision": 0.5, "recall": 1.0, "f1": None, "organic_fpr": 0.1, "operator_ari": None, "seconds": 1.0},
        {"scenario": "s", "method": "m", "seed": 1, "precision": 1.0, "recall": 0.0, "f1": None, "organic_fpr": 0.3, "operator_ari": None, "seconds": 3.0},
        {"scenario": "s", "method": "m", "seed": 2, "error": "ValueError: boom", "seconds": 0.1},
    ]
    (row,) = summarize(runs)
    assert row["precision"] == pytest.approx(0.75) and row["recall"] == pytest.approx(0.5)
    assert row["organic_fpr"] == pytest.approx(0.2) and row["seconds"] == pytest.approx(2.0)
    assert row["f1"] is None and (row["seeds"], row["failed"]) == (2, 1)
    table = markdown_table([row], n_accounts=None)
    assert "| s | m | 0.750 | 0.500 | – | 0.200 | – | 2.00 | 2 (1 failed) |" in table


@pytest.mark.slow
def test_quality_quick_run_writes_a_row_per_method(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from benchmarks.quality import METHODS
    from detector.simulate import SCENARIOS

    scenario = list(SCENARIOS)[0]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.quality", "--quick", "--scenarios", scenario, "--out", str(tmp_path)],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    table = (tmp_path / "quality.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith(f"| {scenario} |")]
    assert sorted(line.split(" | ")[1] for line in rows) == sorted(METHODS)
    report = json.loads((tmp_path / "quality.json").read_text())
    assert len(report["runs"]) == len(METHODS)
    assert all(0.0 <= r["seconds"] and r["n_accounts"] > 0 for r in report["runs"])
    assert f"[{len(METHODS)}/{len(METHODS)}]" in done.stderr
