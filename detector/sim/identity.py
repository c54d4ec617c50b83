"""Account identities: opaque ids, handles, names, profiles, as the accounts table.

Ids are random numbers of varied length (they encode nothing). Handles mix
styles that real users pick (names, names with digits, the platform's default
"Name12345678", word pairs, ...); operators with templated handles use one of the
same styles with a fixed structure, and fan accounts share a fandom stem, so
neither digits nor stems alone give an operator away.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from detector import schema
from detector.sim.lexicon import as_vocab, join_lists, lexicon
from detector.sim.world import World

START_US = 1_709_510_400_000_000  # 2024-03-04T00:00:00Z, a Monday

_CAP = np.frompyfunc(str.capitalize, 1, 1)
_DEFAULT_IMAGE = "https://abs.twimg.example/sticky/default_profile_images/default_profile_normal.png"
_FLAIR = np.array(["", "", "", "", "", "", " ✨", " 🌊", " 🇺🇸", " 🇬🇧", " 🏳️‍🌈", " ⚽", " 🎮", " 📚"], dtype=object)


def random_ids(rng: np.random.Generator, n: int, *, low_exp: float, high_exp: float) -> np.ndarray:
    """``n`` distinct integers spread log-uniformly over ``[10**low_exp, 10**high_exp)``."""
    out = (10 ** rng.uniform(low_exp, high_exp, n)).astype(np.int64)
    while True:
        _, first = np.unique(out, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if not dup.any():
            return out
        out[dup] = (10 ** rng.uniform(low_exp, high_exp, int(dup.sum()))).astype(np.int64)


def _digits(rng: np.random.Generator, n_digits: np.ndarray) -> np.ndarray:
    """Random numbers with exactly ``n_digits`` digits, as strings."""
    n_digits = np.maximum(n_digits, 1)
    lo = 10 ** (n_digits - 1)
    return (lo + (rng.random(len(n_digits)) * (9 * lo)).astype(np.int64)).astype(str).astype(object)


def handles(world: World) -> np.ndarray:
    """One distinct handle per account."""
    rng, lex = world.rng, lexicon()
    n = world.n
    first = lex.first_names[rng.integers(0, len(lex.first_names), n)]
    last = lex.last_names[rng.integers(0, len(lex.last_names), n)]
    w1 = lex.words[rng.integers(0, 3000, n)]
    w2 = lex.words[rng.integers(0, 3000, n)]
    cap = rng.random(n) < 0.4
    f = np.where(cap, _CAP(first), first)
    la = np.where(cap, _CAP(last), last)
    sep = np.array(["", "_", ""], dtype=object)[rng.integers(0, 3, n)]
    d_short = _digits(rng, rng.integers(1, 5, n))
    styles = [
        f + sep + la,
        f + sep + la + d_short,
        _CAP(first) + _digits(rng, np.full(n, 8)),  # the platform's default suggestion
        w1 + sep + w2,
        w1 + d_short,
        np.array([a[0] for a in first], dtype=object) + la,  # initial and surname
        w1 + "_" + f,
    ]
    style = rng.choice(len(styles), size=n, p=[0.22, 0.2, 0.15, 0.15, 0.13, 0.08, 0.07])
    out = np.choose(style, styles)
    for i, (kind, n_digits, stem) in enumerate(world.handle_templates):
        sel = np.flatnonzero(world.handle_template == i)
        k = len(sel)
        if k == 0:
            continue
        if kind == "name_digits":
            out[sel] = _CAP(first[sel]) + _CAP(last[sel]) + _digits(rng, np.full(k, n_digits))
        elif kind == "stem_name":
            out[sel] = stem + "_" + first[sel] + _digits(rng, np.full(k, n_digits))
        elif kind == "word_word_digits":
            out[sel] = w1[sel] + w2[sel] + _digits(rng, np.full(k, n_digits))
        else:  # fan accounts: the stem in varied positions and spellings
            pos = rng.random(k) < 0.5
            mid = np.array(["", "_", "x", "4"], dtype=object)[rng.integers(0, 4, k)]
            base = np.where(rng.random(k) < 0.5, first[sel], w1[sel])
            out[sel] = np.where(pos, stem + mid + base, base + mid + stem)
            with_digits = rng.random(k) < 0.35
            out[sel[with_digits]] = out[sel[with_digits]] + d_short[sel[with_digits]]
    out = np.array([h[:15] for h in out], dtype=object)
    # Collisions get a numeric suffix, as a sign-up form would ask for.
    frame = pl.DataFrame({"h": out.astype(str)}).with_columns(k=pl.int_range(pl.len()).over("h"))
    fixed = frame.select(pl.when(pl.col("k") > 0).then(pl.col("h") + pl.col("k").cast(pl.String)).otherwise(pl.col("h")))
    return fixed.to_series().to_numpy().astype(object)


def accounts_frame(world: World, account_id: np.ndarray, handle: np.ndarray) -> pl.DataFrame:
    """The accounts table (``schema.ACCOUNTS``), rows in account-id order."""
    rng, lex = world.rng, lexicon()
    n = world.n
    first = lex.first_names[rng.integers(0, len(lex.first_names), n)]
    last = lex.last_names[rng.integers(0, len(lex.last_names), n)]
    w1 = lex.words[rng.integers(0, 3000, n)]
    kind = rng.choice(3, size=n, p=[0.65, 0.2, 0.15])
    name = np.choose(kind, [_CAP(first) + " " + _CAP(last), _CAP(first), _CAP(w1) + " " + _CAP(last)])
    name = name + _FLAIR[rng.integers(0, len(_FLAIR), n)]
    has_bio = rng.random(n) < 0.7
    bio_len = np.where(has_bio, 3 + rng.poisson(7, n), 0)
    bio = join_lists(bio_len, world.text_tokens(world.community, bio_len), lex.tokens)
    image_num = random_ids(rng, max(world.n_images, 1), low_exp=17.5, high_exp=18.2).astype(str).astype(object)
    image = np.where(
        world.image >= 0,
        "https://pbs.twimg.example/profile_images/" + image_num[np.maximum(world.image, 0)] + "/photo.jpg",
        _DEFAULT_IMAGE,
    )
    frame = pl.DataFrame(
        {
            "account_id": as_vocab(account_id),
            "created_at": START_US + world.created_at * 1_000_000,
            "handle": as_vocab(handle),
            "display_name": as_vocab(name),
            "description": bio,
            "followers": world.followers,
            "following": world.following,
            "profile_image": as_vocab(image),
        }
    ).with_columns(
        pl.col("created_at").cast(schema.TIMESTAMP),
        pl.col("account_id", "handle", "display_name", "profile_image").cast(pl.String),
    )
    return schema.conform(frame, schema.ACCOUNTS).sort("account_id")
