"""Peer baselines re-implemented on canonical events, each returning the contract's accounts table.

Every baseline module has ``run(events) -> accounts`` and a ``__main__``
(``python -m benchmarks.baselines.NAME EVENTS --out DIR``) that writes
``DIR/accounts.parquet`` so ``coordetect evaluate`` can score it. This module
holds what they share: turning a kept-edge list into connected-component
clusters and the accounts table, and the command line.

Peers produce clusters, not scores; a flagged account's ``score`` here is its
strongest kept edge relative to the strongest kept edge overall (so it ranks
accounts within one run), 0.0 for unflagged accounts.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from detector.schema import OUT_ACCOUNTS, check_frame


def share_events(events: pl.DataFrame) -> pl.DataFrame:
    """The share (retweet/repost) rows that point at something: what all three peers analyse."""
    return events.filter((pl.col("action") == "share") & pl.col("target").is_not_null())


def component_accounts(account_ids: pl.Series, edges: pl.DataFrame, *, method: str, link: str) -> pl.DataFrame:
    """The accounts table of ``account_ids`` clustered by the connected components of ``edges``.

    ``edges`` has ``source``, ``target`` (account ids) and a numeric ``weight``;
    every edge given is kept. Components of two or more accounts become
    clusters (numbered 0.. in order of their smallest account id) and are all
    flagged, as the peers do. ``method``/``link`` word the evidence.
    """
    accounts = account_ids.unique().sort().to_frame("account_id").with_row_index("node")
    n = accounts.height
    coded = (
        edges.lazy()
        .select("source", "target", pl.col("weight").cast(pl.Float64))
        .join(accounts.lazy().rename({"account_id": "source", "node": "u"}), on="source")
        .join(accounts.lazy().rename({"account_id": "target", "node": "v"}), on="target")
        .collect()
    )
    u, v = coded["u"].to_numpy(), coded["v"].to_numpy()
    _, labels = connected_components(coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)
    # Labels follow the lowest node first and nodes are in account-id order, so
    # numbering the multi-account components by label is deterministic.
    sizes = np.bincount(labels, minlength=1)
    cluster_of_label = np.full(len(sizes), -1, dtype=np.int64)
    multi = np.flatnonzero(sizes >= 2)
    cluster_of_label[multi] = np.arange(len(multi))

    strongest = (
        pl.concat([coded.select(node="u", weight="weight"), coded.select(node="v", weight="weight")])
        .group_by("node")
        .agg(pl.col("weight").max().alias("strongest"))
    )
    top = float(coded["weight"].max()) if coded.height else 1.0
    table = (
        accounts.with_columns(
            cluster_id=pl.Series(cluster_of_label[labels], dtype=pl.Int64),
            size=pl.Series(sizes[labels], dtype=pl.Int64),
        )
        .join(strongest, on="node", how="left")
        .with_columns(flagged=pl.col("cluster_id") >= 0)
        .with_columns(
            score=pl.when(pl.col("flagged")).then(pl.col("strongest") / (top if top > 0 else 1.0)).otherwise(0.0),
            evidence=pl.when(pl.col("flagged"))
            .then(
                pl.format(
                    "{}: connected component of {} accounts; strongest link {} {}",
                    pl.lit(method),
                    pl.col("size"),
                    # Counts read as counts ("12"), similarities keep three decimals.
                    pl.when(pl.col("strongest") == pl.col("strongest").round(0))
                    .then(pl.col("strongest").cast(pl.Int64).cast(pl.String))
                    .otherwise(pl.col("strongest").round(3).cast(pl.String)),
                    pl.lit(link),
                )
            )
            .otherwise(pl.lit(f"{method}: no link kept")),
        )
        .select(list(OUT_ACCOUNTS))
        .cast(OUT_ACCOUNTS)
    )
    check_frame(table, OUT_ACCOUNTS, what=f"{method} accounts")
    return table


def main(run: Callable[[pl.DataFrame], pl.DataFrame], *, prog: str, argv: Sequence[str] | None = None) -> int:
    """Command line shared by the baselines: ``EVENTS [--format NAME] --out DIR`` writes ``DIR/accounts.parquet``."""
    from detector.errors import CoordetectError
    from detector.io import read_dataset, write_table

    parser = argparse.ArgumentParser(prog=prog, description=run.__doc__)
    parser.add_argument("events", type=Path, help="events file or folder (any layout detector.io reads)")
    parser.add_argument("--format", default="canonical", help="input layout (default: canonical)")
    parser.add_argument("--out", type=Path, required=True, help="output folder; gets accounts.parquet")
    args = parser.parse_args(argv)
    try:
        accounts = run(read_dataset(args.events, format=args.format).events)
        write_table(accounts, args.out / "accounts.parquet")
    except CoordetectError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    print(f"{prog}: {int(accounts['flagged'].sum())} of {accounts.height} accounts flagged -> {args.out}", file=sys.stderr)
    return 0
