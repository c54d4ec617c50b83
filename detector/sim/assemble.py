"""Turn the integer event log into the canonical events table.

Here strings appear: time-ordered random event ids (like snowflake ids),
texts with their hashtags, "@handle" prefixes of replies and "RT @handle:"
copies for shares (which also carry the original's links and hashtags, as in
platform exports), and per-event client, address and device drawn from each
account's habits. Rows end sorted by timestamp then event id, so row order says
nothing about who produced an event.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa

from detector import schema
from detector.sim.identity import START_US
from detector.sim.lexicon import CLIENT_NAMES, CLIENT_P, as_vocab, join_lists, lexicon, list_series
from detector.sim.world import ACTIONS, EventLog, World

_TWITTER_EPOCH_MS = 1_288_834_974_657


def _ragged(log: EventLog, length: str, values: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.concatenate([getattr(p, length) for p in log.parts]),
        np.concatenate([getattr(p, values) for p in log.parts]),
    )


def _lists(lengths: np.ndarray, idx: np.ndarray, vocab) -> pl.Series:
    return list_series(np.maximum(lengths, 0), idx, vocab, null=lengths < 0)


def _event_ids(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Distinct ids that grow with time (milliseconds since an epoch, then 22 random bits)."""
    ms = START_US // 1000 + t * 1000 + rng.integers(0, 1000, len(t)) - _TWITTER_EPOCH_MS
    ids = (ms << 22) | rng.integers(0, 1 << 22, len(t))
    while True:
        _, first = np.unique(ids, return_index=True)
        dup = np.ones(len(ids), dtype=bool)
        dup[first] = False
        if not dup.any():
            return ids
        ids[dup] = (ms[dup] << 22) | rng.integers(0, 1 << 22, int(dup.sum()))


def _ip_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    """Distinct public-looking IPv4 addresses."""
    x = rng.permutation(np.unique(rng.integers(16_777_216, 3_758_096_383, 2 * n + 16)))[:n]
    octets = [((x >> s) & 255).astype(str).astype(object) for s in (24, 16, 8, 0)]
    return octets[0] + "." + octets[1] + "." + octets[2] + "." + octets[3]


