"""Near-duplicate families built band by band equal the components of every verified candidate pair.

The reference here is the straightforward former method: every band's buckets
expanded into all their pairs, the distinct pairs verified with the float
Jaccard estimate, connected components of what passed. The fast pieces it
relies on (densification, shingle windows, the integer threshold, the byte
prefilter) are each checked against a plain version too.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from contextlib import contextmanager

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components

from features import content
from features.content import (
    _EMPTY_BIN,
    _GOLDEN,
    _POLY,
    NearDupParams,
    _densify,
    _min_agreements,
    _near,
    _pairs_within,
    _near_text_pairs,
    _prefilter,
    _shingle_hashes,
    minhash_signatures,
    near_duplicate_groups,
)

WORDS = "the a vote now share this news truth media they want you to see real story people know why".split()
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CHANCE = 1.0 / 65536.0
SKIP_LOG = "LSH buckets above max_bucket_size"


def _texts(seed: int, families: int = 25, copies: int = 12, singles: int = 300) -> pl.Series:
    """Planted families (a base text with one or two words edited per copy), near-miss variants and random texts."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(families):
        base = list(rng.choice(WORDS, 30))
        for _ in range(copies):
            text = list(base)
            for _ in range(rng.integers(0, 3)):
                text[rng.integers(0, len(text))] = str(rng.choice(WORDS))
            out.append(" ".join(text))
    out += [" ".join(rng.choice(WORDS, rng.integers(6, 20))) for _ in range(singles)]
    return pl.Series("text", out)


def _planted(seed: int, families: int, copies: int, edits: int, topics: int) -> pl.Series:
    """Families of edited copies plus short texts sharing a rare "topic" word: the mix that fills real buckets.

    Short texts have few shingles, so densification copies the same few values
    across many bins and unrelated texts that share one word land in one bucket,
    which is what the family filter and the prefilter have to get right.
    """
    rng = np.random.default_rng(seed)
    vocab = ["".join(rng.choice(list("abcdefghijklmnop"), rng.integers(3, 9))) for _ in range(60)]
    out = []
    for _ in range(families):
        base = list(rng.choice(vocab, rng.integers(5, 25)))
        for _ in range(copies):
            text = list(base)
            for _ in range(rng.integers(0, edits + 1)):
                text[rng.integers(0, len(text))] = str(rng.choice(vocab))
            out.append(" ".join(text))
    for _ in range(topics):
        word = "".join(rng.choice(list("qrstuvwxyz"), 10))
        out += [" ".join([*rng.choice(vocab, rng.integers(1, 4)), word]) for _ in range(rng.integers(2, 12))]
    return pl.Series("text", out)


def _reference(texts: pl.Series, *, threshold, bands, rows, max_bucket_size, shingle_size=8, max_shingle_share=0.001, seed=0):
    """(``text, group`` frame, buckets skipped) by the former method: all pairs of all bands, made distinct, verified, components."""
    distinct = texts.drop_nulls().unique().sort()
    sig, valid = minhash_signatures(distinct, n_bins=bands * rows, shingle_size=shingle_size, seed=seed, max_shingle_share=max_shingle_share)
    pairs, skipped = set(), 0
    for band in range(bands):
        buckets = defaultdict(list)
        for t in np.flatnonzero(valid):
            buckets[sig[t, band * rows : (band + 1) * rows].tobytes()].append(int(t))
        for members in buckets.values():
            if len(members) > max_bucket_size:
                skipped += 1
            else:
                pairs.update(itertools.combinations(members, 2))
    near = [(a, b) for a, b in pairs if ((sig[a] == sig[b]).mean() - CHANCE) / (1 - CHANCE) >= threshold - 1e-12]
    a, b = np.array([p[0] for p in near], np.int64), np.array([p[1] for p in near], np.int64)
    n = distinct.len()
    _, component = connected_components(sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)
    rep = pl.DataFrame({"c": component}).with_row_index("t").select(pl.col("t").min().over("c"))["t"]
    return pl.DataFrame({"text": distinct, "group": distinct.gather(rep)}), skipped


