"""The partitioned significance path equals the one-frame path it replaces.

``significant_coaction`` must give what ``coaction_network`` + ``significant_pairs``
+ ``objects_behind`` give, whether the pairs stay in one partition or spill into
many; a change to the test in ``features.significance`` must be made in
``features.pair_evidence`` too, and this test says so when it is not.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from detector.schema import EVENTS, conform
from features.coaction import coaction_network
from features.pair_evidence import _bh_cutoff, significant_coaction
from features.significance import benjamini_hochberg, significant_pairs

T0 = pl.datetime(2024, 3, 1, time_zone="UTC")


def _events(seed: int, n: int = 6000, accounts: int = 80, objects: int = 400) -> pl.DataFrame:
    """Shares by ``accounts`` accounts: a ring of 6 that shares together, and heavy-tailed organic sharing."""
    rng = np.random.default_rng(seed)
    acc = rng.zipf(1.6, n) % accounts
    obj = rng.zipf(1.3, n) % objects  # a few objects popular with most accounts
    ts = rng.integers(0, 6 * 3600, n)
    ring = np.arange(6).repeat(30)
    ring_obj = objects + np.tile(np.arange(30), 6)
    ring_ts = np.tile(rng.integers(0, 6 * 3600, 30), 6) + rng.integers(0, 120, 180)
    frame = pl.DataFrame(
        {
            "account_id": [f"a{a:03d}" for a in np.concatenate([acc, ring])],
            "seconds": np.concatenate([ts, ring_ts]),
            "action": "share",
            "target": [f"p{o}" for o in np.concatenate([obj, ring_obj])],
        }
    ).select("account_id", (pl.datetime(2024, 3, 1, time_zone="UTC") + pl.duration(seconds="seconds")).alias("timestamp"), "action", "target")
    return conform(frame, EVENTS)


def _reference(events: pl.DataFrame, **test) -> tuple[pl.DataFrame, pl.DataFrame]:
    result = coaction_network(events, signal="share", window_s=900, keep_objects=True, popular_above=test["max_object_accounts"])
    significant = significant_pairs(result.pair_objects, result.activity, signal="share", **test)
    return significant, result.objects_behind(significant)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("pairs_per_chunk", [5_000_000, 700])
@pytest.mark.parametrize("max_object_accounts", [15, 1000])
def test_partitioned_significance_equals_the_one_frame_path(seed, pairs_per_chunk, max_object_accounts):
    events = _events(seed)
    test = {"max_object_accounts": max_object_accounts, "min_objects": 2, "fdr": 0.05, "min_lift": 1.5}
    significant, behind = _reference(events, **test)
    found = significant_coaction(events, signal="share", window_s=900, pairs_per_chunk=pairs_per_chunk, **test)
    assert significant.height > 0  # the ring at least
    assert_frame_equal(found.significant, significant, check_exact=False, rel_tol=1e-12)
    assert_frame_equal(found.significant.select("source", "target", "objects", "evidence", "median_gap_s"), significant.select("source", "target", "objects", "evidence", "median_gap_s"), check_exact=True)
    assert_frame_equal(found.objects, behind, check_exact=True)


def test_no_pairs_gives_empty_frames():
    events = _events(0).head(1)
    found = significant_coaction(events, signal="share", window_s=60, max_object_accounts=1000)
    assert found.significant.is_empty() and found.objects.is_empty() and found.pairs_tested == 0


@pytest.mark.parametrize("seed", range(5))
def test_cutoff_from_the_small_p_values_is_the_cutoff_over_all(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.random(5000), rng.random(200) * 1e-4])
    fdr = 0.05
    cutoff = _bh_cutoff(p[p <= fdr], len(p), fdr)
    assert np.array_equal(p <= cutoff, benjamini_hochberg(p, fdr))
