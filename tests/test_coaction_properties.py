"""Invariants of the co-action engine, checked with hypothesis on small random event sets.

Each property is something the network must keep whatever the data: a wider
window only adds, account names are labels, an account with nothing in common
with anyone changes nothing, row order and partitioning do not matter.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from detector.schema import EVENTS, conform
from features.coaction import coaction_network

SIGNALS = ("share", "url", "text", "like")
N_ACCOUNTS = 12
T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# One row: (account index, 1-2 object indices, time in milliseconds). Milliseconds so
# that sub-second gaps and the window boundary in microseconds are exercised too.
ROW = st.tuples(
    st.integers(0, N_ACCOUNTS - 1),
    st.lists(st.integers(0, 8), min_size=1, max_size=2),
    st.integers(0, 240_000),
)
ROWS = st.lists(ROW, max_size=200)
WINDOWS = st.sampled_from([0, 1, 5, 30, 120])


def account(i: int) -> str:
    return f"acc{i:02d}"


def events_frame(rows: list[tuple[int, list[int], int]], signal: str, *, names=account) -> pl.DataFrame:
    """Canonical events for ``signal``: each row acts on its objects (content signals take both)."""
    n = len(rows)
    accounts = [names(a) for a, _, _ in rows]
    objects = [objs for _, objs, _ in rows]
    times = [T0 + timedelta(milliseconds=ms) for _, _, ms in rows]
    if signal == "url":
        cols = {"action": ["post"] * n, "urls": [[f"https://x.example/{o}" for o in objs] for objs in objects]}
    elif signal == "text":
        # one text per row; mixed case and spacing that the text key folds together
        cols = {"action": ["post"] * n, "text": [f"Same  TEXT {objs[0]}" if i % 2 else f"same text {objs[0]}" for i, objs in enumerate(objects)]}
    else:
        cols = {"action": [signal] * n, "target": [f"obj{objs[0]}" for objs in objects]}
    data = {"account_id": accounts, "timestamp": times, "event_id": [f"e{i}" for i in range(n)], **cols}
    # explicit types: an empty row list must still give String/List columns, not Null
    return conform(pl.DataFrame(data, schema={c: EVENTS[c] for c in data}), EVENTS)


def network(events: pl.DataFrame, signal: str, window_s: int, **kwargs) -> pl.DataFrame:
    return coaction_network(events, signal=signal, window_s=window_s, normalize_urls=False, **kwargs).edges


def usable(rows: list, signal: str) -> bool:
    """"like" is a signal only when the data holds a like (else InputError, by design)."""
    return bool(rows) or signal != "like"


def relabel(edges: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    """What renaming accounts must do to a network: map both ends, re-orient, swap the per-side counts."""
    mapped = edges.with_columns(pl.col("source", "target").replace_strict(mapping))
    flip = pl.col("source") > pl.col("target")
    return mapped.select(
        pl.when(flip).then("target").otherwise("source").alias("source"),
        pl.when(flip).then("source").otherwise("target").alias("target"),
        "signal",
        "weight",
        pl.when(flip).then("target_events").otherwise("source_events").alias("source_events"),
        pl.when(flip).then("source_events").otherwise("target_events").alias("target_events"),
        "median_gap_s",
    ).sort("source", "target")


@pytest.mark.slow
@pytest.mark.parametrize("signal", SIGNALS)
@PROPERTY
@given(rows=ROWS, window_s=WINDOWS, extra=st.integers(0, 200))
def test_wider_window_never_removes_or_weakens_an_edge(signal, rows, window_s, extra):
    assume(usable(rows, signal))
    events = events_frame(rows, signal)
    narrow = network(events, signal, window_s)
    wide = network(events, signal, window_s + extra)
    joined = narrow.join(wide, on=["source", "target"], how="left", suffix="_wide")
    assert joined["weight_wide"].null_count() == 0, "an edge disappeared"
    for col in ("weight", "source_events", "target_events"):
        assert (joined[f"{col}_wide"] >= joined[col]).all(), col


@pytest.mark.slow
@pytest.mark.parametrize("signal", SIGNALS)
@PROPERTY
@given(
    rows=ROWS,
    window_s=WINDOWS,
    names=st.lists(st.text(min_size=1, max_size=6), min_size=N_ACCOUNTS, max_size=N_ACCOUNTS, unique=True),
    keep_order=st.booleans(),
)
def test_renaming_accounts_only_relabels(signal, rows, window_s, names, keep_order):
    assume(usable(rows, signal))
    # keep_order: the i-th smallest old name gets the i-th smallest new name (an
    # order-preserving bijection); otherwise names are dealt out as drawn.
    new_names = sorted(names) if keep_order else names
    mapping = {account(i): new_names[i] for i in range(N_ACCOUNTS)}
    before = network(events_frame(rows, signal), signal, window_s)
    after = network(events_frame(rows, signal, names=lambda i: mapping[account(i)]), signal, window_s)
    assert_frame_equal(after, relabel(before, mapping))


def test_renaming_reorients_and_swaps_sides():
    """A hand-made case of the relabelling rule: acc01 < acc02 become n8 > n7, so the sides swap."""
    rows = [(1, [0], 0), (1, [0], 1_000), (2, [0], 2_000)]
    mapping = {account(i): f"n{9 - i}" for i in range(N_ACCOUNTS)}
    before = network(events_frame(rows, "share"), "share", 10)
    after = network(events_frame(rows, "share", names=lambda i: mapping[account(i)]), "share", 10)
    assert before.select("source", "target", "source_events", "target_events").rows() == [("acc01", "acc02", 2, 1)]
    assert after.select("source", "target", "source_events", "target_events").rows() == [("n7", "n8", 1, 2)]


@pytest.mark.slow
@pytest.mark.parametrize("signal", SIGNALS)
@PROPERTY
@given(rows=ROWS, window_s=WINDOWS, loner=st.lists(st.tuples(st.lists(st.integers(100, 104), min_size=1, max_size=2), st.integers(0, 240_000)), min_size=1, max_size=30))
def test_an_account_sharing_no_object_changes_no_edge(signal, rows, window_s, loner):
    """Objects 100+ are the newcomer's alone: however busy it is, nobody else's edges move."""
    assume(usable(rows, signal))
    newcomer = N_ACCOUNTS  # account index no other row uses
    events = events_frame(rows, signal)
    more = events_frame(rows + [(newcomer, objs, ms) for objs, ms in loner], signal)
    assert_frame_equal(network(more, signal, window_s), network(events, signal, window_s))


@pytest.mark.slow
@pytest.mark.parametrize("signal", SIGNALS)
@PROPERTY
@given(rows=ROWS, window_s=WINDOWS, seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(signal, rows, window_s, seed):
    assume(usable(rows, signal))
    events = events_frame(rows, signal)
    shuffled = events.sample(fraction=1.0, shuffle=True, seed=seed)
    assert_frame_equal(network(shuffled, signal, window_s), network(events, signal, window_s))


@pytest.mark.slow
@pytest.mark.parametrize("signal", SIGNALS)
@PROPERTY
@given(rows=ROWS, window_s=WINDOWS, pairs_per_chunk=st.integers(1, 64))
def test_partitioning_does_not_matter(signal, rows, window_s, pairs_per_chunk):
    assume(usable(rows, signal))
    events = events_frame(rows, signal)
    chunked = network(events, signal, window_s, pairs_per_chunk=pairs_per_chunk)
    assert_frame_equal(chunked, network(events, signal, window_s))


# ------------------------------------------------------------------ plain tests


def _random_rows(seed: int, n: int = 400) -> list[tuple[int, list[int], int]]:
    """``n`` shares by the 12 accounts of 20 posts over 20 minutes: pair weights from 1 to 6."""
    rng = np.random.default_rng(seed)
    accounts, objects, times = rng.integers(N_ACCOUNTS, size=n), rng.integers(20, size=n), rng.integers(1_200_000, size=n)
    return [(int(a), [int(o)], int(t)) for a, o, t in zip(accounts, objects, times)]


@pytest.mark.slow
@pytest.mark.parametrize("signal", SIGNALS)
@PROPERTY
@given(rows=ROWS, window_s=WINDOWS, popular_above=st.integers(1, 6), cap=st.sampled_from([3, 5000]), pick=st.integers(0, 2**32 - 1))
def test_popular_objects_left_unpaired_are_rebuilt_exactly_behind_any_pairs(signal, rows, window_s, popular_above, cap, pick):
    """``popular_above`` changes how, never what: the other objects' rows and, behind any pairs, every object's rows."""
    assume(usable(rows, signal))
    events = events_frame(rows, signal)
    kwargs = {"signal": signal, "window_s": window_s, "normalize_urls": False, "keep_objects": True, "max_actors_per_window": cap}
    full = coaction_network(events, **kwargs)
    split = coaction_network(events, popular_above=popular_above, **kwargs)
    order = ["source", "target", "object"]
    assert_frame_equal(split.pair_objects.sort(order), full.pair_objects.filter(pl.col("object_accounts") <= popular_above).sort(order))
    assert_frame_equal(split.activity, full.activity)
    assert split.capped_events == full.capped_events
    pairs = full.pair_objects.select("source", "target").unique().sample(fraction=0.5, seed=pick % 1000) if full.pair_objects.height else full.pair_objects.select("source", "target")
    assert_frame_equal(split.objects_behind(pairs), full.pair_objects.join(pairs, on=["source", "target"], how="semi").sort(order))


@pytest.mark.parametrize("min_weight", [1, 2, 3, 5])
def test_min_weight_drops_exactly_the_lighter_pairs(min_weight):
    events = events_frame(_random_rows(7), "share")
    every = network(events, "share", 30, min_weight=1)
    assert every["weight"].max() >= 5 and every["weight"].min() == 1, "data must span the thresholds"
    kept = network(events, "share", 30, min_weight=min_weight)
    assert_frame_equal(kept, every.filter(pl.col("weight") >= min_weight))


def test_weight_counts_distinct_objects_and_events_count_events():
    """A shares X three times and Y once; B shares X once and Y twice, all within the window."""
    rows = [
        (0, [0], 0), (0, [0], 1_000), (0, [0], 2_000), (1, [0], 1_500),  # object 0: A x3, B x1
        (0, [1], 100_000), (1, [1], 100_000), (1, [1], 103_000),  # object 1: A x1, B x2
        (1, [2], 200_000), (2, [2], 200_500),  # object 2: B and C
    ]
    edges = network(events_frame(rows, "share"), "share", 5)
    assert edges.select("source", "target", "weight", "source_events", "target_events", "median_gap_s").rows() == [
        # A-B: objects 0 and 1; A's 4 events and B's 3 all partnered; closest gaps 0.5 s and 0 s
        ("acc00", "acc01", 2, 4, 3, 0.25),
        ("acc01", "acc02", 1, 1, 1, 0.5),
    ]
