"""Human-readable evidence for clusters and accounts: why each is, or is not, flagged.

Every string stands on its own (the contract: evidence never needs the raw input
to be understood): counts, shares and gaps, strongest first.
"""

from __future__ import annotations

import polars as pl

from detector.cluster import pairs_inside
from detector.scoring import describe_gap

_SIGNAL_NOUN = {
    "share": "posts co-shared",
    "reply": "posts co-replied to",
    "quote": "posts co-quoted",
    "url": "URLs co-posted",
    "domain": "site-days co-linked (links to one site on one day)",
    "hashtag": "hashtags co-used",
    "mention": "account-days co-mentioned (one account tagged on one day)",
    "copy": "texts copied (with small edits or none)",
    "like": "posts co-liked",
    "follow": "accounts co-followed",
}
TOP_SIGNALS = 3


def _noun(signal: str) -> str:
    return _SIGNAL_NOUN.get(signal, f"objects co-acted on ({signal})")


def _members_touched(pairs: pl.DataFrame | None, labels: pl.DataFrame) -> pl.DataFrame:
    """Per cluster: how many members appear in at least one of ``pairs`` inside the cluster."""
    if pairs is None or pairs.is_empty():
        return pl.DataFrame(schema={"cluster_id": pl.Int64(), "touched": pl.Int64()})
    inside = pairs_inside(pairs.select("source", "target"), labels)
    ends = pl.concat([inside.select("cluster_id", pl.col("source").alias("a")), inside.select("cluster_id", pl.col("target").alias("a"))])
    return ends.group_by("cluster_id").agg(pl.col("a").n_unique().cast(pl.Int64).alias("touched"))


def cluster_evidence(
    scored: pl.DataFrame,
    labels: pl.DataFrame,
    coaction_objects: list[pl.DataFrame],
    copy: pl.DataFrame | None,
    infrastructure: pl.DataFrame | None,
    identity: pl.DataFrame | None,
    *,
    runs: pl.DataFrame | None = None,
    run_window_s: int = 86_400,
) -> pl.DataFrame:
    """``cluster_id, evidence``: strongest co-action signals with figures, then shared traits.

    ``runs`` (``features.cohorts.RUN_MEMBERS``): members created within ``run_window_s`` of other members of
    their cluster far beyond chance.
    """
    parts: dict[int, list[tuple[float, str]]] = {cid: [] for cid in scored["cluster_id"].to_list()}
    for objects in coaction_objects:
        if objects.is_empty():
            continue
        inside = pairs_inside(objects, labels)
        per_cluster = inside.group_by("cluster_id", "signal").agg(
            pl.col("object").n_unique().alias("objects"),
            pl.col("gap_s").median().alias("gap"),
            pl.len().alias("co_actions"),
        )
        for row in per_cluster.iter_rows(named=True):
            text = f"{row['signal']}: {row['objects']:,} {_noun(row['signal'])}, median gap {describe_gap(row['gap'])}"
            parts[row["cluster_id"]].append((float(row["co_actions"]), text))
    sizes = dict(zip(scored["cluster_id"].to_list(), scored["n_accounts"].to_list()))
    for pairs, phrase in (
        (identity, "share a handle template and were created within a day of each other"),
        (infrastructure, "share an IP address or device"),
        (copy, "post copies of each other's texts"),
    ):
        for row in _members_touched(pairs, labels).iter_rows(named=True):
            if row["cluster_id"] in parts:
                parts[row["cluster_id"]].append((-1.0, f"{row['touched']} of {sizes[row['cluster_id']]} {phrase}"))
    if runs is not None:
        for row in runs.group_by("cluster_id").agg(pl.len().alias("runs")).sort("cluster_id").iter_rows(named=True):
            if row["cluster_id"] in parts:
                text = f"{row['runs']} of {sizes[row['cluster_id']]} were created within {describe_gap(run_window_s)} of other members, far beyond chance"
                parts[row["cluster_id"]].append((-1.0, text))
    if {"infra_group", "own_objects", "expected_own"} <= set(scored.columns):
        for row in scored.filter(pl.col("infra_group") > 0).iter_rows(named=True):
            group = f"the {row['infra_group']:,} linked through shared addresses, devices or a handle template"
            if row.get("reading") == "everywhere":
                group = f"members of {row['infra_group']:,} accounts linked through shared addresses or devices, which"
            elif row.get("reading") == "farms":
                group = f"the {row['infra_group']:,} in several groups linked through shared addresses, devices or handle templates"
            elif row.get("reading") == "batch":
                group = f"members of a sign-up batch of {row['infra_group']:,} accounts named from one template, which"
            parts[row["cluster_id"]].append(
                (-1.0, f"{group} are most of the actors of {row['own_objects']:,} objects, {row['expected_own']:.1f} expected by chance")
            )
    rows = []
    for cid, items in parts.items():
        coaction = sorted((p for p in items if p[0] >= 0), key=lambda p: (-p[0], p[1]))[:TOP_SIGNALS]
        traits = [p for p in items if p[0] < 0]
        rows.append((cid, "; ".join(text for _, text in coaction + traits)))
    return pl.DataFrame(rows, schema={"cluster_id": pl.Int64(), "evidence": pl.String()}, orient="row")