def events_frame(world: World, log: EventLog, account_id: np.ndarray, handle: np.ndarray) -> pl.DataFrame:
    """The canonical events table (``schema.EVENTS``)."""
    rng, lex = world.rng, lexicon()
    acc, t = log.column("account"), log.column("t")
    action, target = log.column("action"), log.column("target")
    target_acc = np.concatenate([p.target_account for p in log.parts])
    n = len(acc)

    ids = _event_ids(rng, t)
    # Per-event client: mostly the account's own app.
    own = rng.random(n) < world.client_loyalty[acc]
    client = np.where(own, world.client[acc], rng.choice(len(CLIENT_P), size=n, p=CLIENT_P))
    # Per-event address: none, home (or a carrier NAT address when on mobile), or the operator's pool.
    kind = world.ip_kind[acc]
    mobile = rng.random(n) < world.mobile_p[acc]
    home = np.where(mobile, world.cgnat[rng.integers(0, len(world.cgnat), n)], world.home_ip[acc])
    pool = world.ip_pool[acc]
    pooled = pool[:, 0] + (rng.random(n) * np.maximum(pool[:, 1], 1)).astype(np.int64)
    ip = np.where(kind == 2, pooled, np.where(kind == 1, home, -1))
    dpool = world.device_pool[acc]
    device = np.where(dpool[:, 1] > 0, dpool[:, 0] + (rng.random(n) * np.maximum(dpool[:, 1], 1)).astype(np.int64), world.device[acc])

    ip_vocab = as_vocab(_ip_strings(rng, world.n_ips))
    dev_vocab = as_vocab([f"{x:016x}" for x in rng.integers(0, 1 << 62, max(world.n_devices, 1))])
    id_vocab = as_vocab(account_id)
    url_vocab = as_vocab(np.concatenate(world.urls) if world.urls else np.array([], dtype=object))

    text_len, text_tok = _ragged(log, "text_len", "text_tok")
    tag_len, tag_idx = _ragged(log, "tag_len", "tag_idx")
    url_len, url_idx = _ragged(log, "url_len", "url_idx")
    men_len, men_idx = _ragged(log, "men_len", "men_idx")
    words = join_lists(np.maximum(text_len, 0), text_tok, lex.tokens)
    handle_vocab = as_vocab(handle)

    def take(vocab, idx: np.ndarray) -> pl.Series:
        return pl.Series(pl.from_arrow(vocab.take(pa.array(np.maximum(idx, 0))))).cast(pl.String)

    frame = pl.DataFrame(
        {
            "_acc": acc,
            "_t": t,
            "_action": action.astype(np.int64),
            "_target": target,
            "_words": words,
            "_has_text": text_len >= 0,
            "hashtags": _lists(tag_len, tag_idx, lex.hashtag_vocab),
            "urls": _lists(url_len, url_idx, url_vocab),
            "mentions": _lists(men_len, men_idx, id_vocab),
            "_mention_handles": _lists(men_len, men_idx, handle_vocab),
            "event_id": pl.Series(ids).cast(pl.String),
            "account_id": take(id_vocab, acc),
            "_target_author_handle": take(handle_vocab, acc[np.maximum(target, 0)]),
            "_target_account": take(id_vocab, target_acc),
            "client": take(as_vocab(CLIENT_NAMES), client),
            "ip": take(ip_vocab, ip),
            "device_id": take(dev_vocab, device),
            "_ip_ok": ip >= 0,
            "_device_ok": device >= 0,
            "_follows": target_acc >= 0,
        }
    )
    at = pl.concat_str(
        [
            pl.when(pl.col("_mention_handles").list.len() > 0)
            .then(pl.lit("@") + pl.col("_mention_handles").list.join(" @") + pl.lit(" "))
            .otherwise(pl.lit("")),
            pl.col("_words"),
            pl.when(pl.col("hashtags").list.len() > 0)
            .then(pl.lit(" #") + pl.col("hashtags").list.join(" #"))
            .otherwise(pl.lit("")),
        ]
    )
    frame = frame.with_columns(text=pl.when(pl.col("_has_text")).then(at).otherwise(None))
    # Shares carry the original's text, links and hashtags, as platform exports do.
    share = pl.col("_action") == ACTIONS.index("share")
    orig = frame.select(
        pl.col("text").gather(np.maximum(target, 0)).alias("text"),
        pl.col("urls").gather(np.maximum(target, 0)).alias("urls"),
        pl.col("hashtags").gather(np.maximum(target, 0)).alias("hashtags"),
        pl.col("account_id").gather(np.maximum(target, 0)).alias("author"),
    )
    frame = frame.with_columns(
        text=pl.when(share).then(pl.lit("RT @") + pl.col("_target_author_handle") + pl.lit(": ") + orig["text"]).otherwise(pl.col("text")),
        urls=pl.when(share).then(orig["urls"]).otherwise(pl.col("urls")),
        hashtags=pl.when(share).then(orig["hashtags"]).otherwise(pl.col("hashtags")),
        mentions=pl.when(share).then(pl.concat_list(orig["author"])).otherwise(pl.col("mentions")),
        target=pl.when(pl.col("_target") >= 0)
        .then(pl.col("event_id").gather(np.maximum(target, 0)))
        .when(pl.col("_follows"))
        .then(pl.col("_target_account"))
        .otherwise(None),
        action=pl.Series(np.array(ACTIONS, dtype=object)[action].astype(str)),
        timestamp=pl.Series(START_US + t * 1_000_000).cast(schema.TIMESTAMP),
        ip=pl.when(pl.col("_ip_ok")).then(pl.col("ip")).otherwise(None),
        device_id=pl.when(pl.col("_device_ok")).then(pl.col("device_id")).otherwise(None),
    )
    frame = schema.conform(frame, schema.EVENTS).select(list(schema.EVENTS))
    return frame.sort(["timestamp", "event_id"])
