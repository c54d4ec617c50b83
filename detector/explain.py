"""``coordetect explain DIR ACCOUNT_ID``: why one account is, or is not, flagged.

Reads only the scored folder: the account's row, its cluster, its strongest
links (``edges.parquet``) and, for those links, the objects the two accounts
co-acted on with their gaps (``objects.parquet``), and the behaviour that sets
the account apart from all others (``features.parquet``): the traits where it
lies beyond the 95th (or below the 5th) percentile of all accounts, each with
where its cluster's median member lies, so a trait the whole cluster shares
shows as such.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from detector.errors import UsageError
from detector.io import read_output_table
from detector.scoring import describe_gap
from features.coaction import DAILY_SIGNALS, name_and_day

TOP_PARTNERS = 10
OBJECTS_PER_PARTNER = 3
STANDS_OUT = 0.95  # share of accounts it must lie above (or below) for a trait to be shown
TOP_TRAITS = 6

# Behaviour columns explain speaks about, in words. Left out: the hour-of-day direction
# (circular, not ordered) and the yes/no profile flags (a percentile says little about them).
TRAITS = {
    "timing__log_events": "events",
    "timing__log_events_per_active_day": "events per active day",
    "timing__log_active_span_days": "active span",
    "timing__hour_entropy": "spread over the hours of the day",
    "timing__weekend_share": "share of events at weekends",
    "timing__median_log_gap": "typical gap between its events",
    "timing__gap_cv": "irregularity of the gaps between its events",
    "timing__burstiness": "burstiness",
    "timing__fast_gap_share": "share of very short gaps between its events",
    "metadata__log_cohort_1h": "accounts created within an hour of it",
    "metadata__log_cohort_1d": "accounts created within a day of it",
    "metadata__handle_trailing_digits": "digits ending its handle",
    "metadata__log_handle_template_peers": "accounts with the same handle template",
    "metadata__log_image_peers": "accounts with the same profile image",
    "metadata__log_follow_ratio": "followers per account followed",
    "metadata__log_following": "accounts it follows",
    "infra__log_ip_peers": "accounts sharing its IP addresses",
    "infra__log_device_peers": "accounts sharing its devices",
    "infra__log_ips": "IP addresses used",
    "infra__log_devices": "devices used",
}


def explain(out_dir: Path, account_id: str) -> dict:
    """Everything ``explain`` says about ``account_id``, as plain data."""
    out_dir = Path(out_dir)
    accounts = read_output_table(out_dir / "accounts.parquet")
    row = accounts.filter(pl.col("account_id") == account_id)
    if row.is_empty():
        raise UsageError(f"account '{account_id}' is not in {out_dir / 'accounts.parquet'}")
    account = row.row(0, named=True)
    cluster = None
    if account["cluster_id"] >= 0:
        cluster = read_output_table(out_dir / "clusters.parquet").filter(pl.col("cluster_id") == account["cluster_id"]).row(0, named=True)
    edges = read_output_table(out_dir / "edges.parquet").filter((pl.col("source") == account_id) | (pl.col("target") == account_id))
    partner = pl.when(pl.col("source") == account_id).then(pl.col("target")).otherwise(pl.col("source"))
    partners = (
        edges.with_columns(partner.alias("partner"))
        .group_by("partner")
        .agg(pl.col("weight").sum().alias("strength"), pl.col("signal").unique().sort().alias("signals"))
        .join(accounts.select(pl.col("account_id").alias("partner"), "cluster_id", "flagged"), on="partner", how="left")
        .sort(["strength", "partner"], descending=[True, False])
        .head(TOP_PARTNERS)
    )
    objects_path = out_dir / "objects.parquet"
    objects = read_output_table(objects_path) if objects_path.exists() else None
    links = []
    for p in partners.iter_rows(named=True):
        shared = []
        if objects is not None:
            a, b = sorted((account_id, p["partner"]))
            pair = objects.filter((pl.col("source") == a) & (pl.col("target") == b)).sort(["object_accounts", "gap_s", "object"])
            shared = [
                {"signal": o["signal"], "object": o["object"], "gap_s": o["gap_s"], "object_accounts": o["object_accounts"]}
                for o in pair.head(OBJECTS_PER_PARTNER).iter_rows(named=True)
            ]
            p["n_objects"] = pair.height
        links.append({**p, "same_cluster": p["cluster_id"] == account["cluster_id"] and account["cluster_id"] >= 0, "shared": shared})
    features_path = out_dir / "features.parquet"
    behaviour = _traits(read_output_table(features_path), account_id, accounts, account["cluster_id"]) if features_path.exists() else []
    return {"account": account, "cluster": cluster, "links": links, "behaviour": behaviour}


def _traits(features: pl.DataFrame, account_id: str, accounts: pl.DataFrame, cluster_id: int) -> list[dict]:
    """The behaviour columns where the account lies beyond ``STANDS_OUT`` of all accounts, most extreme first."""
    columns = [c for c in TRAITS if c in features.columns]
    n = features.height
    if not columns or n < 2:
        return []
    ranked = features.select(
        "account_id",
        *[(pl.col(c).rank("min") - 1).truediv(n).alias(f"{c}:above") for c in columns],  # share of accounts strictly below it
        *[(n - pl.col(c).rank("max")).truediv(n).alias(f"{c}:below") for c in columns],  # share strictly above it
    )
    row = ranked.filter(pl.col("account_id") == account_id)
    if row.is_empty():
        return []
    mine = row.row(0, named=True)
    values = features.filter(pl.col("account_id") == account_id).row(0, named=True)
    members = accounts.filter((pl.col("cluster_id") == cluster_id) & (cluster_id >= 0))["account_id"]
    peers = ranked.filter(pl.col("account_id").is_in(members.implode())) if members.len() > 1 else None
    out = []
    for c in columns:
        for side in ("above", "below"):
            share = mine[f"{c}:{side}"]
            if share >= STANDS_OUT:
                median = None if peers is None else peers[f"{c}:{side}"].median()
                out.append({"feature": c, "trait": TRAITS[c], "side": side, "share": round(share, 3), "value": values[c],
                            "cluster_median_share": None if median is None else round(median, 3)})
    return sorted(out, key=lambda t: (-t["share"], t["feature"]))[:TOP_TRAITS]


def _readable(signal: str, obj: str) -> str:
    """An object as an analyst reads it: a site or a mentioned account on a date, not a day number."""
    found = name_and_day(obj) if signal in DAILY_SIGNALS else None
    if found is None:
        return obj
    name, day = found
    return f"{name} on {date(1970, 1, 1) + timedelta(days=day)}"


def render_text(facts: dict) -> str:
    """The plain-text form an analyst reads."""
    a = facts["account"]
    lines = [f"account {a['account_id']}: {'FLAGGED' if a['flagged'] else 'not flagged'}", f"  {a['evidence']}"]
    if facts["cluster"]:
        c = facts["cluster"]
        lines.append(f"cluster {c['cluster_id']}: {c['n_accounts']} accounts, score {c['score']:.2f}, {'flagged' if c['flagged'] else 'not flagged'}")
    lines.extend(_render_traits(facts.get("behaviour", [])))
    if not facts["links"]:
        lines.append("no links: no significant co-action, shared infrastructure or identity with any account")
        return "\n".join(lines)
    lines.append(f"strongest links ({len(facts['links'])} shown):")
    for link in facts["links"]:
        partner_cluster = link["cluster_id"]
        if link["same_cluster"]:
            where = "same cluster"
        elif partner_cluster is None or partner_cluster < 0:
            where = "in no cluster"
        else:
            where = f"cluster {partner_cluster}"
        lines.append(f"  {link['partner']}  strength {link['strength']:.2f}  {'+'.join(link['signals'])}  ({where})")
        for o in link["shared"]:
            text = _readable(o["signal"], o["object"])
            text = text if len(text) <= 80 else text[:77] + "..."
            lines.append(f"    {o['signal']}: {text!r}  gap {describe_gap(o['gap_s'])}, {o['object_accounts']} accounts acted on it")
        more = link.get("n_objects", 0) - len(link["shared"])
        if more > 0:
            lines.append(f"    ... and {more} more shared objects")
    return "\n".join(lines)


def _render_traits(traits: list[dict]) -> list[str]:
    if not traits:
        return ["behaviour: nothing beyond the 95th percentile of all accounts"]
    lines = ["behaviour that sets it apart (against all accounts):"]
    for t in traits:
        word = "higher" if t["side"] == "above" else "lower"
        line = f"  {t['trait']}: {word} than {t['share']:.0%} of accounts"
        if t["cluster_median_share"] is not None:
            line += f" (its cluster's median member: {word} than {t['cluster_median_share']:.0%})"
        lines.append(line)
    return lines