@contextmanager
def _skip_lines():
    """The skipped-bucket lines logged inside the block (a handler per example: hypothesis reuses fixtures)."""
    lines: list[str] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage()) if SKIP_LOG in record.getMessage() else None
    logger = logging.getLogger("features.content")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@given(
    seed=st.integers(0, 2**32 - 1),
    families=st.integers(0, 12),
    copies=st.integers(1, 8),
    edits=st.integers(0, 4),
    topics=st.integers(0, 12),
    threshold=st.sampled_from([0.3, 0.5, 0.6, 0.8, 1.0]),
    shape=st.sampled_from([(20, 6), (8, 3), (5, 1), (3, 8)]),
    max_bucket_size=st.sampled_from([2, 3, 5, 12, 500]),
)
@PROPERTY
def test_families_equal_the_former_all_pairs_components(seed, families, copies, edits, topics, threshold, shape, max_bucket_size):
    texts = _planted(seed, families, copies, edits, topics)
    if texts.len() == 0:
        return
    bands, rows = shape
    options = {"threshold": threshold, "bands": bands, "rows": rows, "max_bucket_size": max_bucket_size}
    with _skip_lines() as lines:
        found = near_duplicate_groups(texts, **options)
    expected, skipped = _reference(texts, **options)
    assert found.equals(expected)
    # One log line for the whole run, counting every skipped bucket of every band.
    assert lines == ([f"near-duplicates: {skipped} {SKIP_LOG}={max_bucket_size} skipped"] if skipped else [])


def test_common_shingles_left_out_the_same_way(monkeypatch):
    """Over COMMON_FLOOR texts, so the shingle count-sketch is used; a phrase in every text is common.

    Candidate pairs are taken a few at a time, so a bucket's pairs are split across chunks.
    """
    monkeypatch.setattr(content, "_PAIRS_PER_CHUNK", 7)
    rng = np.random.default_rng(7)
    texts = pl.Series([f"breaking news from the capital today {t}" for t in _planted(3, 40, 25, 3, 60)] + [str(x) for x in rng.integers(0, 10**12, 200)])
    assert texts.unique().len() > 1000
    options = {"threshold": 0.6, "bands": 20, "rows": 6, "max_bucket_size": 8}
    found = near_duplicate_groups(texts, **options, max_shingle_share=0.1)
    expected, _ = _reference(texts, **options, max_shingle_share=0.1)
    assert found.equals(expected)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("max_bucket_size", [500, 6])
@pytest.mark.parametrize("threshold", [0.6, 0.8])
def test_band_by_band_families_equal_all_pairs_components(seed, max_bucket_size, threshold):
    texts = _texts(seed)
    options = {"threshold": threshold, "max_bucket_size": max_bucket_size, "max_shingle_share": 0.001, "shingle_size": 8, "bands": 20, "rows": 6, "seed": 0}
    found = near_duplicate_groups(texts, **options)
    distinct = texts.unique().sort()
    near = _near_text_pairs(distinct, NearDupParams(min_text_chars=1, max_accounts_per_text=2, **options))
    n = distinct.len()
    _, component = connected_components(sp.coo_matrix((np.ones(near.height), (near["t1"], near["t2"])), shape=(n, n)), directed=False)
    rep = pl.DataFrame({"c": component}).with_row_index("t").select(pl.col("t").min().over("c"))["t"]
    assert found.equals(pl.DataFrame({"text": distinct, "group": distinct.gather(rep)}))
    assert found.equals(_reference(texts, threshold=threshold, bands=20, rows=6, max_bucket_size=max_bucket_size)[0])
    families = found.group_by("group").len()
    if max_bucket_size == 500:  # planted families are found: the comparison is not between trivial answers
        assert (families["len"] >= 5).sum() >= 10


# ---------------------------------------------------------------- the fast pieces


@given(sizes=st.lists(st.integers(1, 9), max_size=12), limit=st.integers(1, 20))
@PROPERTY
def test_pairs_within_buckets_are_every_pair_once(sizes, limit):
    size = np.array(sizes, np.int64)
    found = [(i, j) for a, b in _pairs_within(size, limit) for i, j in zip(a.tolist(), b.tolist())]
    starts = np.cumsum(size) - size
    assert sorted(found) == [pair for s, n in zip(starts, size) for pair in itertools.combinations(range(s, s + n), 2)]
    assert len(found) == len(set(found))


