"""Baseline: CooRTweet (Righetti & Balluff, R package on CRAN), co-share network over a percentile.

CooRTweet's pipeline with its default parameters, on canonical ``share`` rows
(``object_id`` = the shared post, ``content_id`` = the share's own id):

- ``detect_groups(x, time_window = 10, min_participation = 2)``: an account
  needs at least 2 shares to take part (``R/detect_groups.R``: "a user must
  have tweeted a minimum number of times"); two accounts are paired when they
  shared the same object within ``|dt| <= 10`` seconds;
- ``generate_coordinated_network(x, edge_weight = 0.5, subgraph = 1)``: the
  edge weight counts the pair's coordinated shares, and edges whose weight
  exceeds the 0.5 quantile of all edge weights are kept ("the default value is
  0.5 which represents the median value of the edges in the network";
  ``R/generate_coordinated_network.R`` keeps ``weight > quantile(weight, p)``);
- CooRTweet returns that subgraph (an igraph object); as for the other
  baselines, its connected components are taken as the coordinated groups.

Two simplifications, neither of which changes the kept edges on platform
data: the weight is the number of distinct objects the pair co-shared (CooRTweet
counts share pairs; the two agree because an account shares a post once), and
CooRTweet's second participation filter (accounts with at least 2 coordinated
shares) is not applied separately: a kept edge has weight > median >= 1, so
both of its accounts already have 2 coordinated shares.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from benchmarks.baselines import component_accounts, main, share_events
from features.coaction import coaction_network

TIME_WINDOW_S = 10
MIN_PARTICIPATION = 2
EDGE_WEIGHT_QUANTILE = 0.5


def run(
    events: pl.DataFrame,
    *,
    time_window_s: int = TIME_WINDOW_S,
    min_participation: int = MIN_PARTICIPATION,
    edge_weight_quantile: float = EDGE_WEIGHT_QUANTILE,
) -> pl.DataFrame:
    """Co-shares within ``time_window_s``, edges above the weight quantile, components flagged."""
    shares = share_events(events)
    active = shares.group_by("account_id").agg(n=pl.len()).filter(pl.col("n") >= min_participation)
    shares = shares.join(active.select("account_id"), on="account_id", how="semi")
    edges = coaction_network(shares, signal="share", window_s=time_window_s, min_weight=1).edges
    if edges.height:
        # R's default quantile (type 7) is numpy's default linear interpolation.
        threshold = float(np.quantile(edges["weight"].to_numpy(), edge_weight_quantile))
        edges = edges.filter(pl.col("weight") > threshold)
    kept = edges.select("source", "target", pl.col("weight").cast(pl.Float64))
    return component_accounts(events["account_id"], kept, method="coortweet co-share", link="co-shared objects")


if __name__ == "__main__":
    raise SystemExit(main(run, prog="python -m benchmarks.baselines.coortweet"))
