"""The group test (features.groups) on small planted incidences with known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.groups import JOINS, MEMBERS, benjamini_hochberg_of, group_joins, group_members, group_objects, own_objects_beyond_chance, popularity, tiered_joins

GROUP = [f"g{i}" for i in range(10)]


def _incidences(*, late_hits: int = 6, neighbour_hits: int = 1) -> tuple[pl.DataFrame, pl.DataFrame]:
    """200 organic accounts on a pool of 2,000 posts, one viral post, and a 10-account group with 20 own posts.

    ``late`` (a member the pairwise stage missed) acts on ``late_hits`` of the
    group's posts; ``fan`` shares the viral post the group also pushed;
    ``neighbour`` touches ``neighbour_hits`` of the group's posts by chance.
    """
    rng = np.random.default_rng(7)
    rows: list[tuple[str, str]] = []
    for i in range(200):
        rows += [(f"u{i}", f"p{j}") for j in rng.choice(2000, size=20, replace=False)]
    rows += [(f"u{i}", "viral") for i in range(150)]
    for member in GROUP:
        rows += [(member, f"own{j}") for j in rng.choice(20, size=15, replace=False)]
        rows += [(member, f"p{j}") for j in rng.choice(2000, size=10, replace=False)]
        rows.append((member, "viral"))
    rows += [("late", f"own{j}") for j in range(late_hits)] + [("late", f"p{j}") for j in range(100, 110)]
    rows += [("fan", "viral")] + [("fan", f"p{j}") for j in range(200, 230)]
    rows += [("neighbour", f"own{j}") for j in range(neighbour_hits)] + [("neighbour", f"p{j}") for j in range(300, 330)]
    incidences = pl.DataFrame(rows, schema={"account_id": pl.String(), "object": pl.String()}, orient="row").with_columns(
        pl.lit("share").alias("signal")
    )
    labels = pl.DataFrame({"account_id": GROUP, "cluster_id": [0] * len(GROUP)})
    return incidences, labels


def _joins(incidences: pl.DataFrame, labels: pl.DataFrame, **overrides) -> pl.DataFrame:
    params = dict(groups=[0], max_object_accounts=1000, min_objects=2, fdr=0.01, min_lift=5.0, min_share=0.5) | overrides
    return group_joins(incidences, labels, **params)


def test_a_late_member_joins_and_a_viral_fan_does_not():
    joins = _joins(*_incidences())
    assert joins.schema == pl.Schema(JOINS)
    assert joins["account_id"].to_list() == ["late"]
    row = joins.row(0, named=True)
    assert row["cluster_id"] == 0 and row["objects"] == 6 and row["expected"] < 1.0 and row["p_value"] < 1e-3


def test_a_barred_account_is_not_tested():
    incidences, labels = _incidences()
    assert _joins(incidences, labels, barred=pl.DataFrame({"account_id": ["late"]})).is_empty()


def _tiers(late_cluster: int | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The group (cluster 0) and, when ``late_cluster`` is given, ``late`` filed in that cluster with two organic accounts."""
    incidences, labels = _incidences()
    if late_cluster is not None:
        labels = pl.concat([labels, pl.DataFrame({"account_id": ["late", "u1", "u2"], "cluster_id": [late_cluster] * 3})])
    return incidences, labels


def _tiered(incidences: pl.DataFrame, labels: pl.DataFrame, **tiers) -> list[tuple[str, int]]:
    test = dict(max_object_accounts=1000, min_objects=2, fdr=0.01, min_lift=5.0, min_share=0.5)
    return tiered_joins(incidences, labels, **tiers, **test).select("account_id", "cluster_id").rows()


def test_a_confident_cluster_takes_a_member_of_a_weaker_flagged_one_and_a_weaker_one_does_not():
    # late sits in cluster 1, flagged below the confident level: the confident group 0 takes it.
    assert _tiered(*_tiers(late_cluster=1), confident=[0], weaker=[1]) == [("late", 0)]
    # A weaker group 0 grows with accounts outside flagged clusters, but never takes another flagged cluster's member.
    assert _tiered(*_tiers(late_cluster=None), confident=[], weaker=[0]) == [("late", 0)]
    assert _tiered(*_tiers(late_cluster=1), confident=[], weaker=[0, 1]) == []
    # An unflagged cluster is no bar.
    assert _tiered(*_tiers(late_cluster=1), confident=[], weaker=[0]) == [("late", 0)]


def test_popularity_counted_once_gives_the_same_answers():
    """The pipeline counts the incidences' popularity once and hands it to every test; each test counts it alone otherwise."""
    incidences, labels = _incidences()
    counts = popularity(incidences)
    assert _joins(incidences, labels, counts=counts).equals(_joins(incidences, labels))
    params = dict(max_object_accounts=1000, min_lift=5.0, min_share=0.5)
    assert own_objects_beyond_chance(incidences, labels, counts=counts, **params).equals(own_objects_beyond_chance(incidences, labels, **params))
    checked = dict(groups=[0], level=0.01, fdr=0.01, min_objects=2, **params)
    assert group_members(incidences, labels, counts=counts, **checked).equals(group_members(incidences, labels, **checked))
    assert counts.objects.filter(pl.col("object") == "viral")["object_accounts"].item() == 161  # 150 organic, 10 members, the fan


