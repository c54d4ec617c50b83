"""Farms: groups of accounts tied other than by co-action, and how they change the clusters.

A farm is a group behind shared devices or addresses, or one sign-up batch's
handle template (``tie_pairs``, ``whole_groups``), that owns objects far beyond
chance (``features.groups.own_objects_beyond_chance``; the ``farm`` strand of
``detector.scoring``). ``detector.pipeline`` calls these steps in turn, scoring
again after each that moves accounts:

1. ``farm_facts``: each cluster's strongest reading of the group behind it.
2. ``farm_carve``: a farm that carries its cluster's flag is split off the
   accounts filed with it (``both_flagged_rejoined`` puts back a split whose
   halves are both flagged).
3. ``farm_parts`` and ``farm_rim``: flagged parts of one farm become one
   cluster, with the noise accounts between them linked as much as members are.
4. ``scattered_farms``: a farm the clusters scatter, judged alone, is gathered.

The group test keeps a flagged cluster's quiet member tied to most of it
(``tied_to_most``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from detector.cluster import index_pairs, pairs_inside
from detector.config import Config
from detector.scoring import EXCLUSIVE_STRANDS, FARM_FACTS, HOUSEHOLD, SCORE_CAPS, STRANDS, farm_strand, noisy_or
from features.groups import OWN_COUNTS, Popularity, own_objects_beyond_chance

# ``FARM_FACTS`` (with the reading that gave them) and that reading's group.
FARM_READINGS: dict[str, pl.DataType] = {**FARM_FACTS, "group": pl.Int64()}


def farm_facts(
    labels: pl.DataFrame, ties: pl.DataFrame | None, wholes: WholeGroups, incidences: pl.DataFrame, config: Config, *, counts: Popularity | None = None
) -> pl.DataFrame:
    """``FARM_FACTS`` per cluster with more than a household behind shared infrastructure (see ``detector.scoring``).

    ``ties`` (``tie_pairs``) and ``wholes`` (``whole_groups``) come from the shared devices, addresses and
    sign-up templates once per run, and so may ``counts`` (``features.groups.popularity`` of ``incidences``):
    every scoring pass reads the same ones.

    Four readings of "the group behind the cluster's infrastructure", the one
    with the stronger ``farm`` strand kept (``reading``): the largest group of
    members linked through shared devices or addresses, or one sign-up template
    (``identity`` pairs), inside the cluster (pairs inside, transitively:
    ``inside``); all such groups inside the cluster beyond a household's size
    together, where there are two or more (``farms``: an operator that
    registers its accounts in several batches, or runs several proxy pools,
    ties each batch or pool apart, and in ``viral_noise`` seed 1 a 74-account
    hashtag ring of three batches named from one template was cut into its
    batches, each a third of its two tags' actors and so owning nothing beyond
    chance; together they own its tags, and joined, the ring was flagged at
    0.62 where its parts scored 0.35-0.38); and the whole group of all accounts
    linked through shared devices or addresses (``everywhere``), or through one sign-up batch's
    template (``batch``), that holds at least half of the members
    (``whole_groups``). The whole groups keep the two kinds of tie apart: a
    batch's template clique joined to an organic household by one address would
    lend the batch's objects to the household's cluster (cascade/crowded seed 2).
    HDBSCAN may cut a large farm into several clusters, and then each part is
    judged by the farm it belongs to: a 2,000-account batch without shared
    infrastructure cut into 44 clusters (``large_operator`` seed 4) had 71% of
    its accounts flagged by the inside reading and 86% by the batch. A group
    that reaches beyond the cluster through a household address, though, takes
    in accounts that own nothing with it, so the inside reading stays. Each
    group's own objects over the whole period are counted against chance
    (``features.groups.own_objects_beyond_chance``).
    """
    if ties is None or incidences.is_empty():
        return pl.DataFrame(schema=FARM_READINGS)
    members = labels.filter(pl.col("cluster_id") >= 0)
    inside = _inside_groups(ties, labels)
    largest_inside = (
        inside.group_by("cluster_id", "group")
        .agg(pl.len().cast(pl.Int64).alias("infra_group"), pl.col("account_id").min().alias("first"))
        .sort("cluster_id", "infra_group", "first", descending=[False, True, False])
        .group_by("cluster_id", maintain_order=True)
        .first()
    )
    sizes = members.group_by("cluster_id").agg(pl.len().alias("n_accounts"))
    holding_half = pl.concat([_holding_half(members, groups, sizes).with_columns(pl.lit(reading).alias("reading")) for reading, groups in wholes.members.items()])
    # A whole group that is exactly the inside one (same size, holding it) would be counted twice for the same answer.
    same = pl.concat(
        [
            largest_inside.select("cluster_id", "infra_group", "first")
            .join(groups.rename({"account_id": "first"}), on="first")
            .select("cluster_id", "group", "infra_group", pl.lit(reading).alias("reading"))
            for reading, groups in wholes.members.items()
        ]
    )
    holding_half = holding_half.join(same, on=["cluster_id", "group", "infra_group", "reading"], how="anti")
    farms_inside = _farms_inside(inside)
    union = farms_inside.group_by("cluster_id").agg(pl.len().cast(pl.Int64).alias("infra_group"), pl.col("group").first())
    candidates = pl.concat(
        [
            largest_inside.select("cluster_id", "group", "infra_group", pl.lit("inside").alias("reading")),
            holding_half.select("cluster_id", "group", "infra_group", "reading"),
            union.select("cluster_id", "group", "infra_group", pl.lit("farms").alias("reading")),
        ]
    ).filter(pl.col("infra_group") > HOUSEHOLD)
    if candidates.is_empty():
        return pl.DataFrame(schema=FARM_READINGS)
    # The whole groups' own objects were counted once for the run; an inside group's are counted here, once
    # per distinct group.
    inside_keys = candidates.filter(pl.col("reading") == "inside").select("group").unique().sort("group")
    inside_own = _own_counts(inside.join(inside_keys, on="group").select("account_id", pl.col("group").alias("key")), incidences, config, counts)
    union_own = _own_counts(farms_inside.select("account_id", "group").rename({"group": "key"}), incidences, config, counts)
    own = pl.concat(
        [
            inside_own.select(pl.lit("inside").alias("reading"), pl.col("key").alias("group"), "own_objects", "expected_own"),
            union_own.select(pl.lit("farms").alias("reading"), pl.col("key").alias("group"), "own_objects", "expected_own"),
            wholes.owned.drop("size"),
        ]
    )
    scored = candidates.join(own, on=["reading", "group"], how="left").with_columns(pl.col("own_objects").fill_null(0), pl.col("expected_own").fill_null(0.0))
    strand = farm_strand(scored["infra_group"].to_numpy(), scored["own_objects"].to_numpy(), scored["expected_own"].to_numpy())
    return (
        scored.with_columns(pl.Series("strand", strand))
        # The stronger reading per cluster (ties: the inside one, listed first).
        .sort("cluster_id", "strand", "reading", descending=[False, True, True])
        .group_by("cluster_id", maintain_order=True)
        .first()
        .select(*FARM_FACTS, "group")
        .sort("cluster_id")
        .cast(FARM_READINGS)
    )


def _own_counts(accounts: pl.DataFrame, incidences: pl.DataFrame, config: Config, counts: Popularity | None) -> pl.DataFrame:
    """``key, own_objects, expected_own``: the own objects against chance (``own_objects_beyond_chance``, at the
    group test's settings) of each group of ``accounts`` (``account_id, key``; an account may be in several)."""
    cfg = config.detector
    if accounts.is_empty() or incidences.is_empty():
        return pl.DataFrame(schema={"key": pl.Int64(), **{name: kind for name, kind in OWN_COUNTS.items() if name != "cluster_id"}})
    # Keyed like the pipeline's compact incidences (``detector.pipeline._compact_keys``: categorical account ids).
    groups = accounts.select(pl.col("account_id").cast(pl.Categorical), pl.col("key").alias("cluster_id"))
    return own_objects_beyond_chance(
        incidences, groups, max_object_accounts=cfg.max_object_accounts, min_lift=cfg.min_lift, min_share=cfg.group_min_share, counts=counts
    ).rename({"cluster_id": "key"})


# One row per whole group larger than a household: its reading, group, size and own objects against chance.
WHOLE_OWNED: dict[str, pl.DataType] = {"reading": pl.String(), "group": pl.Int64(), "size": pl.Int64(), "own_objects": pl.Int64(), "expected_own": pl.Float64()}


@dataclass(frozen=True)
class WholeGroups:
    """The whole groups behind farms by each kind of tie alone, and what the larger ones own (``whole_groups``).

    ``members`` maps each reading, ``everywhere`` (shared devices or addresses)
    and ``batch`` (one sign-up batch's handle template), to ``account_id,
    group`` (``_infra_groups``); ``owned`` has ``WHOLE_OWNED`` rows. Both depend
    only on the run's ties and incidences, so every scoring pass reads the same.
    """

    members: dict[str, pl.DataFrame]
    owned: pl.DataFrame


def whole_groups(
    infrastructure: pl.DataFrame | None, identity: pl.DataFrame | None, incidences: pl.DataFrame, config: Config, *, counts: Popularity | None = None
) -> WholeGroups:
    """The ``WholeGroups`` of these tie pairs, each larger than a household counted against ``incidences`` once.

    The two kinds of tie are kept apart, so one household address that a batch's account shares with its family
    does not make the family part of the batch (cascade/crowded seed 2)."""
    none = pl.DataFrame(schema={"source": pl.String(), "target": pl.String()})
    members = {reading: _infra_groups(none if pairs is None else pairs.select("source", "target")) for reading, pairs in (("everywhere", infrastructure), ("batch", identity))}
    grouped = pl.concat([groups.with_columns(pl.lit(reading).alias("reading")) for reading, groups in members.items()]).filter(
        pl.len().over("reading", "group") > HOUSEHOLD
    )
    keys = (
        grouped.group_by("reading", "group")
        .agg(pl.len().cast(pl.Int64).alias("size"))
        .sort("reading", "group")
        .with_row_index("key")
        .with_columns(pl.col("key").cast(pl.Int64))
    )
    own = _own_counts(grouped.join(keys, on=["reading", "group"]).select("account_id", "key"), incidences, config, counts)
    owned = (
        keys.join(own, on="key", how="left")
        .select("reading", "group", "size", pl.col("own_objects").fill_null(0), pl.col("expected_own").fill_null(0.0))
        .cast(WHOLE_OWNED)
    )
    return WholeGroups(members=members, owned=owned)


def _holding_half(members: pl.DataFrame, groups: pl.DataFrame, sizes: pl.DataFrame) -> pl.DataFrame:
    """``cluster_id, group, infra_group``: per cluster, the group of ``groups`` (``_infra_groups``) holding the most
    of its members when that is at least half of them, and that group's whole size."""
    return (
        members.join(groups, on="account_id")
        .group_by("cluster_id", "group")
        .agg(pl.len().alias("inside"), pl.col("account_id").min().alias("first"))
        .join(sizes, on="cluster_id")
        .filter(2 * pl.col("inside") >= pl.col("n_accounts"))
        .sort("cluster_id", "inside", "first", descending=[False, True, False])
        .group_by("cluster_id", maintain_order=True)
        .first()
        .join(groups.group_by("group").agg(pl.len().cast(pl.Int64).alias("infra_group")), on="group")
        .select("cluster_id", "group", "infra_group")
    )


def tie_pairs(infrastructure: pl.DataFrame | None, identity: pl.DataFrame | None) -> pl.DataFrame | None:
    """``source, target``: the pairs that tie a farm's accounts other than by co-action (shared devices or
    addresses, one sign-up template), distinct and sorted; None when there are none. ``farm_facts`` and
    ``farm_carve`` number a cluster's tied groups from the same pairs, so their group ids agree."""
    tied = [frame.select("source", "target") for frame in (infrastructure, identity) if frame is not None and frame.height]
    return pl.concat(tied).unique().sort("source", "target") if tied else None


def _farms_inside(inside: pl.DataFrame) -> pl.DataFrame:
    """``account_id, group, cluster_id``: per cluster with two or more tied groups beyond household size, the members
    of all of them, as one group named by the lowest of their ids."""
    big = inside.filter(pl.len().over("cluster_id", "group") > HOUSEHOLD)
    several = big.filter(pl.col("group").n_unique().over("cluster_id") >= 2)
    return several.with_columns(pl.col("group").min().over("cluster_id"))


def _inside_groups(pairs: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """``account_id, group, cluster_id``: the groups of members linked by ``pairs`` inside their cluster."""
    return _infra_groups(pairs_inside(pairs, labels)).join(labels.filter(pl.col("cluster_id") >= 0), on="account_id")


GROUP_STRANDS = ("farm", "infrastructure", "identity")


def score_alone(farm: np.ndarray) -> np.ndarray:
    """The score of a tied group as a cluster of its own: every member tied (the infrastructure strand, whose
    cap identity shares) and ``farm``, its farm strand (``farm_strand``)."""
    return 1.0 - (1.0 - SCORE_CAPS["infrastructure"]) * (1.0 - SCORE_CAPS["farm"] * farm)


def farm_carve(
    labels: pl.DataFrame, scored: pl.DataFrame, farm: pl.DataFrame, ties: pl.DataFrame | None, *, threshold: float, wholes: WholeGroups | None = None
) -> pl.DataFrame:
    """``labels`` with each farm that carries its cluster's flag made a cluster of its own.

    HDBSCAN may file a farm with organic accounts it co-acts with: in
    cascade/subtle seed 1 a cluster of 144 held 58 accounts of one operator, 52 of
    them tied by shared addresses and one sign-up template, and 86 organic
    accounts. The group's ``farm`` strand (its own objects: 18 where chance gives
    2) is evidence about the group, not about the accounts around it, and so are
    the ``infrastructure`` and ``identity`` strands, the shares of members that
    the group's ties reach (``GROUP_STRANDS``). So where a cluster scores below
    ``threshold`` without those strands, its members in the group the farm strand
    read (``farm_facts``' reading: the tied group inside, or the whole group of
    ``wholes``, ``whole_groups``), short of the whole cluster, are split off when
    they would be flagged alone (a cluster of just the group, all tied, with that
    strand), and both parts are judged on their own. Splitting only groups that
    were a minority of their cluster left a 30-of-40 group carrying 12 organic
    members (cascade/subtle seed 2); judging the 10 organic accounts filed with 13
    of a sign-up batch by the whole batch's objects flagged them (cascade/crowded
    seed 2); counting the group's shares of tied members as the cluster's own
    evidence left 25 accounts of one operator carrying 18 organic ones they
    co-share popular posts with (cascade/plain seed 5).

    The co-action strands are read here with the cluster's ``broad_exclusivity``,
    over all its co-acted objects, where the score reads its main objects
    (``detector.exclusivity``): the question is whether every member's co-action
    holds the cluster up, and organic accounts filed with a farm act on objects of
    their own (15 accounts of one operator behind shared addresses carried 14
    accounts that co-share viral posts with them, many_small seed 0, when this
    read the main objects). A cluster flagged on the rest of its evidence stands
    on it, and splitting it would only cut an operator in two
    (``both_flagged_rejoined`` puts back a split whose halves are both flagged).
    New ids follow the largest one in use, in the order of each group's cluster
    and smallest account.
    """
    if ties is None or farm.is_empty():
        return labels
    # The strands that speak about the tied group, not the accounts around it: its farm, and the shares of
    # members on shared devices or addresses or one sign-up template. The others, over all co-acted objects.
    broad = pl.when(pl.col("exclusivity") > 0).then(pl.col("broad_exclusivity") / pl.col("exclusivity")).otherwise(0.0)
    without_group = noisy_or({name: pl.col(name) * (broad if name in EXCLUSIVE_STRANDS else 1.0) for name in STRANDS if name not in GROUP_STRANDS})
    leaning = scored.filter(without_group < threshold).select("cluster_id", "n_accounts")
    farm = farm.join(leaning, on="cluster_id")
    alone = score_alone(farm_strand(farm["infra_group"].to_numpy(), farm["own_objects"].to_numpy(), farm["expected_own"].to_numpy()))
    carrying = farm.filter(pl.Series(alone >= threshold)).select("cluster_id", "reading", "group", "n_accounts")
    if carrying.is_empty():
        return labels
    members = labels.filter(pl.col("cluster_id") >= 0)
    inside = _inside_groups(ties, labels)
    in_groups = [inside.with_columns(pl.lit("inside").alias("reading")), _farms_inside(inside).with_columns(pl.lit("farms").alias("reading"))]
    in_groups += [members.join(groups, on="account_id").with_columns(pl.lit(reading).alias("reading")) for reading, groups in (wholes.members if wholes else {}).items()]
    carved = (
        pl.concat([frame.select("account_id", "cluster_id", "reading", "group") for frame in in_groups])
        .join(carrying, on=["cluster_id", "reading", "group"])
        .filter(pl.len().over("cluster_id") < pl.col("n_accounts"))
    )
    if carved.is_empty():
        return labels
    start = int(labels["cluster_id"].max()) + 1
    ids = (
        carved.group_by("cluster_id")
        .agg(pl.col("account_id").min().alias("first"))
        .sort("cluster_id", "first")
        .with_row_index("new")
        .select("cluster_id", (pl.col("new").cast(pl.Int64) + start).alias("_carved"))
    )
    moved = carved.join(ids, on="cluster_id").select("account_id", "_carved")
    return labels.join(moved, on="account_id", how="left").select("account_id", pl.coalesce("_carved", "cluster_id").alias("cluster_id"))


def scattered_farms(labels: pl.DataFrame, scored: pl.DataFrame, wholes: WholeGroups, config: Config) -> pl.DataFrame:
    """``labels`` with the unflagged accounts of each farm that the clusters scatter gathered in one cluster.

    ``farm_facts`` reads a whole group (``wholes``: all accounts behind shared
    devices or addresses, or of one sign-up batch) only for a cluster the group
    holds half of. A farm whose members' everyday activity files each of them
    with a different crowd is never read: in cascade/subtle seed 1 a 22-account
    batch sat in 8 organic clusters and 14 noise, none of it flagged, owning 41
    objects where chance gives 0.7. Here every whole group beyond a household's
    size is judged alone, as ``farm_carve`` judges a group split off its cluster
    (every member tied, with the group's ``farm`` strand); one that would be
    flagged alone is a farm, and its members outside flagged clusters join the
    flagged cluster holding most of its members, or, when none is, form a
    cluster of their own (at least ``cluster.min_cluster_size`` of them). An
    account in two such farms goes with the one judged stronger. Accounts in
    flagged clusters stay where they are: they are flagged on their cluster's
    evidence already, and moving them would only split what it found.
    """
    judged = wholes.owned.sort("reading", "group").with_row_index("key").with_columns(pl.col("key").cast(pl.Int64))
    alone = score_alone(farm_strand(judged["size"].to_numpy(), judged["own_objects"].to_numpy(), judged["expected_own"].to_numpy()))
    farms = judged.with_columns(pl.Series("alone", alone)).filter(pl.col("alone") >= config.score.threshold).select("reading", "group", "key", "alone")
    if farms.is_empty():
        return labels
    groups = pl.concat([groups.with_columns(pl.lit(reading).alias("reading")) for reading, groups in wholes.members.items()])
    flagged = scored.filter("flagged")["cluster_id"].implode()
    members = (
        groups.join(farms, on=["reading", "group"])
        .join(labels, on="account_id", how="left")
        .with_columns(pl.col("cluster_id").fill_null(-1))
        .with_columns(pl.col("cluster_id").is_in(flagged).alias("in_flagged"))
    )
    home = (
        members.filter("in_flagged")
        .group_by("key", "cluster_id")
        .agg(pl.len().alias("held"))
        .sort("key", "held", "cluster_id", descending=[False, True, False])
        .group_by("key", maintain_order=True)
        .first()
        .select("key", pl.col("cluster_id").alias("home"))
    )
    strays = (
        members.filter(~pl.col("in_flagged"))
        .sort("account_id", "alone", "key", descending=[False, True, False])
        .unique("account_id", keep="first", maintain_order=True)
        .join(home, on="key", how="left")
    )
    alone_farms = strays.filter(pl.col("home").is_null()).group_by("key").agg(pl.len().alias("n"))
    start = int(labels["cluster_id"].max()) + 1 if labels.height else 0
    new_ids = (
        alone_farms.filter(pl.col("n") >= config.cluster.min_cluster_size)
        .sort("key")
        .with_row_index("new")
        .select("key", (pl.col("new").cast(pl.Int64) + start).alias("new"))
    )
    moved = strays.join(new_ids, on="key", how="left").select("account_id", pl.coalesce("home", "new").alias("_gathered")).drop_nulls()
    if moved.is_empty():
        return labels
    return (
        pl.concat([labels, moved.select("account_id", pl.lit(-1, dtype=pl.Int64).alias("cluster_id"))])
        .unique("account_id", keep="first", maintain_order=True)
        .join(moved, on="account_id", how="left")
        .select("account_id", pl.coalesce("_gathered", "cluster_id").alias("cluster_id"))
        .sort("account_id")
    )


def both_flagged_rejoined(before: pl.DataFrame, carved: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """``carved`` with each group ``farm_carve`` split off put back where the rest of its cluster is flagged too.

    The carve keeps a farm's strand from flagging the accounts filed with it; when
    those accounts are flagged on their own evidence as well, both halves are the
    operator's (viral_noise seed 1: 23 tied accounts and 19 more of one operator),
    and splitting them would only report it twice.
    """
    moved = before.join(carved.rename({"cluster_id": "carved"}), on="account_id").filter(pl.col("cluster_id") != pl.col("carved"))
    flagged = scored.filter("flagged")["cluster_id"].implode()
    back = moved.filter(pl.col("cluster_id").is_in(flagged) & pl.col("carved").is_in(flagged)).select("account_id", pl.col("cluster_id").alias("_back"))
    return carved.join(back, on="account_id", how="left").select("account_id", pl.coalesce("_back", "cluster_id").alias("cluster_id"))


def farm_parts(scored: pl.DataFrame, farm: pl.DataFrame, labels: pl.DataFrame, ties: pl.DataFrame | None) -> pl.DataFrame:
    """``cluster_id, farm_cluster``: flagged clusters that are parts of one farm, each mapped to the first of its farm.

    HDBSCAN may cut one farm into many clusters (60 for a 2,000-account device
    farm); the parts flagged on the whole farm's evidence (``farm_facts``' reading
    ``everywhere``) are one operator's, so the outputs report them as one
    cluster. Two parts join when the pairs tying them (shared devices or
    addresses, one sign-up template) are at least half as many as the smaller
    part's members: one household address that two operators' accounts happen to
    share connects their groups, but is no reason to call them one farm. Only
    the ``everywhere`` reading joins parts: two operators' sign-up batches named
    from one shape at the same time are one ``batch`` group (in the cascade
    worlds, plain seed 1 and crowded seeds 0 and 2 each had two operators joined
    that way), which is evidence that both are farms but not that they are one.
    Clusters joined to none are not listed.
    """
    schema = {"cluster_id": pl.Int64(), "farm_cluster": pl.Int64()}
    judged = scored.filter("flagged").select("cluster_id", "n_accounts").join(farm.filter(pl.col("reading") == "everywhere").select("cluster_id", "group"), on="cluster_id")
    judged = judged.filter(pl.len().over("group") > 1)
    if ties is None or judged.is_empty():
        return pl.DataFrame(schema=schema)
    parts = labels.join(judged.select("cluster_id"), on="cluster_id")
    across = (
        ties.join(parts.rename({"account_id": "source"}), on="source")
        .join(parts.rename({"account_id": "target", "cluster_id": "other"}), on="target")
        .filter(pl.col("cluster_id") != pl.col("other"))
        .select(pl.min_horizontal("cluster_id", "other").alias("a"), pl.max_horizontal("cluster_id", "other").alias("b"))
        .group_by("a", "b")
        .agg(pl.len().alias("ties"))
        .join(judged.select(pl.col("cluster_id").alias("a"), pl.col("n_accounts").alias("n_a"), pl.col("group").alias("group_a")), on="a")
        .join(judged.select(pl.col("cluster_id").alias("b"), pl.col("n_accounts").alias("n_b"), pl.col("group").alias("group_b")), on="b")
        .filter((pl.col("group_a") == pl.col("group_b")) & (2 * pl.col("ties") >= pl.min_horizontal("n_a", "n_b")))
    )
    if across.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        _infra_groups(across.select(pl.col("a").alias("source"), pl.col("b").alias("target")))
        .select(pl.col("account_id").alias("cluster_id"), pl.col("account_id").min().over("group").alias("farm_cluster"))
        .sort("cluster_id")
        .cast(schema)
    )


def farm_rim(labels: pl.DataFrame, fused: pl.DataFrame, farms: pl.Series, *, share: float) -> pl.DataFrame:
    """``labels`` with each noise account linked to as much of a joined farm as its members are given to that farm.

    A farm cut into parts leaves accounts between the parts that HDBSCAN called
    noise: in ``large_operator`` seed 1, 257 of a 2,000-account farm were linked to
    50 to 1,600 of its members, and no organic account to more than 25 (the
    typical member: 250). Such an account passes the test each member passes to
    stay (``detector.cluster``'s trim: linked to at least ``share`` times the median
    member's share of the cluster), so it is a member by the same reading.
    Among farms tied at the best share, the lowest id wins.
    """
    members = labels.filter(pl.col("cluster_id").is_in(farms.implode()))
    if members.is_empty():
        return labels
    into = _links_into(fused, members)
    typical = (
        into.join(members.rename({"account_id": "source"}), on=["source", "cluster_id"])
        .group_by("cluster_id")
        .agg((pl.col("links") / (pl.col("n_accounts") - 1)).median().alias("typical"))
    )
    noise = labels.filter(pl.col("cluster_id") < 0).select(pl.col("account_id").alias("source"))
    rim = (
        into.join(noise, on="source")
        .join(typical, on="cluster_id")
        .with_columns((pl.col("links") / pl.col("n_accounts")).alias("ratio"))
        .filter(pl.col("ratio") >= share * pl.col("typical"))
        .sort("source", "ratio", "cluster_id", descending=[False, True, False])
        .group_by("source", maintain_order=True)
        .first()
        .select(pl.col("source").alias("account_id"), pl.col("cluster_id").alias("_farm"))
    )
    return labels.join(rim, on="account_id", how="left").select("account_id", pl.coalesce("_farm", "cluster_id").alias("cluster_id"))



def tied_to_most(ties: pl.DataFrame, labels: pl.DataFrame, clusters: list[int], *, share: float = 0.5, at_least: int = 3) -> pl.DataFrame:
    """``account_id`` of the members of ``clusters`` that ``ties`` (``tie_pairs``) link directly to at least
    ``share`` of their cluster's other members, and to at least ``at_least`` of them.

    The member check drops an account pulled into a flagged cluster by a few
    links. An account on the same devices, addresses or sign-up template as most
    of the cluster was not pulled in; it is one of the farm's quieter accounts
    (6 of simulated `baseline` seed 0's dropped members were tied to all 78 of
    their cluster's members; keeping such members changed no precision on the 30
    worlds of the sweep, seeds 0-2 or 3-5). ``at_least`` keeps a household beside a
    small cluster out.
    """
    chosen = labels.filter(pl.col("cluster_id").is_in(clusters))
    return (
        _links_into(ties, chosen)
        .join(chosen.rename({"account_id": "source"}), on=["source", "cluster_id"])  # ties to its own cluster
        .filter((pl.col("links") >= share * (pl.col("n_accounts") - 1)) & (pl.col("links") >= at_least))
        .select(pl.col("source").alias("account_id"))
        .sort("account_id")
    )


def _links_into(pairs: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """``source, cluster_id, links, n_accounts``: each account's ``pairs`` (either direction) to the members of each cluster of ``members``, and that cluster's size."""
    both = pl.concat([pairs.select("source", "target"), pairs.select(pl.col("target").alias("source"), pl.col("source").alias("target"))])
    return (
        both.join(members.rename({"account_id": "target"}), on="target")
        .group_by("source", "cluster_id")
        .agg(pl.len().alias("links"))
        .join(members.group_by("cluster_id").agg(pl.len().alias("n_accounts")), on="cluster_id")
    )

def _infra_groups(pairs: pl.DataFrame) -> pl.DataFrame:
    """``account_id, group``: the connected groups of the accounts in ``pairs`` (``source``, ``target``)."""
    if pairs.is_empty():
        return pl.DataFrame(schema={"account_id": pl.String(), "group": pl.Int64()})
    names, coded = index_pairs(pairs)
    n = len(names)
    graph = sp.coo_matrix((np.ones(coded.height), (coded["i"].to_numpy(), coded["j"].to_numpy())), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    return pl.DataFrame({"account_id": names, "group": pl.Series(component, dtype=pl.Int64)})
