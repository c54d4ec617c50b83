"""The co-action engine on tiny hand-made events with answers worked out by hand.

The differential suite (test_coaction_toolkit.py) checks it against the
coordination-network-toolkit; these pin down our own semantics.
"""

import datetime as dt
import doctest

import polars as pl
import pytest

import features.normalize
from detector.errors import InputError
from detector.schema import EVENTS, NETWORK, conform
from features import coaction
from features.coaction import coaction_network, signal_columns, signal_names

T0 = dt.datetime(2021, 1, 8, 14, 0, tzinfo=dt.timezone.utc)


def events(rows):
    """rows: (account, seconds after T0, action, target, extra-columns dict)."""
    frame = pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "timestamp": [T0 + dt.timedelta(seconds=r[1]) for r in rows],
            "action": [r[2] for r in rows],
            "target": [r[3] for r in rows],
            "text": [r[4].get("text") if len(r) > 4 else None for r in rows],
            "urls": [r[4].get("urls", []) if len(r) > 4 else [] for r in rows],
            "hashtags": [r[4].get("hashtags", []) if len(r) > 4 else [] for r in rows],
            "mentions": [r[4].get("mentions", []) if len(r) > 4 else [] for r in rows],
        },
        schema_overrides={
            "timestamp": pl.Datetime("us", "UTC"), "target": pl.String, "text": pl.String,
            "urls": pl.List(pl.String), "hashtags": pl.List(pl.String), "mentions": pl.List(pl.String),
        },
    )
    return conform(frame, EVENTS)


def as_dict(result):
    return {(r["source"], r["target"]): (r["weight"], r["source_events"], r["target_events"], r["median_gap_s"]) for r in result.edges.iter_rows(named=True)}


SHARES = events(
    [
        ("a", 0, "share", "X"),
        ("b", 30, "share", "X"),
        ("c", 61, "share", "X"),  # 61 s after a: outside; 31 s after b: inside
        ("b", 200, "share", "Y"),
        ("a", 260, "share", "Y"),  # exactly 60 s: inside (inclusive)
        ("a", 265, "share", "Y"),  # 65 s: outside
        ("a", 900, "share", "Z"),
        ("a", 901, "share", "Z"),  # an account never co-acts with itself
    ]
)


def test_pairs_weights_events_and_gaps():
    got = as_dict(coaction_network(SHARES, signal="share", window_s=60))
    assert got == {("a", "b"): (2, 2, 2, 45.0), ("b", "c"): (1, 1, 1, 31.0)}


def test_output_schema_and_order():
    edges = coaction_network(SHARES, signal="share", window_s=60).edges
    assert edges.schema == pl.Schema(NETWORK)
    assert edges.select((pl.col("source") < pl.col("target")).all()).item()
    assert edges.equals(edges.sort("source", "target"))


def test_window_is_inclusive_and_zero_means_same_second():
    assert ("a", "c") in as_dict(coaction_network(SHARES, signal="share", window_s=61))
    tie = events([("a", 5, "share", "X"), ("b", 5, "share", "X"), ("c", 6, "share", "X")])
    assert set(as_dict(coaction_network(tie, signal="share", window_s=0))) == {("a", "b")}


def test_min_weight_filters_on_distinct_objects():
    assert set(as_dict(coaction_network(SHARES, signal="share", window_s=60, min_weight=2))) == {("a", "b")}


def test_weight_counts_objects_while_events_count_events():
    repeated = events([("a", 0, "share", "X"), ("a", 10, "share", "X"), ("a", 20, "share", "X"), ("b", 15, "share", "X")])
    assert as_dict(coaction_network(repeated, signal="share", window_s=60)) == {("a", "b"): (1, 3, 1, 5.0)}


def test_chunked_pairing_gives_the_same_network():
    one = coaction_network(SHARES, signal="share", window_s=60).edges
    many = coaction_network(SHARES, signal="share", window_s=60, pairs_per_chunk=1).edges
    assert one.equals(many)


def test_viral_cap_skips_crowded_windows_and_counts_them():
    crowd = events([(f"u{i:02d}", i, "share", "VIRAL") for i in range(10)] + [("a", 0, "share", "Q"), ("b", 3, "share", "Q")])
    result = coaction_network(crowd, signal="share", window_s=60, max_actors_per_window=5)
    assert set(as_dict(result)) == {("a", "b")}
    assert (result.capped_events, result.capped_objects) == (10, 1)
    uncapped = coaction_network(crowd, signal="share", window_s=60)
    assert uncapped.capped_events == 0 and uncapped.edges.height == 45 + 1


