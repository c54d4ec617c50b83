"""Sign-up batches named from one template: accounts whose handles share a shape far beyond chance at the time.

An operator that registers accounts in a batch names them by one recipe:
"ChloeHoward579", "GraceGray688" (first name, surname, three digits) or
"bluefox4821", "stonewave1930" (two words, four digits). No two share a stem, so
a rule on the letters before the digits misses them; what they share is the
*shape* of the handle: each run of letters by its case (``Aa`` a capitalised
word, ``a`` lower case, ``A`` upper case), each digit as ``9``, other characters
as they are. "ChloeHoward579" is ``AaAa999``.

A shape alone proves nothing: "AnnaSmith12"-style names and a platform's
default suggestion ("Maria48211907", ``Aa99999999``) are common, and organic
sign-up waves (a platform migration, a news day) bring many of them at once.
So the test conditions on who signed up at the time: among the ``n`` accounts
created within ``window_s`` of an account, the count ``k`` of its shape is
compared with ``Binomial(n, f)``, ``f`` the shape's share of all accounts. A
wave of organic sign-ups has as many default names as any other day's
sign-ups; a batch of 137 accounts named ``AaAa999`` where 5.6 are expected is
one recipe. Accounts whose upper tail is below ``fdr`` over the accounts
tested (Bonferroni) are *in a template burst*, and each is paired with its nearest ``neighbours`` same-shape accounts in
the burst on either side, in creation order and within ``window_s`` (a band, not
every pair: a 2,000-account batch would give two million).

Letters without case (most non-Latin scripts) are kept as they are, so such
handles only share a shape when they share those letters. Shapes need at least
two trailing digits, as the stem rule does
(``detector.pipeline.identity_pairs``): a bare name shape ("AaAa") is too common
to be a recipe.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import binom

PAIRS: dict[str, pl.DataType] = {"source": pl.String(), "target": pl.String()}


def handle_shape(handle: pl.Expr) -> pl.Expr:
    """The handle's shape: letter runs by case (``Aa``, ``a``, ``A``), each digit ``9``, other characters kept."""
    # Placeholders outside letters and digits first, so a later rule cannot rewrite an earlier one's output.
    return (
        handle.str.strip_chars()
        .str.replace_all(r"\p{Lu}\p{Ll}+", "\x01")
        .str.replace_all(r"\p{Ll}+", "\x02")
        .str.replace_all(r"\p{Lu}+", "\x03")
        .str.replace_all(r"\d", "9")
        .str.replace_all("\x01", "Aa", literal=True)
        .str.replace_all("\x02", "a", literal=True)
        .str.replace_all("\x03", "A", literal=True)
    )


def template_burst_pairs(accounts: pl.DataFrame, *, window_s: int, fdr: float, neighbours: int = 20) -> pl.DataFrame:
    """``source, target`` (``source < target``): pairs of accounts in one template burst (see the module docstring).

    An account is in a burst when its binomial upper tail is at most ``fdr``
    divided by the accounts tested, those with a handle and a creation time
    (Bonferroni), so a data set of organic sign-ups gives no pair by chance.
    """
    known = (
        accounts.filter(pl.col("handle").is_not_null() & pl.col("created_at").is_not_null())
        .unique("account_id", keep="first")
        .select("account_id", handle_shape(pl.col("handle")).alias("shape"), pl.col("created_at").dt.epoch("s").alias("t"))
    )
    if known.height < 2:
        return pl.DataFrame(schema=PAIRS)
    known = known.with_columns(pl.col("shape").rank("dense").cast(pl.Int64).alias("code"), (pl.len().over("shape") / pl.len()).alias("share"))
    t = known["t"].to_numpy().astype(np.int64)
    t = t - t.min()
    code = known["code"].to_numpy()
    # Accounts created within the window, all and of the same shape (the account itself left out).
    times = np.sort(t)
    n = np.searchsorted(times, t + window_s, side="right") - np.searchsorted(times, t - window_s, side="left") - 1
    key = code * (int(t.max()) + 2 * window_s + 1) + t
    keys = np.sort(key)
    k = np.searchsorted(keys, key + window_s, side="right") - np.searchsorted(keys, key - window_s, side="left") - 1
    p = binom.sf(k - 1, n, known["share"].to_numpy())
    templated = known["shape"].str.contains(r"[Aa]").to_numpy() & known["shape"].str.ends_with("99").to_numpy()
    burst = known.filter(pl.Series(templated & (k >= 2) & (p <= fdr / known.height))).sort("code", "t", "account_id")
    if burst.height < 2:
        return pl.DataFrame(schema=PAIRS)
    ids, bc, bt = burst["account_id"].to_numpy(), burst["code"].to_numpy(), burst["t"].to_numpy()
    left, right = [], []
    for step in range(1, min(neighbours, burst.height - 1) + 1):
        near = (bc[step:] == bc[:-step]) & (bt[step:] - bt[:-step] <= window_s)
        left.append(ids[:-step][near])
        right.append(ids[step:][near])
    pairs = pl.DataFrame({"a": np.concatenate(left), "b": np.concatenate(right)}, schema={"a": pl.String(), "b": pl.String()})
    return (
        pairs.select(pl.min_horizontal("a", "b").alias("source"), pl.max_horizontal("a", "b").alias("target"))
        .unique()
        .sort("source", "target")
    )