def _densify_reference(bins: np.ndarray) -> np.ndarray:
    """The former densification, int64 positions throughout."""
    p = bins.shape[1]
    filled = bins != _EMPTY_BIN
    nearest = np.minimum.accumulate(np.where(filled, np.arange(p), 2 * p)[:, ::-1], axis=1)[:, ::-1]
    nearest = np.where(nearest == 2 * p, nearest[:, :1] + p, nearest)
    dist = (nearest - np.arange(p)).astype(np.uint64)
    value = np.take_along_axis(bins, nearest % p, axis=1)
    return (((value + dist * _GOLDEN) * np.uint64(0xD6E8FEB86659FD93)) >> np.uint64(48)).astype(np.uint16)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), p=st.sampled_from([1, 2, 7, 120, 512]), empty=st.floats(0, 1))
@PROPERTY
def test_densify_equals_the_former_one(seed, n, p, empty):
    rng = np.random.default_rng(seed)
    bins = rng.integers(0, 1 << 32, (n, p), dtype=np.uint64)
    bins[rng.random((n, p)) < empty] = _EMPTY_BIN
    bins[np.arange(n), rng.integers(0, p, n)] = rng.integers(0, 1 << 32, n, dtype=np.uint64)  # every row has a filled bin
    assert np.array_equal(_densify(bins), _densify_reference(bins))


def test_densify_with_positions_too_wide_for_int16():
    rng = np.random.default_rng(1)
    bins = np.full((3, 20000), _EMPTY_BIN, np.uint64)
    bins[:, [5, 19990]] = rng.integers(0, 1 << 32, (3, 2), dtype=np.uint64)
    assert np.array_equal(_densify(bins), _densify_reference(bins))


def _window_hash(window: bytes, k: int) -> int:
    """A window as _shingle_hashes defines it: its bytes little-endian (k <= 8) or a polynomial hash; zero-padded, length-tagged when short."""
    padded = window + bytes(k - len(window))
    if k <= 8:
        h = int.from_bytes(padded, "little")
    else:
        h = 0
        for byte in padded:
            h = (h * int(_POLY) + byte) % 2**64
    return h ^ (len(window) << 56) if len(window) < k else h


@given(texts=st.lists(st.binary(max_size=30), min_size=1, max_size=12), k=st.integers(1, 12))
@PROPERTY
def test_shingle_hashes_are_every_window_of_every_text(texts, k):
    data = np.frombuffer(b"".join(texts), np.uint8)
    lens = np.array([len(t) for t in texts], np.int64)
    starts = np.cumsum(lens) - lens
    h, which = _shingle_hashes(data, starts, lens, k)
    expected = sorted(
        (i, _window_hash(t[j : j + k], k)) for i, t in enumerate(texts) for j in (range(len(t) - k + 1) if len(t) >= k else [0])
    )
    assert sorted(zip(which.tolist(), h.tolist())) == expected


@pytest.mark.parametrize("n_bins", [1, 6, 7, 60, 120, 250, 256, 300])
@pytest.mark.parametrize("threshold", [0.05, 0.3, 0.5, 0.6, 0.61, 0.75, 0.8, 0.999, 1.0])
def test_integer_threshold_makes_the_float_decisions(n_bins, threshold):
    agree = np.arange(n_bins + 1)[:, None] > np.arange(n_bins)[None, :]  # row k: k agreeing bins
    decided = (agree.mean(axis=1) - CHANCE) / (1 - CHANCE) >= threshold - 1e-12
    assert np.array_equal(decided, np.arange(n_bins + 1) >= _min_agreements(n_bins, threshold))


@given(seed=st.integers(0, 2**32 - 1), n_bins=st.sampled_from([6, 48, 64, 120, 300]), need_share=st.floats(0, 1.01))
@PROPERTY
def test_prefiltered_count_equals_the_full_count(seed, n_bins, need_share):
    """Pairs from unrelated to identical, with values that agree in the low byte only, so the prefilter bound is exercised."""
    rng = np.random.default_rng(seed)
    sig = rng.integers(0, 1 << 16, (60, n_bins), dtype=np.uint16)
    for t in range(1, 60):
        copy = rng.random(n_bins) < rng.random()
        sig[t, copy] = sig[0, copy]
        low_only = rng.random(n_bins) < 0.2
        sig[t, low_only] = (sig[0, low_only] & 0xFF) | (((sig[0, low_only] >> 8) + 1) % 256 << 8)
    a, b = rng.integers(0, 60, 500), rng.integers(0, 60, 500)
    need = int(need_share * n_bins)
    expected = np.flatnonzero((sig[a] == sig[b]).sum(axis=1) >= need)
    assert np.array_equal(_near(sig, _prefilter(sig), a, b, need), expected)
