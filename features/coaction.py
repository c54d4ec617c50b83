"""Co-action networks: which accounts acted on the same object within a short time.

Two distinct accounts *co-act* when one event of each, on the same object
(shared post, replied-to post, URL, hashtag, text, liked post, followed
account...), is at most ``window_s`` seconds apart, inclusive. Per unordered
account pair the network records

- ``weight``: distinct objects the pair co-acted on;
- ``source_events`` / ``target_events``: how many of each side's events have a
  partner event of the other side within the window (exactly the directed weight
  of the coordination-network-toolkit, which counts distinct messages);
- ``median_gap_s``: over the objects the pair co-acted on, the median of the
  closest gap between the two accounts on each object (one hyperactive repeat
  does not skew it, and it splits exactly across partitions).

How: accounts are integer-coded in sorted order (so code order is string order
and ``source < target`` falls out), objects are dictionary-coded, and time is cut
into buckets one window wide. Two events within the window lie in the same or in
adjacent buckets, so the candidate pairs are two hash equi-joins on
``(object, bucket)`` — no Python per event or per pair, and the same plan runs on
Spark. A crowd inside one (object, bucket) makes pairs quadratically; a bucket
with more than ``max_actors_per_window`` distinct accounts is treated as viral
and its events are not paired (counted in ``capped_events``). Memory stays
bounded: the candidate pairs are counted first, and when they exceed
``pairs_per_chunk`` the (object, bucket) keys are hash-partitioned and each
partition is reduced to small exact partials (per pair and object the closest
gap; per pair the distinct partnered events) before the next one is joined.

Content signals (``url``, ``hashtag``, ``text``) leave out shares: a share copies
its original's content, and the ``share`` signal already covers it (the toolkit
does the same for links and texts).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import polars as pl

from detector.errors import InputError
from detector.schema import NETWORK, empty_frame
from features.normalize import DEFAULT_TRACKING_PARAMS, normalize_hashtag, normalize_text, normalize_url

TARGET_SIGNALS = ("share", "reply", "quote")
CONTENT_SIGNALS = ("url", "hashtag", "text")
BUILTIN_SIGNALS = TARGET_SIGNALS + CONTENT_SIGNALS
# Actions whose target is not an object of their own signal.
_NOT_OWN_SIGNAL = ("post",)

_US_PER_S = 1_000_000


@dataclass(frozen=True)
class CoactionResult:
    """One signal's network, what the viral cap left out, and (on request) the evidence behind it.

    With ``keep_objects=True``: ``pair_objects`` has one row per pair and object
    they co-acted on (``source, target, object, object_accounts, gap_s``: the
    object's distinct actors in the whole input and the pair's closest gap on it),
    and ``activity`` one row per account with its distinct ``objects`` and
    ``events`` in this signal: what popularity weighting and the null model need.
    """

    edges: pl.DataFrame
    capped_events: int
    capped_objects: int
    pair_objects: pl.DataFrame | None = None
    activity: pl.DataFrame | None = None


def signal_names(events: pl.DataFrame) -> list[str]:
    """The signals this events frame can produce, built-ins first, then other actions by name."""
    present = []
    has_target = events["target"].is_not_null()
    not_share = events["action"] != "share"
    for name in TARGET_SIGNALS:
        if ((events["action"] == name) & has_target).any():
            present.append(name)
    for column, name in (("urls", "url"), ("hashtags", "hashtag")):
        if (not_share & (events[column].list.len() > 0)).any():
            present.append(name)
    if (not_share & events["text"].is_not_null()).any():
        present.append("text")
    others = (
        events.filter(has_target & ~pl.col("action").is_in(BUILTIN_SIGNALS + _NOT_OWN_SIGNAL))
        .get_column("action")
        .unique()
        .sort()
        .to_list()
    )
    return present + others


def signal_events(
    events: pl.DataFrame,
    signal: str,
    *,
    normalize_urls: bool = True,
    tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS,
) -> pl.LazyFrame:
    """One row per (event, object) for ``signal``: ``event`` (row position), ``account_id``, ``object``, ``ts`` (µs)."""
    frame = events.lazy().with_row_index("event").select(
        "event",
        "account_id",
        "action",
        "target",
        "text",
        "urls",
        "hashtags",
        pl.col("timestamp").dt.epoch("us").alias("ts"),
    )
    if signal == "url":
        exploded = frame.filter(pl.col("action") != "share").explode("urls").filter(pl.col("urls").is_not_null())
        url = pl.col("urls")
        obj = normalize_url(url, tracking_params=tracking_params) if normalize_urls else url
    elif signal == "hashtag":
        exploded = frame.filter(pl.col("action") != "share").explode("hashtags")
        obj = normalize_hashtag(pl.col("hashtags"))
    elif signal == "text":
        exploded = frame.filter((pl.col("action") != "share") & pl.col("text").is_not_null())
        obj = normalize_text(pl.col("text"))
    else:
        exploded = frame.filter((pl.col("action") == signal) & pl.col("target").is_not_null())
        obj = pl.col("target")
    return (
        exploded.select("event", "account_id", obj.alias("object"), "ts")
        .filter(pl.col("object").is_not_null() & (pl.col("object") != ""))
        .unique(["event", "object"], keep="first", maintain_order=True)
    )


def check_signal(events: pl.DataFrame, signal: str) -> None:
    """Raise ``InputError`` for a signal that is neither built in nor an action in ``events``."""
    if signal in BUILTIN_SIGNALS or signal in set(events["action"].unique().to_list()) - set(_NOT_OWN_SIGNAL):
        return
    available = ", ".join(signal_names(events)) or "none"
    raise InputError(f"unknown signal '{signal}': expected one of {', '.join(BUILTIN_SIGNALS)} or an action in the data (available here: {available})")


def coaction_network(
    events: pl.DataFrame,
    *,
    signal: str,
    window_s: int,
    min_weight: int = 1,
    max_actors_per_window: int = 5000,
    pairs_per_chunk: int = 5_000_000,
    normalize_urls: bool = True,
    tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS,
    keep_objects: bool = False,
) -> CoactionResult:
    """The co-action network of ``signal`` over canonical ``events`` (see the module docstring)."""
    check_signal(events, signal)
    rows = signal_events(events, signal, normalize_urls=normalize_urls, tracking_params=tracking_params).collect()
    accounts = rows.select(pl.col("account_id").unique().sort()).with_row_index("acc")
    window_us = window_s * _US_PER_S
    rows = rows.with_columns(pl.col("object").cast(pl.Categorical).to_physical().alias("obj"))
    coded = (
        rows.lazy()
        .join(accounts.lazy(), on="account_id")
        .select(
            "event",
            "acc",
            "ts",
            "obj",
            # Window 0 pairs exact ties only: one-microsecond buckets.
            (pl.col("ts") // max(window_us, 1)).alias("bucket"),
        )
        .with_columns(pl.col("acc").n_unique().over("obj", "bucket").alias("crowd"))
        .collect()
    )
    objects = rows.select("obj", "object").unique("obj") if keep_objects else None
    del rows
    capped = coded.filter(pl.col("crowd") > max_actors_per_window)
    kept = coded.filter(pl.col("crowd") <= max_actors_per_window).drop("crowd")
    if keep_objects:
        degree = coded.group_by("obj").agg(pl.col("acc").n_unique().cast(pl.Int64).alias("object_accounts"))
        activity = (
            coded.group_by("acc")
            .agg(pl.col("obj").n_unique().cast(pl.Int64).alias("objects"), pl.col("event").n_unique().cast(pl.Int64).alias("events"))
            .join(accounts, on="acc")
            .sort("acc")
            .select("account_id", "objects", "events")
        )
    del coded

    n_chunks = max(1, -(-_candidate_pairs(kept) // pairs_per_chunk))
    partials = [_pair_partials(left, following, window_us) for left, following in _chunks(kept, n_chunks)]
    edges, per_object = _combine(partials, min_weight)
    edges = (
        _named_pairs(edges.lazy(), accounts)
        .select("source", "target", pl.lit(signal).alias("signal"), "weight", "source_events", "target_events", "median_gap_s")
        .collect()
    )
    result = CoactionResult(
        edges=edges.cast(NETWORK) if edges.height else empty_frame(NETWORK),
        capped_events=capped["event"].n_unique(),
        capped_objects=capped["obj"].n_unique(),
    )
    if not keep_objects:
        return result
    pair_objects = (
        _named_pairs(per_object.lazy().join(degree.lazy(), on="obj").join(objects.lazy(), on="obj"), accounts)
        .select(
            "source",
            "target",
            pl.col("object").cast(pl.String),
            "object_accounts",
            (pl.col("gap_us") / _US_PER_S).cast(pl.Float64).alias("gap_s"),
        )
        .sort("source", "target", "object")
        .collect()
    )
    return dataclasses.replace(result, pair_objects=pair_objects, activity=activity)


def _named_pairs(pairs: pl.LazyFrame, accounts: pl.DataFrame) -> pl.LazyFrame:
    """Replace integer pair codes ``lo``/``hi`` with account names ``source``/``target``."""
    names = accounts.lazy()
    return pairs.join(names.rename({"acc": "lo", "account_id": "source"}), on="lo", maintain_order="left").join(
        names.rename({"acc": "hi", "account_id": "target"}), on="hi", maintain_order="left"
    )


def _candidate_pairs(kept: pl.DataFrame) -> int:
    """How many event pairs the two joins will produce: sum of n_b * (n_b + n_{b+1}) per object."""
    sizes = kept.group_by("obj", "bucket").agg(pl.len().cast(pl.Int64).alias("n"))
    following = sizes.with_columns(pl.col("bucket") - 1).rename({"n": "n_next"})
    joined = sizes.join(following, on=["obj", "bucket"], how="left")
    return int(joined.select((pl.col("n") * (pl.col("n") + pl.col("n_next").fill_null(0))).sum()).item() or 0)


def _chunks(kept: pl.DataFrame, n_chunks: int) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """Hash partitions of (object, bucket): each chunk's left rows and the next-bucket rows they pair with."""
    if n_chunks == 1:
        return [(kept, kept)]

    def part(bucket: pl.Expr) -> pl.Expr:
        return (pl.struct(pl.col("obj"), bucket).hash(seed=17) % n_chunks).cast(pl.Int64)

    left = kept.with_columns(part(pl.col("bucket")).alias("_part")).partition_by("_part", as_dict=True, include_key=False)
    following = kept.with_columns(part(pl.col("bucket") - 1).alias("_part")).partition_by("_part", as_dict=True, include_key=False)
    empty = kept.clear()
    return [(left.get((c,), empty), following.get((c,), empty)) for c in range(n_chunks)]


