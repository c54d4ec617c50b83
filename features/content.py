"""Content features: what an account posts and how it repeats itself and others.

Per account: the mix of actions; how often it repeats its own texts; how many
of its texts are near-copies of another account's text (copy-paste with small
edits, the classic trace of a shared script); how varied its links and
hashtags are; how many apps it posts from.

Near-duplicates are found with MinHash LSH over byte shingles of the
normalised text without its links (``copy_candidates``: the texts the
detector's ``copy`` signal compares), all in numpy/polars:

- every distinct text is hashed once; its ``shingle_size``-byte windows are
  hashed with a vectorised polynomial hash and a 64-bit mixer;
- one-permutation MinHash (Li, Owen & Zhang 2012): each shingle hash falls in
  one of ``bands * rows`` bins and each bin keeps its minimum (``np.minimum.at``),
  one pass instead of one pass per permutation; empty bins of short texts borrow
  from the next filled bin with an offset (rotation densification, Shrivastava &
  Li 2014), so two texts agree in a bin with probability equal to their Jaccard
  similarity;
- each bin keeps 16 bits (b-bit MinHash, Li & König 2010: 1/65536 extra chance
  agreement, corrected for);
- LSH banding: texts that agree on all ``rows`` bins of some band are
  candidates; candidates are kept when the share of agreeing bins (the Jaccard
  estimate) is at least ``threshold``.

Shingles found in more than ``max_shingle_share`` of all texts (and in more
than ``COMMON_FLOOR``) are left out before hashing, like stop words: frequent
words and word pairs otherwise fill the LSH buckets with unrelated texts
(measured on Zipf-distributed synthetic text: 7x fewer candidates), so the
threshold applies to the Jaccard similarity of the informative shingles.

With the defaults (8-byte shingles, 20 bands of 6 rows) a pair at Jaccard 0.6
is a candidate with probability 0.62, at 0.7 0.92, at 0.8 0.9996, at 0.3
0.015. Identical texts (after
normalisation) by different accounts are near-duplicates too. Texts shorter
than ``min_text_chars`` are left out: short phrases ("good morning everyone")
are shared by chance. Shares are left out (a share copies its original; the
co-share signal covers it). A bucket of more than ``max_bucket_size`` texts
(boilerplate) is not expanded into pairs, and a text posted by more than
``max_accounts_per_text`` accounts (viral copypasta) is not expanded into
account pairs; both are logged.

Neutral values (an account with nothing to measure): action shares 0;
``dup_text_ratio``, ``near_dup_share``, ``log_near_dup_accounts``, ``url_share``,
``hashtag_share`` 0; ``url_diversity``, ``domain_diversity``,
``hashtag_diversity`` 1 (no repetition seen); ``log_clients`` log(2) (one
client) and ``top_client_share`` 1 (what most accounts look like when the
client is unknown).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from detector.schema import KNOWN_ACTIONS
from features import base
from features.normalize import copy_text, normalize_hashtag, normalize_url

log = logging.getLogger(__name__)

NAME = "content"
OTHER_ACTION = "other"

FEATURES: dict[str, float] = {
    **{f"action_{a}": 0.0 for a in (*KNOWN_ACTIONS, OTHER_ACTION)},
    "dup_text_ratio": 0.0,
    "near_dup_share": 0.0,
    "log_near_dup_accounts": 0.0,
    "url_share": 0.0,
    "url_diversity": 1.0,
    "domain_diversity": 1.0,
    "hashtag_share": 0.0,
    "hashtag_diversity": 1.0,
    "log_clients": math.log(2.0),
    "top_client_share": 1.0,
}

PAIRS_SCHEMA: dict[str, pl.DataType] = {"source": pl.String(), "target": pl.String(), "n_texts": pl.Int64()}

_U64 = np.uint64
_MASK32 = _U64(0xFFFFFFFF)
_EMPTY_BIN = _U64(1 << 32)  # above every 32-bit bin value
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_POLY = _U64(0x100000001B3)  # FNV-64 prime: spreads bytes across the word
_B_BITS_CHANCE = 1.0 / 65536.0
_SKETCH_BITS = 24
COMMON_FLOOR = 1000  # a shingle in fewer texts is never "common": an operator's template pasted 1000 times stays visible
_CHUNK_BYTES = 1 << 23  # text bytes hashed at once: bounds temporary memory (~40 bytes each)
_PAIRS_PER_CHUNK = 1 << 18  # candidate pairs verified at once (2 * rows * bands bytes each)


@dataclass(frozen=True, kw_only=True)
class NearDupParams:
    """Tunables of near-duplicate detection (see the module docstring)."""

    threshold: float = 0.6
    shingle_size: int = 8
    bands: int = 20
    rows: int = 6
    min_text_chars: int = 25
    max_shingle_share: float = 0.001
    max_bucket_size: int = 500
    max_accounts_per_text: int = 1000
    seed: int = 0

    def validate(self) -> None:
        check = base.check_param
        check(NAME, "threshold", self.threshold, lambda v: base.is_number(v) and 0 < v <= 1, "a number in (0, 1]")
        check(NAME, "max_shingle_share", self.max_shingle_share, lambda v: base.is_number(v) and 0 < v <= 1, "a number in (0, 1]")
        for param, low in (("shingle_size", 1), ("bands", 1), ("rows", 1), ("min_text_chars", 1), ("max_bucket_size", 2), ("max_accounts_per_text", 2)):
            check(NAME, param, getattr(self, param), lambda v, low=low: base.is_int(v) and v >= low, f"an int >= {low}")
        check(NAME, "seed", self.seed, lambda v: base.is_int(v) and v >= 0, "an int >= 0")


# ---------------------------------------------------------------- hashing


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of uint64 whose output bits all depend on every input bit."""
    x = x ^ (x >> _U64(30))  # a new array: the input is left alone; the rest works in place
    x *= _U64(0xBF58476D1CE4E5B9)
    x ^= x >> _U64(27)
    x *= _U64(0x94D049BB133111EB)
    x ^= x >> _U64(31)
    return x


