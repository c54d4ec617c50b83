"""``coordetect explain DIR ACCOUNT_ID``: why one account is, or is not, flagged.

Reads only the scored folder: the account's row, its cluster, its strongest
links (``edges.parquet``) and, for those links, the objects the two accounts
co-acted on with their gaps (``objects.parquet``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from detector.errors import InputError, UsageError
from detector.scoring import describe_gap

TOP_PARTNERS = 10
OBJECTS_PER_PARTNER = 3


def _read(path: Path) -> pl.DataFrame:
    if not path.exists():
        raise InputError(f"{path}: not found; expected a folder written by coordetect score")
    try:
        return pl.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(f"{path}: not a readable Parquet table ({type(exc).__name__})") from None


def explain(out_dir: Path, account_id: str) -> dict:
    """Everything ``explain`` says about ``account_id``, as plain data."""
    out_dir = Path(out_dir)
    accounts = _read(out_dir / "accounts.parquet")
    row = accounts.filter(pl.col("account_id") == account_id)
    if row.is_empty():
        raise UsageError(f"account '{account_id}' is not in {out_dir / 'accounts.parquet'}")
    account = row.row(0, named=True)
    cluster = None
    if account["cluster_id"] >= 0:
        cluster = _read(out_dir / "clusters.parquet").filter(pl.col("cluster_id") == account["cluster_id"]).row(0, named=True)
    edges = _read(out_dir / "edges.parquet").filter((pl.col("source") == account_id) | (pl.col("target") == account_id))
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
    objects = _read(objects_path) if objects_path.exists() else None
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
    return {"account": account, "cluster": cluster, "links": links}


def render_text(facts: dict) -> str:
    """The plain-text form an analyst reads."""
    a = facts["account"]
    lines = [f"account {a['account_id']}: {'FLAGGED' if a['flagged'] else 'not flagged'}", f"  {a['evidence']}"]
    if facts["cluster"]:
        c = facts["cluster"]
        lines.append(f"cluster {c['cluster_id']}: {c['n_accounts']} accounts, score {c['score']:.2f}, {'flagged' if c['flagged'] else 'not flagged'}")
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
            text = o["object"] if len(o["object"]) <= 80 else o["object"][:77] + "..."
            lines.append(f"    {o['signal']}: {text!r}  gap {describe_gap(o['gap_s'])}, {o['object_accounts']} accounts acted on it")
        more = link.get("n_objects", 0) - len(link["shared"])
        if more > 0:
            lines.append(f"    ... and {more} more shared objects")
    return "\n".join(lines)
