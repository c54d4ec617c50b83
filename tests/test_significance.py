"""Popularity control and the pair test (features.significance)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from features.significance import benjamini_hochberg, rarity_weight, significant_pairs


def test_benjamini_hochberg_matches_the_textbook_example():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    # sorted: 0.005 0.01 0.03 0.04 0.2 vs 0.05*k/5 = 0.01 0.02 0.03 0.04 0.05 -> the first four pass
    assert benjamini_hochberg(p, 0.05).tolist() == [True, True, True, True, False]
    assert benjamini_hochberg(np.array([0.5, 0.9]), 0.05).tolist() == [False, False]
    assert benjamini_hochberg(np.array([]), 0.05).tolist() == []


def test_rarity_weight_falls_with_popularity_and_stays_in_range():
    frame = pl.DataFrame({"d": [1, 2, 10, 100, 1000]})
    w = frame.select(rarity_weight(pl.col("d"), 1000).alias("w"))["w"].to_list()
    assert w[0] == 1.0 and all(a > b for a, b in zip(w, w[1:])) and w[-1] == pytest.approx(0.01)


def _world(pairs: dict[tuple[str, str], list[tuple[str, int]]], activity: dict[str, int]):
    rows = [(s, t, obj, d, 5.0) for (s, t), objects in pairs.items() for obj, d in objects]
    pair_objects = pl.DataFrame(rows, schema=["source", "target", "object", "object_accounts", "gap_s"], orient="row")
    act = pl.DataFrame({"account_id": list(activity), "objects": list(activity.values()), "events": list(activity.values())})
    return pair_objects, act


def _background(n: int = 400) -> tuple[dict, dict]:
    """Many ordinary accounts, each pair of neighbours co-acting on one object: the chance level."""
    pairs = {(f"o{i:03d}", f"o{i + 1:03d}"): [(f"x{i}", 3)] for i in range(n - 1)}
    return pairs, {f"o{i:03d}": 10 for i in range(n)}


def test_a_pair_co_acting_on_many_rare_objects_is_kept():
    pairs, activity = _background()
    pairs[("r1", "r2")] = [(f"seed{k}", 2) for k in range(8)]
    activity.update(r1=10, r2=10)
    kept = significant_pairs(*_world(pairs, activity), signal="share", max_object_accounts=100)
    assert kept.select("source", "target").rows() == [("r1", "r2")]
    row = kept.row(0, named=True)
    assert row["objects"] == 8 and row["p_value"] < 1e-6 and row["evidence"] > 0


def test_objects_above_the_popularity_cap_count_for_nothing():
    pairs, activity = _background()
    pairs[("r1", "r2")] = [(f"viral{k}", 500) for k in range(8)]
    activity.update(r1=10, r2=10)
    assert significant_pairs(*_world(pairs, activity), signal="share", max_object_accounts=100).is_empty()


def test_hyperactive_accounts_need_more_co_actions_than_focused_ones():
    pairs, activity = _background()
    pairs[("f1", "f2")] = [(f"a{k}", 2) for k in range(4)]
    pairs[("h1", "h2")] = [(f"b{k}", 2) for k in range(4)]
    activity.update(f1=6, f2=6, h1=3000, h2=3000)
    kept = significant_pairs(*_world(pairs, activity), signal="share", max_object_accounts=100)
    assert ("f1", "f2") in kept.select("source", "target").rows()
    assert ("h1", "h2") not in kept.select("source", "target").rows()


def test_min_objects_and_empty_inputs():
    pairs, activity = _background()
    out = significant_pairs(*_world(pairs, activity), signal="share", max_object_accounts=100, min_objects=2)
    assert out.is_empty()
    empty, act = _world({}, {"a": 1})
    assert significant_pairs(empty.clear(), act, signal="share", max_object_accounts=10).is_empty()


def test_min_lift_drops_pairs_that_are_significant_only_because_they_are_large():
    pairs, activity = _background()
    # Two heavy accounts meeting on 400 ordinary objects: far beyond chance in p-value, small in effect.
    pairs[("h1", "h2")] = [(f"b{k}", 3) for k in range(400)]
    pairs[("r1", "r2")] = [(f"seed{k}", 2) for k in range(6)]
    activity.update(h1=4000, h2=4000, r1=8, r2=8)
    world = _world(pairs, activity)
    loose = significant_pairs(*world, signal="share", max_object_accounts=100, min_lift=1.0)
    strict = significant_pairs(*world, signal="share", max_object_accounts=100, min_lift=5.0)
    heavy = loose.filter(pl.col("source") == "h1")
    assert heavy.height == 1 and heavy["objects"].item() < 5 * heavy["expected"].item()
    assert strict.select("source", "target").rows() == [("r1", "r2")]