def _text_bytes(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes of all texts concatenated, and the int64 offsets (n + 1) delimiting them."""
    arr = texts.rechunk().to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string())
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def _step(h: np.ndarray, byte: np.ndarray, j: int, k: int) -> np.ndarray:
    """Add byte ``j`` of a window: packed exactly when k <= 8, else a polynomial hash."""
    return h | (byte << _U64(8 * j)) if k <= 8 else h * _POLY + byte


def _windows(padded: np.ndarray, n: int, k: int) -> np.ndarray:
    """The k-byte window starting at each of the first ``n`` bytes, as one uint64 (hashed when k > 8).

    For k <= 8 the window is read directly: eight unaligned little-endian
    uint64 views of the buffer, one per start offset modulo 8, then the bytes
    past k masked off; no arithmetic per byte.
    """
    if k > 8:
        out = np.zeros(n, _U64)
        for j in range(k):
            out = _step(out, padded[j : j + n].astype(_U64), j, k)
        return out
    buf = np.concatenate([padded, np.zeros(16, np.uint8)]).tobytes()
    out = np.empty(n, _U64)
    for r in range(min(8, n)):
        count = len(out[r::8])
        out[r::8] = np.ndarray(count, dtype="<u8", buffer=buf, offset=r, strides=(8,))
    if k < 8:
        out &= _U64((1 << (8 * k)) - 1)
    return out


def _shingle_hashes(data: np.ndarray, starts: np.ndarray, lens: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hash of every k-byte window of every text (a shorter text is one shingle): (hashes, text index).

    In no particular order: callers only take minima and counts.
    """
    # Hash of the window starting at every byte of the contiguous buffer (no
    # gathers), then only the windows that start and end inside one text kept;
    # a short text's only window is rehashed with the bytes past its end masked.
    padded = np.concatenate([data, np.zeros(max(k, 8), np.uint8)])
    long = lens >= k
    h = _windows(padded, len(data), k)[_window_inside(starts, lens, k, len(data))]
    which = np.repeat(np.arange(len(lens)), np.where(long, lens - k + 1, 0))
    short = np.flatnonzero(~long)
    if len(short):
        hs = np.zeros(len(short), _U64)
        for j in range(k):
            inside = j < lens[short]
            byte = padded[np.minimum(starts[short] + j, len(padded) - 1)].astype(_U64)
            hs = _step(hs, np.where(inside, byte, _U64(0)), j, k)
        # The length keeps "ab" apart from "ab" followed by NUL bytes.
        h = np.concatenate([h, hs ^ (lens[short].astype(_U64) << _U64(56))])
        which = np.concatenate([which, short])
    return h, which


def _window_inside(starts: np.ndarray, lens: np.ndarray, k: int, n_bytes: int) -> np.ndarray:
    """Per byte of the texts' buffer: does a ``k``-byte window starting there end inside its text?

    The others are the last ``k - 1`` bytes of a text and every byte of a text
    shorter than ``k``: disjoint ranges, marked +1 at their start and -1 at
    their end and summed up.
    """
    ends = starts + lens
    lo = np.where(lens >= k, ends - (k - 1), starts)
    lo, ends = lo[lo < ends], ends[lo < ends]  # non-empty ranges: their starts, and their ends, are distinct
    edge = np.zeros(n_bytes + 1, np.int8)
    edge[lo] = 1
    edge[ends] -= 1  # where one range ends as the next begins, the sum stays 1
    return np.cumsum(edge[:-1], dtype=np.int8) == 0


def _densify(bins: np.ndarray) -> np.ndarray:
    """Rotation densification: an empty bin takes the next filled bin to its right (circularly), offset by the distance.

    Every row must have a filled bin. Returns 16-bit values. Positions are int16
    when they fit and the arithmetic is in place: this touches every bin of
    every text (few rows have no empty bin, so there is no shortcut for them).
    """
    p = bins.shape[1]
    pos = np.int16 if 2 * p < 1 << 15 else np.int64
    col = np.arange(p, dtype=pos)
    nearest = np.minimum.accumulate(np.where(bins != _EMPTY_BIN, col, pos(2 * p))[:, ::-1], axis=1)[:, ::-1]
    # Past the last filled bin, wrap around to the first one (p further on).
    nearest = np.minimum(nearest, nearest[:, :1] + pos(p))
    value = np.take_along_axis(bins, nearest % pos(p), axis=1)
    value += (nearest - col).astype(_U64) * _GOLDEN
    # Multiply-shift to 16 bits: equal (value, distance) stay equal, others collide 1/65536.
    value *= _U64(0xD6E8FEB86659FD93)
    value >>= _U64(48)
    return value.astype(np.uint16)


def _sketch_index(x: np.ndarray) -> np.ndarray:
    """The count-sketch counter of each mixed shingle hash: its top bits (as int64, the same bits: they fit)."""
    return (x >> _U64(64 - _SKETCH_BITS)).view(np.int64)


def _chunks(offsets: np.ndarray) -> list[tuple[int, int]]:
    """Text ranges of about ``_CHUNK_BYTES`` bytes each (at least one text)."""
    n, out, lo = len(offsets) - 1, [], 0
    while lo < n:
        hi = int(np.searchsorted(offsets, offsets[lo] + _CHUNK_BYTES, side="right")) - 1
        hi = min(max(hi, lo + 1), n)
        out.append((lo, hi))
        lo = hi
    return out


def minhash_signatures(
    texts: pl.Series, *, n_bins: int, shingle_size: int, seed: int = 0, max_shingle_share: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """uint16 MinHash signatures, one row of ``n_bins`` per text, and which rows are valid.

    Equal texts get equal rows; two texts agree in each bin with probability
    about their Jaccard similarity over ``shingle_size``-byte shingles, leaving
    out common shingles: those in more than ``max_shingle_share`` of the texts
    (and more than ``COMMON_FLOOR``). A text with only common shingles has no
    valid signature.
    """
    data, offsets = _text_bytes(texts)
    n = len(offsets) - 1
    salt = _mix(np.array([seed + 1], _U64) * _GOLDEN)[0]
    chunks = _chunks(offsets)

    def hashed(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        base_off = offsets[lo]
        h, which = _shingle_hashes(data[base_off : offsets[hi]], offsets[lo:hi] - base_off, offsets[lo + 1 : hi + 1] - offsets[lo:hi], shingle_size)
        return _mix(h ^ salt), which

    limit = max(COMMON_FLOOR, max_shingle_share * n)
    common = None
    if n > limit:  # with fewer texts, no shingle can be common (barring repeats inside a text)
        # Count-sketch of shingle frequencies (2**24 counters): a rare shingle
        # shares a counter with a common one with small probability, and then
        # it is merely left out like a common one.
        counts = np.zeros(1 << _SKETCH_BITS, np.int64)
        for lo, hi in chunks:
            x, _ = hashed(lo, hi)
            counts += np.bincount(_sketch_index(x), minlength=1 << _SKETCH_BITS)
        common = counts > limit  # 16 MiB instead of 128: looked up once per shingle, it stays in cache far more
        del counts
    out = np.zeros((n, n_bins), np.uint16)
    valid = np.zeros(n, bool)
    for lo, hi in chunks:
        x, which = hashed(lo, hi)
        if common is not None:
            keep = ~common[_sketch_index(x)]
            x, which = x[keep], which[keep]
        # Multiply-shift picks the bin from the high half; the low half is the value.
        b = (((x >> _U64(32)) * _U64(n_bins)) >> _U64(32)).view(np.int64)  # below n_bins: the same bits as int64
        bins = np.full((hi - lo) * n_bins, _EMPTY_BIN, _U64)
        np.minimum.at(bins, which * n_bins + b, x & _MASK32)
        bins = bins.reshape(hi - lo, n_bins)
        ok = (bins != _EMPTY_BIN).any(axis=1)
        out[lo:hi][ok] = _densify(bins[ok])
        valid[lo:hi] = ok
    return out, valid


# ---------------------------------------------------------------- LSH


def _band_key(sig: np.ndarray, texts: np.ndarray, band: int, rows: int) -> np.ndarray:
    """uint64 key of band ``band`` (bins ``band * rows`` onwards, ``rows`` of them) for each of ``texts``."""
    values = sig[texts, band * rows : (band + 1) * rows]
    key = np.zeros(len(texts), _U64)
    for r in range(rows):
        key *= _POLY
        key += values[:, r]
        key += _U64(1)
    return _mix(key)


def _candidate_pairs(sig: np.ndarray, valid: np.ndarray, params: NearDupParams) -> pl.DataFrame:
    """Distinct text pairs (t1 < t2) that share a band key; oversized buckets are skipped."""
    rows = np.flatnonzero(valid)
    # Pairs packed as t1 << 32 | t2 (text indices fit in 32 bits) and made distinct after every
    # band: near-copies agree on most bands, so the bands' lists repeat each pair up to ``bands``
    # times (1.3 billion rows for 66 million pairs at 10M simulated events).
    found, skipped = pl.Series("pair", [], dtype=pl.UInt64), 0
    for band in range(params.bands):
        members, size, big = _buckets(rows, _band_key(sig, rows, band, params.rows), params.max_bucket_size)
        skipped += big
        frame = pl.DataFrame({"t": members, "key": np.repeat(np.arange(len(size)), size)})
        pairs = frame.join(frame, on="key", suffix="2").filter(pl.col("t") < pl.col("t2"))
        packed = pairs.select((pl.col("t").cast(pl.UInt64) * (1 << 32) + pl.col("t2").cast(pl.UInt64)).alias("pair")).to_series()
        found = pl.concat([found, packed]).unique()
    if skipped:
        log.info("near-duplicates: %d LSH buckets above max_bucket_size=%d skipped", skipped, params.max_bucket_size)
    return found.to_frame().select(
        (pl.col("pair") // (1 << 32)).cast(pl.Int64).alias("t1"), (pl.col("pair") % (1 << 32)).cast(pl.Int64).alias("t2")
    )


def _min_agreements(n_bins: int, threshold: float) -> int:
    """Fewest agreeing bins (of ``n_bins``) whose Jaccard estimate reaches ``threshold``; ``n_bins + 1`` if none.

    The float test is made once per possible count, just as it would be made
    per pair (the share of agreeing bins, less chance agreement); it only rises
    with the count, so comparing counts with this one makes the same decisions.
    """
    agree = np.arange(n_bins + 1) / n_bins
    ok = (agree - _B_BITS_CHANCE) / (1 - _B_BITS_CHANCE) >= threshold - 1e-12
    return int(np.argmax(ok)) if ok.any() else n_bins + 1


def _agreements(table: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair (``a[i]``, ``b[i]``), in how many columns their rows of ``table`` are equal."""
    count = np.int16 if table.shape[1] < 1 << 15 else np.int64
    return (table.take(a, axis=0) == table.take(b, axis=0)).sum(axis=1, dtype=count)


def _prefilter(sig: np.ndarray) -> np.ndarray:
    """The low byte of each text's first 64 bins: one 64-byte row per text, for ``_near``."""
    return sig[:, :64].astype(np.uint8)


def _near(sig: np.ndarray, head: np.ndarray, a: np.ndarray, b: np.ndarray, need: int) -> np.ndarray:
    """Positions ``i`` of the pairs (``a[i]``, ``b[i]``) whose signatures agree in at least ``need`` bins.

    ``head`` rules out most candidates reading 64 bytes per text instead of two
    per bin: a pair that agrees in a bin agrees in its low byte, so a pair
    agreeing in fewer than ``need - (bins not in head)`` of the head's cannot
    reach ``need``.
    """
    maybe = np.flatnonzero(_agreements(head, a, b) >= need - (sig.shape[1] - head.shape[1]))
    return maybe[_agreements(sig, a[maybe], b[maybe]) >= need]


def _verify(sig: np.ndarray, pairs: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """The candidate pairs whose estimated Jaccard similarity reaches ``threshold``."""
    t1, t2 = pairs["t1"].to_numpy(), pairs["t2"].to_numpy()
    need, head = _min_agreements(sig.shape[1], threshold), _prefilter(sig)
    keep = np.zeros(len(t1), bool)
    for lo in range(0, len(t1), _PAIRS_PER_CHUNK):
        keep[lo + _near(sig, head, t1[lo : lo + _PAIRS_PER_CHUNK], t2[lo : lo + _PAIRS_PER_CHUNK], need)] = True
    return pairs.filter(pl.Series(keep))


def _buckets(rows: np.ndarray, key: np.ndarray, max_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One band's buckets of two or more texts, those over ``max_size`` left out.

    Returns the texts bucket after bucket, each bucket's size, and how many
    buckets were left out (each counted once, as the log line reports them).
    """
    frame = pl.DataFrame({"t": rows, "key": key}).filter(pl.col("key").is_duplicated()).sort("key")
    t, k = frame["t"].to_numpy(), frame["key"].to_numpy()
    first = np.ones(len(k), bool)  # the first member of each bucket
    first[1:] = k[1:] != k[:-1]
    size = np.diff(np.append(np.flatnonzero(first), len(k)))
    big = size > max_size
    return t[np.repeat(~big, size)], size[~big], int(big.sum())


def _pairs_within(size: np.ndarray, limit: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every pair of positions ``i < j`` in one bucket, buckets of ``size`` laid end to end; about ``limit`` pairs at a time."""
    end = np.repeat(np.cumsum(size), size)
    partners = end - np.arange(len(end)) - 1  # the later members of its bucket
    before = np.cumsum(partners) - partners
    lo = 0
    while lo < len(end):
        hi = max(lo + 1, int(np.searchsorted(before, before[lo] + limit, side="right")))
        i = np.repeat(np.arange(lo, hi), partners[lo:hi])
        yield i, i + 1 + np.arange(len(i)) - (before[i] - before[lo])
        lo = hi


def _near_across_families(
    sig: np.ndarray, head: np.ndarray, need: int, members: np.ndarray, size: np.ndarray, family: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The near pairs (``a[i]``, ``b[i]``) among one band's buckets (``_buckets``) whose texts are in different families."""
    group = family[members]
    found_a, found_b = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for i, j in _pairs_within(size, _PAIRS_PER_CHUNK):
        apart = np.flatnonzero(group[i] != group[j])
        a, b = members[i[apart]], members[j[apart]]
        near = _near(sig, head, a, b, need)
        found_a.append(a[near])
        found_b.append(b[near])
    return np.concatenate(found_a), np.concatenate(found_b)


def _merged(family: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Family labels after joining the families of ``a[i]`` and ``b[i]`` for every ``i``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(family)
    _, label = connected_components(coo_matrix((np.ones(len(a)), (family[a], family[b])), shape=(n, n)), directed=False)
    return label[family]


# ---------------------------------------------------------------- texts to accounts


def copy_candidates(events: pl.DataFrame, *, min_text_chars: int, columns: tuple[str, ...] = ("account_id",)) -> pl.DataFrame:
    """``columns`` and ``text``: the texts compared for copies, keyed ``copy_text``.

    Shares are left out (a share copies its original; the share signal covers
    it). Links are taken out: Twitter gives each tweet's link its own t.co
    address, so the same text pasted twice differs by it. Texts shorter than
    ``min_text_chars`` after that are left out (short phrases are shared by
    chance). The per-account features, the detector's ``copy`` signal and the
    report all read texts through this, so they agree on what a copy is.
    """
    return events.filter((pl.col("action") != "share") & pl.col("text").is_not_null()).select(
        *columns, copy_text(pl.col("text")).alias("text")
    ).filter(pl.col("text").str.len_chars() >= min_text_chars)


def _texts(events: pl.DataFrame, min_text_chars: int) -> pl.DataFrame:
    """Distinct (account_id, text) of ``copy_candidates``."""
    return copy_candidates(events.filter(pl.col("account_id").is_not_null()), min_text_chars=min_text_chars).unique()


def _near_text_pairs(texts: pl.Series, params: NearDupParams) -> pl.DataFrame:
    """Index pairs (``t1 < t2``) of ``texts`` whose estimated Jaccard similarity reaches the threshold."""
    sig, valid = minhash_signatures(
        texts,
        n_bins=params.bands * params.rows,
        shingle_size=params.shingle_size,
        seed=params.seed,
        max_shingle_share=params.max_shingle_share,
    )
    return _verify(sig, _candidate_pairs(sig, valid, params), params.threshold)


def _near_text_components(texts: pl.Series, params: NearDupParams) -> np.ndarray:
    """Per text, a label shared exactly by its near-duplicate family (connected components of ``_near_text_pairs``).

    Bands are taken one at a time with the families found so far: a candidate
    pair whose texts are already in one family cannot change any family, so it
    is neither verified nor kept (any order of the pairs gives the same
    components). Near-copies agree on most bands, so after the first band
    almost every near pair is such a pair; the millions of distinct pairs
    ``_near_text_pairs`` holds at once never exist, and what is left to verify
    is mostly unrelated texts sharing a rare word, which ``_near`` rules out cheaply.
    """
    sig, valid = minhash_signatures(
        texts, n_bins=params.bands * params.rows, shingle_size=params.shingle_size, seed=params.seed, max_shingle_share=params.max_shingle_share
    )
    family = np.arange(len(valid))  # a member text's index names each family
    rows = np.flatnonzero(valid)
    need, head = _min_agreements(sig.shape[1], params.threshold), _prefilter(sig)
    skipped = 0
    for band in range(params.bands):
        members, size, big = _buckets(rows, _band_key(sig, rows, band, params.rows), params.max_bucket_size)
        skipped += big
        a, b = _near_across_families(sig, head, need, members, size, family)
        if len(a):
            family = _merged(family, a, b)
    if skipped:
        log.info("near-duplicates: %d LSH buckets above max_bucket_size=%d skipped", skipped, params.max_bucket_size)
    return family


def _matches(usage: pl.DataFrame, params: NearDupParams) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Directed near-duplicate matches, per-text account counts, and the text-coded usage.

    ``usage``: distinct (account_id, text). Returns rows (account ``a``, its
    text id ``t``, another account ``b``, its matched text id ``u``) in both
    directions; (``tid``, ``n_accounts``) per text; and (``account_id``, ``tid``).
    """
    texts = usage.select(pl.col("text").unique().sort()).with_row_index("tid", offset=0)
    coded = usage.join(texts, on="text").select("account_id", pl.col("tid").cast(pl.Int64))
    n_acc = coded.group_by("tid").agg(pl.len().alias("n_accounts"))
    near = _near_text_pairs(texts["text"], params)
    shared = n_acc.filter(pl.col("n_accounts") >= 2).select(pl.col("tid").alias("t1"), pl.col("tid").alias("t2"))
    text_pairs = pl.concat([near, shared])
    viral = n_acc.filter(pl.col("n_accounts") > params.max_accounts_per_text)
    if viral.height:
        log.info(
            "near-duplicates: %d texts posted by more than max_accounts_per_text=%d accounts not expanded into pairs",
            viral.height,
            params.max_accounts_per_text,
        )
    expandable = coded.join(viral.select("tid"), on="tid", how="anti")
    left = expandable.rename({"account_id": "a", "tid": "t1"})
    right = expandable.rename({"account_id": "b", "tid": "t2"})
    matched = (
        text_pairs.lazy()
        .join(left.lazy(), on="t1")
        .join(right.lazy(), on="t2")
        .filter(pl.col("a") != pl.col("b"))
        .collect()
    )
    both = pl.concat(
        [
            matched.select("a", pl.col("t1").alias("t"), "b", pl.col("t2").alias("u")),
            matched.select(pl.col("b").alias("a"), pl.col("t2").alias("t"), pl.col("a").alias("b"), pl.col("t1").alias("u")),
        ]
    )
    return both, n_acc, coded


def near_duplicate_pairs(
    events: pl.DataFrame,
    *,
    threshold: float = 0.6,
    shingle_size: int = 8,
    bands: int = 20,
    rows: int = 6,
    min_text_chars: int = 25,
    max_shingle_share: float = 0.001,
    max_bucket_size: int = 500,
    max_accounts_per_text: int = 1000,
    seed: int = 0,
) -> pl.DataFrame:
    """Account pairs that posted near-duplicate texts: ``source < target``, ``n_texts``.

    ``n_texts`` counts distinct text pairs (one text of each account, Jaccard
    estimate at least ``threshold``; an identical text posted by both counts
    once). Sorted by ``source, target``.
    """
    params = NearDupParams(
        threshold=threshold,
        shingle_size=shingle_size,
        bands=bands,
        rows=rows,
        min_text_chars=min_text_chars,
        max_shingle_share=max_shingle_share,
        max_bucket_size=max_bucket_size,
        max_accounts_per_text=max_accounts_per_text,
        seed=seed,
    )
    params.validate()
    events = base.prepare_events(events, builder=NAME)
    usage = _texts(events, params.min_text_chars)
    if usage.height == 0:
        return pl.DataFrame(schema=PAIRS_SCHEMA)
    both, _, _ = _matches(usage, params)
    return _pairs_from_matches(both)


def near_duplicate_groups(
    texts: pl.Series,
    *,
    threshold: float = 0.6,
    shingle_size: int = 8,
    bands: int = 20,
    rows: int = 6,
    max_shingle_share: float = 0.001,
    max_bucket_size: int = 500,
    seed: int = 0,
) -> pl.DataFrame:
    """``text, group``: each distinct (normalised) text and the near-duplicate family it belongs to.

    Families are the connected components of the near-duplicate relation (Jaccard
    estimate of the texts' shingles at least ``threshold``); ``group`` is the
    family's smallest text, so a copy-paste campaign with small edits becomes one
    object that co-action and its popularity control can treat like any other.
    """
    distinct = texts.drop_nulls().unique().sort()
    if distinct.len() == 0:
        return pl.DataFrame(schema={"text": pl.String(), "group": pl.String()})
    params = NearDupParams(
        threshold=threshold, shingle_size=shingle_size, bands=bands, rows=rows, min_text_chars=1,
        max_shingle_share=max_shingle_share, max_bucket_size=max_bucket_size, max_accounts_per_text=2, seed=seed,
    )
    params.validate()
    component = _near_text_components(distinct, params)
    # Texts are sorted, so the smallest index in each component is its smallest text.
    rep = pl.DataFrame({"c": component}).with_row_index("t").select(pl.col("t").min().over("c"))["t"]
    return pl.DataFrame({"text": distinct, "group": distinct.gather(rep)})


def _pairs_from_matches(both: pl.DataFrame) -> pl.DataFrame:
    """One row per account pair from directed matches: distinct unordered text pairs."""
    return (
        both.lazy()
        .filter(pl.col("a") < pl.col("b"))
        .select(
            pl.col("a").alias("source"),
            pl.col("b").alias("target"),
            pl.min_horizontal("t", "u").alias("lo"),
            pl.max_horizontal("t", "u").alias("hi"),
        )
        .unique()
        .group_by("source", "target")
        .agg(pl.len().cast(pl.Int64).alias("n_texts"))
        .sort("source", "target")
        .collect()
    )


# ---------------------------------------------------------------- the builder


def _share(mask: pl.Expr) -> pl.Expr:
    return mask.cast(pl.Float64).mean()


class ContentBuilder:
    """Action mix, self- and cross-account text duplication, URL/hashtag diversity, clients.

    Keyword arguments are the near-duplicate tunables of ``near_duplicate_pairs``.
    """

    name = NAME

    def __init__(
        self,
        *,
        threshold: float = 0.6,
        shingle_size: int = 8,
        bands: int = 20,
        rows: int = 6,
        min_text_chars: int = 25,
        max_shingle_share: float = 0.001,
        max_bucket_size: int = 500,
        max_accounts_per_text: int = 1000,
        seed: int = 0,
    ) -> None:
        self.threshold = threshold
        self.shingle_size = shingle_size
        self.bands = bands
        self.rows = rows
        self.min_text_chars = min_text_chars
        self.max_shingle_share = max_shingle_share
        self.max_bucket_size = max_bucket_size
        self.max_accounts_per_text = max_accounts_per_text
        self.seed = seed

    def neutral(self) -> dict[str, float]:
        return base.columns(NAME, FEATURES)

    def build(self, events: pl.DataFrame, accounts: pl.DataFrame | None = None) -> pl.DataFrame:
        """One row per account in ``events`` (``accounts`` is not used)."""
        params = NearDupParams(
            threshold=self.threshold,
            shingle_size=self.shingle_size,
            bands=self.bands,
            rows=self.rows,
            min_text_chars=self.min_text_chars,
            max_shingle_share=self.max_shingle_share,
            max_bucket_size=self.max_bucket_size,
            max_accounts_per_text=self.max_accounts_per_text,
            seed=self.seed,
        )
        params.validate()
        events = base.prepare_events(events, builder=NAME).filter(pl.col("account_id").is_not_null())
        frame = (
            self._actions(events)
            .join(self._links(events), on="account_id", how="left")
            .join(self._clients(events), on="account_id", how="left")
            .join(self._text_features(events, params), on="account_id", how="left")
        )
        defaults = FEATURES
        frame = frame.with_columns(pl.col(c).fill_null(v) for c, v in defaults.items() if c in frame.columns)
        out = frame.rename(lambda c: c if c == "account_id" else f"{NAME}{base.SEPARATOR}{c}")
        return base.finish(out, self.neutral())

    @staticmethod
    def _actions(events: pl.DataFrame) -> pl.DataFrame:
        action = pl.col("action")
        return events.group_by("account_id").agg(
            *(_share(action == a).alias(f"action_{a}") for a in KNOWN_ACTIONS),
            _share(~action.is_in(KNOWN_ACTIONS)).alias(f"action_{OTHER_ACTION}"),
        )

    @staticmethod
    def _links(events: pl.DataFrame) -> pl.DataFrame:
        """URL and hashtag use of non-share events (a share's links are its original's)."""
        own = events.lazy().filter(pl.col("action") != "share").select("account_id", "urls", "hashtags")
        rates = own.group_by("account_id").agg(
            _share(pl.col("urls").list.len() > 0).alias("url_share"),
            _share(pl.col("hashtags").list.len() > 0).alias("hashtag_share"),
        )
        url = normalize_url(pl.col("urls"))
        urls = (
            own.select("account_id", "urls")
            .explode("urls")
            .filter(pl.col("urls").is_not_null() & (pl.col("urls").str.strip_chars() != ""))
            .select("account_id", url.alias("url"))
            .with_columns(pl.col("url").str.extract(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*://)?([^/?#:]*)", 1).alias("domain"))
            .group_by("account_id")
            .agg(
                (pl.col("url").n_unique() / pl.len()).alias("url_diversity"),
                (pl.col("domain").n_unique() / pl.len()).alias("domain_diversity"),
            )
        )
        tags = (
            own.select("account_id", "hashtags")
            .explode("hashtags")
            .select("account_id", normalize_hashtag(pl.col("hashtags")).alias("tag"))
            .filter(pl.col("tag").is_not_null() & (pl.col("tag") != ""))
            .group_by("account_id")
            .agg((pl.col("tag").n_unique() / pl.len()).alias("hashtag_diversity"))
        )
        return rates.join(urls, on="account_id", how="left").join(tags, on="account_id", how="left").collect()

    @staticmethod
    def _clients(events: pl.DataFrame) -> pl.DataFrame:
        counts = events.filter(pl.col("client").is_not_null()).group_by("account_id", "client").agg(pl.len().alias("n"))
        return counts.group_by("account_id").agg(
            pl.len().cast(pl.Float64).log1p().alias("log_clients"),
            (pl.col("n").max() / pl.col("n").sum()).alias("top_client_share"),
        )

    @staticmethod
    def _text_features(events: pl.DataFrame, params: NearDupParams) -> pl.DataFrame:
        """Own repeats, and near-duplicates of other accounts' texts."""
        texts = copy_candidates(events, min_text_chars=params.min_text_chars)
        own = texts.group_by("account_id").agg((1.0 - pl.col("text").n_unique() / pl.len()).alias("dup_text_ratio"))
        usage = texts.unique()
        if usage.height == 0:
            return own.with_columns(pl.lit(0.0).alias("near_dup_share"), pl.lit(0.0).alias("log_near_dup_accounts"))
        both, n_acc, coded = _matches(usage, params)
        per_text = coded.group_by("account_id").agg(pl.len().alias("n_texts"))
        # A viral text is not expanded into pairs, but it is plainly shared with others.
        viral = coded.join(n_acc.filter(pl.col("n_accounts") > params.max_accounts_per_text), on="tid").select("account_id", "tid")
        dup_texts = (
            pl.concat([both.select(pl.col("a").alias("account_id"), pl.col("t").alias("tid")), viral])
            .unique()
            .group_by("account_id")
            .agg(pl.len().alias("n_dup"))
        )
        others = both.group_by("a").agg(pl.col("b").n_unique().alias("n_others")).rename({"a": "account_id"})
        near = (
            per_text.join(dup_texts, on="account_id", how="left")
            .join(others, on="account_id", how="left")
            .select(
                "account_id",
                (pl.col("n_dup").fill_null(0) / pl.col("n_texts")).alias("near_dup_share"),
                pl.col("n_others").fill_null(0).cast(pl.Float64).log1p().alias("log_near_dup_accounts"),
            )
        )
        return own.join(near, on="account_id", how="left")
