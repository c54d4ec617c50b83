"""Parts of one operator that clustering cut apart, found by the objects they stand for.

HDBSCAN can cut a large ring into several dense parts: members of a ring of
180 that joins each wave at 60% meet most of each other, but the hierarchy
finds three cores of about 36 and leaves the rest as noise. Each part's main
objects (``detector.exclusivity``: what most of it acts on together) are the
ring's own posts and tags, but each part is only a third of their actors, so
each part's exclusivity, and its score, is a third of the ring's.

Two parts of one ring stand for the same objects: ``sibling_families`` links
clusters that share at least ``MIN_SHARED`` main objects, half or more of the
smaller one's, and groups the links into families. A family is only a
proposal (``stronger_families``): the pipeline joins it when the joined cluster
scores at least the threshold and above each of its parts, so a family that
adds nothing stays apart. Organic clusters that meet on a community's popular
posts are proposed too, but joined they are as small a part of those posts'
audiences as apart: in ``mixed`` seed 0, 11 organic families joined score 0.003
to 0.10.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from detector.exclusivity import Audience, main_objects

# Main objects two clusters must share (and at least half of the smaller cluster's) to be siblings. Parts
# of a ring that pushes a few tags or sites share two to four; five, tried first, left large_operator
# seed 4's 2,000-account batch in 44 parts (ARI 0.058; 0.388 at two), and no organic family was joined at either.
MIN_SHARED = 2
MIN_OVERLAP = 0.5
FAMILIES: dict[str, pl.DataType] = {"cluster_id": pl.Int64(), "family": pl.Int64()}


def sibling_families(labels: pl.DataFrame, coacted: pl.DataFrame, audience: Audience | None) -> pl.DataFrame:
    """``FAMILIES``: clusters in families of two or more siblings, each family named by its lowest cluster id."""
    main = main_objects(labels, coacted, audience)
    if main.is_empty():
        return pl.DataFrame(schema=FAMILIES)
    sizes = main.group_by("cluster_id").agg(pl.len().alias("k"))
    links = (
        main.join(main, on=["signal", "object"], suffix="_b")
        .filter(pl.col("cluster_id") < pl.col("cluster_id_b"))
        .group_by("cluster_id", "cluster_id_b")
        .agg(pl.len().alias("shared"))
        .join(sizes, on="cluster_id")
        .join(sizes.rename({"cluster_id": "cluster_id_b", "k": "k_b"}), on="cluster_id_b")
        .filter((pl.col("shared") >= MIN_SHARED) & (pl.col("shared") >= MIN_OVERLAP * pl.min_horizontal("k", "k_b")))
    )
    if links.is_empty():
        return pl.DataFrame(schema=FAMILIES)
    ids = pl.concat([links["cluster_id"], links["cluster_id_b"]]).unique().sort()
    rows = ids.search_sorted(links["cluster_id"]).to_numpy()
    cols = ids.search_sorted(links["cluster_id_b"]).to_numpy()
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(ids), len(ids)))
    _, component = connected_components(graph, directed=False)
    families = pl.DataFrame({"cluster_id": ids, "component": component})
    return (
        families.with_columns(pl.col("cluster_id").min().over("component").alias("family"))
        .select("cluster_id", "family")
        .sort("cluster_id")
        .cast(FAMILIES)
    )


def joined_families(labels: pl.DataFrame, families: pl.DataFrame) -> pl.DataFrame:
    """``labels`` with every cluster of ``families`` renamed to its family."""
    return labels.join(families, on="cluster_id", how="left").select("account_id", pl.coalesce("family", "cluster_id").alias("cluster_id"))


def stronger_families(families: pl.DataFrame, parts: pl.DataFrame, joined: pl.DataFrame, *, threshold: float) -> pl.DataFrame:
    """The rows of ``families`` whose joined cluster (``joined``: ``cluster_id`` = family, ``score``) reaches ``threshold``
    and scores above every one of its parts (``parts``: ``cluster_id, score``)."""
    best = families.join(parts.select("cluster_id", "score"), on="cluster_id").group_by("family").agg(pl.col("score").max().alias("best"))
    stronger = joined.select(pl.col("cluster_id").alias("family"), "score").join(best, on="family").filter(
        (pl.col("score") >= threshold) & (pl.col("score") > pl.col("best"))
    )
    return families.filter(pl.col("family").is_in(stronger["family"].implode()))
