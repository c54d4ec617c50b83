"""Group-level test: which outside accounts act on a group's own objects far beyond chance.

Pairwise tests need each pair to meet several times. A low-participation
operator (each member joins a few of its waves) or one that spreads a wave over
many hours gives most member pairs one shared object or none inside the
co-action window, so many members link to nobody, even though every one of
them keeps acting on the operator's own posts, links and tags. Once a core of
the group is known, a test per account pools that evidence over all the group's
objects and the whole period:

1. **The group's objects.** Per signal, objects on which at least two members
   acted, of whose actors members are at least ``min_share``, and on which
   members are at least ``min_lift`` times over-represented:
   with members holding a share ``c`` of the signal's actions, an object with
   ``d`` actors is expected to have ``c * d`` member actors by chance. Popular
   objects the members touch no more than anybody (camouflage, viral posts) drop
   out; the group's own seeds, links and tags stay. The pipeline further keeps
   only objects the members co-acted on (``coacted``): in a community an
   operator dominates, members also make up most actors of everyday posts,
   which their organic neighbours touch too.
2. **A configuration null per account.** Account ``i`` acts ``n_i`` times in a
   signal (distinct objects); each action lands on object ``o`` with
   probability ``d_o / D`` (``D`` all actions of the signal), so it hits the
   group's objects with probability ``q = sum(d_o) / D`` over them. Over
   signals, the expected hits are ``E = sum(n_i * q)``. A group whose objects
   include a viral post has a large ``q``: a fan of that post is expected to hit
   it.
3. **Test.** The Poisson tail ``P(K >= k | E)`` of the ``k`` group objects the
   account acted on; Benjamini-Hochberg at ``fdr`` over every (account, group)
   hypothesis, ``k >= min_objects`` and ``k >= min_lift * E``. An account that
   passes for several groups goes to the one with the smallest p-value.

Objects acted on by more than ``max_object_accounts`` accounts are left out (as
in the pair test). Sharing, liking, quoting and replying to a post all count as
acting on that post (signal ``post``): a post many share is popular for the
accounts that only like it too, so a crowd of likers of popular posts does not
make those posts anybody's own. The pipeline runs the test only from flagged
groups (``tiered_joins``), so it extends flagged operators and never creates or
flags one.

``own_objects_beyond_chance`` counts, per group, its own objects over the
whole period (step 1 without the co-action filter) next to the count chance
gives: each of an object's ``d`` actors is a member with the members' share
``c`` of the signal's actions, independently, so the object passes step 1 with
probability ``P(Binomial(d, c) >= max(2, min_share * d, min_lift * c * d))``.
Unrelated accounts behind one carrier NAT own next to no objects beyond that;
a ring run from one proxy or phone farm owns many even when no member pair meets
often enough inside the window for the pair test.

``group_members`` turns the test inward: a member of a flagged group that acts
on the group's own objects significantly less often than the members do (and
whose hits are not far beyond chance either) is not part of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import binom, poisson

# Signals whose objects are posts: sharing, liking, quoting or replying to one post all act on that post.
POST_SIGNALS = ("share", "reply", "quote", "like")
INCIDENCES: dict[str, pl.DataType] = {"signal": pl.String(), "object": pl.String(), "account_id": pl.String()}
JOINS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "cluster_id": pl.Int64(),
    "objects": pl.Int64(),
    "expected": pl.Float64(),
    "p_value": pl.Float64(),
}


def benjamini_hochberg_of(p_values: np.ndarray, fdr: float, m: int) -> np.ndarray:
    """Discoveries at false-discovery rate ``fdr`` among ``m`` hypotheses, of which ``p_values`` are the ones with p < 1."""
    if len(p_values) == 0:
        return np.zeros(0, dtype=bool)
    m = max(m, len(p_values))
    order = np.argsort(p_values, kind="stable")
    passed = p_values[order] <= fdr * np.arange(1, len(p_values) + 1) / m
    if not passed.any():
        return np.zeros(len(p_values), dtype=bool)
    return p_values <= p_values[order][np.nonzero(passed)[0][-1]]


def _on_objects(incidences: pl.DataFrame) -> pl.DataFrame:
    """Incidences with the post signals merged into one (``post``), one row per account and object.

    Incidences already merged by ``on_objects`` (no post signal left) are taken
    as they are, so callers that merge once pay for it once.
    """
    if not incidences.get_column("signal").is_in(POST_SIGNALS).any():
        return incidences.select(list(INCIDENCES))
    return on_objects(incidences)


def on_objects(incidences: pl.DataFrame) -> pl.DataFrame:
    """``incidences`` (``INCIDENCES``) with sharing, liking, quoting and replying to a post merged into acting on it, deduplicated."""
    kind = pl.when(pl.col("signal").is_in(POST_SIGNALS)).then(pl.lit("post")).otherwise(pl.col("signal")).alias("signal")
    return incidences.select(kind, "object", "account_id").unique()


@dataclass(frozen=True)
class Popularity:
    """Whole-period counts of the incidences that every group's test reads (``popularity``).

    They depend on the incidences alone, not on the groups, so a run that tests
    many sets of groups against the same incidences counts them once: each
    object's count was most of a test's time at 10M events (0.9 s of 2 s), and
    each account's acts were counted again in every call (up to five a run).
    """

    objects: pl.DataFrame  # signal, object, object_accounts: each object's distinct actors
    totals: pl.DataFrame  # signal, total: each signal's (account, object) acts
    sizes: pl.DataFrame  # signal, object_accounts, objects: how many objects have that many actors
    activity: pl.DataFrame  # account_id, signal, n: each account's acts in each signal


def popularity(incidences: pl.DataFrame) -> Popularity:
    """The ``Popularity`` of ``incidences`` (``INCIDENCES``; post signals merged as the tests merge them)."""
    incidences = _on_objects(incidences)
    objects = incidences.group_by("signal", "object").agg(pl.len().cast(pl.Int64).alias("object_accounts"))
    return Popularity(
        objects=objects,
        totals=incidences.group_by("signal").agg(pl.len().cast(pl.Float64).alias("total")),
        sizes=objects.group_by("signal", "object_accounts").agg(pl.len().alias("objects")),
        activity=incidences.group_by("account_id", "signal").agg(pl.len().cast(pl.Float64).alias("n")),
    )


def group_objects(
    incidences: pl.DataFrame,
    labels: pl.DataFrame,
    *,
    max_object_accounts: int,
    min_lift: float,
    min_share: float = 0.5,
    coacted: pl.DataFrame | None = None,
    counts: Popularity | None = None,
) -> pl.DataFrame:
    """``cluster_id, signal, object, object_accounts, members``: each group's own objects (step 1 of the module docstring).

    ``coacted`` (``cluster_id, signal, object``), when given, limits each group's
    objects to those (the objects its members co-acted on). ``counts``, when
    given, is ``popularity(incidences)``, counted once by the caller.
    """
    incidences = _on_objects(incidences)
    counts = popularity(incidences) if counts is None else counts
    acting = incidences.join(labels.filter(pl.col("cluster_id") >= 0), on="account_id")
    share = acting.group_by("cluster_id", "signal").agg(pl.len().alias("member_actions")).join(counts.totals, on="signal").with_columns(
        (pl.col("member_actions") / pl.col("total")).alias("share")
    )
    owned = (
        acting.group_by("cluster_id", "signal", "object")
        .agg(pl.len().cast(pl.Int64).alias("members"))
        .filter(pl.col("members") >= 2)
        .join(counts.objects, on=["signal", "object"])
        .filter(pl.col("object_accounts") <= max_object_accounts)
        .join(share.select("cluster_id", "signal", "share"), on=["cluster_id", "signal"])
        .filter(
            (pl.col("members") >= min_lift * pl.col("share") * pl.col("object_accounts"))
            & (pl.col("members") >= min_share * pl.col("object_accounts"))
        )
        .select("cluster_id", "signal", "object", "object_accounts", "members")
    )
    if coacted is not None:
        kinds = _on_objects(coacted.select("signal", "object", pl.col("cluster_id").cast(pl.Int64).cast(pl.String).alias("account_id")))
        owned = owned.join(
            kinds.select(pl.col("account_id").cast(pl.Int64).alias("cluster_id"), "signal", "object"),
            on=["cluster_id", "signal", "object"],
            how="semi",
        )
    return owned.sort("cluster_id", "signal", "object")


def group_joins(
    incidences: pl.DataFrame,
    labels: pl.DataFrame,
    *,
    groups: list[int],
    max_object_accounts: int,
    min_objects: int,
    fdr: float,
    min_lift: float,
    min_share: float = 0.5,
    coacted: pl.DataFrame | None = None,
    counts: Popularity | None = None,
    barred: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """``JOINS`` rows: accounts outside every one of ``groups`` that act on one group's objects far beyond chance.

    ``incidences``: ``signal, object, account_id``, one row per account and
    object it acted on (whole period). ``labels``: ``account_id, cluster_id``.
    Each account appears at most once, with the group it passes for with the
    smallest p-value (see the module docstring). ``counts``: as in ``group_objects``.
    ``barred`` (``account_id``): accounts not tested at all (nor counted as hypotheses).
    """
    incidences = _on_objects(incidences)
    chosen = labels.filter(pl.col("cluster_id").is_in(groups))
    if chosen.is_empty() or incidences.is_empty():
        return pl.DataFrame(schema=JOINS)
    counts = popularity(incidences) if counts is None else counts
    owned = group_objects(
        incidences, chosen, max_object_accounts=max_object_accounts, min_lift=min_lift, min_share=min_share, coacted=coacted, counts=counts
    )
    q = owned.group_by("cluster_id", "signal").agg(pl.col("object_accounts").sum().cast(pl.Float64).alias("hit")).join(
        counts.totals, on="signal"
    ).select("cluster_id", "signal", (pl.col("hit") / pl.col("total")).alias("q"))
    outside = counts.activity.join(chosen, on="account_id", how="anti")
    if barred is not None:
        outside = outside.join(barred.select("account_id"), on="account_id", how="anti")
    hits = (
        incidences.join(outside.select("account_id").unique(), on="account_id", how="semi")
        .join(owned.select("cluster_id", "signal", "object"), on=["signal", "object"])
        .group_by("account_id", "cluster_id")
        .agg(pl.len().cast(pl.Int64).alias("objects"))
    )
    expected = (
        hits.select("account_id", "cluster_id")
        .join(outside, on="account_id")
        .join(q, on=["cluster_id", "signal"])
        .group_by("account_id", "cluster_id")
        .agg((pl.col("n") * pl.col("q")).sum().alias("expected"))
    )
    tested = hits.join(expected, on=["account_id", "cluster_id"]).sort("account_id", "cluster_id")
    k, e = tested["objects"].to_numpy(), tested["expected"].to_numpy()
    p = poisson.sf(k - 1, e)
    hypotheses = outside.select(pl.col("account_id").n_unique()).item() * len(groups)
    keep = benjamini_hochberg_of(p, fdr, hypotheses) & (k >= min_objects) & (k >= min_lift * e)
    return (
        tested.with_columns(pl.Series("p_value", p, dtype=pl.Float64))
        .filter(pl.Series(keep))
        .sort("account_id", "p_value", "cluster_id")
        .unique("account_id", keep="first", maintain_order=True)
        .select(list(JOINS))
        .cast(JOINS)
    )


def tiered_joins(incidences: pl.DataFrame, labels: pl.DataFrame, *, confident: list[int], weaker: list[int], **test) -> pl.DataFrame:
    """``JOINS`` rows of one round of the group test over flagged clusters in two tiers.

    The ``confident`` clusters test every account outside them, members of the
    ``weaker`` flagged clusters included: a weak part of an operator whose
    confident part owns the same objects belongs with it. Then the ``weaker``
    ones test the accounts outside every flagged cluster that no confident one
    took, so they grow too but never take each other's or a confident
    cluster's members. ``test``: ``group_joins``' settings.
    """
    joins = group_joins(incidences, labels, groups=confident, **test) if confident else pl.DataFrame(schema=JOINS)
    if not weaker:
        return joins
    flagged = labels.filter(pl.col("cluster_id").is_in(confident + weaker)).select("account_id")
    taken = pl.concat([flagged, joins.select(pl.col("account_id").cast(flagged.schema["account_id"]))])
    return pl.concat([joins, group_joins(incidences, labels, groups=weaker, barred=taken, **test)])


MEMBERS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "cluster_id": pl.Int64(),
    "objects": pl.Int64(),
    "expected": pl.Float64(),
    "p_value": pl.Float64(),
    "chance": pl.Float64(),
    "chance_p_value": pl.Float64(),
    "kept": pl.Boolean(),
}


def group_members(
    incidences: pl.DataFrame,
    labels: pl.DataFrame,
    *,
    groups: list[int],
    max_object_accounts: int,
    min_lift: float,
    level: float,
    fdr: float,
    min_objects: int,
    min_share: float = 0.5,
    coacted: pl.DataFrame | None = None,
    counts: Popularity | None = None,
) -> pl.DataFrame:
    """``MEMBERS`` rows: every member of ``groups`` that has own objects, and whether it is ``kept``.

    The group test turned inward, with membership as the null. Each member's
    hits ``k`` are counted on the group's own objects that at least two *other*
    members acted on (its own actions cannot make an object the group's). The
    members together hit them at a rate ``r`` per action (per signal), so a
    member with ``n`` actions is expected to hit ``M = sum(n * r)``; it is
    dropped when its hits are significantly fewer, ``P(K <= k | M) <= level``,
    unless its hits are far beyond chance all the same: under the outsider null
    of ``group_joins`` (``E = sum(n * q)``) ``P(K >= k | E)`` within ``fdr``
    Bonferroni-corrected over every (account, group) hypothesis, and
    ``k >= min_objects``. A member pulled in by a few
    strong links (an organic account that reshared some of the posts an
    operator boosted) acts a lot yet seldom on the group's own objects and
    fails both; a heavy member whose camouflage dilutes its rate still hits the
    objects far beyond chance and stays; a member with little activity in
    those signals (the core account that only writes the posts the others
    share) cannot fail. ``expected`` is ``M``, ``chance`` is ``E``. Groups
    without such objects are not listed. ``counts``: as in ``group_objects``.
    """
    incidences = _on_objects(incidences)
    chosen = labels.filter(pl.col("cluster_id").is_in(groups))
    if chosen.is_empty() or incidences.is_empty():
        return pl.DataFrame(schema=MEMBERS)
    counts = popularity(incidences) if counts is None else counts
    owned = group_objects(
        incidences, chosen, max_object_accounts=max_object_accounts, min_lift=min_lift, min_share=min_share, coacted=coacted, counts=counts
    ).filter(pl.col("members") >= 3)
    members = chosen.join(owned.select("cluster_id").unique(), on="cluster_id", how="semi")
    activity = members.join(counts.activity, on="account_id")
    per_signal = (
        incidences.join(members, on="account_id")
        .join(owned.select("cluster_id", "signal", "object"), on=["cluster_id", "signal", "object"])
        .group_by("account_id", "cluster_id", "signal")
        .agg(pl.len().cast(pl.Float64).alias("k"))
    )
    rate = (
        activity.join(per_signal, on=["account_id", "cluster_id", "signal"], how="left")
        .group_by("cluster_id", "signal")
        .agg((pl.col("k").fill_null(0.0).sum() / pl.col("n").sum()).alias("r"))
    )
    q = owned.group_by("cluster_id", "signal").agg(pl.col("object_accounts").sum().cast(pl.Float64).alias("hit")).join(
        counts.totals, on="signal"
    ).select("cluster_id", "signal", (pl.col("hit") / pl.col("total")).alias("q"))
    expected = (
        activity.join(rate, on=["cluster_id", "signal"])
        .join(q, on=["cluster_id", "signal"])
        .group_by("account_id", "cluster_id")
        .agg((pl.col("n") * pl.col("r")).sum().alias("expected"), (pl.col("n") * pl.col("q")).sum().alias("chance"))
    )
    hits = per_signal.group_by("account_id", "cluster_id").agg(pl.col("k").sum().cast(pl.Int64).alias("objects"))
    tested = (
        members.join(expected, on=["account_id", "cluster_id"], how="left")
        .join(hits, on=["account_id", "cluster_id"], how="left")
        .with_columns(pl.col("objects").fill_null(0), pl.col("expected").fill_null(0.0), pl.col("chance").fill_null(0.0))
        .sort("account_id")
    )
    k, chance = tested["objects"].to_numpy(), tested["chance"].to_numpy()
    below = poisson.cdf(k, tested["expected"].to_numpy())
    beyond = poisson.sf(k - 1, chance)
    hypotheses = incidences.select(pl.col("account_id").n_unique()).item() * len(groups)
    would_join = (beyond <= fdr / hypotheses) & (k >= min_objects)
    return (
        tested.with_columns(pl.Series("p_value", below, dtype=pl.Float64), pl.Series("chance_p_value", beyond, dtype=pl.Float64))
        .with_columns(((pl.col("p_value") > level) | pl.Series(would_join)).alias("kept"))
        .select(list(MEMBERS))
        .cast(MEMBERS)
    )


OWN_COUNTS: dict[str, pl.DataType] = {"cluster_id": pl.Int64(), "own_objects": pl.Int64(), "expected_own": pl.Float64()}


def own_objects_beyond_chance(
    incidences: pl.DataFrame,
    labels: pl.DataFrame,
    *,
    max_object_accounts: int,
    min_lift: float,
    min_share: float = 0.5,
    counts: Popularity | None = None,
) -> pl.DataFrame:
    """``OWN_COUNTS`` rows, one per group of ``labels``: its own objects (whole period) and how many chance predicts.

    ``own_objects`` counts ``group_objects`` without the co-action filter;
    ``expected_own`` sums, over every object of at most ``max_object_accounts``
    actors, the probability that it passes the same three conditions when each
    of its ``d`` actors is a member with probability ``c`` (the members' share of
    the signal's actions); see the module docstring. ``counts``: as in ``group_objects``.
    """
    chosen = labels.filter(pl.col("cluster_id") >= 0)
    if chosen.is_empty() or incidences.is_empty():
        return pl.DataFrame(schema=OWN_COUNTS)
    incidences = _on_objects(incidences)
    counts = popularity(incidences) if counts is None else counts
    owned = group_objects(incidences, chosen, max_object_accounts=max_object_accounts, min_lift=min_lift, min_share=min_share, counts=counts)
    own = owned.group_by("cluster_id").agg(pl.len().cast(pl.Int64).alias("own_objects"))
    sizes = counts.sizes.rename({"object_accounts": "d"}).filter((pl.col("d") >= 2) & (pl.col("d") <= max_object_accounts))
    share = (
        incidences.join(chosen, on="account_id")
        .group_by("cluster_id", "signal")
        .agg(pl.len().alias("member_actions"))
        .join(counts.totals, on="signal")
        .select("cluster_id", "signal", (pl.col("member_actions") / pl.col("total")).alias("c"))
    )
    cells = share.join(sizes, on="signal").sort("cluster_id", "signal", "d")
    d, c = cells["d"].to_numpy(), cells["c"].to_numpy()
    need = np.maximum.reduce([np.full(len(d), 2.0), np.ceil(min_share * d), np.ceil(min_lift * c * d)])
    chance = binom.sf(need - 1, d, c) * cells["objects"].to_numpy()
    expected = cells.select("cluster_id").with_columns(pl.Series("expected_own", chance, dtype=pl.Float64)).group_by("cluster_id").agg(
        pl.col("expected_own").sum()
    )
    return (
        chosen.select("cluster_id")
        .unique()
        .join(own, on="cluster_id", how="left")
        .join(expected, on="cluster_id", how="left")
        .with_columns(pl.col("own_objects").fill_null(0), pl.col("expected_own").fill_null(0.0))
        .sort("cluster_id")
        .cast(OWN_COUNTS)
    )
