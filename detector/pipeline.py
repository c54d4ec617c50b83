"""The detector end to end: pair evidence -> fusion -> HDBSCAN -> scores -> tables.

Stages (each timed into ``Detection.timings``):

1. ``coaction``: for every signal the events carry (share, reply, quote, url,
   domain, hashtag, mention, like, follow, other actions, and ``copy``: texts folded into
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
   (``detector.scoring``, ``detector.evidence``); the farm steps
   (``detector.farms``: the ``farm`` strand's facts, then carving a farm off
   the accounts filed with it, joining a farm's parts, gathering a farm the
   clusters scatter), then each content signal's pairs clustered alone among
   the accounts outside flagged clusters (``content_groups``), then the parts
   of one operator that clustering cut apart joined when the whole scores
   higher (``detector.families``), each step followed by scoring again; then the group test
   (``features.groups``) gives each flagged cluster the outside accounts that act
   on its own objects far beyond chance, up to ``detector.group_rounds`` times,
   and one row per input account is written.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import polars as pl

from detector.cluster import PAIR_EVIDENCE, fuse, pairs_inside
from detector.config import Config
from detector.progress import Report, silent
from detector.evidence import account_evidence, cluster_evidence
from detector.exclusivity import POST_REACTIONS, audience_actors, audience_of, cluster_exclusivity, coacted_objects
from detector.families import joined_families, sibling_families, stronger_families
from detector.farms import both_flagged_rejoined, farm_carve, farm_facts, farm_parts, farm_rim, scattered_farms, tie_pairs, tied_to_most, whole_groups
from detector.scoring import NOT_COACTION, cluster_facts, score_clusters, tie_strength
from detector.engines import POLARS, Engine
from features.coaction import signal_events, signal_names
from features.cohorts import RUN_MEMBERS, sign_up_runs, template_burst_pairs
from features.content import copy_candidates, near_duplicate_groups
from features.infra import shared_infrastructure_pairs
from features.groups import INCIDENCES, JOINS, MEMBERS, Popularity, group_members, on_objects, popularity, tiered_joins

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
    created: pl.DataFrame | None = None  # account_id, t: creation times (epoch s), for sign-up runs
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
    labels = timed("cluster", _cluster, fused, config, engine)
    detection = timed("score", _score, events, accounts, config, evidence, fused, labels)
    detection.timings = timings
    detection.counts["capped_events"] = evidence.capped_events
    return detection


def _cluster(fused: pl.DataFrame, config: Config, engine: Engine) -> pl.DataFrame:
    """``account_id, cluster_id`` of ``fused``'s accounts, by ``engine``'s HDBSCAN at the ``cluster`` settings."""
    cfg = config.cluster
    return engine.cluster(
        fused,
        min_cluster_size=cfg.min_cluster_size,
        min_samples=cfg.min_samples,
        split_density=cfg.split_density,
        trim_share=cfg.trim_share,
        attach_share=cfg.attach_share,
        neighbourhood=cfg.neighbourhood_overlap,
    )


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

    The texts are ``features.content.copy_candidates``: no shares, no links, at
    least ``min_text_chars`` long.
    """
    texts = copy_candidates(events, min_text_chars=min_text_chars, columns=("account_id", "timestamp"))
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
    if accounts is not None and "created_at" in accounts.columns:
        evidence.created = (
            accounts.filter(pl.col("created_at").is_not_null())
            .unique("account_id", keep="first")
            .select("account_id", pl.col("created_at").dt.epoch("s").alias("t"))
        )
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
    # The pair's fused strength over its co-action signals alone (saturated per signal, as HDBSCAN saw it;
    # a hashtag link at its weight in the tie, ``scoring.TIE_SIGNAL_WEIGHTS``).
    ties = [
        frame.filter(~pl.col("signal").is_in(NOT_COACTION)).select("source", "target", tie_strength(pl.col("signal"), pl.col("strength")).alias("strength"))
        for frame in evidence.pairs
        if frame.height
    ]
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
    popular = popularity(evidence.incidences[0])  # once: every farm reading and the group test count against them

    # Who acted on the objects behind the links, once: every scoring below counts members against it.
    audience, evidence.actors = audience_of(evidence.actors), []
    ties = tie_pairs(evidence.infrastructure, evidence.identity)
    wholes = whole_groups(evidence.infrastructure, evidence.identity, evidence.incidences[0], config, counts=popular)

    def judge(labels: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        coacted = coacted_objects(labels, evidence.objects)
        farm = farm_facts(labels, ties, wholes, evidence.incidences[0], config, counts=popular)
        exclusivity = cluster_exclusivity(labels, coacted, audience)
        facts = cluster_facts(labels, fused, pair_coaction, _member_flags(labels, evidence, config), exclusivity, farm)
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
    gathered = scattered_farms(labels, scored, wholes, config)
    n_gathered = _moved(labels, gathered)
    if n_gathered:
        evidence.report("score: gathering scattered farms")
        scored, farm, coacted = rejudge(labels, gathered, (scored, farm, coacted))
        labels = gathered
    evidence.report("score: content signals alone")
    regrouped = content_groups(labels, scored, evidence, config, lambda chosen: judge(chosen)[0])
    n_regrouped = _moved(labels, regrouped)
    if n_regrouped:
        scored, farm, coacted = rejudge(labels, regrouped, (scored, farm, coacted))
        labels = regrouped
    families, n_joined = sibling_families(labels, coacted, audience), 0
    if families.height:
        evidence.report("score: joining the parts of each operator")
        joined = joined_families(labels, families)
        trial = rejudge(labels, joined, (scored, farm, coacted))
        kept = stronger_families(families, scored, trial[0], threshold=config.score.threshold)
        if kept.height:
            final = joined_families(labels, kept)
            scored, farm, coacted = rejudge(joined, final, trial)
            n_joined = _moved(labels, final)
            labels = final
    compact_coacted = _compact_coacted(coacted, hashed)
    evidence.report("score: group test")
    labels, joins, dropped = _expand(labels, scored, evidence, compact_coacted, popular, config, ties)
    evidence.report("score: evidence and tables")
    sizes = labels.filter(pl.col("cluster_id") >= 0).group_by("cluster_id").agg(pl.len().cast(pl.Int64).alias("n_accounts"))
    scored = scored.drop("n_accounts").join(sizes, on="cluster_id")  # a cluster the group test emptied is gone
    cluster_text = cluster_evidence(
        scored, labels, evidence.objects, evidence.copy, evidence.infrastructure, evidence.identity,
        runs=_run_members(labels, evidence, config), run_window_s=config.detector.cohort_s,
    )
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
        "content_group_accounts": n_regrouped,
        "family_joined_accounts": n_joined,
    }
    frames = [frame.select(list(OBJECTS_OUT)) for frame in evidence.objects if frame.height]
    objects = pl.concat(frames).sort("source", "target", "signal", "object").cast(OBJECTS_OUT) if frames else pl.DataFrame(schema=OBJECTS_OUT)
    return Detection(accounts=per_account.cast(ACCOUNTS_OUT), clusters=clusters, edges=edges, objects=objects, counts=counts)