def test_url_signal_normalises_unless_switched_off_and_skips_shares():
    rows = events(
        [
            ("a", 0, "post", None, {"urls": ["https://www.Site.com/p/?utm_source=tw"]}),
            ("b", 5, "post", None, {"urls": ["http://site.com/p"]}),
            ("c", 6, "reply", "R1", {"urls": ["https://site.com/p"]}),
            ("d", 7, "share", "S1", {"urls": ["https://site.com/p"]}),
        ]
    )
    assert set(as_dict(coaction_network(rows, signal="url", window_s=60))) == {("a", "c")}
    assert as_dict(coaction_network(rows, signal="url", window_s=60, normalize_urls=False)) == {}


def test_domain_signal_links_different_articles_of_one_site_once_a_day():
    day = 86_400
    rows = events(
        [
            # Day 0: two articles of one site, 50 s apart (host case, www. and tracking parameters do not matter).
            ("a", 0, "post", None, {"urls": ["https://www.Site.com/news/one?utm_source=x"]}),
            ("b", 50, "reply", "R", {"urls": ["http://site.com/news/two"]}),
            ("a", 55, "post", None, {"urls": ["https://site.com/news/three"]}),  # the same site-day again: still one object
            ("c", 10, "post", None, {"urls": ["https://other.org/news/one"]}),  # another site
            ("d", 20, "share", "S", {"urls": ["https://site.com/news/one"]}),  # a share copies its original's link
            ("e", 30, "post", None, {"urls": ["https://t.co/Ab12"]}),  # a shortener hides the site: no object
            ("f", 40, "post", None, {"urls": ["https://t.co/Cd34"]}),
            # Day 1: the pair meets on the site again, a second object.
            ("a", day + 100, "post", None, {"urls": ["https://site.com/news/four"]}),
            ("b", day + 130, "post", None, {"urls": ["https://site.com/news/five"]}),
        ]
    )
    by_site = coaction_network(rows, signal="domain", window_s=60, keep_objects=True)
    assert set(as_dict(by_site)) == {("a", "b")}
    assert as_dict(by_site)[("a", "b")][0] == 2
    day0 = T0.timestamp() // day
    assert sorted(by_site.pair_objects["object"].to_list()) == [f"site.com@{day0:.0f}", f"site.com@{day0 + 1:.0f}"]
    assert as_dict(coaction_network(rows, signal="url", window_s=60)) == {}  # no article was posted twice


def test_mention_signal_reads_posts_and_quotes_not_shares_or_replies():
    rows = events(
        [
            ("a", 0, "post", None, {"mentions": ["@Jane_Doe"]}),
            ("b", 20, "quote", "Q", {"mentions": ["jane_doe", "JANE_DOE"]}),  # case and @ do not matter; one event counts once
            ("c", 30, "share", "S", {"mentions": ["jane_doe"]}),  # a share's mentions are its original's
            ("d", 40, "reply", "R", {"mentions": ["jane_doe"]}),  # a reply names the author it answers
            ("e", 50, "post", None, {"mentions": ["someone_else"]}),
            ("f", 55, "post", None, {"mentions": ["@", " "]}),  # nobody named: no object
        ]
    )
    network = coaction_network(rows, signal="mention", window_s=60, keep_objects=True)
    assert as_dict(network) == {("a", "b"): (1, 1, 1, 20.0)}
    assert network.pair_objects["object"].to_list() == [f"jane_doe@{T0.timestamp() // 86_400:.0f}"]
    assert "mention" in signal_names(rows)
    assert "mention" not in signal_names(rows.filter(pl.col("action").is_in(["share", "reply"])))


def test_site_of_drops_the_day():
    frame = pl.DataFrame({"object": ["site.com@18628", "a.b.org@-3", "plain.net"]})
    assert frame.select(coaction.site_of(pl.col("object")))["object"].to_list() == ["site.com", "a.b.org", "plain.net"]


def test_one_event_with_two_matching_urls_counts_once():
    rows = events([("a", 0, "post", None, {"urls": ["u1", "u2"]}), ("b", 1, "post", None, {"urls": ["u1", "u2", "u1"]})])
    assert as_dict(coaction_network(rows, signal="url", window_s=60, normalize_urls=False)) == {("a", "b"): (2, 1, 1, 1.0)}


def test_hashtag_and_text_signals():
    rows = events(
        [
            ("a", 0, "post", None, {"hashtags": ["#Vote"], "text": "Vote NOW @x"}),
            ("b", 9, "post", None, {"hashtags": ["vote"], "text": "vote   now"}),
            ("c", 9, "share", "P", {"hashtags": ["vote"], "text": "vote now"}),
        ]
    )
    assert set(as_dict(coaction_network(rows, signal="hashtag", window_s=60))) == {("a", "b")}
    assert set(as_dict(coaction_network(rows, signal="text", window_s=60))) == {("a", "b")}


def test_other_actions_are_signals_of_their_own():
    rows = events([("a", 0, "like", "P"), ("b", 2, "like", "P"), ("a", 0, "edit", "Page"), ("c", 4, "edit", "Page"), ("d", 4, "post", "ignored")])
    assert signal_names(rows) == ["edit", "like"]
    assert set(as_dict(coaction_network(rows, signal="like", window_s=60))) == {("a", "b")}
    assert set(as_dict(coaction_network(rows, signal="edit", window_s=60))) == {("a", "c")}


