"""A mention brigade end to end: accounts that keep tagging one person, each from a post of its own.

Nothing links the brigade but whom it tags: no shared post, link, hashtag or
copied text, no shared infrastructure or sign-up template. The crowd that tags
a celebrity during a viral moment and a fandom that tags its show's account at
every weekly episode are the hard negatives.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from detector.config import Config
from detector.pipeline import detect
from detector.schema import EVENTS, conform

START = datetime(2024, 5, 6, tzinfo=timezone.utc)
WORDS = "river market garden train coffee rain music movie school city bread ocean summer winter bike book dog team game".split()
ORGANIC = [f"user_{i:03d}" for i in range(120)]
BRIGADE = [f"troll_{i}" for i in range(6)]
FANDOM = ORGANIC[:25]
POPULAR = ["star", "city_news", "mayor"]


def _world(seed: int = 3) -> pl.DataFrame:
    rng = random.Random(seed)
    rows: list[dict] = []

    def post(account: str, t: datetime, mentions: list[str]) -> None:
        text = " ".join(rng.choice(WORDS) for _ in range(8)) + "".join(f" @{m}" for m in mentions)
        rows.append({"account_id": account, "timestamp": t, "action": "post", "text": text, "mentions": [f"@{m}" for m in mentions]})

    def at(day: float, hour: float, minutes: float = 0.0) -> datetime:
        return START + timedelta(days=day, hours=hour, minutes=minutes)

    # Everyday life: own posts, some tagging a popular account or a friend; shares of each other's posts.
    for account in ORGANIC + BRIGADE:
        for _ in range(rng.randint(20, 60)):
            roll = rng.random()
            tags = [rng.choice(POPULAR)] if roll < 0.15 else [rng.choice(ORGANIC)] if roll < 0.2 else []
            post(account, at(rng.uniform(0, 30), 0), tags)
        for _ in range(rng.randint(5, 20)):
            rows.append({"account_id": account, "timestamp": at(rng.uniform(0, 30), 0), "action": "share", "target": f"p{rng.randrange(500)}"})
    # A viral moment: 40 accounts tag the celebrity within twenty minutes.
    for account in rng.sample(ORGANIC, 40):
        post(account, at(10, 20, rng.uniform(0, 20)), ["star"])
    # A fandom: the same 25 accounts tag their show's account during each weekly episode.
    for week in range(4):
        for account in FANDOM:
            if rng.random() < 0.8:
                post(account, at(2 + 7 * week, 21, rng.uniform(0, 60)), ["the_show"])
    # A few ordinary readers tag the reporter now and then (her share of taggers lowers the brigade's exclusivity).
    for account in rng.sample(ORGANIC, 5):
        post(account, at(rng.uniform(0, 30), 0), ["reporter_x"])
    # The brigade: twelve waves, four or five of its six accounts tag the reporter within a quarter of an hour.
    for _ in range(12):
        moment = at(rng.uniform(0, 29), rng.uniform(8, 22))
        for account in rng.sample(BRIGADE, rng.randint(4, 5)):
            post(account, moment + timedelta(minutes=rng.uniform(0, 15)), ["reporter_x"])
    frame = pl.DataFrame(
        rows,
        schema={
            "account_id": pl.String, "timestamp": pl.Datetime("us", "UTC"), "action": pl.String,
            "target": pl.String, "text": pl.String, "mentions": pl.List(pl.String),
        },
    ).with_columns(pl.col("mentions").fill_null([]))
    return conform(frame.sort("timestamp", "account_id"), EVENTS)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_the_brigade_is_found_on_whom_it_tags_and_the_crowds_are_not(seed):
    result = detect(_world(seed), None, Config())
    flagged = result.accounts.filter("flagged")
    assert set(flagged["account_id"].to_list()) == set(BRIGADE)
    assert flagged["cluster_id"].n_unique() == 1
    assert "account-days co-mentioned" in result.clusters.filter("flagged")["evidence"].item()


def test_without_mentions_nothing_links_the_brigade():
    untagged = _world().with_columns(pl.lit([], dtype=pl.List(pl.String)).alias("mentions"))
    accounts = detect(untagged, None, Config()).accounts
    assert not accounts.filter(pl.col("account_id").is_in(BRIGADE))["flagged"].any()
