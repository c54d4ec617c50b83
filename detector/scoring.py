"""Cluster scores in [0, 1] and the evidence an analyst reads.

A cluster's score combines independent strands of evidence that one operator
runs its accounts, each strand a number in [0, 1]:

- ``coaction``: how much the members co-act on objects of their own: the
  co-action evidence per member (summed over its links inside the cluster,
  saturating at ``MEMBER_EVIDENCE_SCALE``), times the cluster's exclusivity (the
  share of the actors on its co-acted objects who are members, a post's actors
  being its whole audience: ``detector.exclusivity``), times how
  strongly the typical co-acting pair is tied (mean co-action strength of the
  linked member pairs, as a share of ``TIE_SCALE``, at most 1). The last factor
  keeps a crowd from adding up to an operator: a fandom captured whole is
  exclusive to its show's hashtag and its members meet each other often, but
  each pair only weakly (mean tie 0.76 for a 97-account fandom, against 1.2-6.7
  for the operators' clusters near the threshold). A pair's hashtag link counts
  at ``TIE_SIGNAL_WEIGHTS['hashtag']`` of its strength in the tie (only there:
  clustering and the pair test see it whole). Posting a tag within minutes of
  strangers who post it too is what a tag is for (a show, a match, a protest
  followed live), where strangers co-share one post or article within minutes
  only when it spreads widely, which the rarity weights see. A fandom's members
  are linked by little else, so its tie falls; an operator's pairs also meet on
  posts, links, texts or addresses, and keep theirs;
- ``agreement``: the share of linked member pairs that several signals link;
- ``identity``: the share of members created within a day of another member
  with the same handle template (name plus digits and the like), or in a
  sign-up run with other members whatever their names: created within a day
  of at least two others far more often than accounts drawn from the whole
  population would be (``features.cohorts.sign_up_runs``);
- ``infrastructure``: the share of members sharing a device or address with
  another member (outside household-sized addresses);
- ``copy``: the share of members posting near-duplicate texts with another member;
- ``farm``: many members behind shared infrastructure or one sign-up template
  that also act together. The size of the largest group of members linked
  through shared devices or addresses or a handle template burst
  (``features.cohorts``), or of several such groups together, or of the whole
  group a cluster is part of (``detector.farms.farm_facts`` reads each), beyond
  household size (``1 - exp(-(g - HOUSEHOLD) / FARM_SCALE)``),
  times how far that group's own objects are beyond chance: the Poisson tail
  ``p = P(Poisson(expected) >= own)`` as evidence ``-log10 p``, saturating
  (``1 - exp(-(-log10 p) / FARM_EVIDENCE_SCALE)``, 63% at the 1% level;
  ``features.groups.own_objects_beyond_chance``: objects over the whole period of
  which the group's accounts are most of the actors, against the count unrelated
  accounts of the same activity would reach). A hashtag farm owns few objects (its
  two or three campaign tags), so the count of its own objects per account, used
  before, missed it: 40 accounts behind shared addresses owning 3 tags where 0.65
  are expected is p = 0.03. Thirty
  accounts behind one proxy that keep pushing the same tags are a farm even when
  no member pair meets often enough for the pair test; a household is too small
  to count, and strangers behind a carrier NAT or campus network own no objects
  beyond chance, so their ``farm`` stays near 0.

They are combined by a noisy-OR, ``1 - prod(1 - cap_k * strand_k)``: every strand
can only raise the score, none alone reaches certainty, and agreeing strands
compound. The caps (``SCORE_CAPS``) set how far one strand can go alone:
co-action alone can flag a group; identity or shared infrastructure alone cannot
(households and sign-up waves exist), but they confirm co-action. ``farm`` needs
both shared infrastructure and objects the members own beyond chance, so with the
infrastructure strand it can flag a large ring the pair test barely links, but
a crowd behind one address that does not act together cannot reach the threshold. A cluster is
flagged when its score reaches ``score.threshold``. Read the score as "strength
of evidence for one operator", not as a calibrated probability.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
from scipy.stats import poisson

from detector.cluster import pairs_inside

SCORE_CAPS = {"coaction": 0.85, "agreement": 0.5, "identity": 0.35, "infrastructure": 0.35, "copy": 0.35, "farm": 0.5}
STRANDS = tuple(SCORE_CAPS)
# Member evidence (summed link strength per member) at which the co-action strand reaches 63% of its exclusivity.
MEMBER_EVIDENCE_SCALE = 4.0
# Mean co-action strength of a cluster's linked pairs (saturated per signal) at which the co-action strand
# counts in full: about one signal's strong link; weaker ties scale it down proportionally.
TIE_SCALE = 1.0
# Share of a pair's link strength in a signal that counts in its tie (signals not named count in full).
# The two fandoms flagged on their tags in the quality worlds (.56 and .59) fall to .34 and .36 at
# 0.6; at 0.8 a third (of the simulator before its popularity fix) stays flagged at .53. Clusters
# of hashtag pushers linked by nothing else lose as much (see the README's known gaps).
TIE_SIGNAL_WEIGHTS = {"hashtag": 0.6}
# Members sharing infrastructure up to this many are a household's worth: no farm evidence.
HOUSEHOLD = 4
# Members beyond HOUSEHOLD at which the farm strand's size factor reaches 63%: a group of
# two households' size counts at 63%, three at 86%. The size factor only gates the group's
# own objects beyond chance, which households and strangers behind one network lack; 8
# left 7-11 account proxy rings owning a dozen objects where chance gives 0.01 unflagged.
FARM_SCALE = 4.0
# Decades of Poisson evidence (-log10 p) for a group's own objects beyond chance at which
# the farm strand's second factor reaches 63%: 2 is the 1% level.
FARM_EVIDENCE_SCALE = 2.0
FARM_FACTS: dict[str, pl.DataType] = {
    "cluster_id": pl.Int64(),
    "infra_group": pl.Int64(),
    "own_objects": pl.Int64(),
    "expected_own": pl.Float64(),
    # Which group: ``inside`` the cluster, or the whole group by shared infrastructure (``everywhere``) or by
    # one sign-up batch (``batch``) that holds at least half of the members (``detector.farms.farm_facts``).
    "reading": pl.String(),
}
# The strands ``cluster_facts`` multiplies by the cluster's exclusivity (``farm_carve`` rescales them to its broad share).
EXCLUSIVE_STRANDS = ("coaction", "agreement", "copy")
# Pair evidence that is not co-action on shared objects: agreement counts only co-action signals.
NOT_COACTION = ["device", "identity", "ip"]
CLUSTER_FACTS: dict[str, pl.DataType] = {
    "cluster_id": pl.Int64(),
    "n_accounts": pl.Int64(),
    "linked_pairs": pl.Int64(),
    "density": pl.Float64(),
    "member_evidence": pl.Float64(),
    "mean_strength": pl.Float64(),
    "tie": pl.Float64(),
    "rarity": pl.Float64(),
    "exclusivity": pl.Float64(),
    # The share over all the co-acted objects, not only the main ones (``detector.exclusivity``).
    "broad_exclusivity": pl.Float64(),
    "infra_group": pl.Int64(),
    "own_objects": pl.Int64(),
    "expected_own": pl.Float64(),
    "reading": pl.String(),
    **{strand: pl.Float64() for strand in STRANDS},
}


def tie_strength(signal: pl.Expr, strength: pl.Expr) -> pl.Expr:
    """A pair's link ``strength`` in ``signal`` as it counts in the cluster's tie (``TIE_SIGNAL_WEIGHTS``)."""
    return strength * signal.replace_strict(TIE_SIGNAL_WEIGHTS, default=1.0, return_dtype=pl.Float64)


def noisy_or(strands: dict[str, pl.Expr]) -> pl.Expr:
    """``1 - prod(1 - cap * strand)`` over the strands, clipped to [0, 1]."""
    remaining = pl.lit(1.0)
    for name, value in strands.items():
        remaining = remaining * (1.0 - SCORE_CAPS[name] * value.clip(0.0, 1.0))
    return (1.0 - remaining).clip(0.0, 1.0)


def cluster_facts(
    labels: pl.DataFrame,
    fused: pl.DataFrame,
    pair_coaction: pl.DataFrame,
    member_flags: pl.DataFrame,
    exclusivity: pl.DataFrame,
    farm: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per cluster with its size, density, strength and every strand.

    ``pair_coaction``: ``source, target, rarity, coaction_strength, tie`` (mean rarity of
    the objects each linked pair co-acted on, its summed rarity-weighted
    co-action over the significant signals, and its fused strength over them); ``member_flags``: ``account_id, identity,
    infrastructure, copy`` (1.0 when the account shares that trait with another
    member of its cluster, else 0.0); ``farm`` (``FARM_FACTS``): per cluster the
    largest group of members linked through shared infrastructure and its own
    objects against chance (missing clusters: none).
    """
    if farm is None:
        farm = pl.DataFrame(schema=FARM_FACTS)
    members = labels.filter(pl.col("cluster_id") >= 0)
    sizes = members.group_by("cluster_id").agg(pl.len().cast(pl.Int64).alias("n_accounts"))
    inside = pairs_inside(fused, labels).join(pair_coaction, on=["source", "target"], how="left")
    links = inside.group_by("cluster_id").agg(
        pl.len().cast(pl.Int64).alias("linked_pairs"),
        pl.col("strength").mean().alias("mean_strength"),
        pl.col("rarity").mean().fill_null(0.0).alias("rarity"),
        pl.col("coaction_strength").fill_null(0.0).sum().alias("coaction_total"),
        pl.col("tie").mean().alias("tie"),
        (pl.col("signals").list.set_difference(pl.lit(NOT_COACTION)).list.len() >= 2).mean().alias("agreement"),
    )
    traits = members.join(member_flags, on="account_id", how="left").group_by("cluster_id").agg(
        pl.col(name).fill_null(0.0).mean().alias(name) for name in ("identity", "infrastructure", "copy")
    )
    facts = (
        sizes.join(links, on="cluster_id", how="left")
        .join(traits, on="cluster_id", how="left")
        .join(exclusivity, on="cluster_id", how="left")
        .join(farm.select(list(FARM_FACTS)).cast(FARM_FACTS), on="cluster_id", how="left")
        .with_columns(
            pl.col("infra_group").fill_null(0),
            pl.col("own_objects").fill_null(0),
            pl.col("expected_own").fill_null(0.0),
            pl.col("exclusivity").fill_null(0.0),
            pl.col("broad_exclusivity").fill_null(0.0),
            pl.col("linked_pairs").fill_null(0),
            pl.col("mean_strength").fill_null(0.0),
            pl.col("rarity").fill_null(0.0),
            pl.col("agreement").fill_null(0.0),
            pl.col("coaction_total").fill_null(0.0),
            pl.col("tie").fill_null(0.0),
        )
        .with_columns(
            (pl.col("linked_pairs") / (pl.col("n_accounts") * (pl.col("n_accounts") - 1) / 2)).alias("density"),
        )
        .pipe(_with_farm)
        .with_columns(
            # Co-action evidence per member: the summed co-action strength of its links inside
            # the cluster, on average (shared infrastructure and identity have strands of their own).
            (2.0 * pl.col("coaction_total") / pl.col("n_accounts")).alias("member_evidence"),
        )
        .with_columns(
            (
                (1.0 - (-pl.col("member_evidence") / MEMBER_EVIDENCE_SCALE).exp())
                * pl.col("exclusivity")
                * (pl.col("tie") / TIE_SCALE).clip(upper_bound=1.0)
            ).alias("coaction"),
            # Agreeing signals and copied texts count as far as the shared objects are the group's own.
            (pl.col("agreement") * pl.col("exclusivity")).alias("agreement"),
            (pl.col("copy") * pl.col("exclusivity")).alias("copy"),
            pl.col("_farm").alias("farm"),
        )
    )
    return facts.select(list(CLUSTER_FACTS)).sort("cluster_id").cast(CLUSTER_FACTS)