def _pair_partials(left: pl.DataFrame, following: pl.DataFrame, window_us: int) -> tuple[pl.DataFrame, ...]:
    """Per chunk: (pair, object, closest gap), and the distinct events of each side that have a partner."""
    same_bucket = left.lazy().join(left.lazy(), on=["obj", "bucket"], suffix="_r").filter(pl.col("acc") < pl.col("acc_r"))
    next_bucket = (
        left.lazy()
        .with_columns(pl.col("bucket") + 1)
        .join(following.lazy(), on=["obj", "bucket"], suffix="_r")
        .filter((pl.col("acc") != pl.col("acc_r")) & (pl.col("ts_r") - pl.col("ts") <= window_us))
    )
    lo_is_left = pl.col("acc") < pl.col("acc_r")
    oriented = (
        pl.concat([same_bucket, next_bucket])
        .select(
            pl.min_horizontal("acc", "acc_r").alias("lo"),
            pl.max_horizontal("acc", "acc_r").alias("hi"),
            "obj",
            pl.when(lo_is_left).then("event").otherwise("event_r").alias("event_lo"),
            pl.when(lo_is_left).then("event_r").otherwise("event").alias("event_hi"),
            (pl.col("ts_r") - pl.col("ts")).abs().alias("gap_us"),
        )
        .collect()
    )
    per_object = oriented.group_by("lo", "hi", "obj").agg(pl.col("gap_us").min())
    events_lo = oriented.select("lo", "hi", "event_lo").unique()
    events_hi = oriented.select("lo", "hi", "event_hi").unique()
    return per_object, events_lo, events_hi


