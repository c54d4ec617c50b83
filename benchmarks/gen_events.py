"""Generate a large, seeded event set in the coordination-network-toolkit's CSV layout.

The speed benchmark needs millions of events whose co-repost structure looks
like a real platform: a few very active accounts and many quiet ones, a few
viral posts and a long tail, reposts arriving minutes to hours after the post,
and a small share of tightly synchronised bursts by groups of accounts. The
knobs below are set so that a 60 s co-repost network is large but not explosive
(roughly 2-3 in-window repost pairs per repost at the default sizes) and no
object ever has thousands of accounts in one window.

Everything is vectorised numpy/polars: 10 million events take well under a
minute. The output columns are the toolkit's, in its order, with a header:
``message_id, user_id, username, repost_id, reply_id, message, timestamp, urls``
(empty string = none; ``timestamp`` in integer epoch seconds; ``urls``
space-separated).

Usage::

    python benchmarks/gen_events.py --events 10000000 --seed 7 --out benchmarks/work/gen_10m.csv
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

log = logging.getLogger("gen_events")

START_EPOCH = 1_600_000_000  # 2020-09-13: any fixed origin will do
CNTK_COLUMNS = ("message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls")


@dataclass(frozen=True)
class GenSpec:
    """Shape of the generated workload; defaults are the benchmark's."""

    events: int = 10_000_000
    seed: int = 7
    span_days: float = 30.0
    events_per_account: float = 40.0  # mean activity; the median account is far quieter
    share_frac: float = 0.60  # reposts (the co-repost network's input)
    reply_frac: float = 0.10  # the rest are original posts
    zipf_s: float = 1.1  # popularity exponent of reposted posts (Zipf-Mandelbrot)
    zipf_offset: float = 200.0  # flattens the head so the top post is viral, not absurd
    delay_median_s: float = 3 * 3600.0  # repost delay after the post: lognormal
    delay_sigma: float = 1.6
    burst_frac: float = 0.03  # share of reposts made in coordinated bursts
    burst_group_size: int = 15
    burst_spread_s: float = 40.0  # members of a burst repost within this many seconds
    url_frac: float = 0.25  # original posts and replies carrying a link