def farm_strand(infra_group: np.ndarray, own_objects: np.ndarray, expected_own: np.ndarray) -> np.ndarray:
    """The ``farm`` strand of groups of ``infra_group`` accounts owning ``own_objects`` where chance gives ``expected_own``."""
    size = 1.0 - np.exp(-np.clip(np.asarray(infra_group, dtype=np.float64) - HOUSEHOLD, 0.0, None) / FARM_SCALE)
    return size * _own_factor(np.asarray(own_objects, dtype=np.float64), np.asarray(expected_own, dtype=np.float64))


def _own_factor(own: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``1 - exp(-(-log10 p) / FARM_EVIDENCE_SCALE)`` for ``p = P(Poisson(expected) >= own)``; 0 when ``own <= expected``."""
    tail = poisson.sf(own - 1.0, np.maximum(expected, 1e-12))
    decades = -np.log10(np.clip(tail, 1e-300, 1.0))
    return np.where(own > expected, 1.0 - np.exp(-decades / FARM_EVIDENCE_SCALE), 0.0)


def _with_farm(facts: pl.DataFrame) -> pl.DataFrame:
    """Add ``_farm``, the ``farm`` strand (``farm_strand``) of each cluster's infrastructure group."""
    strand = farm_strand(facts["infra_group"].to_numpy(), facts["own_objects"].to_numpy(), facts["expected_own"].to_numpy())
    return facts.with_columns(pl.Series("_farm", strand, dtype=pl.Float64))


SCORE_DECIMALS = 6


def score_clusters(facts: pl.DataFrame, *, threshold: float) -> pl.DataFrame:
    """Add ``score`` (noisy-OR of the strands, rounded to ``SCORE_DECIMALS``) and ``flagged`` (score >= threshold).

    Rounded because the strands are float sums over frames whose row order polars
    does not fix: the same input could otherwise give scores that differ in the
    last bit, and a flag exactly at the threshold could flip between runs.
    """
    score = noisy_or({name: pl.col(name) for name in STRANDS}).round(SCORE_DECIMALS)
    return facts.with_columns(score.alias("score")).with_columns((pl.col("score") >= threshold).alias("flagged"))


def describe_gap(seconds: float | None) -> str:
    """Human form of a time gap: '14 s', '3.5 min', '2.1 h'."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "n/a"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