def _combine(partials: list[tuple[pl.DataFrame, ...]], min_weight: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Merge chunk partials into one row per pair (an object or event may span chunks).

    Returns the pairs with ``weight >= min_weight`` and their (pair, object, closest gap) rows.
    """
    per_object = pl.concat([p[0] for p in partials]).group_by("lo", "hi", "obj").agg(pl.col("gap_us").min()).lazy()
    by_pair = per_object.group_by("lo", "hi").agg(
        pl.len().cast(pl.Int64).alias("weight"),
        (pl.col("gap_us").median() / _US_PER_S).cast(pl.Float64).alias("median_gap_s"),
    )
    source_events = pl.concat([p[1] for p in partials]).lazy().unique().group_by("lo", "hi").agg(pl.len().cast(pl.Int64).alias("source_events"))
    target_events = pl.concat([p[2] for p in partials]).lazy().unique().group_by("lo", "hi").agg(pl.len().cast(pl.Int64).alias("target_events"))
    edges = (
        by_pair.filter(pl.col("weight") >= min_weight)
        .join(source_events, on=["lo", "hi"])
        .join(target_events, on=["lo", "hi"])
        .sort("lo", "hi")
        .collect()
    )
    kept_objects = per_object.join(edges.lazy().select("lo", "hi"), on=["lo", "hi"], how="semi").collect()
    return edges, kept_objects
