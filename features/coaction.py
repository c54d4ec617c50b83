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
and ``source < target`` falls out); objects are keyed by a 64-bit hash that is
proven exact on each input (strings compared wherever keys repeat, exact
dictionary codes on a collision). Rows are sorted by (object, time); a row whose
neighbours in that order are out of reach has no partner and is dropped. For the
rest one binary search over packed (object, time-rank) keys gives each row the
end of its window, and the in-window pairs are exactly the index ranges up to
it: no Python per event or per pair, no candidate pairs outside the window.
Time is also cut into buckets one window wide: a bucket of one object with more
than ``max_actors_per_window`` distinct accounts is treated as viral and its
events are not paired (counted in ``capped_events``). Memory stays bounded: the
pairs are counted exactly before any is built, and when they exceed
``pairs_per_chunk`` the rows are taken in ranges, each reduced to small exact
partials (per pair and object the closest gap; per pair the distinct partnered
events) before the next range is paired.

Content signals (``url``, ``domain``, ``hashtag``, ``mention``, ``text``) leave
out shares: a share copies its original's content, and the ``share`` signal
already covers it (the toolkit does the same for links and texts).

``mention`` reads the accounts a post or quote @-mentions (``normalize_mention``:
case-insensitive, ``@`` optional), one object per mentioned account and UTC
day (``jane_doe@19000``), as ``domain`` reads sites; a brigade tags the same
journalist or politician wave after wave, each member from a post of its own,
so no shared post links them, and one object for all the waves would count them
as one co-action. Replies are left out: a reply names the author it answers,
and the ``reply`` signal already links accounts answering the same posts.

``domain`` reads the links by site: its object is the URL's host (``url_host``:
lower-cased, without ``www.``, user info or port; none for a link shortener's,
which hides the site) on one UTC day
(``site.com@19000``, the day counted from 1970). Two accounts co-act on it when
they link the same site within the window, whatever the article. An operator pushing its own sites posts a new article each wave, and
its members, each joining a few waves, rarely post the same URL: by site they
meet on every wave they share. Each day is its own object, so a pair that keeps
doing so on several days has several co-acted objects, and a popular site on a
given day has many actors and is discounted like any popular object
(``site_of`` gives back the site).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass

import polars as pl

from detector.errors import InputError
from detector.schema import NETWORK, empty_frame
from features.normalize import DEFAULT_TRACKING_PARAMS, normalize_hashtag, normalize_mention, normalize_text, normalize_url, url_host

TARGET_SIGNALS = ("share", "reply", "quote")
CONTENT_SIGNALS = ("url", "domain", "hashtag", "mention", "text")
BUILTIN_SIGNALS = TARGET_SIGNALS + CONTENT_SIGNALS
# Actions whose target is not an object of their own signal.
_NOT_OWN_SIGNAL = ("post",)
# Actions whose mentions are not their own: a share's are its original's, a reply's name the author it answers.
_NOT_OWN_MENTIONS = ("share", "reply")

_US_PER_S = 1_000_000
_US_PER_DAY = 86_400 * _US_PER_S
# A ``domain`` or ``mention`` object is a name, this mark, and the day: ``site.com@19000``, ``jane_doe@19000``.
DAILY_SIGNALS = ("domain", "mention")
_DAY_MARK = "@"
_DAY_SUFFIX = f"{_DAY_MARK}(-?[0-9]+)$"
_PAIR_SHIFT = 1 << 32  # account codes fit in 32 bits (polars' row index does)