def account_evidence(
    all_accounts: pl.DataFrame,
    labels: pl.DataFrame,
    clusters: pl.DataFrame,
    fused: pl.DataFrame,
    *,
    threshold: float,
    joins: pl.DataFrame | None = None,
    dropped: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per account: ``account_id, cluster_id, score, flagged, evidence``.

    ``joins`` (``features.groups.JOINS``): accounts the group test gave to a
    cluster; their evidence says how many of its objects they acted on.
    ``dropped`` (``features.groups.MEMBERS``): members the member check took out
    of a flagged cluster (now in none); their evidence says why.
    """
    degree = (
        pl.concat([fused.select(pl.col("source").alias("account_id")), fused.select(pl.col("target").alias("account_id"))])
        .group_by("account_id")
        .agg(pl.len().cast(pl.Int64).alias("links"))
    )
    frame = (
        all_accounts.join(labels, on="account_id", how="left")
        .with_columns(pl.col("cluster_id").fill_null(-1))
        .join(clusters.select("cluster_id", "n_accounts", "score", "flagged", pl.col("evidence").alias("cluster_evidence")), on="cluster_id", how="left")
        .join(degree, on="account_id", how="left")
        .with_columns(pl.col("links").fill_null(0), pl.col("score").fill_null(0.0), pl.col("flagged").fill_null(False))
    )
    if joins is None:
        joins = pl.DataFrame(schema={"account_id": pl.String(), "objects": pl.Int64(), "expected": pl.Float64()})
    frame = frame.join(joins.select("account_id", pl.col("objects").alias("_hits"), pl.col("expected").alias("_expected")), on="account_id", how="left")
    joined = pl.format(
        "joined by the group test: acted on {} of the cluster's own objects where {} were expected by chance; ",
        pl.col("_hits"),
        pl.col("_expected").round(2),
    )
    if dropped is None:
        dropped = pl.DataFrame(schema={"account_id": pl.String(), "cluster_id": pl.Int64(), "objects": pl.Int64(), "expected": pl.Float64()})
    frame = frame.join(
        dropped.select("account_id", pl.col("cluster_id").alias("_from"), pl.col("objects").alias("_own"), pl.col("expected").alias("_rate")),
        on="account_id",
        how="left",
    )
    head = pl.format("cluster {} of {} accounts, score {}", pl.col("cluster_id"), pl.col("n_accounts"), pl.col("score").round(2))
    head = pl.when(pl.col("_hits").is_not_null()).then(pl.concat_str(joined, head)).otherwise(head)
    evidence = (
        pl.when(pl.col("flagged"))
        .then(pl.format("flagged: {}: {}", head, pl.col("cluster_evidence")))
        .when(pl.col("cluster_id") >= 0)
        .then(pl.format("not flagged: {} is below the threshold {}: {}", head, pl.lit(threshold), pl.col("cluster_evidence")))
        .when(pl.col("_from").is_not_null())
        .then(
            pl.format(
                "not flagged: linked into a flagged group but acted on {} of its own objects where its members' rate predicts {}",
                pl.col("_own"),
                pl.col("_rate").round(1),
            )
        )
        .when(pl.col("links") > 0)
        .then(pl.format("not flagged: linked to {} account(s) but in no dense group", pl.col("links")))
        .otherwise(pl.lit("not flagged: no significant co-action, shared infrastructure or identity with another account"))
    )
    return frame.select("account_id", "cluster_id", "score", "flagged", evidence.alias("evidence")).sort("account_id")
