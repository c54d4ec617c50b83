"""Exclusivity counts a post's whole audience: fast likers of popular posts are not an operator."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from detector.config import Config
from detector.exclusivity import ACTORS, audience_actors, audience_of, cluster_exclusivity, post_audience
from detector.pipeline import detect

START = datetime(2025, 3, 3, tzinfo=timezone.utc)


def _events(rows: list[tuple[str, str, int, str, str | None]]) -> pl.DataFrame:
    """Events from ``(event_id, account_id, seconds after START, action, target)``."""
    return pl.DataFrame(
        [{"event_id": e, "account_id": a, "timestamp": START + timedelta(seconds=t), "action": act, "target": tgt} for e, a, t, act, tgt in rows],
        schema={"event_id": pl.String, "account_id": pl.String, "timestamp": pl.Datetime("us", "UTC"), "action": pl.String, "target": pl.String},
    )


def test_a_posts_audience_is_everyone_who_reacted_to_it_in_any_way():
    events = _events([
        ("p1", "author", 0, "post", None),
        ("e1", "a", 10, "share", "p1"),
        ("e2", "b", 20, "like", "p1"),
        ("e3", "c", 30, "reply", "p1"),
        ("e4", "d", 40, "quote", "p1"),
        ("e5", "a", 50, "like", "p1"),  # a second reaction of one account counts once
        ("e6", "e", 60, "follow", "p1"),  # a follow names an account, whatever its id looks like
        ("e7", "f", 70, "share", "p2"),
    ])
    audience = post_audience(events, pl.DataFrame({"object": ["p1"]}))
    assert audience.filter(pl.col("object") == "p1")["account_id"].to_list() == ["a", "b", "c", "d"]
    assert audience["object"].unique().to_list() == ["p1"]


def test_every_post_reaction_signal_reads_the_same_audience():
    events = _events([("e1", "a", 0, "share", "p1"), ("e2", "b", 5, "like", "p1"), ("e3", "c", 9, "like", "p2")])
    posts = pl.DataFrame({"signal": ["like", "share", "like"], "object": ["p1", "p1", "p2"]})
    actors = audience_actors(events, posts)
    assert actors.schema == pl.Schema(ACTORS)
    assert actors.rows() == [("p1", "a", "like"), ("p1", "b", "like"), ("p2", "c", "like"), ("p1", "a", "share"), ("p1", "b", "share")]


def test_likers_of_a_post_the_public_shares_own_little_of_it():
    labels = pl.DataFrame({"account_id": ["l1", "l2", "l3", "l4"], "cluster_id": [0, 0, 0, 0]})
    coacted = pl.DataFrame({"cluster_id": [0], "signal": ["like"], "object": ["p1"]})
    likers = pl.DataFrame({"object": ["p1"] * 4, "account_id": ["l1", "l2", "l3", "l4"], "signal": ["like"] * 4}, schema=ACTORS)
    sharers = pl.DataFrame({"object": ["p1"] * 12, "account_id": [f"s{i}" for i in range(12)], "signal": ["like"] * 12}, schema=ACTORS)
    alone = cluster_exclusivity(labels, coacted, audience_of([likers]))["exclusivity"].item()
    among_the_audience = cluster_exclusivity(labels, coacted, audience_of([pl.concat([likers, sharers])]))["exclusivity"].item()
    assert alone == 1.0
    assert among_the_audience == pytest.approx(4 / 16)


def _actors(objects: dict[str, list[str]], signal: str = "share") -> pl.DataFrame:
    return pl.DataFrame(
        [(obj, account, signal) for obj, accounts in objects.items() for account in accounts], schema=ACTORS, orient="row"
    )


def test_a_cluster_is_judged_by_the_objects_most_of_it_acts_on():
    members = [f"m{i}" for i in range(10)]
    labels = pl.DataFrame({"account_id": members, "cluster_id": [0] * 10})
    # Three campaign posts that 8 of the 10 push, with one outsider each; and 25 popular posts on which two
    # members each met (the community's timeline), among a hundred outsiders apiece.
    objects = {f"campaign{k}": members[k : k + 8] + [f"fan{k}"] for k in range(3)}
    objects |= {f"popular{k}": [members[k % 10], members[(k + 3) % 10]] + [f"x{k}_{j}" for j in range(100)] for k in range(25)}
    coacted = pl.DataFrame({"cluster_id": [0] * len(objects), "signal": ["share"] * len(objects), "object": list(objects)})
    share = cluster_exclusivity(labels, coacted, audience_of([_actors(objects)]))["exclusivity"].item()
    # Over every object the 50 incidences on popular posts held it near 0.3; over its main objects it is 8 of 9.
    assert share == pytest.approx(8 / 9)


def test_a_crowd_whose_main_objects_are_popular_owns_little_of_them():
    crowd = [f"c{i}" for i in range(10)]
    labels = pl.DataFrame({"account_id": crowd, "cluster_id": [0] * 10})
    objects = {f"viral{k}": crowd[k : k + 8] + [f"x{k}_{j}" for j in range(292)] for k in range(3)}
    objects |= {f"small{k}": [crowd[k % 10], crowd[(k + 1) % 10], "y"] for k in range(6)}
    coacted = pl.DataFrame({"cluster_id": [0] * len(objects), "signal": ["share"] * len(objects), "object": list(objects)})
    assert cluster_exclusivity(labels, coacted, audience_of([_actors(objects)]))["exclusivity"].item() == pytest.approx(8 / 300)


def _fast_likers_and_a_ring(seed: int) -> pl.DataFrame:
    """120 organic accounts; 24 popular posts the public shares over days and four accounts like within two minutes;
    and a ring of five that shares and likes its own seeds within minutes."""
    rng = random.Random(seed)
    rows: list[tuple[str, str, int, str, str | None]] = []
    organic = [f"user_{i:03d}" for i in range(120)]
    fast = [f"fast_{i}" for i in range(4)]
    ring = [f"ring_{i}" for i in range(5)]
    day = 86400
    posts: list[tuple[str, int]] = []
    for account in organic + fast:
        for k in range(4):
            post, t = f"{account}_p{k}", rng.randint(0, 28 * day)
            rows.append((post, account, t, "post", None))
            posts.append((post, t))
    popular = rng.sample([p for p in posts if p[0].startswith("user_")], 24)
    for n, (post, t) in enumerate(popular):
        for account in rng.sample(organic, 14):
            rows.append((f"{post}_s{n}_{account}", account, t + rng.randint(3600, 3 * day), "share", post))
        for account in fast:
            if rng.random() < 0.9:
                rows.append((f"{post}_l_{account}", account, t + rng.randint(20, 120), "like", post))
    for account in organic:  # everyday likes and shares of anything
        for k in range(6):
            post, t = rng.choice(posts)
            rows.append((f"{account}_bl{k}", account, t + rng.randint(60, 2 * day), "like", post))
        for k in range(2):
            post, t = rng.choice(posts)
            rows.append((f"{account}_bs{k}", account, t + rng.randint(60, 2 * day), "share", post))
    for k in range(16):
        seed_post, t = f"ring_seed_{k}", rng.randint(0, 28 * day)
        rows.append((seed_post, ring[0], t, "post", None))
        for account in ring[1:]:
            if rng.random() < 0.85:
                rows.append((f"{seed_post}_s_{account}", account, t + rng.randint(30, 600), "share", seed_post))
            if rng.random() < 0.5:
                rows.append((f"{seed_post}_l_{account}", account, t + rng.randint(30, 600), "like", seed_post))
    return _events(rows)


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_likers_of_popular_posts_are_not_flagged_but_a_ring_is(seed):
    out = detect(_fast_likers_and_a_ring(seed), None, Config())
    flagged = set(out.accounts.filter("flagged")["account_id"].to_list())
    assert {f"ring_{i}" for i in range(1, 5)} <= flagged
    assert not any(name.startswith(("fast_", "user_")) for name in flagged)
    # The likers are still linked to each other: the pair test sees them; only the score tells them apart.
    likers = out.edges.filter((pl.col("signal") == "like") & pl.col("source").str.starts_with("fast_") & pl.col("target").str.starts_with("fast_"))
    assert likers.height >= 3


def test_a_site_is_judged_over_its_whole_life_not_one_day():
    """A ``domain`` object is a site on one day; its share counts everyone who ever linked the site."""
    labels = pl.DataFrame({"account_id": ["m1", "m2", "m3"], "cluster_id": [0, 0, 0]})
    coacted = pl.DataFrame({"cluster_id": [0, 0], "signal": ["domain", "domain"], "object": ["blog.net@100", "blog.net@101"]})
    members = [(f"blog.net@{day}", m, "domain") for day in (100, 101) for m in ("m1", "m2", "m3")]
    readers = [(f"blog.net@{90 + i}", f"r{i}", "domain") for i in range(9)]  # the site's readers, on other days
    local = pl.DataFrame(members + readers, schema=ACTORS, orient="row")
    own = pl.DataFrame(members + [("ownsite.io@105", "x", "domain")], schema=ACTORS, orient="row")
    assert cluster_exclusivity(labels, coacted, audience_of([local]))["exclusivity"].item() == pytest.approx(3 / 12)
    assert cluster_exclusivity(labels, coacted, audience_of([own]))["exclusivity"].item() == 1.0