log = logging.getLogger(__name__)


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
    popular_rows: pl.DataFrame | None = None  # account_id, object, object_accounts, ts (µs): see ``popular_above``
    window_us: int = 0

    def objects_behind(self, pairs: pl.DataFrame) -> pl.DataFrame:
        """The ``pair_objects`` rows of ``pairs`` (``source``, ``target``), popular objects included.

        With ``popular_above`` the popular objects were never paired; their rows
        for just these pairs are built here, exactly as pairing them would have
        (closest in-window gap of the two accounts on the object, outside viral
        buckets). Sorted by ``source, target, object``.
        """
        keys = pairs.select("source", "target")
        base = self.pair_objects.join(keys, on=["source", "target"], how="semi")
        if self.popular_rows is None or self.popular_rows.is_empty() or keys.is_empty():
            return base.sort("source", "target", "object")
        rows = self.popular_rows.lazy()
        popular = (
            keys.lazy()
            .join(rows.rename({"account_id": "source", "ts": "ts_source"}), on="source")
            .join(rows.select(pl.col("account_id").alias("target"), "object", pl.col("ts").alias("ts_target")), on=["target", "object"])
            .select("source", "target", "object", "object_accounts", (pl.col("ts_target") - pl.col("ts_source")).abs().alias("gap_us"))
            .filter(pl.col("gap_us") <= self.window_us)
            .group_by("source", "target", "object")
            .agg(pl.col("object_accounts").first(), pl.col("gap_us").min())
            .select("source", "target", "object", "object_accounts", (pl.col("gap_us") / _US_PER_S).cast(pl.Float64).alias("gap_s"))
            .collect()
        )
        return pl.concat([base, popular.cast(base.schema)]).sort("source", "target", "object")


def signal_names(events: pl.DataFrame) -> list[str]:
    """The signals this events frame can produce, built-ins first, then other actions by name.

    A column missing from ``events`` (a frame read with only some columns) counts as empty.
    """
    present = []
    has = set(events.columns)
    has_target = events["target"].is_not_null() if "target" in has else pl.repeat(False, events.height, eager=True)
    not_share = events["action"] != "share"
    for name in TARGET_SIGNALS:
        if ((events["action"] == name) & has_target).any():
            present.append(name)
    for column, names in (("urls", ("url", "domain")), ("hashtags", ("hashtag",))):
        if column in has and (not_share & (events[column].list.len() > 0)).any():
            present.extend(names)
    if "mentions" in has and (~events["action"].is_in(_NOT_OWN_MENTIONS) & (events["mentions"].list.len() > 0)).any():
        present.append("mention")
    if "text" in has and (not_share & events["text"].is_not_null()).any():
        present.append("text")
    others = (
        events.filter(has_target & ~pl.col("action").is_in(BUILTIN_SIGNALS + _NOT_OWN_SIGNAL))
        .get_column("action")
        .unique()
        .sort()
        .to_list()
    )
    return present + others


def signal_columns(signal: str) -> tuple[str, ...]:
    """The canonical event columns ``coaction_network`` reads for ``signal`` (a reader may load only these)."""
    base = ("account_id", "timestamp", "action")
    return base + ({"url": ("urls",), "domain": ("urls",), "hashtag": ("hashtags",), "mention": ("mentions",), "text": ("text",)}.get(signal) or ("target",))


def site_of(domain_object: pl.Expr) -> pl.Expr:
    """The site of a ``domain`` object: ``site.com@19000`` -> ``site.com``."""
    return domain_object.str.replace(_DAY_SUFFIX, "")


def name_and_day(daily_object: str) -> tuple[str, int] | None:
    """The name and the day (counted from 1970) of a ``DAILY_SIGNALS`` object, ``None`` for another string."""
    found = re.search(_DAY_SUFFIX, daily_object)
    return (daily_object[: found.start()], int(found[1])) if found else None


