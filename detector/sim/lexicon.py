"""Shared vocabulary of every simulated account: words, names, hashtags, domains, clients.

Built once from a fixed seed so that every scenario and seed speaks the same
"language"; the simulation seed only decides who says what. Operators draw from
the very same pools as organic users (no operator-only client, domain style or
hashtag style a detector could learn instead of coordination).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

_FUNCTION_WORDS = (
    "the to and a of is in it you that for on this my with be not are have just so but at i was "
    "what all we they me if like no do can about your get one out now up how from will more when "
    "time people there good new know who think day today see back why love really would need want "
    "make still going their than right here great never our much even going only last best over after"
).split()

_FIRST = (
    "james mary john linda robert sarah michael emma david olivia william ava joseph sofia daniel mia "
    "thomas lucy chris anna matt laura mark julia paul nina kevin grace brian chloe jason ella ryan "
    "maria carlos ana luis elena diego lina omar fatima ali aisha yuki kenji mei wei arjun priya ivan "
    "olga sven ingrid pierre claire marco giulia tom kate ben amy sam zoe jack lily alex mila noah "
    "leah adam ruth ethan nora kim dana"
).split()

_LAST = (
    "smith johnson brown jones garcia miller davis rodriguez martinez wilson anderson taylor thomas "
    "moore jackson martin lee perez thompson white harris clark lewis walker hall allen young king "
    "wright scott green baker adams nelson hill campbell mitchell roberts carter phillips evans turner "
    "torres parker collins edwards stewart morris murphy cook rogers morgan cooper peterson reed bailey "
    "bell kelly howard ward cox diaz richardson wood watson brooks bennett gray james reyes cruz hughes "
    "price myers long foster sanders ross morales powell sullivan russell ortiz jenkins gutierrez perry"
).split()

_ONSETS = ("b c d f g h j k l m n p r s t v w z br cr dr fl gr pl pr st tr sh ch th sl sp").split()
_VOWELS = ("a e i o u ai ea ou io")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk", "ng", "x")

# (client name, share of organic accounts that use it as their main app). Scheduling
# tools are here because real brands and news desks use them too.
CLIENTS: tuple[tuple[str, float], ...] = (
    ("Twitter for iPhone", 0.36),
    ("Twitter for Android", 0.30),
    ("Twitter Web App", 0.22),
    ("Twitter for iPad", 0.04),
    ("TweetDeck", 0.03),
    ("Hootsuite Inc.", 0.015),
    ("Buffer", 0.015),
    ("IFTTT", 0.01),
)
CLIENT_NAMES = np.array([c for c, _ in CLIENTS], dtype=object)
CLIENT_P = np.array([p for _, p in CLIENTS]) / sum(p for _, p in CLIENTS)
SCHEDULER_CLIENTS = np.array([4, 5, 6])  # TweetDeck, Hootsuite, Buffer

_TLDS = np.array(["com", "com", "com", "net", "org", "co", "news", "info", "co.uk", "de", "io"], dtype=object)


def _syllable_words(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` distinct pronounceable pseudo-words of 1-4 syllables."""
    onsets, vowels, codas = np.array(_ONSETS), np.array(_VOWELS.split()), np.array(_CODAS)
    out: list[str] = []
    seen: set[str] = set(_FUNCTION_WORDS)
    while len(out) < n:
        k = 4 * n
        n_syl = rng.choice([1, 2, 2, 3, 3, 4], size=k)
        parts = [onsets[rng.integers(0, len(onsets), k)] + vowels[rng.integers(0, len(vowels), k)] for _ in range(4)]
        coda = codas[rng.integers(0, len(codas), k)]
        for i in range(k):
            w = "".join(p[i] for p in parts[: n_syl[i]]) + coda[i]
            if w not in seen and 3 <= len(w) <= 12:
                seen.add(w)
                out.append(w)
                if len(out) == n:
                    break
    return np.array(out, dtype=object)


@dataclass(frozen=True)
class Lexicon:
    """Fixed word pools; arrays of Python strings indexed with numpy."""

    function_words: np.ndarray
    words: np.ndarray  # content words, most common first (Zipf rank = index)
    first_names: np.ndarray
    last_names: np.ndarray
    hashtags: np.ndarray  # CamelCase, most common first
    domains: np.ndarray  # most common first

    @property
    def n_function(self) -> int:
        """Text token ids below this are function words; content word r has id ``n_function + r``."""
        return len(self.function_words)

    @property
    def tokens(self) -> pa.Array:
        """Every text token (function words, then content words) as an Arrow vocabulary."""
        return as_vocab([*self.function_words, *self.words])

    @property
    def hashtag_vocab(self) -> pa.Array:
        """Hashtags as written: id h is CamelCase, id ``h + len(hashtags)`` its lowercase spelling."""
        return as_vocab([*self.hashtags, *(h.lower() for h in self.hashtags)])


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The one shared lexicon (deterministic: fixed seed, cached)."""
    rng = np.random.default_rng(20240301)
    words = _syllable_words(rng, 7000)
    a, b = rng.integers(0, 3000, 4000), rng.integers(0, 3000, 4000)
    two = rng.random(4000) < 0.6
    tags = np.where(two, _cap(words[a]) + _cap(words[b]), _cap(words[a]))
    tags = np.array(list(dict.fromkeys(tags.tolist())), dtype=object)
    d1, d2 = rng.integers(0, 4000, 3000), rng.integers(0, 4000, 3000)
    sep = np.where(rng.random(3000) < 0.25, "-", "")
    names = np.where(rng.random(3000) < 0.5, words[d1] + sep + words[d2], words[d1] + "news")
    domains = names + "." + _TLDS[rng.integers(0, len(_TLDS), 3000)]
    domains = np.array(list(dict.fromkeys(domains.tolist())), dtype=object)
    return Lexicon(
        function_words=np.array(_FUNCTION_WORDS, dtype=object),
        words=words,
        first_names=np.array(_FIRST, dtype=object),
        last_names=np.array(_LAST, dtype=object),
        hashtags=tags,
        domains=domains,
    )


def _cap(a: np.ndarray) -> np.ndarray:
    return np.array([w.capitalize() for w in a], dtype=object)


def zipf_ranks(rng: np.random.Generator, n_items: int, size: int, *, s: float = 1.1) -> np.ndarray:
    """``size`` draws of ranks in ``[0, n_items)`` with P(rank r) proportional to ``1/(r+1)**s``."""
    cdf = np.cumsum(1.0 / np.arange(1, n_items + 1) ** s)
    return np.minimum(np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right"), n_items - 1)


def as_vocab(values: np.ndarray | list[str]) -> pa.Array:
    """Strings as an Arrow array, so that rows can be gathered from it by integer index."""
    return pa.array(list(values), type=pa.large_string())


def list_series(lengths: np.ndarray, idx: np.ndarray, vocab: pa.Array, *, null: np.ndarray | None = None) -> pl.Series:
    """A ``list[str]`` Series: row i holds ``vocab[idx[...]]`` for its ``lengths[i]`` slice of ``idx``.

    Rows where ``null`` is true are null instead of empty lists.
    """
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = vocab.take(pa.array(np.asarray(idx, dtype=np.int64)))
    mask = None if null is None else pa.array(np.asarray(null, dtype=bool))
    arr = pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=mask)
    return pl.Series(pl.from_arrow(arr)).cast(pl.List(pl.String))


def join_lists(lengths: np.ndarray, idx: np.ndarray, vocab: pa.Array, sep: str = " ") -> pl.Series:
    """One string per row: that row's slice of tokens joined with ``sep``."""
    return list_series(lengths, idx, vocab).list.join(sep)
