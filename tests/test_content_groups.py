"""The content-signal pass (``detector.pipeline.content_groups``): groups one content signal shows alone."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from benchmarks.cascade_world import cascade_world
from detector.config import Config
from detector.pipeline import _Evidence, content_groups, detect


def _pairs(accounts: list[str], signal: str, strength: float = 1.0) -> pl.DataFrame:
    rows = [(a, b, signal, strength) for i, a in enumerate(accounts) for b in accounts[i + 1 :]]
    return pl.DataFrame(rows, schema=["source", "target", "signal", "strength"], orient="row")


def _flag_all(scores: dict[int, float] | None = None):
    """A judge that flags every group it is given, at 0.6 or the score ``scores`` gives its id."""

    def judge(groups: pl.DataFrame) -> pl.DataFrame:
        ids = groups["cluster_id"].unique().sort()
        return pl.DataFrame({"cluster_id": ids, "flagged": [True] * len(ids), "score": [(scores or {}).get(i, 0.6) for i in ids]})

    return judge


def _world():
    """Ring r0-r5 linked by a URL, likers l0-l5 by likes, all filed in one unflagged organic cluster 0 with o0-o9."""
    ring, likers, crowd = [f"r{i}" for i in range(6)], [f"l{i}" for i in range(6)], [f"o{i}" for i in range(10)]
    accounts = ring + likers + crowd
    labels = pl.DataFrame({"account_id": accounts, "cluster_id": [0] * len(accounts)})
    scored = pl.DataFrame({"cluster_id": [0], "flagged": [False]})
    evidence = _Evidence(pairs=[_pairs(ring, "url"), _pairs(likers, "like"), _pairs(accounts, "share", 0.5)])
    return labels, scored, evidence, ring, likers, crowd


def test_a_group_one_content_signal_shows_alone_leaves_the_crowd_it_was_filed_with():
    labels, scored, evidence, ring, likers, crowd = _world()
    regrouped = dict(content_groups(labels, scored, evidence, Config(), _flag_all()).iter_rows())
    assert len({regrouped[a] for a in ring}) == 1 and regrouped[ring[0]] > 0  # a new cluster, after the ids in use
    # Likes are a reaction to posts, not a content signal: the likers stay where they were, as does the crowd.
    assert {regrouped[a] for a in likers + crowd} == {0}


def test_groups_the_judge_does_not_flag_and_accounts_in_flagged_clusters_stay():
    labels, scored, evidence, _, _, _ = _world()

    def none_flagged(groups: pl.DataFrame) -> pl.DataFrame:
        return pl.DataFrame({"cluster_id": groups["cluster_id"].unique(), "flagged": False, "score": 0.1})

    assert content_groups(labels, scored, evidence, Config(), none_flagged).equals(labels)
    flagged = scored.with_columns(pl.lit(True).alias("flagged"))
    assert content_groups(labels, flagged, evidence, Config(), _flag_all()).equals(labels)
    off = dataclasses.replace(
        Config(),
        cluster=dataclasses.replace(Config().cluster, content_signals=()),
        detector=dataclasses.replace(Config().detector, group_rounds=0),
    )
    assert content_groups(labels, scored, evidence, off, _flag_all()).equals(labels)


def test_an_account_in_two_signals_groups_goes_with_the_higher_score():
    labels, scored, evidence, ring, _, _ = _world()
    evidence.pairs.append(_pairs(ring[:4], "hashtag"))  # hashtag is sorted first: its group gets id 1, the url group id 2
    for scores, home in (({1: 0.9, 2: 0.6}, 1), ({1: 0.6, 2: 0.9}, 2)):
        regrouped = dict(content_groups(labels, scored, evidence, Config(), _flag_all(scores)).iter_rows())
        assert {regrouped[a] for a in ring[:4]} == {home}
    # With the hashtag group stronger, the url group keeps 2 of its 6: fewer than min_cluster_size, so it is dropped.
    regrouped = dict(content_groups(labels, scored, evidence, Config(), _flag_all({1: 0.9, 2: 0.6})).iter_rows())
    assert {regrouped[a] for a in ring[4:]} == {0}


@pytest.mark.slow
def test_an_operator_its_resharing_splits_over_organic_crowds_is_found_whole_on_its_links():
    """cascade/crowded seed 2: op8's 52 members posted its links together, but the fused clusters held 23 of them
    (score 0.41), 11 (0.26) and the rest among 16 organic crowds. Without this pass, joining the two parts by the
    links they share (``detector.families``) flags those 34, and the 18 among the crowds this pass finds (the group
    test, growing the joined cluster, takes them in too since clusters flagged below ``group_min_score`` grow: it is
    turned off below to see what the pass alone adds)."""
    world = cascade_world("crowded", seed=2)

    def run(config: Config):
        detection = detect(world.events, world.accounts, config)
        return detection, detection.accounts.join(world.truth, on="account_id")

    detection, accounts = run(Config())
    members = accounts.filter(pl.col("operator_id") == "op8")
    assert members.height == 52 and members["flagged"].sum() >= 51
    home = members["cluster_id"].mode()[0]
    assert accounts.filter(pl.col("cluster_id") == home)["operator_id"].null_count() == 0  # no organic account with it
    assert accounts.filter(pl.col("operator_id").is_null())["flagged"].sum() == 0
    assert detection.counts["content_group_accounts"] >= 51
    off = dataclasses.replace(
        Config(),
        cluster=dataclasses.replace(Config().cluster, content_signals=()),
        detector=dataclasses.replace(Config().detector, group_rounds=0),
    )
    _, before = run(off)
    assert before.filter(pl.col("operator_id") == "op8")["flagged"].sum() < members["flagged"].sum() - 10
    # The group test alone, from the joined parts flagged at 0.5-0.7, finds them as well.
    _, grown = run(dataclasses.replace(off, detector=Config().detector))
    assert grown.filter(pl.col("operator_id") == "op8")["flagged"].sum() >= 51