def _on_day(name: pl.Expr) -> pl.Expr:
    """``name@day`` (the UTC day of the event, counted from 1970); null for an empty name."""
    return pl.when(name != "").then(name + pl.lit(_DAY_MARK) + (pl.col("ts") // _US_PER_DAY).cast(pl.String))


def signal_events(
    events: pl.DataFrame,
    signal: str,
    *,
    normalize_urls: bool = True,
    tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS,
) -> pl.LazyFrame:
    """One row per (event, object) for ``signal``: ``event`` (row position), ``account_id``, ``object``, ``ts`` (µs)."""
    # Only the columns this signal reads, so a frame loaded with signal_columns(signal) suffices.
    frame = events.lazy().with_row_index("event").select(
        "event", *signal_columns(signal)[:1], *signal_columns(signal)[2:], pl.col("timestamp").dt.epoch("us").alias("ts")
    )
    if signal in ("url", "domain"):
        exploded = frame.filter(pl.col("action") != "share").explode("urls").filter(pl.col("urls").is_not_null())
        url = pl.col("urls")
        if signal == "domain":
            obj = _on_day(url_host(url))
        else:
            obj = normalize_url(url, tracking_params=tracking_params) if normalize_urls else url
    elif signal == "hashtag":
        exploded = frame.filter(pl.col("action") != "share").explode("hashtags")
        obj = normalize_hashtag(pl.col("hashtags"))
    elif signal == "mention":
        exploded = frame.filter(~pl.col("action").is_in(_NOT_OWN_MENTIONS)).explode("mentions")
        obj = _on_day(normalize_mention(pl.col("mentions")))
    elif signal == "text":
        exploded = frame.filter((pl.col("action") != "share") & pl.col("text").is_not_null())
        obj = normalize_text(pl.col("text"))
    else:
        exploded = frame.filter((pl.col("action") == signal) & pl.col("target").is_not_null())
        obj = pl.col("target")
    rows = exploded.select("event", "account_id", obj.alias("object"), "ts").filter(
        pl.col("object").is_not_null() & (pl.col("object") != "")
    )
    # Only list signals can give one event the same object twice; elsewhere the dedup is a costly no-op.
    if signal in ("url", "domain", "hashtag", "mention"):
        rows = rows.unique(["event", "object"], keep="first", maintain_order=True)
    return rows


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
    popular_above: int | None = None,
) -> CoactionResult:
    """The co-action network of ``signal`` over canonical ``events`` (see the module docstring).

    ``popular_above`` (with ``keep_objects``): objects with more distinct accounts
    than this in the whole input are popular and not paired at all, so
    ``pair_objects`` leaves them out and ``CoactionResult.objects_behind`` gives
    their rows for chosen pairs; ``edges`` is then empty (a network without the
    popular objects is nobody's network). A viral post's crowd makes pairs with the
    square of its size, and a caller that discounts such objects anyway (the
    significance test drops objects above ``max_object_accounts``) needs them only
    behind the few pairs it keeps: this bounds time and memory by the rest.
    """
    check_signal(events, signal)
    if popular_above is not None and not keep_objects:
        raise ValueError("popular_above needs keep_objects=True")
    rows = signal_events(events, signal, normalize_urls=normalize_urls, tracking_params=tracking_params).collect()
    accounts = rows.select(pl.col("account_id").unique().sort()).with_row_index("acc")
    window_us = window_s * _US_PER_S
    ordered, kept, capped = _coded_rows(rows, accounts, window_us, max_actors_per_window, whole=keep_objects)
    if keep_objects:
        objects = ordered.filter(pl.col("obj").is_first_distinct()).select("obj", pl.col("_row").alias("row"))
        objects = objects.with_columns(rows["object"].gather(objects["row"]).alias("object")).drop("row")
        degree = ordered.group_by("obj").agg(pl.col("acc").n_unique().cast(pl.Int64).alias("object_accounts"))
        activity = (
            ordered.group_by("acc")
            .agg(pl.col("obj").n_unique().cast(pl.Int64).alias("objects"), pl.col("event").n_unique().cast(pl.Int64).alias("events"))
            .join(accounts, on="acc")
            .sort("acc")
            .select("account_id", "objects", "events")
        )
    # Counted on the object strings: codes are exact only where rows can pair (see _coded_rows).
    capped_events, capped_objects = capped["event"].n_unique(), rows["object"].gather(capped["_row"]).n_unique()
    popular_rows = None
    if popular_above is not None:
        kept, popular_rows = split_popular(kept, accounts, objects, degree, above=popular_above)
    del rows, ordered, capped
    ends = _window_ends(kept, window_us)
    bounds = _chunk_bounds(ends, pairs_per_chunk)
    if popular_above is not None:
        # Evidence only: per (pair, object) the closest gap, no network (it would lack the popular objects).
        chunks = [_closest_gaps(_pair_rows(kept, ends, start, stop)) for start, stop in bounds or [(0, 0)]]
        del kept, ends
        per_object = chunks[0] if len(chunks) == 1 else _closest_gaps(pl.concat(chunks))
        if min_weight > 1:
            heavy = per_object.group_by("pair").len().filter(pl.col("len") >= min_weight).select("pair")
            per_object = per_object.join(heavy, on="pair", how="semi")
        per_object = per_object.select(*_unpacked(), "obj", "gap_us")
        edges = empty_frame(NETWORK)
    else:
        if len(bounds) <= 1:
            per_object, event_counts = _reduce(_pair_rows(kept, ends, *(bounds[0] if bounds else (0, 0))))
        else:
            # Reduce each chunk before the next is built, so only one chunk's pairs are in memory.
            per_object, event_counts = _merge([_partials(_pair_rows(kept, ends, start, stop)) for start, stop in bounds])
        del kept, ends
        edges, per_object = _edges(per_object, event_counts, min_weight)
        edges = (
            _named_pairs(edges.lazy(), accounts)
            .select("source", "target", pl.lit(signal).alias("signal"), "weight", "source_events", "target_events", "median_gap_s")
            .collect()
        )
        edges = edges.cast(NETWORK) if edges.height else empty_frame(NETWORK)
    result = CoactionResult(edges=edges, capped_events=capped_events, capped_objects=capped_objects)
    if not keep_objects:
        return result
    # Sorted as (source, target, object) on integers: account codes follow the names' order, and
    # each object's rank among the distinct objects its string's order, so no string is compared per row.
    objects = objects.with_columns(pl.col("object").rank("ordinal").alias("object_rank"))
    pair_objects = (
        per_object.lazy()
        .join(objects.lazy(), on="obj")
        .sort("lo", "hi", "object_rank")
        .join(degree.lazy(), on="obj", maintain_order="left")
        .pipe(_named_pairs, accounts)
        .select(
            "source",
            "target",
            pl.col("object").cast(pl.String),
            "object_accounts",
            (pl.col("gap_us") / _US_PER_S).cast(pl.Float64).alias("gap_s"),
        )
        .collect()
    )
    return dataclasses.replace(result, pair_objects=pair_objects, activity=activity, popular_rows=popular_rows, window_us=window_us)


def split_popular(
    kept: pl.DataFrame, accounts: pl.DataFrame, objects: pl.DataFrame, degree: pl.DataFrame, *, above: int
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``kept`` without the rows of objects with more than ``above`` distinct accounts, and those rows by name.

    The popular rows come back as ``account_id, object, object_accounts, ts`` (None when there are none),
    so they can be rebuilt behind chosen pairs instead of being paired with everyone.
    """
    hot = kept["obj"].is_in(degree.filter(pl.col("object_accounts") > above)["obj"].implode())
    if not hot.any():
        return kept, None
    popular_rows = (
        kept.lazy()
        .filter(hot)
        .select("acc", "obj", "ts")
        .join(accounts.lazy(), on="acc")
        .join(objects.lazy(), on="obj")
        .join(degree.lazy(), on="obj")
        .select("account_id", pl.col("object").cast(pl.String), "object_accounts", "ts")
        .collect()
    )
    return kept.filter(~hot), popular_rows


def _named_pairs(pairs: pl.LazyFrame, accounts: pl.DataFrame) -> pl.LazyFrame:
    """Replace integer pair codes ``lo``/``hi`` with account names ``source``/``target``."""
    names = accounts.lazy()
    return pairs.join(names.rename({"acc": "lo", "account_id": "source"}), on="lo", maintain_order="left").join(
        names.rename({"acc": "hi", "account_id": "target"}), on="hi", maintain_order="left"
    )


def _hash_objects(objects: pl.Series) -> pl.Series:
    """64-bit hashes of the object keys (a seam so tests can force collisions)."""
    return objects.hash(seed=0)


def _coded_rows(
    rows: pl.DataFrame, accounts: pl.DataFrame, window_us: int, cap: int, *, whole: bool
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The signal rows coded and sorted by (object, time), split for pairing.

    Returns ``(ordered, kept, capped)``, each with columns ``_row`` (position in
    ``rows``), ``event``, ``acc``, ``obj``, ``ts``: all rows; the rows that have
    a partner candidate (another row of their object within the window) outside
    viral buckets; and the rows of viral buckets.

    Objects are keyed by a 64-bit hash, far cheaper than a dictionary of (often
    long) strings. It is then proven exact where it matters: in sort order, every
    kept row (with ``whole``: every row) whose key equals its predecessor's must
    have the same string. Any pair, viral bucket or per-pair object count lies
    inside such runs, so passing the check makes the hash codes as good as exact
    ones; on a collision the rows are coded again with exact dictionary codes.
    """
    hashed = _hash_objects(rows["object"])
    ordered = _ordered_rows(rows, accounts, hashed)
    kept, capped = _apply_cap(ordered, window_us, cap)
    kept = _pairable(kept, window_us)
    if _same_where_keys_repeat(ordered if whole else kept, rows["object"]):
        return ordered, kept, capped
    log.info("object hash collision; coding objects exactly instead")
    ordered = _ordered_rows(rows, accounts, rows["object"].cast(pl.Categorical).to_physical().cast(pl.UInt64))
    kept, capped = _apply_cap(ordered, window_us, cap)
    return ordered, _pairable(kept, window_us), capped


def _ordered_rows(rows: pl.DataFrame, accounts: pl.DataFrame, key: pl.Series) -> pl.DataFrame:
    """Rows with account codes, sorted by (``key``, time); ``obj`` is the key as a dense code in that order."""
    return (
        rows.select("event", "account_id", "ts")
        .with_row_index("_row")
        .with_columns(key.alias("key"))
        .lazy()
        .join(accounts.lazy(), on="account_id", maintain_order="left")
        .sort("key", "ts")
        .select("_row", "event", "acc", pl.col("key").rle_id().alias("obj"), "ts", "key")
        .collect()
    )


def _same_where_keys_repeat(frame: pl.DataFrame, objects: pl.Series) -> bool:
    """True when each row whose hash key equals the previous row's also has the previous row's object."""
    repeat = (frame["key"] == frame["key"].shift(1)).fill_null(False)
    if not repeat.any():
        return True
    here, before = frame["_row"].filter(repeat), frame["_row"].shift(1).filter(repeat)
    return bool((objects.gather(here) == objects.gather(before)).all())


def _apply_cap(ordered: pl.DataFrame, window_us: int, cap: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows into those that may pair and those in a viral (object, bucket) with more than ``cap`` accounts.

    A bucket's distinct accounts never exceed its rows, so the distinct count is
    only taken when some bucket has more than ``cap`` rows (rarely). Rows are in
    (object, time) order, so each bucket is one run: its size is the distance
    between run starts, no grouping needed.
    """
    bucket = (pl.col("ts") // max(window_us, 1)).alias("bucket")
    new_run = ordered.select((pl.col("obj").diff() != 0) | (bucket.diff() != 0)).to_series().fill_null(True)
    starts = pl.concat([new_run.arg_true(), pl.Series([ordered.height], dtype=pl.UInt32)])
    largest = starts.diff().max()
    if largest is None or largest <= cap:
        return ordered, ordered.clear()
    crowded = ordered.select((pl.col("acc").n_unique().over("obj", bucket) > cap).alias("crowded")).to_series()
    return ordered.filter(~crowded), ordered.filter(crowded)


def _pairable(kept: pl.DataFrame, window_us: int) -> pl.DataFrame:
    """The rows (sorted by object, time) with another row of their object within the window.

    The nearest rows in time are the neighbours in sort order, so a row whose
    neighbours are both out of reach has no partner at all; most rows are such
    loners, and dropping them first makes everything after cheaper.
    """
    near_next = (pl.col("obj") == pl.col("obj").shift(-1)) & (pl.col("ts").shift(-1) - pl.col("ts") <= window_us)
    near_prev = (pl.col("obj") == pl.col("obj").shift(1)) & (pl.col("ts") - pl.col("ts").shift(1) <= window_us)
    return kept.filter(near_next.fill_null(False) | near_prev.fill_null(False))


def _window_ends(kept: pl.DataFrame, window_us: int) -> pl.Series:
    """Per row (sorted by object, time), one past the last later row on its object within the window.

    Each row's key packs (object, rank of its time among all times) into one
    sortable u64 (both are below 2^32, polars' row limit), so a single binary
    search over the sorted keys finds every row's window end at once.
    """
    times = kept["ts"].unique().sort()
    # For each distinct time, the rank of the latest distinct time within the window.
    reach = times.search_sorted(times + window_us, side="right").cast(pl.Int64) - 1
    rank = kept["ts"].rank("dense").cast(pl.Int64) - 1
    obj = kept["obj"].cast(pl.UInt64) * times.len()
    keys = obj + rank.cast(pl.UInt64)
    limits = obj + reach.gather(rank).cast(pl.UInt64)
    return keys.search_sorted(limits, side="right")


def _chunk_bounds(ends: pl.Series, pairs_per_chunk: int) -> list[tuple[int, int]]:
    """Row ranges whose in-window pairs (counted exactly from ``ends``) stay near ``pairs_per_chunk`` each."""
    n = ends.len()
    if n == 0:
        return []
    per_row = pl.DataFrame({"end": ends}).with_row_index("i").select(
        (pl.col("end").cast(pl.Int64) - pl.col("i").cast(pl.Int64) - 1).alias("n")
    )
    before = per_row.select((pl.col("n").cum_sum() - pl.col("n")) // pairs_per_chunk).to_series()
    starts = before.diff().fill_null(1).gt(0).arg_true().to_list()
    return list(zip(starts, starts[1:] + [n]))


def _pair_rows(kept: pl.DataFrame, ends: pl.Series, start: int, stop: int, *, events: bool = True) -> pl.DataFrame:
    """Every in-window pair of distinct accounts whose earlier row lies in ``[start, stop)``.

    Columns: ``pair`` (``lo << 32 | hi``, account codes, so one integer key sorts
    like (lo, hi)), ``obj``, ``event_lo``, ``event_hi`` (left out without
    ``events``: the significance path does not need them), ``gap_us``.
    """
    spans = (
        pl.DataFrame({"end": ends.slice(start, stop - start)})
        .with_row_index("i", offset=start)
        .filter(pl.col("end") > pl.col("i") + 1)
        .select("i", pl.int_ranges(pl.col("i") + 1, pl.col("end"), dtype=pl.UInt32).alias("k"))
        .explode("k")
    )
    carried = ["acc", "event", "ts"] if events else ["acc", "repeat", "ts"]
    left = kept.select(*carried, "obj")[spans["i"]]
    right = kept.select(carried)[spans["k"]].rename(lambda c: c + "_r")
    del spans
    lo_is_left = pl.col("acc") < pl.col("acc_r")
    sides = [
        pl.when(lo_is_left).then("event").otherwise("event_r").alias("event_lo"),
        pl.when(lo_is_left).then("event_r").otherwise("event").alias("event_hi"),
    ]
    return (
        pl.concat([left, right], how="horizontal")
        .lazy()
        .filter(pl.col("acc") != pl.col("acc_r"))
        .select(
            (pl.min_horizontal("acc", "acc_r").cast(pl.UInt64) * _PAIR_SHIFT + pl.max_horizontal("acc", "acc_r")).alias("pair"),
            "obj",
            *(sides if events else [pl.col("repeat") | pl.col("repeat_r")]),
            (pl.col("ts_r") - pl.col("ts")).alias("gap_us"),  # rows are in time order: never negative
        )
        .collect()
    )


def _reduce(pairs: pl.DataFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """All pairs at once: (pair, object, closest gap) rows, and per pair its distinct partnered events per side."""
    per_object = pairs.lazy().group_by("pair", "obj").agg(pl.col("gap_us").min())
    counts = pairs.lazy().group_by("pair").agg(
        pl.col("event_lo").n_unique().cast(pl.Int64).alias("source_events"),
        pl.col("event_hi").n_unique().cast(pl.Int64).alias("target_events"),
    )
    return per_object, counts


def _closest_gaps(pairs: pl.DataFrame) -> pl.DataFrame:
    """Per (pair, object): the closest gap (merges across chunks by taking it again)."""
    return pairs.lazy().group_by("pair", "obj").agg(pl.col("gap_us").min()).collect()


def _partials(pairs: pl.DataFrame) -> tuple[pl.DataFrame, ...]:
    """One chunk reduced to exact partials that merge across chunks (an object or event may span chunks)."""
    per_object, events_lo, events_hi = pl.collect_all(
        [
            pairs.lazy().group_by("pair", "obj").agg(pl.col("gap_us").min()),
            pairs.lazy().select("pair", "event_lo").unique(),
            pairs.lazy().select("pair", "event_hi").unique(),
        ]
    )
    return per_object, events_lo, events_hi


def _merge(partials: list[tuple[pl.DataFrame, ...]]) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Chunk partials merged into what ``_reduce`` gives for all pairs at once."""
    per_object = pl.concat([p[0] for p in partials]).lazy().group_by("pair", "obj").agg(pl.col("gap_us").min())
    source = pl.concat([p[1] for p in partials]).lazy().unique().group_by("pair").agg(pl.len().cast(pl.Int64).alias("source_events"))
    target = pl.concat([p[2] for p in partials]).lazy().unique().group_by("pair").agg(pl.len().cast(pl.Int64).alias("target_events"))
    return per_object, source.join(target, on="pair")


def _edges(per_object: pl.LazyFrame, counts: pl.LazyFrame, min_weight: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per pair with ``weight >= min_weight`` (codes ``lo``, ``hi``), and those pairs' per-object rows.

    The median of one or two gaps is their mean; polars' median, much slower than
    min/max, runs only for pairs with three or more objects.
    """
    per_object = per_object.collect()
    stats = (
        per_object.lazy()
        .group_by("pair")
        .agg(pl.len().cast(pl.Int64).alias("weight"), pl.col("gap_us").min().alias("_min"), pl.col("gap_us").max().alias("_max"))
        .filter(pl.col("weight") >= min_weight)
        .collect()
    )
    many = stats.lazy().filter(pl.col("weight") > 2).select("pair")
    medians = per_object.lazy().join(many, on="pair", how="semi").group_by("pair").agg(pl.col("gap_us").median().alias("_median"))
    median = pl.when(pl.col("weight") <= 2).then((pl.col("_min") + pl.col("_max")) / 2).otherwise(pl.col("_median"))
    edges = (
        stats.lazy()
        .join(medians, on="pair", how="left")
        .join(counts, on="pair")
        .sort("pair")
        .select(
            *_unpacked(),
            "weight",
            "source_events",
            "target_events",
            (median / _US_PER_S).cast(pl.Float64).alias("median_gap_s"),
        )
        .collect()
    )
    kept_objects = per_object.lazy().join(stats.lazy().select("pair"), on="pair", how="semi").select(*_unpacked(), "obj", "gap_us").collect()
    return edges, kept_objects


def _unpacked() -> list[pl.Expr]:
    return [(pl.col("pair") // _PAIR_SHIFT).cast(pl.UInt32).alias("lo"), (pl.col("pair") % _PAIR_SHIFT).cast(pl.UInt32).alias("hi")]
