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

Inside a cluster the question is narrower: were several of its members
created together, whatever their names? ``sign_up_runs`` counts, for each
member, the other members created within ``window_s`` of it, ``k`` of the
cluster's ``m``, and compares that with ``Binomial(m - 1, f)``, ``f`` the share
of all accounts created within ``window_s`` of it: each member a random draw
from the population would fall there that often. A member is *in a sign-up
run* when ``k >= MIN_RUN - 1`` and the upper tail is at most ``fdr`` over the
accounts with a creation time (Bonferroni, as above). Two or three members of a
household or a circle of friends created the same day are ordinary, and a day
that many accounts share (an organic sign-up wave, a placeholder date) has a
large ``f``; eight of twenty members of a co-acting cluster created within a
day where 0.04 are expected are one batch.

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
RUN_MEMBERS: dict[str, pl.DataType] = {"account_id": pl.String(), "cluster_id": pl.Int64()}
# Members created together that make a sign-up run: two (a couple, two friends) prove nothing.
MIN_RUN = 3


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


def sign_up_runs(labels: pl.DataFrame, created: pl.DataFrame, *, window_s: int, fdr: float, min_run: int = MIN_RUN) -> pl.DataFrame:
    """``RUN_MEMBERS`` rows: the members of each cluster in a sign-up run with other members (see the module docstring).

    ``labels``: ``account_id, cluster_id`` (-1: no cluster). ``created``:
    ``account_id, t``, the creation time in epoch seconds of every account that
    has one (unique ids); the population the chance is read from.
    """
    times = np.sort(created["t"].to_numpy())
    members = labels.filter(pl.col("cluster_id") >= 0).join(created, on="account_id").sort("cluster_id", "t", "account_id")
    if members.is_empty() or len(times) < 2:
        return pl.DataFrame(schema=RUN_MEMBERS)
    t = members["t"].to_numpy().astype(np.int64)
    t = t - int(times[0])
    span = int(times[-1] - times[0]) + 2 * window_s + 1
    # Members of the same cluster within the window (the member itself left out), keyed so clusters never mix.
    key = members["cluster_id"].rank("dense").cast(pl.Int64).to_numpy() * span + t
    k = np.searchsorted(key, key + window_s, side="right") - np.searchsorted(key, key - window_s, side="left") - 1
    m = members.select(pl.len().over("cluster_id")).to_series().to_numpy()
    shifted = times - times[0]
    f = (np.searchsorted(shifted, t + window_s, side="right") - np.searchsorted(shifted, t - window_s, side="left") - 1) / (len(times) - 1)
    p = binom.sf(k - 1, m - 1, f)
    in_run = (k >= min_run - 1) & (p <= fdr / len(times))
    return members.filter(pl.Series(in_run)).select(list(RUN_MEMBERS)).cast(RUN_MEMBERS).sort("account_id")