def test_unknown_signal_is_an_input_error_listing_what_exists():
    with pytest.raises(InputError, match=r"unknown signal 'retweet'.*available here: share"):
        coaction_network(SHARES, signal="retweet", window_s=60)


def test_empty_input_gives_empty_network_with_schema():
    empty = SHARES.clear()
    result = coaction_network(empty, signal="share", window_s=60)
    assert result.edges.is_empty() and result.edges.schema == pl.Schema(NETWORK)


def test_normalize_docstring_examples_run():
    assert doctest.testmod(features.normalize).failed == 0


def test_keep_objects_returns_the_evidence_behind_each_pair():
    result = coaction_network(SHARES, signal="share", window_s=60, keep_objects=True)
    assert result.pair_objects.rows() == [("a", "b", "X", 3, 30.0), ("a", "b", "Y", 2, 60.0), ("b", "c", "X", 3, 31.0)]
    assert result.activity.rows() == [("a", 3, 5), ("b", 2, 2), ("c", 1, 1)]
    assert coaction_network(SHARES, signal="share", window_s=60).pair_objects is None


def test_keep_objects_follows_min_weight_and_chunking():
    one = coaction_network(SHARES, signal="share", window_s=60, min_weight=2, keep_objects=True)
    many = coaction_network(SHARES, signal="share", window_s=60, min_weight=2, keep_objects=True, pairs_per_chunk=1)
    assert one.pair_objects.equals(many.pair_objects)
    assert set(one.pair_objects.select("source", "target").unique().rows()) == {("a", "b")}


# ----------------------------------------------------------- internals kept exact


@pytest.mark.parametrize("keep_objects", [False, True])
def test_object_hash_collisions_fall_back_to_exact_codes(monkeypatch, keep_objects):
    """Objects are keyed by a 64-bit hash proven exact per input; forcing every hash equal changes nothing."""
    rows = SHARES
    honest = coaction_network(rows, signal="share", window_s=60, keep_objects=keep_objects)
    monkeypatch.setattr(coaction, "_hash_objects", lambda objects: pl.repeat(7, objects.len(), dtype=pl.UInt64, eager=True))
    colliding = coaction_network(rows, signal="share", window_s=60, keep_objects=keep_objects)
    assert colliding.edges.equals(honest.edges) and as_dict(honest) == {("a", "b"): (2, 2, 2, 45.0), ("b", "c"): (1, 1, 1, 31.0)}
    if keep_objects:
        assert colliding.pair_objects.equals(honest.pair_objects) and colliding.activity.equals(honest.activity)


def test_viral_cap_counts_objects_exactly_under_collisions(monkeypatch):
    crowd = events([(f"u{i:02d}", i, "share", "V1") for i in range(6)] + [(f"u{i:02d}", 500 + i, "share", "V2") for i in range(6)])
    monkeypatch.setattr(coaction, "_hash_objects", lambda objects: pl.repeat(7, objects.len(), dtype=pl.UInt64, eager=True))
    result = coaction_network(crowd, signal="share", window_s=60, max_actors_per_window=5)
    assert (result.capped_events, result.capped_objects, result.edges.height) == (12, 2, 0)


SIGNAL_ROWS = events(
    [
        ("a", 0, "share", "X", {"urls": ["u1"], "hashtags": ["#h"], "text": "t one"}),
        ("b", 5, "share", "X", {"urls": ["u1"], "hashtags": ["h"], "text": "t one"}),
        ("a", 10, "post", None, {"urls": ["u1", "u2"], "hashtags": ["#H"], "text": "T  one"}),
        ("c", 12, "reply", "X", {"urls": ["u2"], "hashtags": ["h"], "text": "t one", "mentions": ["@a"]}),
        ("c", 13, "post", None, {"mentions": ["@B"]}),
        ("a", 16, "post", None, {"mentions": ["b"]}),
        ("b", 14, "like", "P", {}),
        ("c", 15, "like", "P", {}),
    ]
)


@pytest.mark.parametrize("signal", ["share", "reply", "url", "domain", "hashtag", "mention", "text", "like"])
def test_signal_columns_are_all_the_engine_reads(signal):
    """A frame holding only signal_columns(signal) (what `coordetect network` loads) gives the same network."""
    narrow = SIGNAL_ROWS.select(signal_columns(signal))
    assert coaction_network(narrow, signal=signal, window_s=60).edges.equals(coaction_network(SIGNAL_ROWS, signal=signal, window_s=60).edges)


def test_signal_names_treats_missing_columns_as_empty():
    assert signal_names(SIGNAL_ROWS) == ["share", "reply", "url", "domain", "hashtag", "mention", "text", "like"]
    assert signal_names(SIGNAL_ROWS.select(signal_columns("share"))) == ["share", "reply", "like"]
