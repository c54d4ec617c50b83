"""Per-account state of one simulation, the clock, and the growing event log.

Everything is integer-coded numpy: accounts are indices ``0..n-1``, times are
seconds since the start of the simulated window, posts are rows of the log.
Strings (ids, text, URLs) are only produced at assembly (``assemble.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.sim.lexicon import lexicon, zipf_ranks

DAY = 86_400
HOUR = 3_600

ACTIONS = ("post", "share", "reply", "quote", "like", "follow")
POST, SHARE, REPLY, QUOTE, LIKE, FOLLOW = range(6)
CONTENT_ACTIONS = (POST, REPLY, QUOTE)

# Relative activity by local hour: quiet nights, a lunch bump and an evening peak.
_HOURLY = np.array(
    [0.35, 0.2, 0.12, 0.08, 0.07, 0.1, 0.25, 0.5, 0.75, 0.85, 0.9, 0.95,
     1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.1, 1.2, 1.25, 1.15, 0.9, 0.6]
)
HOUR_CDF = np.cumsum(_HOURLY) / _HOURLY.sum()
# Monday first: weekends are a little quieter.
_WEEKDAY = np.array([1.0, 1.02, 1.0, 1.0, 0.97, 0.82, 0.8])

# Time zones (hours from UTC) and how many accounts live in each.
TZ_HOURS = np.array([-8.0, -7.0, -6.0, -5.0, -3.0, 0.0, 1.0, 2.0, 3.0, 5.5, 7.0, 8.0, 9.0])
TZ_P = np.array([0.09, 0.03, 0.07, 0.17, 0.06, 0.12, 0.14, 0.05, 0.04, 0.08, 0.04, 0.06, 0.05])
TZ_P = TZ_P / TZ_P.sum()

ROLE_ORGANIC = "organic"
# When an organic account takes part in several hard negatives, the most specific label wins.
_ROLE_RANK = {
    "organic": 0,
    "organic-scheduled": 1,
    "organic-viral": 2,
    "organic-meme": 3,
    "organic-fandom": 4,
    "organic-household": 5,
    "organic-hyperactive": 6,
}


@dataclass
class World:
    """Accounts and shared pools of one simulation; generators read and extend it."""

    rng: np.random.Generator
    n: int
    days: int
    n_communities: int
    community: np.ndarray
    tz: np.ndarray  # hours from UTC
    chrono: np.ndarray  # personal shift of the daily rhythm, hours
    rate: np.ndarray  # expected organic (or camouflage) events over the window
    first_day: np.ndarray  # active days are first_day <= d < last_day
    last_day: np.ndarray
    followers: np.ndarray
    following: np.ndarray
    client: np.ndarray  # index into lexicon CLIENTS
    client_loyalty: np.ndarray  # probability an event comes from the main client
    ip_kind: np.ndarray  # 0 no ip recorded, 1 own/household address, 2 a pool of addresses
    home_ip: np.ndarray
    mobile_p: np.ndarray  # share of events sent through a carrier-grade NAT address
    ip_pool: np.ndarray  # (start, size) per account, for ip_kind 2
    device: np.ndarray  # -1: no device recorded
    device_pool: np.ndarray  # (start, size); size 0 means the own device
    operator: np.ndarray  # -1: organic
    tactics: dict[int, tuple[str, ...]] = field(default_factory=dict)
    role: np.ndarray = field(default=None)  # type: ignore[assignment]
    created_at: np.ndarray = field(default=None)  # type: ignore[assignment]
    handle_template: np.ndarray = field(default=None)  # type: ignore[assignment]  # -1: free style
    image: np.ndarray = field(default=None)  # type: ignore[assignment]  # -1 default avatar
    n_ips: int = 0
    n_devices: int = 0
    n_images: int = 0
    cgnat: np.ndarray = field(default=None)  # type: ignore[assignment]
    topic_words: np.ndarray = field(default=None)  # type: ignore[assignment]  # (K, 300) content ranks
    topic_tags: np.ndarray = field(default=None)  # type: ignore[assignment]  # (K, 40) hashtag ids
    topic_domains: np.ndarray = field(default=None)  # type: ignore[assignment]  # (K, 25) domain ids
    urls: list[np.ndarray] = field(default_factory=list)  # registered URL strings, in id order
    n_urls: int = 0
    handle_templates: list[tuple[str, int, str]] = field(default_factory=list)  # (kind, digits, stem)
    meta: dict[str, object] = field(default_factory=dict)
    appeal_draws: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per event-log row, see ``post_draws``

    @property
    def span(self) -> int:
        """Length of the simulated window in seconds."""
        return self.days * DAY

    def new_ips(self, k: int) -> np.ndarray:
        """Allocate ``k`` fresh address ids."""
        out = np.arange(self.n_ips, self.n_ips + k)
        self.n_ips += k
        return out

    def new_devices(self, k: int) -> np.ndarray:
        """Allocate ``k`` fresh device ids."""
        out = np.arange(self.n_devices, self.n_devices + k)
        self.n_devices += k
        return out

    def new_images(self, k: int) -> np.ndarray:
        """Allocate ``k`` fresh profile-image ids."""
        out = np.arange(self.n_images, self.n_images + k)
        self.n_images += k
        return out

    def add_urls(self, strings: np.ndarray) -> np.ndarray:
        """Register URL strings; returns their ids for the events' ``urls`` lists."""
        out = np.arange(self.n_urls, self.n_urls + len(strings))
        self.urls.append(np.asarray(strings, dtype=object))
        self.n_urls += len(strings)
        return out

    def post_draws(self, n_rows: int) -> np.ndarray:
        """Each event-log row's heavy-tailed popularity draw, drawn the first time it is asked for and kept.

        Every generator that picks "popular" posts (organic reactions, hyperactive
        accounts, operators boosting or replying under them) must see the same
        ones: drawn afresh per call, the posts hyperactive accounts reshared were
        ones organic crowds had no reason to find popular.
        """
        missing = n_rows - len(self.appeal_draws)
        if missing > 0:
            self.appeal_draws = np.concatenate([self.appeal_draws, self.rng.pareto(1.3, missing)])
        return self.appeal_draws[:n_rows]

    def mark(self, accounts: np.ndarray, role: str) -> None:
        """Label organic accounts with a hard-negative role unless a more specific one is set."""
        accounts = np.unique(accounts)
        accounts = accounts[self.operator[accounts] < 0]
        rank = np.array([_ROLE_RANK.get(r, 0) for r in self.role[accounts]], dtype=np.int64)
        self.role[accounts[rank < _ROLE_RANK[role]]] = role

    def organic_accounts(self) -> np.ndarray:
        """Indices of accounts no operator controls."""
        return np.flatnonzero(self.operator < 0)

    def active(self, accounts: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Whether each account is active at each time (inside its active days and the window)."""
        return (t >= self.first_day[accounts] * DAY) & (t < self.last_day[accounts] * DAY) & (t >= 0) & (t < self.span)

    def day_weights(self) -> np.ndarray:
        """Cumulative weight of days 0..days (weekly rhythm; day 0 is a Monday)."""
        w = _WEEKDAY[np.arange(self.days) % 7]
        return np.concatenate([[0.0], np.cumsum(w)])

    def rhythm_times(self, accounts: np.ndarray) -> np.ndarray:
        """One time per entry of ``accounts``, following its time zone, daily and weekly rhythm."""
        rng = self.rng
        cdf = self.day_weights()
        lo, hi = cdf[self.first_day[accounts]], cdf[self.last_day[accounts]]
        day = np.searchsorted(cdf, lo + rng.random(len(accounts)) * (hi - lo), side="right") - 1
        hour = np.searchsorted(HOUR_CDF, rng.random(len(accounts)), side="right") + self.chrono[accounts]
        local = hour * HOUR + rng.integers(0, HOUR, len(accounts))
        t = day * DAY + np.round(local - self.tz[accounts] * HOUR).astype(np.int64)
        return self.clip_to_active(accounts, t)

    def clip_to_active(self, accounts: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Times pulled inside each account's active days (edge effects of time-zone shifts)."""
        lo = self.first_day[accounts] * DAY
        hi = np.minimum(self.last_day[accounts], self.days) * DAY - 1
        return np.clip(t, lo, hi)

    def local_hour(self, accounts: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Local hour of day (0..23) of each account at each time."""
        return ((t + (self.tz[accounts] - self.chrono[accounts]) * HOUR) // HOUR).astype(np.int64) % 24

    def snap_awake(self, accounts: np.ndarray, t: np.ndarray, *, p: float = 0.8) -> np.ndarray:
        """Move most night-time reactions (local 1-6 am) to the next morning, as people sleep."""
        h = self.local_hour(accounts, t)
        night = (h >= 1) & (h < 7) & (self.rng.random(len(t)) < p)
        shift = (7 - h) * HOUR + self.rng.integers(0, 3 * HOUR, len(t))
        return np.where(night, t + shift, t)

    def text_tokens(self, communities: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Flat token ids for rows of the given communities and lengths (function, topic and common words)."""
        rng, lex = self.rng, lexicon()
        total = int(lengths.sum())
        comm = np.repeat(communities, lengths)
        kind = rng.random(total)
        fn = zipf_ranks(rng, lex.n_function, total, s=1.0)
        topic = self.topic_words[comm, zipf_ranks(rng, self.topic_words.shape[1], total, s=0.9)]
        common = zipf_ranks(rng, len(lex.words), total, s=1.05)
        content = np.where(kind < 0.85, topic, common)
        return np.where(kind < 0.42, fn, lex.n_function + content)

    def hashtag_ids(self, communities: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Flat hashtag ids: mostly the community's tags, some globally trending ones, some lowercased."""
        rng, lex = self.rng, lexicon()
        total = int(lengths.sum())
        comm = np.repeat(communities, lengths)
        local = self.topic_tags[comm, zipf_ranks(rng, self.topic_tags.shape[1], total, s=1.0)]
        trending = zipf_ranks(rng, 60, total, s=1.2)
        tags = np.where(rng.random(total) < 0.65, local, trending)
        return tags + np.where(rng.random(total) < 0.2, len(lex.hashtags), 0)


@dataclass
class Part:
    """One batch of events in integer form, appended to the log as a whole."""

    account: np.ndarray
    t: np.ndarray
    action: np.ndarray
    target: np.ndarray  # row of the target post in the log, -1 none
    target_account: np.ndarray  # followed account, -1 none
    text_len: np.ndarray  # -1: no text
    text_tok: np.ndarray
    url_len: np.ndarray  # -1: null list
    url_idx: np.ndarray
    tag_len: np.ndarray
    tag_idx: np.ndarray
    men_len: np.ndarray
    men_idx: np.ndarray


_EMPTY = np.zeros(0, dtype=np.int64)


class EventLog:
    """Append-only table of events; each ``add`` returns the global rows it filled."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.n = 0
        self._cache: dict[str, np.ndarray] = {}

    def add(
        self,
        account: np.ndarray,
        t: np.ndarray,
        action: int | np.ndarray,
        *,
        target: np.ndarray | None = None,
        target_account: np.ndarray | None = None,
        text: tuple[np.ndarray, np.ndarray] | None = None,
        urls: tuple[np.ndarray, np.ndarray] | None = None,
        hashtags: tuple[np.ndarray, np.ndarray] | None = None,
        mentions: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Append events; list/text arguments are (per-row lengths, flat ids). Content rows get empty lists."""
        k = len(account)
        act = np.broadcast_to(np.asarray(action, dtype=np.int8), (k,)).copy()
        content = np.isin(act, CONTENT_ACTIONS)
        empty = np.where(content, 0, -1).astype(np.int64)

        def lists(v: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
            if v is None:
                return empty, _EMPTY
            return np.asarray(v[0], dtype=np.int64), np.asarray(v[1], dtype=np.int64)

        def ids(v: np.ndarray | None) -> np.ndarray:
            return np.full(k, -1, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)

        text_len, text_tok = lists(text) if text is not None else (np.full(k, -1, dtype=np.int64), _EMPTY)
        part = Part(
            np.asarray(account, dtype=np.int64), np.asarray(t, dtype=np.int64), act, ids(target), ids(target_account),
            text_len, text_tok, *lists(urls), *lists(hashtags), *lists(mentions),
        )
        self.parts.append(part)
        self._cache.clear()
        rows = np.arange(self.n, self.n + k)
        self.n += k
        return rows

    def column(self, name: str) -> np.ndarray:
        """A per-row column (``account``, ``t``, ``action``, ``target``) over the whole log."""
        if name not in self._cache:
            self._cache[name] = np.concatenate([getattr(p, name) for p in self.parts]) if self.parts else _EMPTY
        return self._cache[name]


def gather_slices(lengths: np.ndarray, flat: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The variable-length slices ``rows`` of a (lengths, flat) ragged array, as a new ragged array."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    out_len = lengths[rows]
    total = int(out_len.sum())
    first = np.repeat(starts[rows], out_len)
    within = np.arange(total) - np.repeat(np.cumsum(out_len) - out_len, out_len)
    return out_len, flat[first + within] if total else flat[:0]


def cumulative_pick(rng: np.random.Generator, weights: np.ndarray, groups: np.ndarray, want: np.ndarray) -> np.ndarray:
    """For each entry of ``want`` (a group id), an index into ``weights`` drawn from that group, by weight.

    ``groups`` gives each weighted item's group; groups without items return -1.
    """
    if len(groups) == 0:
        return np.full(len(want), -1, dtype=np.int64)
    order = np.argsort(groups, kind="stable")
    g_sorted, w_sorted = groups[order], weights[order]
    cum = np.concatenate([[0.0], np.cumsum(w_sorted)])
    n_groups = int(max(groups.max(initial=-1), want.max(initial=-1))) + 1
    lo_i = np.searchsorted(g_sorted, np.arange(n_groups), side="left")
    hi_i = np.searchsorted(g_sorted, np.arange(n_groups), side="right")
    lo, hi = cum[lo_i[want]], cum[hi_i[want]]
    pos = np.searchsorted(cum, lo + rng.random(len(want)) * (hi - lo), side="right") - 1
    pos = np.clip(pos, lo_i[want], np.maximum(hi_i[want] - 1, lo_i[want]))
    return np.where(hi_i[want] > lo_i[want], order[np.minimum(pos, len(order) - 1)], -1)


def concat_rows(len_a: np.ndarray, tok_a: np.ndarray, len_b: np.ndarray, tok_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise concatenation of two ragged arrays with the same number of rows."""
    k = len(len_a)
    rows = np.concatenate([np.repeat(np.arange(k), len_a), np.repeat(np.arange(k), len_b)])
    order = np.argsort(rows, kind="stable")
    return len_a + len_b, np.concatenate([tok_a, tok_b])[order]


def edited_copies(world: World, tpl_len: np.ndarray, tpl_tok: np.ndarray, which: np.ndarray, acc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Copies of template texts with small edits: a swapped word, a dropped word, a few added."""
    rng, lex = world.rng, lexicon()
    lens, toks = gather_slices(tpl_len, tpl_tok, which)
    toks = toks.copy()
    k = len(which)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    swap = rng.random(k) < 0.6
    pos = starts + (rng.random(k) * lens).astype(np.int64)
    toks[pos[swap]] = world.text_tokens(world.community[acc[swap]], np.ones(int(swap.sum()), dtype=np.int64))
    drop = (rng.random(k) < 0.3) & (lens > 4)
    keep = np.ones(len(toks), dtype=bool)
    keep[(starts + (rng.random(k) * lens).astype(np.int64))[drop]] = False
    # A dropped token may coincide with the swapped one; either way the copy differs slightly.
    row = np.repeat(np.arange(k), lens)
    lens = np.bincount(row[keep], minlength=k)
    toks = toks[keep]
    extra = np.where(rng.random(k) < 0.3, rng.integers(1, 3, k), 0)
    extra_tok = zipf_ranks(rng, lex.n_function, int(extra.sum()))
    return concat_rows(lens, toks, extra, extra_tok)
