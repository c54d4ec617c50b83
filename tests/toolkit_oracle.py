"""Differential-test oracle: the coordination-network-toolkit (cntk) 1.5.2, driven from Python.

The toolkit is the field's reference for co-action networks. This helper
module (not a test module) does three things for the tests:

* ``generate_messages`` makes a seeded, adversarial data set in the toolkit's
  8-column CSV layout (exact-window gaps, self co-action, repeats, duplicate
  rows, a viral object, unicode text, several URLs per message, id-like
  strings that a careless reader would turn into numbers);
* ``toolkit_networks`` loads that CSV with the toolkit's own preprocessing and
  computes its co_retweet / co_reply / co_link / co_tweet tables;
* ``toolkit_pairs`` and ``reference_pair_stats`` turn them into the shape of
  our ``detector.schema.NETWORK`` so the two can be compared column by column.

The toolkit's CSV export is broken in 1.5.2, so its SQLite tables are read
directly. Its library code prints progress; pytest captures that.
"""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import polars as pl

from coordination_network_toolkit import compute_networks as cntk_compute
from coordination_network_toolkit import preprocess as cntk_preprocess
from coordination_network_toolkit.similarity import message_preprocessor

from detector.io import read_dataset

CNTK_COLUMNS = ("message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls")

# Our signal name -> (toolkit function, the table it fills).
TOOLKIT_SIGNALS = {
    "share": (cntk_compute.compute_co_retweet_parallel, "co_retweet_network"),
    "reply": (cntk_compute.compute_co_reply_network, "co_reply_network"),
    "url": (cntk_compute.compute_co_link_network, "co_link_network"),
    "text": (cntk_compute.compute_co_tweet_network, "co_tweet_network"),
}

T0 = 1_600_000_000  # epoch seconds; any fixed origin works for both tools

