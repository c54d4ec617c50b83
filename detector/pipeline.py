"""The detector end to end: pair evidence -> fusion -> HDBSCAN -> scores -> tables.

Stages (each timed into ``Detection.timings``):

1. ``coaction``: for every signal the events carry (share, reply, quote, url,
   domain, hashtag, like, follow, other actions, and ``copy``: texts folded into
   their near-duplicate families by MinHash LSH, so copy-paste with small edits
   is one object), the co-action network within ``detector.window_s`` with its
   per-object evidence, reduced to the pairs that are significant under the
   popularity-controlled null model (``features.significance``). ``url`` and
   ``domain`` are two readings of the same links, so a pair keeps only its
   stronger one (``one_reading_per_pair``).
2. ``infrastructure``: account pairs sharing a device or an address that at
   most ``detector.max_accounts_per_address`` accounts use.
3. ``identity``: account pairs with the same handle template (stem plus at
   least two trailing digits, or one handle shape in a sign-up burst:
   ``features.cohorts``) created within ``detector.cohort_s`` of each other
   (needs the accounts table).
4. ``cluster``: fuse the pair evidence and cluster with HDBSCAN
   (``detector.cluster``).
5. ``score``: per-cluster facts, strands, noisy-OR score and evidence
   (``detector.scoring``, ``detector.evidence``; the ``farm`` strand's facts,
   the largest group of members behind shared infrastructure and its own
   objects against chance, come from ``farm_facts``; a farm that carries a
   cluster's flag is split off the accounts around it, ``farm_carve``, and
   flagged parts of one farm are joined into one cluster with its rim,
   ``farm_parts`` and ``farm_rim``, and a farm the clusters scatter, judged
   alone, is gathered, ``scattered_farms``, each followed by scoring again);
   then the group test
   (``features.groups``) gives each flagged cluster the outside accounts that act
   on its own objects far beyond chance, up to ``detector.group_rounds`` times,
   and one row per input account is written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from detector.cluster import PAIR_EVIDENCE, fuse, index_pairs, pairs_inside
from detector.config import Config
from detector.progress import Report, silent
from detector.evidence import account_evidence, cluster_evidence
from detector.exclusivity import POST_REACTIONS, audience_actors, cluster_exclusivity, coacted_objects
from detector.scoring import EXCLUSIVE_STRANDS, FARM_FACTS, HOUSEHOLD, NOT_COACTION, SCORE_CAPS, STRANDS, cluster_facts, farm_strand, noisy_or, score_clusters
from detector.engines import POLARS, Engine
from features.coaction import signal_events, signal_names
from features.cohorts import template_burst_pairs
from features.content import near_duplicate_groups
from features.normalize import normalize_text
from features.infra import shared_infrastructure_pairs
from features.groups import INCIDENCES, JOINS, MEMBERS, group_joins, group_members, on_objects, own_objects_beyond_chance

log = logging.getLogger(__name__)

ACCOUNTS_OUT: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "cluster_id": pl.Int64(),
    "score": pl.Float64(),
    "flagged": pl.Boolean(),
    "evidence": pl.String(),
}
CLUSTERS_OUT: dict[str, pl.DataType] = {
    "cluster_id": pl.Int64(),
    "n_accounts": pl.Int64(),
    "score": pl.Float64(),
    "flagged": pl.Boolean(),
    "evidence": pl.String(),
}
EDGES_OUT: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "weight": pl.Float64(),
    "signal": pl.String(),
}

OBJECTS_OUT: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "signal": pl.String(),
    "object": pl.String(),
    "object_accounts": pl.Int64(),
    "gap_s": pl.Float64(),
}


@dataclass
class Detection:
    """The three output tables plus what the run record needs."""

    accounts: pl.DataFrame
    clusters: pl.DataFrame
    edges: pl.DataFrame
    objects: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=OBJECTS_OUT))
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class _Evidence:
    """Pair evidence per source, before fusion."""

    coaction: list[pl.DataFrame] = field(default_factory=list)  # significance.EVIDENCE rows per signal
    objects: list[pl.DataFrame] = field(default_factory=list)  # the objects behind the significant pairs
    actors: list[pl.DataFrame] = field(default_factory=list)  # signal, object, account_id: who acted on those objects (a post: its audience)
    incidences: list[pl.DataFrame] = field(default_factory=list)  # signal, object, account_id: every account-object act
    pairs: list[pl.DataFrame] = field(default_factory=list)  # PAIR_EVIDENCE rows for fusion
    copy: pl.DataFrame | None = None
    infrastructure: pl.DataFrame | None = None
    identity: pl.DataFrame | None = None
    capped_events: int = 0
    report: Report = silent
    engine: Engine = POLARS  # where co-action runs (detector.engines)


def detect(
    events: pl.DataFrame,
    accounts: pl.DataFrame | None,
    config: Config,
    *,
    report: Report = silent,
    engine: Engine = POLARS,
) -> Detection:
    """Score ``events`` (canonical) and optional ``accounts``; see the module docstring.

    ``report`` hears each stage as it starts (``detector.progress``); ``engine``
    runs co-action and clustering (in-process by default, or on Spark:
    ``detector.engines``), with the same answer either way.
    """
    cfg = config.detector
    timings: dict[str, float] = {}
    evidence = _Evidence(report=report, engine=engine)

    def timed(stage: str, fn, *args):
        report(f"{stage}...")
        started = time.perf_counter()
        result = fn(*args)
        timings[stage] = round(time.perf_counter() - started, 3)
        log.info("%s: %.1f s", stage, timings[stage])
        return result

    timed("coaction", _coaction_evidence, events, config, evidence)
    timed("infrastructure", _infrastructure_evidence, events, config, evidence)
    timed("identity", _identity_evidence, accounts, config, evidence)
    fused = fuse(evidence.pairs, min_strength=cfg.min_pair_strength)
    labels = timed(
        "cluster",
        lambda: engine.cluster(
            fused,
            min_cluster_size=config.cluster.min_cluster_size,
            min_samples=config.cluster.min_samples,
            split_density=config.cluster.split_density,
            trim_share=config.cluster.trim_share,
            attach_share=config.cluster.attach_share,
            neighbourhood=config.cluster.neighbourhood_overlap,
        ),
    )
    detection = timed("score", _score, events, accounts, config, evidence, fused, labels)
    detection.timings = timings
    detection.counts["capped_events"] = evidence.capped_events
    return detection


# ------------------------------------------------------------------ evidence


COPY_SIGNAL = "copy"
# Signals that read the same acts (links by article and by site): a pair keeps only its strongest reading.
LINK_READINGS = ("url", "domain")


def _coaction_evidence(events: pl.DataFrame, config: Config, evidence: _Evidence) -> None:
    cfg = config.detector
    # Exact texts are folded into their near-duplicate family (the ``copy`` signal below).
    signals = [name for name in signal_names(events) if name != "text"]
    total = len(signals) + ("text" in events.columns)
    for number, signal in enumerate(signals, 1):
        evidence.report(f"co-action: {signal} ({number}/{total})")
        _add_signal(events, signal, config, evidence)
    evidence.coaction = one_reading_per_pair(evidence.coaction, LINK_READINGS, by="evidence")
    evidence.pairs = one_reading_per_pair(evidence.pairs, LINK_READINGS, by="strength")
    # Each post's audience, read once for the posts behind every post-reaction signal's links.
    posts = [frame.select("signal", "object").unique() for frame in evidence.objects if frame.height and frame["signal"][0] in POST_REACTIONS]
    if posts:
        evidence.actors.append(audience_actors(events, pl.concat(posts)))
    if "text" in events.columns:
        evidence.report(f"co-action: copied texts ({total}/{total})")
        copies = copy_events(events, min_text_chars=cfg.min_text_chars, threshold=cfg.near_duplicate_threshold)
        if copies.height:
            _add_signal(copies, COPY_SIGNAL, config, evidence)
            evidence.copy = evidence.coaction[-1]


def copy_events(events: pl.DataFrame, *, min_text_chars: int, threshold: float) -> pl.DataFrame:
    """Texts as co-action events on their near-duplicate family: ``action`` 'copy', ``target`` the family.

    Shares are left out (they copy their original; the share signal covers them),
    and texts shorter than ``min_text_chars`` after normalisation (too short to be
    a copy rather than a coincidence).
    """
    texts = events.filter((pl.col("action") != "share") & pl.col("text").is_not_null()).select(
        "account_id", "timestamp", normalize_text(pl.col("text")).alias("text")
    ).filter(pl.col("text").str.len_chars() >= min_text_chars)
    groups = near_duplicate_groups(texts["text"], threshold=threshold)
    return texts.join(groups, on="text", how="left").select(
        "account_id", "timestamp", pl.lit(COPY_SIGNAL).alias("action"), pl.col("group").alias("target")
    )


def _add_signal(events: pl.DataFrame, signal: str, config: Config, evidence: _Evidence) -> None:
    cfg, co = config.detector, config.coaction
    # coaction_network + significant_pairs + objects_behind without holding every pair (on either engine).
    found = evidence.engine.significant(
        events,
        signal=signal,
        window_s=cfg.window_s,
        max_object_accounts=cfg.max_object_accounts,
        min_objects=cfg.min_objects,
        fdr=cfg.fdr,
        min_lift=cfg.min_lift,
        max_actors_per_window=co.max_actors_per_window,
        pairs_per_chunk=co.pairs_per_chunk,
        normalize_urls=co.normalize_urls,
        tracking_params=co.tracking_params,
    )
    evidence.capped_events += found.capped_events
    significant = found.significant
    log.info("%s: %d pairs tested, %d significant", signal, found.pairs_tested, significant.height)
    evidence.coaction.append(significant)
    behind = found.objects.with_columns(pl.lit(signal).alias("signal"))
    evidence.objects.append(behind)
    _add_found(events, signal, config, evidence, significant, behind)


def _add_found(events: pl.DataFrame, signal: str, config: Config, evidence: _Evidence, significant: pl.DataFrame, behind: pl.DataFrame) -> None:
    co = config.coaction
    acts = (
        signal_events(events, signal, normalize_urls=co.normalize_urls, tracking_params=co.tracking_params)
        .select(pl.lit(signal).alias("signal"), "object", "account_id")
        .unique()
        .sort("object", "account_id")
        .collect()
    )
    # Who acted on the objects behind the links, for the clusters' exclusivity. A post's actors are its whole
    # audience instead, read for all post-reaction signals at once (``_coaction_evidence``).
    if signal not in POST_REACTIONS:
        evidence.actors.append(acts.join(behind.select("object").unique(), on="object", how="semi").select("object", "account_id", "signal"))
    # Held until the score stage (farm facts, group test) with categorical accounts and signals: four bytes an account, not sixteen.
    evidence.incidences.append(acts.with_columns(pl.col("account_id").cast(pl.Categorical), pl.col("signal").cast(pl.Categorical)))
    evidence.pairs.append(significant.select("source", "target", "signal", saturated(pl.col("evidence"), config.detector.coaction_strength_cap).alias("strength")))


def one_reading_per_pair(frames: list[pl.DataFrame], readings: tuple[str, ...], *, by: str) -> list[pl.DataFrame]:
    """``frames`` (one signal each) with the frames of ``readings`` merged so that each pair keeps only its row with the largest ``by``.

    ``url`` and ``domain`` read the same links, by article and by site: two
    accounts that post one URL within the window co-act on its site too. Kept
    as two signals, one act would count twice, in the fused strength and as two
    agreeing signals, and any pair that co-posts links would look like one
    linked several ways. The row kept names the reading that linked the pair.
    """
    chosen = [frame for frame in frames if frame.height and frame["signal"][0] in readings]
    if len(chosen) < 2:
        return frames
    merged = pl.concat(chosen).sort([by, "signal", "source", "target"], descending=[True, False, False, False])
    merged = merged.unique(["source", "target"], keep="first", maintain_order=True).sort("source", "target")
    return [frame for frame in frames if not (frame.height and frame["signal"][0] in readings)] + [merged]


def saturated(evidence: pl.Expr, cap: float) -> pl.Expr:
    """A co-action signal's link strength, ``cap * (1 - exp(-evidence / cap))``: about the evidence while small, never above ``cap``.

    Evidence grows with the number of co-acted objects. Organic accounts that
    follow the same hubs meet on dozens of popular posts and pass the pair test
    with large evidence in one signal; an operator's members meet on fewer
    objects but in several signals (its posts, links, tags, texts). Summed
    unsaturated, the crowd's single links outweigh the operator's, and HDBSCAN,
    which builds its hierarchy from each account's strongest links, files each
    member under the crowd it also reshares with. Saturated, agreement across
    signals outweighs volume within one.
    """
    return cap * (1.0 - (-evidence / cap).exp())


def _infrastructure_evidence(events: pl.DataFrame, config: Config, evidence: _Evidence) -> None:
    if not {"ip", "device_id"} & set(events.columns):
        return
    cfg = config.detector
    pairs = shared_infrastructure_pairs(
        events,
        max_accounts_per_address=cfg.max_accounts_per_address,
        max_accounts_per_device=cfg.max_accounts_per_device,
        pool_overlap=cfg.address_pool_overlap if cfg.address_pool_overlap > 0 else None,
    )
    evidence.infrastructure = pairs
    evidence.pairs.append(pairs.select("source", "target", "signal", pl.lit(config.detector.infrastructure_strength).alias("strength")))


def _identity_evidence(accounts: pl.DataFrame | None, config: Config, evidence: _Evidence) -> None:
    if accounts is None or not {"handle", "created_at"} <= set(accounts.columns):
        return
    cfg = config.detector
    pairs = identity_pairs(accounts, cohort_s=cfg.cohort_s, max_group=cfg.max_template_accounts, fdr=cfg.fdr)
    evidence.identity = pairs
    evidence.pairs.append(pairs.select("source", "target", pl.lit("identity").alias("signal"), pl.lit(config.detector.identity_strength).alias("strength")))


def identity_pairs(accounts: pl.DataFrame, *, cohort_s: int, max_group: int, fdr: float | None = None) -> pl.DataFrame:
    """Pairs with the same handle template created within ``cohort_s`` seconds.

    Two readings of a template: the same stem (lower-cased letters before at
    least two trailing digits; stems shared by more than ``max_group`` accounts,
    a platform's default "user12345" naming, are left out); and, with ``fdr``,
    the same handle shape in a sign-up burst far beyond the shape's share of the
    accounts created at the time (``features.cohorts``, Bonferroni at ``fdr`` over
    the accounts with a handle).
    """
    stems = _stem_pairs(accounts, cohort_s=cohort_s, max_group=max_group)
    if fdr is None:
        return stems
    shapes = template_burst_pairs(accounts, window_s=cohort_s, fdr=fdr, neighbours=max_group)
    return pl.concat([stems, shapes]).unique().sort("source", "target")


def _stem_pairs(accounts: pl.DataFrame, *, cohort_s: int, max_group: int) -> pl.DataFrame:
    """Pairs with the same stem and number of trailing digits, created within ``cohort_s`` seconds."""
    handle = pl.col("handle").str.strip_chars().str.to_lowercase()
    acc = (
        accounts.filter(pl.col("handle").is_not_null() & pl.col("created_at").is_not_null())
        .select(
            "account_id",
            handle.str.replace(r"\d+$", "").alias("stem"),
            handle.str.extract(r"(\d+)$", 1).str.len_chars().alias("digits"),
            pl.col("created_at").dt.epoch("s").alias("created"),
        )
        .filter((pl.col("digits") >= 2) & (pl.col("stem").str.len_chars() >= 2))
        .unique("account_id", keep="first")
        .filter(pl.len().over("stem", "digits") <= max_group)
    )
    if acc.is_empty():
        return pl.DataFrame(schema={"source": pl.String(), "target": pl.String()})
    pairs = (
        acc.join(acc, on=["stem", "digits"], suffix="_b")
        .filter((pl.col("account_id") < pl.col("account_id_b")) & ((pl.col("created") - pl.col("created_b")).abs() <= cohort_s))
        .select(pl.col("account_id").alias("source"), pl.col("account_id_b").alias("target"))
        .sort("source", "target")
    )
    return pairs


# ------------------------------------------------------------------ scoring


def _score(events, accounts, config, evidence: _Evidence, fused: pl.DataFrame, labels: pl.DataFrame) -> Detection:
    coaction = pl.concat(evidence.coaction) if evidence.coaction else pl.DataFrame(schema={"source": pl.String(), "target": pl.String(), "objects": pl.Int64(), "evidence": pl.Float64()})
    pair_coaction = coaction.group_by("source", "target").agg(
        (pl.col("evidence").sum() / pl.col("objects").sum()).alias("rarity"), pl.col("evidence").sum().alias("coaction_strength")
    )
    # The pair's fused strength over its co-action signals alone (saturated per signal, as HDBSCAN saw it).
    ties = [frame.filter(~pl.col("signal").is_in(NOT_COACTION)).select("source", "target", "strength") for frame in evidence.pairs if frame.height]
    if ties:
        tie = pl.concat(ties).group_by("source", "target").agg(pl.col("strength").sum().alias("tie"))
        pair_coaction = pair_coaction.join(tie, on=["source", "target"], how="left")
    else:
        pair_coaction = pair_coaction.with_columns(pl.lit(None, dtype=pl.Float64).alias("tie"))
    evidence.report("score: cluster facts")
    # Merged once here, with compact keys (``_compact_keys``): the farm facts and the group test read it. The
    # per-signal frames are let go (nothing after reads them, and they are as large as the merge); the merge
    # stays in ``evidence`` only, so the group test can let it go in turn.
    frames, evidence.incidences = [frame for frame in evidence.incidences if frame.height], []
    frames, hashed = _compact_keys(frames)
    evidence.incidences = [on_objects(pl.concat(frames)) if frames else pl.DataFrame(schema=INCIDENCES)]
    del frames

    ties = tie_pairs(evidence.infrastructure, evidence.identity)
    wholes = whole_groups(evidence.infrastructure, evidence.identity)

    def judge(labels: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        coacted = coacted_objects(labels, evidence.objects)
        farm = farm_facts(labels, ties, wholes, evidence.incidences[0], config)
        exclusivity = cluster_exclusivity(labels, coacted, evidence.actors)
        facts = cluster_facts(labels, fused, pair_coaction, _member_flags(labels, evidence), exclusivity, farm)
        return score_clusters(facts, threshold=config.score.threshold), farm, coacted

    def rejudge(before: pl.DataFrame, after: pl.DataFrame, judged: tuple[pl.DataFrame, ...]) -> tuple[pl.DataFrame, ...]:
        """``judge(after)``, recomputed only for the clusters whose members changed since ``before`` was judged."""
        moved = before.join(after, on="account_id", how="full", coalesce=True, suffix="_after").filter(
            pl.col("cluster_id").ne_missing(pl.col("cluster_id_after"))
        )
        changed = pl.concat([moved["cluster_id"], moved["cluster_id_after"]]).drop_nulls().unique()
        changed = changed.filter(changed >= 0).implode()
        fresh = judge(after.filter(pl.col("cluster_id").is_in(changed)))
        return tuple(
            pl.concat([old.filter(~pl.col("cluster_id").is_in(changed)), new]).sort("cluster_id", maintain_order=True)
            for old, new in zip(judged, fresh)
        )

    scored, farm, coacted = judge(labels)
    carved = farm_carve(labels, scored, farm, ties, threshold=config.score.threshold, wholes=wholes)
    if not carved.equals(labels):
        evidence.report("score: splitting farms off their clusters")
        split = carved
        scored, farm, coacted = rejudge(labels, split, (scored, farm, coacted))
        carved = both_flagged_rejoined(labels, split, scored)
        if not carved.equals(split):
            scored, farm, coacted = rejudge(split, carved, (scored, farm, coacted))
        labels = carved
    parts = farm_parts(scored, farm, labels, ties)
    if parts.height:
        evidence.report("score: joining the parts of each farm")
        joined = labels.join(parts, on="cluster_id", how="left").select("account_id", pl.coalesce("farm_cluster", "cluster_id").alias("cluster_id"))
        joined = farm_rim(joined, fused, parts["farm_cluster"].unique(), share=config.cluster.trim_share)
        scored, farm, coacted = rejudge(labels, joined, (scored, farm, coacted))
        labels = joined
    gathered = scattered_farms(labels, scored, wholes, evidence.incidences[0], config)
    n_gathered = gathered.join(labels, on="account_id", how="left", suffix="_before").filter(pl.col("cluster_id").ne_missing(pl.col("cluster_id_before"))).height
    if n_gathered:
        evidence.report("score: gathering scattered farms")
        scored, farm, coacted = rejudge(labels, gathered, (scored, farm, coacted))
        labels = gathered
    compact_coacted = _compact_coacted(coacted, hashed)
    evidence.report("score: group test")
    labels, joins, dropped = _expand(labels, scored, evidence, compact_coacted, config, ties)
    evidence.report("score: evidence and tables")
    sizes = labels.filter(pl.col("cluster_id") >= 0).group_by("cluster_id").agg(pl.len().cast(pl.Int64).alias("n_accounts"))
    scored = scored.drop("n_accounts").join(sizes, on="cluster_id")  # a cluster the group test emptied is gone
    cluster_text = cluster_evidence(scored, labels, evidence.objects, evidence.copy, evidence.infrastructure, evidence.identity)
    clusters = (
        scored.join(cluster_text, on="cluster_id", how="left")
        .select("cluster_id", "n_accounts", "score", "flagged", pl.col("evidence").fill_null(""))
        .sort("cluster_id")
        .cast(CLUSTERS_OUT)
    )
    all_accounts = _all_accounts(events, accounts)
    per_account = account_evidence(all_accounts, labels, clusters, fused, threshold=config.score.threshold, joins=joins, dropped=dropped)
    edges = (
        pl.concat([frame for frame in evidence.pairs if frame.height] or [pl.DataFrame(schema=PAIR_EVIDENCE)])
        .select("source", "target", pl.col("strength").alias("weight"), "signal")
        .sort("source", "target", "signal")
        .cast(EDGES_OUT)
    )
    counts = {
        "accounts": per_account.height,
        "clustered_accounts": int((per_account["cluster_id"] >= 0).sum()),
        "clusters": clusters.height,
        "flagged_clusters": int(clusters["flagged"].sum()),
        "flagged_accounts": int(per_account["flagged"].sum()),
        "edges": edges.height,
        "group_joined_accounts": joins.height,
        "group_dropped_members": dropped.height,
        "gathered_farm_accounts": n_gathered,
    }
    frames = [frame.select(list(OBJECTS_OUT)) for frame in evidence.objects if frame.height]
    objects = pl.concat(frames).sort("source", "target", "signal", "object").cast(OBJECTS_OUT) if frames else pl.DataFrame(schema=OBJECTS_OUT)
    return Detection(accounts=per_account.cast(ACCOUNTS_OUT), clusters=clusters, edges=edges, objects=objects, counts=counts)


def _expand(
    labels: pl.DataFrame, scored: pl.DataFrame, evidence: _Evidence, coacted: pl.DataFrame, config: Config, ties: pl.DataFrame | None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Labels after the group test has checked the flagged clusters' members and grown them; the joins; the members dropped.

    First every member of a flagged cluster that has own objects must act on them
    beyond chance (``features.groups.group_members`` at ``group_member_level``);
    one that does not becomes noise, unless shared devices, addresses or a sign-up
    template tie it to most of its cluster (``tied_to_most``): a farm's quiet
    account is not an organic account pulled in by a few links. Then each round
    tests every account outside the confident clusters against each one's own
    objects (``group_joins``); a round's joins enlarge the clusters (and so their
    objects) for the next. An account keeps the first cluster it joins.
    """
    cfg = config.detector
    flagged = scored.filter("flagged")["cluster_id"].to_list()
    # Only confident clusters grow: one flagged near the threshold may be a crowd of heavy users.
    groups = scored.filter(pl.col("flagged") & (pl.col("score") >= cfg.group_min_score))["cluster_id"].to_list()
    made = [pl.DataFrame(schema=JOINS)]
    # The merged, compact incidences (``_score`` leaves them in ``evidence.incidences``), let go of there:
    # this function is their last reader. ``coacted`` is keyed like them.
    incidences, evidence.incidences = evidence.incidences[0], []
    if not flagged or incidences.is_empty():
        return labels, made[0], pl.DataFrame(schema=MEMBERS)
    # The objects each cluster's members co-acted on (its seeds, links, tags), not everything they touched.
    coacted = coacted if cfg.group_coacted_only else None
    checked = pl.DataFrame(schema=MEMBERS)
    if cfg.group_member_level > 0:
        checked = group_members(
            incidences,
            _categorical_ids(labels),
            groups=flagged,
            max_object_accounts=cfg.max_object_accounts,
            min_lift=cfg.min_lift,
            level=cfg.group_member_level,
            fdr=cfg.fdr,
            min_objects=cfg.min_objects,
            min_share=cfg.group_min_share,
            coacted=coacted,
        )
        if ties is not None:
            tied = tied_to_most(ties, labels, flagged)["account_id"].implode()
            checked = checked.with_columns(pl.col("kept") | pl.col("account_id").is_in(tied))
        dropped = checked.filter(~pl.col("kept")).select("account_id")
        labels = labels.with_columns(
            pl.when(pl.col("account_id").is_in(dropped["account_id"].implode())).then(-1).otherwise(pl.col("cluster_id")).alias("cluster_id")
        )
    for _ in range(cfg.group_rounds if groups else 0):
        joins = group_joins(
            incidences,
            _categorical_ids(labels),
            groups=groups,
            max_object_accounts=cfg.max_object_accounts,
            min_objects=cfg.min_objects,
            fdr=cfg.fdr,
            min_lift=cfg.min_lift,
            min_share=cfg.group_min_share,
            coacted=coacted,
        )
        if joins.is_empty():
            break
        made.append(joins)
        labels = (
            pl.concat([labels, joins.select("account_id", pl.lit(-1, dtype=pl.Int64).alias("cluster_id"))])
            .unique("account_id", keep="first", maintain_order=True)
            .join(joins.select("account_id", pl.col("cluster_id").alias("_joined")), on="account_id", how="left")
            .select("account_id", pl.coalesce("_joined", "cluster_id").alias("cluster_id"))
            .sort("account_id")
        )
    dropped = checked.filter(~pl.col("kept")).join(labels.filter(pl.col("cluster_id") < 0), on="account_id", how="semi")
    return labels, pl.concat(made).sort("account_id"), dropped.sort("account_id")


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


OBJECT_HASH_SEED = 20_260_328


def _compact_keys(frames: list[pl.DataFrame]) -> tuple[list[pl.DataFrame], bool]:
    """The group test's objects as 64-bit hashes, when that is provably exact here; and whether they were hashed.

    The group test merges and joins the incidences (about 11M rows at 10M
    events); an object name (post id, URL, text family) is 16 bytes or more a
    row, its hash eight. Exact when the distinct hashes are as many as the
    distinct names (every co-acted object is one of the incidences'); otherwise
    the names are kept. Accounts and signals are categorical already
    (``_add_found``): they compare, sort and turn back into names like strings,
    so the test's answers do not change.
    """
    if not frames:
        return frames, False
    key = pl.col("object").hash(seed=OBJECT_HASH_SEED).alias("object")
    hashed = [frame.with_columns(key) for frame in frames]
    if pl.concat([frame.get_column("object") for frame in hashed]).n_unique() != pl.concat([frame.get_column("object") for frame in frames]).n_unique():
        log.info("object hash collision in the group test; comparing names instead")
        return frames, False
    return hashed, True


def _compact_coacted(coacted: pl.DataFrame, hashed: bool) -> pl.DataFrame | None:
    """``coacted`` keyed like ``_compact_keys``' incidences (categorical signals, objects hashed when they were)."""
    coacted = coacted.with_columns(pl.col("signal").cast(pl.Categorical))
    return coacted.with_columns(pl.col("object").hash(seed=OBJECT_HASH_SEED)) if hashed else coacted


def _categorical_ids(labels: pl.DataFrame) -> pl.DataFrame:
    """``labels`` keyed like ``_compact_keys``' incidences (categorical ``account_id``), for joining with them."""
    return labels.with_columns(pl.col("account_id").cast(pl.Categorical))


# ``FARM_FACTS`` (with the reading that gave them) and that reading's group.
FARM_READINGS: dict[str, pl.DataType] = {**FARM_FACTS, "group": pl.Int64()}


def farm_facts(
    labels: pl.DataFrame, ties: pl.DataFrame | None, wholes: dict[str, pl.DataFrame], incidences: pl.DataFrame, config: Config
) -> pl.DataFrame:
    """``FARM_FACTS`` per cluster with more than a household behind shared infrastructure (see ``detector.scoring``).

    ``ties`` (``tie_pairs``) and ``wholes`` (``whole_groups``) come from the shared devices, addresses and
    sign-up templates once per run: every scoring pass reads the same ones.

    Three readings of "the group behind the cluster's infrastructure", the one
    with the stronger ``farm`` strand kept (``reading``): the largest group of
    members linked through shared devices or addresses, or one sign-up template
    (``identity`` pairs), inside the cluster (pairs inside, transitively:
    ``inside``); and the whole group of all accounts linked through shared
    devices or addresses (``everywhere``), or through one sign-up batch's
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
    holding_half = pl.concat([_holding_half(members, groups, sizes).with_columns(pl.lit(reading).alias("reading")) for reading, groups in wholes.items()])
    # A whole group that is exactly the inside one (same size, holding it) would be counted twice for the same answer.
    same = pl.concat(
        [
            largest_inside.select("cluster_id", "infra_group", "first")
            .join(groups.rename({"account_id": "first"}), on="first")
            .select("cluster_id", "group", "infra_group", pl.lit(reading).alias("reading"))
            for reading, groups in wholes.items()
        ]
    )
    holding_half = holding_half.join(same, on=["cluster_id", "group", "infra_group", "reading"], how="anti")
    candidates = pl.concat(
        [
            largest_inside.select("cluster_id", "group", "infra_group", pl.lit("inside").alias("reading")),
            holding_half.select("cluster_id", "group", "infra_group", "reading"),
        ]
    ).filter(pl.col("infra_group") > HOUSEHOLD)
    if candidates.is_empty():
        return pl.DataFrame(schema=FARM_READINGS)
    # One key per distinct group (the parts of one farm share its whole group), counted once.
    keys = candidates.select("reading", "group").unique().sort("reading", "group").with_row_index("key").with_columns(pl.col("key").cast(pl.Int64))
    candidates = candidates.join(keys, on=["reading", "group"])
    accounts = pl.concat(
        [
            inside.select("account_id", "group").join(keys.filter(pl.col("reading") == "inside"), on="group").select("account_id", "key"),
            *(groups.join(keys.filter(pl.col("reading") == reading), on="group").select("account_id", "key") for reading, groups in wholes.items()),
        ]
    )
    own = _own_counts(accounts, incidences, config)
    scored = candidates.join(own, on="key", how="left").with_columns(pl.col("own_objects").fill_null(0), pl.col("expected_own").fill_null(0.0))
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


def _own_counts(accounts: pl.DataFrame, incidences: pl.DataFrame, config: Config) -> pl.DataFrame:
    """``key, own_objects, expected_own``: the own objects against chance (``own_objects_beyond_chance``, at the
    group test's settings) of each group of ``accounts`` (``account_id, key``; an account may be in several)."""
    cfg = config.detector
    return own_objects_beyond_chance(
        incidences, _categorical_ids(accounts.select("account_id", pl.col("key").alias("cluster_id"))), max_object_accounts=cfg.max_object_accounts,
        min_lift=cfg.min_lift, min_share=cfg.group_min_share,
    ).rename({"cluster_id": "key"})


def whole_groups(infrastructure: pl.DataFrame | None, identity: pl.DataFrame | None) -> dict[str, pl.DataFrame]:
    """The whole groups behind farms by each kind of tie alone, by reading: ``everywhere`` (shared devices or
    addresses) and ``batch`` (one sign-up batch's handle template); each ``account_id, group`` (``_infra_groups``).

    Kept apart, so one household address that a batch's account shares with its family does not make the family
    part of the batch (cascade/crowded seed 2)."""
    none = pl.DataFrame(schema={"source": pl.String(), "target": pl.String()})
    return {reading: _infra_groups(none if pairs is None else pairs.select("source", "target")) for reading, pairs in (("everywhere", infrastructure), ("batch", identity))}


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


def _inside_groups(pairs: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """``account_id, group, cluster_id``: the groups of members linked by ``pairs`` inside their cluster."""
    return _infra_groups(pairs_inside(pairs, labels)).join(labels.filter(pl.col("cluster_id") >= 0), on="account_id")


GROUP_STRANDS = ("farm", "infrastructure", "identity")


def score_alone(farm: np.ndarray) -> np.ndarray:
    """The score of a tied group as a cluster of its own: every member tied (the infrastructure strand, whose
    cap identity shares) and ``farm``, its farm strand (``farm_strand``)."""
    return 1.0 - (1.0 - SCORE_CAPS["infrastructure"]) * (1.0 - SCORE_CAPS["farm"] * farm)


def farm_carve(
    labels: pl.DataFrame, scored: pl.DataFrame, farm: pl.DataFrame, ties: pl.DataFrame | None, *, threshold: float, wholes: dict[str, pl.DataFrame] | None = None
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
    in_groups = [_inside_groups(ties, labels).with_columns(pl.lit("inside").alias("reading"))]
    in_groups += [members.join(groups, on="account_id").with_columns(pl.lit(reading).alias("reading")) for reading, groups in (wholes or {}).items()]
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


def scattered_farms(
    labels: pl.DataFrame, scored: pl.DataFrame, wholes: dict[str, pl.DataFrame], incidences: pl.DataFrame, config: Config
) -> pl.DataFrame:
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
    frames = [groups.select("account_id", "group", pl.lit(reading).alias("reading")) for reading, groups in wholes.items() if groups.height]
    if not frames or incidences.is_empty():
        return labels
    groups = pl.concat(frames).filter(pl.len().over("reading", "group") > HOUSEHOLD)
    if groups.is_empty():
        return labels
    keys = groups.select("reading", "group").unique().sort("reading", "group").with_row_index("key").with_columns(pl.col("key").cast(pl.Int64))
    groups = groups.join(keys, on=["reading", "group"])
    own = _own_counts(groups.select("account_id", "key"), incidences, config)
    judged = groups.group_by("key").agg(pl.len().cast(pl.Int64).alias("size")).join(own, on="key", how="left").sort("key")
    alone = score_alone(farm_strand(judged["size"].to_numpy(), judged["own_objects"].fill_null(0).to_numpy(), judged["expected_own"].fill_null(0.0).to_numpy()))
    farms = judged.with_columns(pl.Series("alone", alone)).filter(pl.col("alone") >= config.score.threshold).select("key", "alone")
    if farms.is_empty():
        return labels
    flagged = scored.filter("flagged")["cluster_id"].implode()
    members = (
        groups.join(farms, on="key")
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


def _infra_groups(pairs: pl.DataFrame) -> pl.DataFrame:
    """``account_id, group``: the connected groups of the accounts in ``pairs`` (``source``, ``target``)."""
    if pairs.is_empty():
        return pl.DataFrame(schema={"account_id": pl.String(), "group": pl.Int64()})
    names, coded = index_pairs(pairs)
    n = len(names)
    graph = sp.coo_matrix((np.ones(coded.height), (coded["i"].to_numpy(), coded["j"].to_numpy())), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    return pl.DataFrame({"account_id": names, "group": pl.Series(component, dtype=pl.Int64)})


def _member_flags(labels: pl.DataFrame, evidence: _Evidence) -> pl.DataFrame:
    """Per clustered account: 1.0 when it shares identity / infrastructure / copied texts with a member of its cluster."""
    out = labels.filter(pl.col("cluster_id") >= 0)
    for name, pairs in (("identity", evidence.identity), ("infrastructure", evidence.infrastructure), ("copy", evidence.copy)):
        if pairs is None or pairs.is_empty():
            out = out.with_columns(pl.lit(0.0).alias(name))
            continue
        inside = pairs_inside(pairs.select("source", "target"), labels)
        members = pl.concat([inside["source"], inside["target"]]).unique()
        out = out.with_columns(pl.col("account_id").is_in(members.implode()).cast(pl.Float64).alias(name))
    return out.drop("cluster_id")


def _all_accounts(events: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
    ids = events.select("account_id")
    if accounts is not None:
        ids = pl.concat([ids, accounts.select("account_id")])
    return ids.unique().sort("account_id")
