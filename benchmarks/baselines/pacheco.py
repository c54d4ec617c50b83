"""Baseline: Pacheco et al. 2021, co-retweet case study (TF-IDF cosine, top 0.5%, connected components).

Pacheco, Hui, Torres-Lugo, Truong, Flammini, Menczer, "Uncovering Coordinated
Networks on Social Media: Methods and Case Studies", ICWSM 2021. Parameters are
those of the authors' own code for the co-retweet case study
(github.com/osome-iu/coordination-detection, ``CS4/co_retweet.ipynb``):

- trace: the retweeted post id (our ``share`` rows' ``target``), self-retweets
  excluded (a share whose target is a post by the same account);
- support filter: accounts with more than ``min_support = 10`` retweets
  (``sup_thresh = 10``, kept when ``support > sup_thresh``) and more than one
  distinct retweeted post;
- bipartite weight: TF-IDF with sublinear tf, smoothed idf, l2 norm and
  ``min_df = 3`` (falling back to 1 when no post reaches 3 accounts), as their
  ``TfidfVectorizer`` call;
- projection: cosine similarity of the account vectors (a sparse product);
- edge filter: keep pairs whose similarity is at least the 0.995 quantile of
  the nonzero pair similarities ("the most suspicious 0.5% of the edges");
- clustering: connected components.

One difference: the authors' code asks ``sparse_dot_topn`` for each account's
100 most similar accounts only, a speed shortcut; here every nonzero pair is
computed, which only matters for groups of more than 100 accounts.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import csr_matrix, triu
from sklearn.feature_extraction.text import TfidfTransformer

from benchmarks.baselines import component_accounts, main, share_events

MIN_SUPPORT = 10
MIN_DF = 3
TOP_SHARE = 0.005


def retweet_counts(events: pl.DataFrame, *, min_support: int = MIN_SUPPORT) -> pl.DataFrame:
    """``account_id, target, count`` of shares per account and post, after the self-retweet and support filters."""
    shares = share_events(events)
    if "event_id" in events.columns:
        authors = events.filter(pl.col("event_id").is_not_null()).select(
            target="event_id", author="account_id"
        ).unique("target", keep="first")
        shares = shares.join(authors, on="target", how="left").filter(
            pl.col("author").is_null() | (pl.col("author") != pl.col("account_id"))
        )
    counts = shares.group_by("account_id", "target").agg(count=pl.len())
    support = counts.group_by("account_id").agg(support=pl.col("count").sum(), distinct=pl.len())
    kept = support.filter((pl.col("support") > min_support) & (pl.col("distinct") > 1)).select("account_id")
    return counts.join(kept, on="account_id").sort("account_id", "target")


def similarity_edges(counts: pl.DataFrame, *, min_df: int = MIN_DF) -> pl.DataFrame:
    """Every nonzero TF-IDF cosine similarity between two accounts: ``source, target, weight``."""
    empty = pl.DataFrame(schema={"source": pl.String, "target": pl.String, "weight": pl.Float64})
    if counts.is_empty():
        return empty
    rows = counts["account_id"].unique().sort()
    cols = counts["target"].unique().sort()
    coded = counts.with_columns(
        r=pl.col("account_id").replace_strict(rows, pl.int_range(rows.len(), eager=True)),
        c=pl.col("target").replace_strict(cols, pl.int_range(cols.len(), eager=True)),
    )
    matrix = csr_matrix(
        (coded["count"].to_numpy().astype(np.float64), (coded["r"].to_numpy(), coded["c"].to_numpy())),
        shape=(rows.len(), cols.len()),
    )
    df = np.diff(matrix.tocsc().indptr)
    keep = df >= min_df
    if not keep.any():  # the authors fall back to min_df = 1 when no term survives
        keep = df >= 1
    tfidf = TfidfTransformer(sublinear_tf=True, smooth_idf=True, norm="l2").fit_transform(matrix[:, keep])
    sims = triu(tfidf @ tfidf.T, k=1).tocoo()
    nonzero = sims.data > 0
    names = rows.to_numpy()
    return pl.DataFrame(
        {
            "source": names[sims.row[nonzero]],
            "target": names[sims.col[nonzero]],
            "weight": sims.data[nonzero],
        },
        schema=empty.schema,
    )


def run(
    events: pl.DataFrame,
    *,
    min_support: int = MIN_SUPPORT,
    min_df: int = MIN_DF,
    top_share: float = TOP_SHARE,
) -> pl.DataFrame:
    """TF-IDF co-retweet cosine network, top ``top_share`` of similarities, components flagged."""
    edges = similarity_edges(retweet_counts(events, min_support=min_support), min_df=min_df)
    if edges.height:
        threshold = float(np.quantile(edges["weight"].to_numpy(), 1.0 - top_share))
        edges = edges.filter(pl.col("weight") >= threshold)
    return component_accounts(events["account_id"], edges, method="pacheco co-retweet", link="tf-idf cosine")


if __name__ == "__main__":
    raise SystemExit(main(run, prog="python -m benchmarks.baselines.pacheco"))