# Phrases for the text signal. Each is rendered with random case, whitespace and
# @mentions, so several renderings share one normalised key.
PHRASES = (
    "vote now",
    "Café crème à l'école",
    "ΟΔΟΣ ΣΟΦΙΑΣ",  # Greek: final-sigma lower-casing
    "straße İstanbul",  # ß upper-cases to SS, İ lower-cases to two code points
    "مرحبا بالعالم",  # Arabic, right to left
    "שלום עולם",  # Hebrew, right to left
    "🔥🔥 breaking 🚀",
    "日本語のテキスト",
    "ǅemal Ǉubljana",  # title-case digraphs
    "e\u0301te\u0301 vs été",  # combining accent vs precomposed: not the same key
    'quote "marks", commas',
    "numbers 0042 and 42",
)
MENTIONS = ("@bob", "@Ünïcode_user", "@ALICE", "@x.y", "@🙂")
# Whitespace the toolkit collapses (Python's str.split): ASCII, NBSP, em space,
# line separator, and the \x1c-\x1f separators only Python counts as space.
SPACES = (" ", " ", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\u2028", "\x1f", " \r\n ")
URLS = (
    "https://example.com/a",
    "https://Example.com/a",  # differs from the above without normalisation
    "https://example.com/a/",
    "http://t.co/AbC123",
    "https://news.example.org/story?id=7&utm_source=tw",
    "https://例え.jp/パス",
    "example.com/no-scheme",
    "https://x.com/i?a=1,2",
)
# Account and object ids that must stay strings: leading zeros, all digits,
# wider than int64, non-ASCII.
ACCOUNT_STYLES = ("u{}", "{:04d}", "{}", "é{}", "{}0000000000000000000000")
OBJECT_STYLES = ("p{}", "{:05d}", "{}", "{}9999999999999999999999", "ü{}")


def _render_text(rng: np.random.Generator, phrase: str) -> str:
    """One rendering of ``phrase``: random case per word, random spaces, maybe @mentions."""
    words = phrase.split(" ")
    out = []
    for word in words:
        case = rng.integers(4)
        word = (word, word.upper(), word.lower(), word.title())[case]
        if rng.random() < 0.2:
            # a mention glued to the word ("foo@bob") is removed up to the next space
            word = word + str(rng.choice(MENTIONS))
        out.append(word)
        out.append(str(rng.choice(SPACES)))
    if rng.random() < 0.3:
        out.insert(0, str(rng.choice(MENTIONS)) + " ")
    text = "".join(out[:-1])
    if rng.random() < 0.3:
        text = str(rng.choice(SPACES)) + text + str(rng.choice(SPACES))
    return text


def _render_urls(rng: np.random.Generator) -> str:
    """0-3 URLs, space-separated; sometimes a repeated URL or a doubled space."""
    k = int(rng.choice([0, 0, 1, 1, 2, 3]))
    picked = [str(u) for u in rng.choice(URLS, size=k)]
    if k and rng.random() < 0.2:
        picked.append(picked[0])
    sep = "  " if rng.random() < 0.15 else " "
    return sep.join(picked)


def generate_messages(
    seed: int,
    *,
    window_s: int,
    n_accounts: int = 12,
    n_objects: int = 6,
    n_random: int = 150,
    span_s: int | None = None,
    viral_accounts: int = 0,
) -> list[tuple[str, ...]]:
    """Rows of a cntk CSV (``CNTK_COLUMNS`` order, all strings), deterministic in ``seed``.

    Random events are spread over ``span_s`` seconds (default: a few windows, so
    that both pairing and non-pairing happen). On top come planted cases for
    every signal: gaps of exactly ``window_s`` and ``window_s + 1``, one account
    repeating itself on an object, exact duplicate rows, a repeated message id
    with different content (the toolkit keeps the first), and optionally one
    object acted on by ``viral_accounts`` accounts within one window.
    """
    rng = np.random.default_rng(seed)
    span = span_s if span_s is not None else max(4 * window_s, 20)
    styles = rng.integers(len(ACCOUNT_STYLES), size=n_accounts)
    accounts = [ACCOUNT_STYLES[s].format(i) for i, s in enumerate(styles)]
    object_styles = rng.integers(len(OBJECT_STYLES), size=n_objects)
    objects = [OBJECT_STYLES[s].format(i) for i, s in enumerate(object_styles)]

    rows: list[tuple[str, ...]] = []

    def add(account: str, kind: str, obj: str | None, t: int, phrase: str | None = None, urls: str | None = None) -> None:
        """Append one message; ``kind`` is share, reply or post."""
        mid = f"m{len(rows)}" if rng.random() < 0.5 else f"{len(rows):07d}"
        repost = obj if kind == "share" else ""
        reply = obj if kind == "reply" else ""
        # text and URLs on every non-share row, so replies join the text and url signals too
        text = _render_text(rng, phrase if phrase is not None else str(rng.choice(PHRASES)))
        if kind == "share":
            urls = ""
        elif urls is None:
            urls = _render_urls(rng)
        if kind == "share":
            text = "RT " + text  # the toolkit ignores reposts' text and URLs; so must we
        rows.append((mid, account, f"name of {account}", repost, reply, text, str(T0 + t), urls))

    # random background
    kinds = rng.choice(["share", "reply", "post"], size=n_random, p=[0.45, 0.3, 0.25])
    for kind in kinds:
        acct = accounts[rng.integers(n_accounts)]
        add(acct, str(kind), objects[rng.integers(n_objects)], int(rng.integers(span + 1)))

    # planted: exact window (pairs), window + 1 (does not), per signal
    a, b, c = accounts[0], accounts[1], accounts[2]
    t = span + 10 * (window_s + 2)
    # ASCII so that every rendering (any case, spaces, mentions) has one key
    phrase = "Vote now"
    for kind in ("share", "reply", "post"):
        obj, url = f"edge-{kind}", f"https://edge.example/{kind}"
        add(a, kind, obj, t, phrase, url)
        add(b, kind, obj, t + window_s, phrase, url)
        add(c, kind, obj, t + 2 * window_s + 1, phrase, url)
        # c again, exactly window after b: pairs with b only
        add(c, kind, obj, t + 2 * window_s, phrase, url)
        t += 10 * (window_s + 2)
    # an account co-acting with itself (self-loop in the toolkit, never an edge for us),
    # repeated events on one object, and a pair partner for one of them
    for kind in ("share", "reply", "post"):
        obj, url = f"self-{kind}", f"https://self.example/{kind} https://self.example/{kind}-2"
        for dt in (0, 0, window_s // 2, window_s):
            add(a, kind, obj, t + dt, phrase, url)
        add(b, kind, obj, t + window_s + 1, phrase, url)
        t += 10 * (window_s + 2)
    if viral_accounts:
        for i in range(viral_accounts):
            acct = f"viral{i:03d}"
            add(acct, "share", "viral-object", t + int(rng.integers(window_s + 1)), phrase)
            add(acct, "post", None, t + int(rng.integers(window_s + 1)), "viral text", "https://viral.example/x")
        t += 10 * (window_s + 2)

    # exact duplicate rows and a repeated message id with other content (keeps the first)
    picks = rng.choice(len(rows), size=max(3, len(rows) // 20), replace=False)
    rows.extend(rows[i] for i in picks)
    first = rows[int(picks[0])]
    rows.append((first[0], accounts[-1], "impostor", first[3], first[4], "other text", str(T0 + 1), first[7]))
    return rows


def write_cntk_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    """Write ``rows`` as a cntk CSV with its header row (UTF-8, minimal quoting)."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CNTK_COLUMNS)
        writer.writerows(rows)
    return path


def toolkit_networks(csv_path: Path, db_path: Path, window_s: int, *, n_threads: int = 1) -> dict[str, pl.DataFrame]:
    """The toolkit's directed networks for every signal in ``TOOLKIT_SIGNALS``.

    Each frame has ``user_1, user_2, weight`` (i64) with self-loops, exactly as
    the toolkit stores them. Two corrections to its input, each matching a rule
    of our contract, are made inside its database before computing:

    * an empty ``urls`` field (or a doubled space) becomes the URL ``""`` in its
      ``message_url`` table, which would link every URL-less message; those rows
      are deleted before co_link;
    * co_tweet matches empty normalised text (a message that is only
      @mentions); our engine skips empty text, so such messages are deleted
      (judged by the toolkit's own ``message_preprocessor``) after the other
      networks are computed.
    """
    db_path = Path(db_path)
    if db_path.exists():
        db_path.unlink()
    cntk_preprocess.preprocess_csv_files(str(db_path), [str(csv_path)])
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("delete from message_url where url = ''")
    out = {}
    for signal in ("share", "reply", "url", "text"):
        compute, table = TOOLKIT_SIGNALS[signal]
        if signal == "text":
            with closing(sqlite3.connect(db_path)) as db, db:
                db.create_function("cntk_normalise", 1, message_preprocessor, deterministic=True)
                db.execute("delete from edge where repost_id is null and cntk_normalise(message) = ''")
        compute(str(db_path), window_s, n_threads=n_threads, min_edge_weight=1)
        out[signal] = read_table(db_path, f"select user_1, user_2, weight from {table}")
    return out


def read_table(db_path: Path, query: str) -> pl.DataFrame:
    """Run ``query`` on the toolkit database; ids as strings, numbers as i64/f64."""
    with closing(sqlite3.connect(db_path)) as db:
        cursor = db.execute(query)
        names = [d[0] for d in cursor.description]
        data = cursor.fetchall()
    frame = pl.DataFrame(data, schema=names, orient="row", infer_schema_length=None)
    return frame.with_columns(pl.col(c).cast(pl.String) for c in names if c.startswith(("user", "key", "message")))


def toolkit_pairs(directed: pl.DataFrame, signal: str) -> pl.DataFrame:
    """Unordered pairs (``source < target``, self-loops dropped) with each side's directed weight.

    ``source_events`` is the toolkit's weight(source -> target): how many of the
    source's messages have a target message on the same key within the window.
    """
    d = directed.filter(pl.col("user_1") != pl.col("user_2"))
    fwd = d.filter(pl.col("user_1") < pl.col("user_2")).select(
        source="user_1", target="user_2", source_events=pl.col("weight").cast(pl.Int64)
    )
    back = d.filter(pl.col("user_1") > pl.col("user_2")).select(
        source="user_2", target="user_1", target_events=pl.col("weight").cast(pl.Int64)
    )
    joined = fwd.join(back, on=["source", "target"], how="full", coalesce=True)
    return joined.with_columns(signal=pl.lit(signal)).sort("source", "target")


def toolkit_keys(db_path: Path, signal: str) -> pl.DataFrame:
    """The toolkit's own keyed events (``message_id, user_id, t, key``) for one signal.

    These are the rows its join runs over, after its preprocessing: reposts by
    repost_id; non-repost replies by reply_id; non-repost messages by the
    transformed text it computed for co_tweet; URLs from ``message_url``.
    """
    queries = {
        "share": "select message_id, user_id, timestamp as t, repost_id as key from edge where repost_id is not null",
        "reply": "select message_id, user_id, timestamp as t, reply_id as key from edge "
        "where repost_id is null and reply_id is not null",
        "text": "select message_id, user_id, timestamp as t, transformed_message as key from edge "
        "where repost_id is null and transformed_message is not null",
        "url": "select message_id, user_id, timestamp as t, url as key from message_url",
    }
    return read_table(db_path, queries[signal]).with_columns(pl.col("t").cast(pl.Float64))


def reference_pair_stats(keys: pl.DataFrame, window_s: int, signal: str) -> pl.DataFrame:
    """Our own reference for the columns the toolkit lacks, over the toolkit's keyed events.

    ``weight``: distinct keys on which the pair co-acted within the window;
    ``median_gap_s``: median over those keys of the pair's closest |dt| on the
    key. Also recomputes ``source_events``/``target_events`` (distinct messages
    with a partner) as a cross-check of how this module reads the toolkit.
    """
    a = keys.rename({"message_id": "m_a", "user_id": "source", "t": "t_a"})
    b = keys.rename({"message_id": "m_b", "user_id": "target", "t": "t_b"})
    hits = (
        a.join(b, on="key")
        .with_columns(gap=(pl.col("t_a") - pl.col("t_b")).abs())
        .filter((pl.col("source") < pl.col("target")) & (pl.col("gap") <= window_s))
    )
    by_pair = ["source", "target"]
    events = hits.group_by(by_pair).agg(
        source_events=pl.col("m_a").n_unique().cast(pl.Int64),
        target_events=pl.col("m_b").n_unique().cast(pl.Int64),
    )
    per_key = hits.group_by([*by_pair, "key"]).agg(pl.col("gap").min())
    objects = per_key.group_by(by_pair).agg(weight=pl.len().cast(pl.Int64), median_gap_s=pl.col("gap").median())
    return objects.join(events, on=by_pair).with_columns(signal=pl.lit(signal)).sort(by_pair)


def read_events(csv_path: Path) -> pl.DataFrame:
    """Our side: the cntk CSV through the project's reader, as canonical events."""
    return read_dataset(csv_path, format="cntk").events