def _diurnal_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds of day drawn from a day/night cycle (quiet at 04:00, busy at 20:00 UTC)."""
    hours = np.arange(24)
    weight = 1.0 + 0.8 * np.cos((hours - 20) / 24 * 2 * np.pi)
    hour = rng.choice(24, size=n, p=weight / weight.sum())
    return hour * 3600 + rng.integers(0, 3600, size=n)


def _weighted_pick(rng: np.random.Generator, weight: np.ndarray, n: int) -> np.ndarray:
    """``n`` indices drawn with probability proportional to ``weight`` (inverse CDF, O(n log k))."""
    cdf = np.cumsum(weight, dtype=np.float64)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(weight) - 1)


def generate(spec: GenSpec) -> pl.DataFrame:
    """The event table (toolkit columns) for ``spec``: same spec, same frame."""
    rng = np.random.default_rng(spec.seed)
    span_s = int(spec.span_days * 86400)
    n_accounts = max(int(spec.events / spec.events_per_account), 10)
    n_share = int(spec.events * spec.share_frac)
    n_reply = int(spec.events * spec.reply_frac)
    n_post = spec.events - n_share - n_reply
    n_burst_share = int(n_share * spec.burst_frac) // spec.burst_group_size * spec.burst_group_size
    n_plain_share = n_share - n_burst_share

    # Heavy-tailed activity: lognormal weights give a long tail of accounts with
    # a handful of events and a few with tens of thousands.
    activity = rng.lognormal(mean=0.0, sigma=1.4, size=n_accounts)

    # Original posts: uniform days, diurnal hours.
    post_t = rng.integers(0, int(spec.span_days), size=n_post) * 86400 + _diurnal_seconds(rng, n_post)
    post_user = _weighted_pick(rng, activity, n_post)

    # Popularity: each post gets a random Zipf-Mandelbrot rank; reposts and
    # replies pick posts by it.
    rank = rng.permutation(n_post).astype(np.float64)
    popularity = (rank + spec.zipf_offset) ** -spec.zipf_s

    def delayed(parents: np.ndarray) -> np.ndarray:
        delay = rng.lognormal(np.log(spec.delay_median_s), spec.delay_sigma, size=len(parents))
        return post_t[parents] + np.maximum(delay, 1.0).astype(np.int64)

    share_parent = _weighted_pick(rng, popularity, n_plain_share)
    share_t = delayed(share_parent)
    share_user = _weighted_pick(rng, activity, n_plain_share)

    # Coordinated bursts: a fixed group of accounts reposts one post within
    # burst_spread_s seconds of each other (the pattern the detector hunts).
    n_bursts = n_burst_share // spec.burst_group_size
    n_groups = max(n_accounts // 2000, 1)
    group_members = rng.choice(n_accounts, size=(n_groups, spec.burst_group_size), replace=False)
    burst_group = rng.integers(0, n_groups, size=n_bursts)
    burst_parent = _weighted_pick(rng, popularity, n_bursts)
    burst_start = delayed(burst_parent)
    g = spec.burst_group_size
    burst_user = group_members[burst_group].reshape(-1)
    burst_parent_rep = np.repeat(burst_parent, g)
    burst_t = np.repeat(burst_start, g) + rng.integers(0, int(spec.burst_spread_s) + 1, size=n_bursts * g)

    reply_parent = _weighted_pick(rng, popularity, n_reply)
    reply_t = delayed(reply_parent)
    reply_user = _weighted_pick(rng, activity, n_reply)

    kind = np.concatenate(
        [
            np.zeros(n_post, np.int8),
            np.ones(n_plain_share + n_bursts * g, np.int8),
            np.full(n_reply, 2, np.int8),
        ]
    )
    t = np.concatenate([post_t, share_t, burst_t, reply_t]).astype(np.int64)
    user = np.concatenate([post_user, share_user, burst_user, reply_user]).astype(np.int64)
    parent = np.concatenate(
        [np.full(n_post, -1, np.int64), share_parent, burst_parent_rep, reply_parent]
    )  # index into posts (first n_post rows)

    # Rows in time order; message_id = position, so a parent's id is its new position.
    order = np.argsort(t, kind="stable")
    new_id = np.empty(len(order), np.int64)
    new_id[order] = np.arange(len(order))
    parent_id = np.where(parent >= 0, new_id[np.maximum(parent, 0)], -1)[order]
    kind, t, user = kind[order], t[order], user[order]
    has_url = (kind != 1) & (rng.random(len(order)) < spec.url_frac)
    url_site = _weighted_pick(rng, 1.0 / np.arange(1, 501), len(order))
    topic = _weighted_pick(rng, 1.0 / np.arange(1, 2001), len(order))

    frame = pl.DataFrame(
        {
            "message_id": np.arange(len(order), dtype=np.int64),
            "user": user,
            "kind": kind,
            "parent": parent_id,
            "timestamp": t + START_EPOCH,
            "has_url": has_url,
            "site": url_site,
            "topic": topic,
        }
    )
    parent_col = pl.when(pl.col("parent") >= 0).then(pl.col("parent"))
    return frame.select(
        "message_id",
        pl.col("user").alias("user_id"),
        pl.format("user{}", "user").alias("username"),
        pl.when(pl.col("kind") == 1).then(parent_col).alias("repost_id"),
        pl.when(pl.col("kind") == 2).then(parent_col).alias("reply_id"),
        pl.when(pl.col("kind") == 1)
        .then(pl.format("RT post {}", "parent"))
        .when(pl.col("kind") == 2)
        .then(pl.format("@user{} replying on topic {} #t{}", "user", "topic", "topic"))
        .otherwise(pl.format("news about topic {} #t{} https://site{}.example/p/{}", "topic", "topic", "site", "message_id"))
        .alias("message"),
        "timestamp",
        pl.when(pl.col("has_url"))
        .then(pl.format("https://site{}.example/p/{}", "site", "message_id"))
        .alias("urls"),
    )


def in_window_pairs(frame: pl.DataFrame, window_s: int) -> dict[str, int]:
    """Rough size of the co-repost workload: in-window ordered event pairs (any accounts) and the peak.

    Counted with two binary searches per repost on (object, time) keys, so it is
    cheap; it includes same-account pairs, which the networks drop.
    """
    reposts = frame.filter(pl.col("repost_id").is_not_null()).select("repost_id", "timestamp").sort("repost_id", "timestamp")
    obj = reposts["repost_id"].to_numpy().astype(np.int64)
    ts = reposts["timestamp"].to_numpy().astype(np.int64) - START_EPOCH
    # Objects are spaced far enough apart on one axis that windows never straddle two.
    key = obj * (10 * 365 * 86400) + ts
    partners = np.searchsorted(key, key + window_s, side="right") - np.searchsorted(key, key - window_s, side="left") - 1
    return {
        "reposts": int(len(key)),
        "in_window_event_pairs": int(partners.sum()),
        "max_partners_of_one_repost": int(partners.max(initial=0)),
    }


def write_csv(frame: pl.DataFrame, out: Path) -> None:
    """Write ``frame`` as the toolkit's CSV (header, empty string for none), atomically."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    frame.select(CNTK_COLUMNS).write_csv(tmp, null_value="")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=GenSpec.events)
    parser.add_argument("--seed", type=int, default=GenSpec.seed)
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--stats", action="store_true", help="also print the in-window pair count for a 60 s window")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = GenSpec(events=args.events, seed=args.seed)
    started = time.perf_counter()
    frame = generate(spec)
    write_csv(frame, args.out)
    summary = {"spec": asdict(spec), "rows": frame.height, "seconds": round(time.perf_counter() - started, 1)}
    if args.stats:
        summary["window_60s"] = in_window_pairs(frame, 60)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