def test_the_groups_objects_are_its_own_not_the_viral_post():
    incidences, labels = _incidences()
    owned = group_objects(incidences, labels, max_object_accounts=1000, min_lift=5.0, min_share=0.5)
    assert "viral" not in owned["object"].to_list()
    own = owned["object"].str.starts_with("own")
    assert own.sum() >= 18
    assert (~own).sum() <= 3  # two members meeting on a rare organic post by chance


@pytest.mark.parametrize("hits", [0, 1])
def test_one_chance_hit_is_not_enough(hits):
    joins = _joins(*_incidences(late_hits=hits, neighbour_hits=hits))
    assert joins.is_empty()


def test_members_are_never_tested_and_an_empty_group_list_joins_nobody():
    incidences, labels = _incidences()
    assert not set(_joins(incidences, labels)["account_id"].to_list()) & set(GROUP)
    assert _joins(incidences, labels, groups=[]).is_empty()


def test_min_share_guards_against_community_objects():
    # The viral post becomes the group's when any over-represented object counts;
    # its fans then hit the group's objects, yet the popularity null still keeps them out.
    incidences, labels = _incidences()
    assert set(_joins(incidences, labels, min_share=0.0)["account_id"].to_list()) == {"late"}


def test_the_same_input_in_another_order_gives_the_same_joins():
    incidences, labels = _incidences()
    shuffled = incidences.sample(fraction=1.0, shuffle=True, seed=3)
    assert _joins(shuffled, labels).equals(_joins(incidences, labels))


def test_benjamini_hochberg_counts_the_untested_hypotheses():
    p = np.array([0.001, 0.02])
    assert benjamini_hochberg_of(p, 0.05, 2).tolist() == [True, True]
    assert benjamini_hochberg_of(p, 0.05, 100).tolist() == [False, False]


@pytest.mark.parametrize(("coacted", "joined"), [(range(0, 10), ["late"]), (range(10, 20), [])])
def test_only_the_co_acted_objects_count_when_given(coacted, joined):
    # late acted on own0..own5: it joins when those are among the objects the group co-acted on.
    incidences, labels = _incidences()
    objects = pl.DataFrame({"cluster_id": 0, "signal": "share", "object": [f"own{j}" for j in coacted]})
    assert _joins(incidences, labels, coacted=objects)["account_id"].to_list() == joined


def _members_world() -> tuple[pl.DataFrame, pl.DataFrame]:
    """1,000 organic accounts on 5,000 posts and a 10-account group with 20 own posts, plus members to check.

    In the group's labels: ``fan`` (organic, pulled in; it touches one own post),
    ``poster`` (writes the posts the others share: no actions of its own here) and
    ``heavy`` (a member whose heavy camouflage dilutes its rate of own posts).
    """
    rng = np.random.default_rng(11)
    rows: list[tuple[str, str]] = []
    for i in range(1000):
        rows += [(f"u{i}", f"p{j}") for j in rng.choice(5000, size=20, replace=False)]
    for member in GROUP:
        rows += [(member, f"own{j}") for j in rng.choice(20, size=15, replace=False)]
        rows += [(member, f"p{j}") for j in rng.choice(5000, size=10, replace=False)]
    rows += [("fan", "own0")] + [("fan", f"p{j}") for j in range(40)]
    rows += [("heavy", f"own{j}") for j in range(12)] + [("heavy", f"p{j}") for j in range(1000, 1200)]
    incidences = pl.DataFrame(rows, schema={"account_id": pl.String(), "object": pl.String()}, orient="row").with_columns(
        pl.lit("share").alias("signal")
    )
    members = [*GROUP, "fan", "poster", "heavy"]
    return incidences, pl.DataFrame({"account_id": members, "cluster_id": [0] * len(members)})


def test_the_member_check_drops_a_pulled_in_fan_and_keeps_the_poster_and_a_heavy_member():
    incidences, labels = _members_world()
    checked = group_members(
        incidences, labels, groups=[0], max_object_accounts=1000, min_lift=5.0, level=0.01, fdr=0.01, min_objects=2, min_share=0.5
    )
    assert checked.schema == pl.Schema(MEMBERS)
    kept = dict(zip(checked["account_id"].to_list(), checked["kept"].to_list()))
    assert kept["fan"] is False
    assert kept["heavy"] is True  # far fewer own posts than its activity predicts, yet far beyond chance
    assert all(kept[m] for m in GROUP)
    assert kept.get("poster", True) is True
    heavy = checked.filter(pl.col("account_id") == "heavy").row(0, named=True)
    assert heavy["p_value"] <= 0.01 and heavy["chance_p_value"] < 1e-6


def test_the_member_check_leaves_a_group_without_own_objects_alone():
    incidences, labels = _members_world()
    others = pl.DataFrame({"account_id": ["u1", "u2", "u3"], "cluster_id": [1, 1, 1]})
    checked = group_members(
        incidences, pl.concat([labels, others]), groups=[1], max_object_accounts=1000, min_lift=5.0, level=0.01, fdr=0.01, min_objects=2
    )
    assert checked.is_empty()