def _moved(before: pl.DataFrame, after: pl.DataFrame) -> int:
    """How many accounts of ``after`` have a different ``cluster_id`` (or none) in ``before``."""
    return after.join(before, on="account_id", how="left", suffix="_before").filter(pl.col("cluster_id").ne_missing(pl.col("cluster_id_before"))).height


def content_groups(
    labels: pl.DataFrame, scored: pl.DataFrame, evidence: _Evidence, config: Config, judge: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    """``labels`` with the flagged groups that one content signal's pairs show alone, among the accounts outside flagged clusters.

    HDBSCAN clusters the pairs of every signal fused, and an operator's members
    reshare organic posts like anybody. In cascade/crowded seed 2 the 52 members
    of one operator posted its links within the hour of each other, but their
    resharing tied many of them more to organic crowds: the fused clusters held
    23 of them (score 0.41), 11 (0.26) and the rest one or two to each of 16
    organic clusters, none flagged. So each of ``cluster.content_signals``
    (links, sites, tags, texts: what a campaign brings, where camouflage does
    not reach) is clustered again alone, over the pairs between accounts outside
    flagged clusters, and every group found is judged as a cluster of its own
    (``judge``: all the strands, over every signal's evidence). A flagged group
    takes its members out of their clusters; the operator above became one
    cluster of 51, flagged at 0.71. An account in flagged groups of two signals
    goes with the higher score (ties: the lower id); a group left with fewer
    than ``cluster.min_cluster_size`` members is dropped. Reactions to posts stay
    out: everyone makes them, and hyperactive accounts that like every popular
    post within seconds form tight groups of 7-18 on likes alone, flagged at
    0.54-0.65 (``stealth`` seeds 1 and 2, ``many_small`` seed 1,
    ``large_operator`` seed 2). New ids follow the largest in use, in signal order.
    """
    signals = config.cluster.content_signals
    frames = [frame for frame in evidence.pairs if frame.height]
    if not signals or not frames or labels.is_empty():
        return labels
    flagged = scored.filter("flagged")["cluster_id"].implode()
    outside = labels.filter(~pl.col("cluster_id").is_in(flagged)).select("account_id")
    pairs = (
        pl.concat(frames)
        .filter(pl.col("signal").is_in(signals))
        .join(outside.rename({"account_id": "source"}), on="source", how="semi")
        .join(outside.rename({"account_id": "target"}), on="target", how="semi")
    )
    start = int(labels["cluster_id"].max()) + 1
    found = []
    for signal in sorted(pairs["signal"].unique().to_list()):
        alone = fuse([pairs.filter(pl.col("signal") == signal)], min_strength=config.detector.min_pair_strength)
        groups = _cluster(alone, config, evidence.engine).filter(pl.col("cluster_id") >= 0)
        if groups.is_empty():
            continue
        groups = groups.with_columns(pl.col("cluster_id") + start)
        start = int(groups["cluster_id"].max()) + 1
        found.append(groups.join(judge(groups).filter("flagged").select("cluster_id", "score"), on="cluster_id"))
    if not found:
        return labels
    moved = (
        pl.concat(found)
        .sort("account_id", "score", "cluster_id", descending=[False, True, False])
        .unique("account_id", keep="first", maintain_order=True)
        .filter(pl.len().over("cluster_id") >= config.cluster.min_cluster_size)
        .select("account_id", pl.col("cluster_id").alias("_group"))
    )
    return labels.join(moved, on="account_id", how="left").select("account_id", pl.coalesce("_group", "cluster_id").alias("cluster_id"))


def _expand(
    labels: pl.DataFrame,
    scored: pl.DataFrame,
    evidence: _Evidence,
    coacted: pl.DataFrame,
    counts: Popularity,
    config: Config,
    ties: pl.DataFrame | None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Labels after the group test has checked the flagged clusters' members and grown them; the joins; the members dropped.

    First every member of a flagged cluster that has own objects must act on them
    beyond chance (``features.groups.group_members`` at ``group_member_level``);
    one that does not becomes noise, unless shared devices, addresses or a sign-up
    template tie it to most of its cluster (``tied_to_most``): a farm's quiet
    account is not an organic account pulled in by a few links. Then each round
    tests the accounts against the flagged clusters' own objects in two tiers
    (``features.groups.tiered_joins``): the confident clusters (``group_min_score``)
    every account outside them, the others the accounts outside every flagged
    cluster; a round's joins enlarge the clusters (and so their objects) for the
    next. An account keeps the first cluster it joins.
    """
    cfg = config.detector
    flagged = scored.filter("flagged")["cluster_id"].to_list()
    confident = scored.filter(pl.col("flagged") & (pl.col("score") >= cfg.group_min_score))["cluster_id"].to_list()
    weaker = scored.filter(pl.col("flagged") & (pl.col("score") < cfg.group_min_score))["cluster_id"].to_list()
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
            counts=counts,
        )
        if ties is not None:
            tied = tied_to_most(ties, labels, flagged)["account_id"].implode()
            checked = checked.with_columns(pl.col("kept") | pl.col("account_id").is_in(tied))
        dropped = checked.filter(~pl.col("kept")).select("account_id")
        labels = labels.with_columns(
            pl.when(pl.col("account_id").is_in(dropped["account_id"].implode())).then(-1).otherwise(pl.col("cluster_id")).alias("cluster_id")
        )
    settings = dict(
        max_object_accounts=cfg.max_object_accounts, min_objects=cfg.min_objects, fdr=cfg.fdr, min_lift=cfg.min_lift,
        min_share=cfg.group_min_share, coacted=coacted, counts=counts,
    )
    for _ in range(cfg.group_rounds):
        joins = tiered_joins(incidences, _categorical_ids(labels), confident=confident, weaker=weaker, **settings)
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


def _member_flags(labels: pl.DataFrame, evidence: _Evidence, config: Config) -> pl.DataFrame:
    """Per clustered account: 1.0 when it shares identity / infrastructure / copied texts with a member of its cluster.

    Identity is a handle template within a creation cohort, or a sign-up run with other members (``_run_members``).
    """
    out = labels.filter(pl.col("cluster_id") >= 0)
    none = pl.Series(dtype=pl.String())
    traits = (
        ("identity", evidence.identity, _run_members(labels, evidence, config)["account_id"]),
        ("infrastructure", evidence.infrastructure, none),
        ("copy", evidence.copy, none),
    )
    for name, pairs, members in traits:
        if pairs is not None and pairs.height:
            inside = pairs_inside(pairs.select("source", "target"), labels)
            members = pl.concat([members, inside["source"], inside["target"]]).unique()
        out = out.with_columns(pl.col("account_id").is_in(members.implode()).cast(pl.Float64).alias(name))
    return out.drop("cluster_id")


def _run_members(labels: pl.DataFrame, evidence: _Evidence, config: Config) -> pl.DataFrame:
    """``features.cohorts.RUN_MEMBERS``: members created together with others of their cluster far beyond chance."""
    if evidence.created is None:
        return pl.DataFrame(schema=RUN_MEMBERS)
    return sign_up_runs(labels, evidence.created, window_s=config.detector.cohort_s, fdr=config.detector.fdr)


def _all_accounts(events: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
    ids = events.select("account_id")
    if accounts is not None:
        ids = pl.concat([ids, accounts.select("account_id")])
    return ids.unique().sort("account_id")
