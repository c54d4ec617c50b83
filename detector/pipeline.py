"""The detector end to end: pair evidence -> fusion -> HDBSCAN -> scores -> tables.

Stages (each timed into ``Detection.timings``):

1. ``coaction``: for every signal the events carry (share, reply, quote, url,
   hashtag, like, follow, other actions, and ``copy``: texts folded into their
   near-duplicate families by MinHash LSH, so copy-paste with small edits is one
   object), the co-action network within ``detector.window_s`` with its
   per-object evidence, reduced to the pairs that are significant under the
   popularity-controlled null model (``features.significance``).
2. ``infrastructure``: account pairs sharing a device or an address that at
   most ``detector.max_accounts_per_address`` accounts use.
3. ``identity``: account pairs with the same handle template (stem plus at
   least two trailing digits) created within ``detector.cohort_s`` of each
   other (needs the accounts table).
4. ``cluster``: fuse the pair evidence and cluster with HDBSCAN
   (``detector.cluster``).
5. ``score``: per-cluster facts, strands, noisy-OR score and evidence
   (``detector.scoring``, ``detector.evidence``), and one row per input account.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import polars as pl

from detector.cluster import PAIR_EVIDENCE, cluster_accounts, fuse, pairs_inside
from detector.config import Config
from detector.progress import Report, silent
from detector.evidence import account_evidence, cluster_evidence
from detector.scoring import cluster_facts, score_clusters
from features.coaction import signal_events, signal_names
from features.content import near_duplicate_groups
from features.normalize import normalize_text
from features.infra import shared_infrastructure_pairs
from features.pair_evidence import significant_coaction

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
    actors: list[pl.DataFrame] = field(default_factory=list)  # signal, object, account_id: who acted on those objects
    pairs: list[pl.DataFrame] = field(default_factory=list)  # PAIR_EVIDENCE rows for fusion
    copy: pl.DataFrame | None = None
    infrastructure: pl.DataFrame | None = None
    identity: pl.DataFrame | None = None
    capped_events: int = 0
    report: Report = silent


def detect(events: pl.DataFrame, accounts: pl.DataFrame | None, config: Config, *, report: Report = silent) -> Detection:
    """Score ``events`` (canonical) and optional ``accounts``; see the module docstring.

    ``report`` hears each stage as it starts (``detector.progress``).
    """
    cfg = config.detector
    timings: dict[str, float] = {}
    evidence = _Evidence(report=report)

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
        lambda: cluster_accounts(
            fused,
            min_cluster_size=config.cluster.min_cluster_size,
            min_samples=config.cluster.min_samples,
            split_density=config.cluster.split_density,
            trim_share=config.cluster.trim_share,
            attach_share=config.cluster.attach_share,
        ),
    )
    detection = timed("score", _score, events, accounts, config, evidence, fused, labels)
    detection.timings = timings
    detection.counts["capped_events"] = evidence.capped_events
    return detection


# ------------------------------------------------------------------ evidence


COPY_SIGNAL = "copy"


def _coaction_evidence(events: pl.DataFrame, config: Config, evidence: _Evidence) -> None:
    cfg = config.detector
    # Exact texts are folded into their near-duplicate family (the ``copy`` signal below).
    signals = [name for name in signal_names(events) if name != "text"]
    total = len(signals) + ("text" in events.columns)
    for number, signal in enumerate(signals, 1):
        evidence.report(f"co-action: {signal} ({number}/{total})")
        _add_signal(events, signal, config, evidence)
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
    # coaction_network + significant_pairs + objects_behind, in memory bounded by partitions of the pairs.
    found = significant_coaction(
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
    co = config.coaction
    evidence.actors.append(
        signal_events(events, signal, normalize_urls=co.normalize_urls, tracking_params=co.tracking_params)
        .select("object", "account_id")
        .join(behind.select("object").unique().lazy(), on="object", how="semi")
        .unique()
        .with_columns(pl.lit(signal).alias("signal"))
        .collect()
    )
    evidence.pairs.append(significant.select("source", "target", "signal", pl.col("evidence").alias("strength")))


def _infrastructure_evidence(events: pl.DataFrame, config: Config, evidence: _Evidence) -> None:
    if not {"ip", "device_id"} & set(events.columns):
        return
    pairs = shared_infrastructure_pairs(events, max_accounts_per_address=config.detector.max_accounts_per_address)
    evidence.infrastructure = pairs
    evidence.pairs.append(pairs.select("source", "target", "signal", pl.lit(config.detector.infrastructure_strength).alias("strength")))


def _identity_evidence(accounts: pl.DataFrame | None, config: Config, evidence: _Evidence) -> None:
    if accounts is None or not {"handle", "created_at"} <= set(accounts.columns):
        return
    pairs = identity_pairs(accounts, cohort_s=config.detector.cohort_s, max_group=config.detector.max_template_accounts)
    evidence.identity = pairs
    evidence.pairs.append(pairs.select("source", "target", pl.lit("identity").alias("signal"), pl.lit(config.detector.identity_strength).alias("strength")))


def identity_pairs(accounts: pl.DataFrame, *, cohort_s: int, max_group: int) -> pl.DataFrame:
    """Pairs with the same handle template (stem + >= 2 trailing digits) created within ``cohort_s`` seconds.

    Templates shared by more than ``max_group`` accounts (a platform's default
    "user12345" naming) are left out.
    """
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
    flags = _member_flags(labels, evidence)
    facts = cluster_facts(labels, fused, pair_coaction, flags, cluster_exclusivity(labels, evidence.objects, evidence.actors))
    scored = score_clusters(facts, threshold=config.score.threshold)
    cluster_text = cluster_evidence(scored, labels, evidence.objects, evidence.copy, evidence.infrastructure, evidence.identity)
    clusters = (
        scored.join(cluster_text, on="cluster_id", how="left")
        .select("cluster_id", "n_accounts", "score", "flagged", pl.col("evidence").fill_null(""))
        .sort("cluster_id")
        .cast(CLUSTERS_OUT)
    )
    all_accounts = _all_accounts(events, accounts)
    per_account = account_evidence(all_accounts, labels, clusters, fused, threshold=config.score.threshold)
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
    }
    frames = [frame.select(list(OBJECTS_OUT)) for frame in evidence.objects if frame.height]
    objects = pl.concat(frames).sort("source", "target", "signal", "object").cast(OBJECTS_OUT) if frames else pl.DataFrame(schema=OBJECTS_OUT)
    return Detection(accounts=per_account.cast(ACCOUNTS_OUT), clusters=clusters, edges=edges, objects=objects, counts=counts)


def cluster_exclusivity(labels: pl.DataFrame, objects: list[pl.DataFrame], actors: list[pl.DataFrame]) -> pl.DataFrame:
    """Per cluster: how much of the activity on its co-acted objects comes from its own members.

    For each object behind a significant link inside the cluster, the share of the
    object's distinct actors who are members; averaged over objects weighted by the
    members acting. An operator pushes its own posts, links and tags (most actors
    are members); an organic crowd is a small part of a viral post's, a fandom's
    or a meme's actors.
    """
    schema = {"cluster_id": pl.Int64(), "exclusivity": pl.Float64()}
    frames = [frame for frame in objects if frame.height]
    if not frames:
        return pl.DataFrame(schema=schema)
    members = labels.filter(pl.col("cluster_id") >= 0)
    rows = pl.concat([frame.select("source", "target", "signal", "object", "object_accounts") for frame in frames])
    cluster_objects = (
        pairs_inside(rows, labels)
        .group_by("cluster_id", "signal", "object")
        .agg(pl.col("object_accounts").first())
    )
    acting = (
        pl.concat([frame for frame in actors if frame.height])
        .join(members, on="account_id")
        .group_by("cluster_id", "signal", "object")
        .agg(pl.len().alias("members"))
    )
    per_object = cluster_objects.join(acting, on=["cluster_id", "signal", "object"], how="left").with_columns(pl.col("members").fill_null(0))
    return (
        per_object.group_by("cluster_id")
        .agg(((pl.col("members") / pl.col("object_accounts")).clip(0.0, 1.0) * pl.col("members")).sum() / pl.col("members").sum())
        .rename({"members": "exclusivity"})
        .with_columns(pl.col("exclusivity").fill_nan(0.0))
        .cast(schema)
    )


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
