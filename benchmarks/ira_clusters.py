"""Score the real IRA tweets and check cluster coherence against the researchers' categories.

    python -m benchmarks.ira_clusters [--data ../shared/data/ira/ira_tweets.parquet] [--out benchmarks/results]

Every account in this set is a troll account, so there is no precision to
measure; what it can show is whether the clusters are coherent: how many
accounts the detector links, and how pure each cluster is by Linvill and
Warren's ``account_category`` (RightTroll, LeftTroll, NonEnglish, HashtagGamer,
...). Writes ``ira_clusters.md`` and ``ira_clusters.json``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import polars as pl

from detector.config import Config
from detector.io import atomic_path
from detector.run import score_files

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "ira" / "ira_tweets.parquet"
RESULTS = Path(__file__).resolve().parent / "results"


def purity_table(accounts: pl.DataFrame, categories: pl.DataFrame) -> pl.DataFrame:
    """One row per cluster: size, flagged, score, its most common category and that category's share."""
    top = pl.col("account_category").mode().sort().first()
    return (
        accounts.filter(pl.col("cluster_id") >= 0)
        .join(categories, on="account_id", how="left")
        .group_by("cluster_id")
        .agg(
            pl.len().alias("n_accounts"),
            pl.col("flagged").first(),
            pl.col("score").first(),
            top.alias("top_category"),
            (pl.col("account_category") == top).mean().alias("purity"),
        )
        .sort("n_accounts", "cluster_id", descending=[True, False])
    )


def summarize(table: pl.DataFrame) -> dict:
    out = {}
    for name, part in (("all", table), ("flagged", table.filter("flagged"))):
        n = int(part["n_accounts"].sum()) if part.height else 0
        out[name] = {
            "clusters": part.height,
            "accounts": n,
            "size_weighted_purity": round(float((part["purity"] * part["n_accounts"]).sum() / n), 3) if n else None,
            "clusters_at_least_90pct_pure": int((part["purity"] >= 0.9).sum()),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ira_clusters", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        run = score_files(args.data, accounts=None, format="ira", config=Config(), out_dir=Path(tmp) / "scored")
    seconds = time.perf_counter() - started
    categories = (
        pl.read_parquet(args.data, columns=["author", "account_category"])
        .group_by("author")
        .agg(pl.col("account_category").mode().sort().first())
        .rename({"author": "account_id"})
    )
    table = purity_table(run.detection.accounts, categories)
    summary = summarize(table)
    counts = run.record["counts"]
    lines = [
        "# IRA tweets: what `coordetect score --format ira` links, and how pure its clusters are",
        "",
        f"Input: {run.record['input']['rows_read']:,} rows, {run.record['input']['rows_kept']:,} kept; "
        f"{counts['accounts']:,} accounts. Every account is a troll account (no precision here); purity is the share "
        "of a cluster's accounts in its most common `account_category`. Regenerate with `python -m benchmarks.ira_clusters`.",
        "",
        f"- linked into clusters: {counts['clustered_accounts']:,} accounts in {counts['clusters']} clusters; "
        f"flagged: {counts['flagged_accounts']:,} accounts in {counts['flagged_clusters']} clusters",
        f"- size-weighted purity: all clusters {summary['all']['size_weighted_purity']}, flagged {summary['flagged']['size_weighted_purity']}; "
        f"clusters at least 90% pure: {summary['all']['clusters_at_least_90pct_pure']} of {summary['all']['clusters']} "
        f"({summary['flagged']['clusters_at_least_90pct_pure']} of {summary['flagged']['clusters']} flagged)",
        f"- wall time {seconds:.1f} s (stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in run.record["timings_s"].items()) + f"), "
        f"peak memory {run.record['peak_memory_mib']:,.0f} MiB",
        "",
        "| cluster | accounts | flagged | score | top category | purity |",
        "| ---: | ---: | --- | ---: | --- | ---: |",
    ]
    for row in table.head(25).iter_rows(named=True):
        lines.append(f"| {row['cluster_id']} | {row['n_accounts']} | {row['flagged']} | {row['score']:.2f} | {row['top_category']} | {row['purity']:.2f} |")
    if table.height > 25:
        lines.append(f"\n{table.height - 25} smaller clusters in `ira_clusters.json`.")
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out / "ira_clusters.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    record = {"summary": summary, "counts": counts, "seconds": round(seconds, 1), "timings_s": run.record["timings_s"],
              "peak_memory_mib": run.record["peak_memory_mib"], "clusters": table.to_dicts()}
    with atomic_path(args.out / "ira_clusters.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines[:8]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
