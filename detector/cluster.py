"""Fuse pair evidence across signals and cluster accounts into operator groups with HDBSCAN.

Every source of pair evidence (significant co-action per signal, near-duplicate
texts, shared devices or addresses, shared identity templates) arrives as rows
``source, target, signal, strength``. Fusion adds the strengths of a pair over
its signals: agreeing signals make a pair closer. The distance between two
accounts is ``1 / (1 + strength)`` in (0, 1]; pairs without evidence are at the
maximum distance 1.

HDBSCAN clusters on a distance that also asks how much two linked accounts'
neighbourhoods agree (``neighbourhood_overlap``, the structural similarity of
SCAN: Xu et al., KDD 2007): ``1 / (1 + strength * overlap)``, where ``overlap``
is the cosine of the two accounts' closed neighbourhoods in the pair graph. An
operator is a near-clique: its members link to the same accounts, so their
links keep their strength. An organic account's links are incidental (each meets
different crowds), so they weaken. Without it, HDBSCAN, which grows its
hierarchy from each account's closest links, filed a 43-account ring whose
members were linked to 41 of each other (and to 11 outsiders in all) as noise
inside a 2,600-account component of organic links of the same strength.

HDBSCAN (the ``hdbscan`` package, with the mutual reachability computed in bulk
by ``detector.reachability``) runs on that sparse distance graph one connected component at a time
(components share no evidence, so they are independent problems; this also keeps
each problem small). Within a component it finds the dense cores and leaves
accounts that hang on by one weak edge as noise (-1), instead of forcing every
linked account into a group as connected components do.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from detector.reachability import sparse_hdbscan_labels

log = logging.getLogger(__name__)

PAIR_EVIDENCE: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "signal": pl.String(),
    "strength": pl.Float64(),
}
FUSED: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "strength": pl.Float64(),
    "signals": pl.List(pl.String()),
}
LABELS: dict[str, pl.DataType] = {"account_id": pl.String(), "cluster_id": pl.Int64()}


def fuse(evidence: list[pl.DataFrame], *, min_strength: float) -> pl.DataFrame:
    """One row per pair: summed strength over signals and the signals that agree; weak pairs dropped."""
    frames = [frame.select(list(PAIR_EVIDENCE)).cast(PAIR_EVIDENCE) for frame in evidence if frame.height]
    if not frames:
        return pl.DataFrame(schema=FUSED)
    return (
        pl.concat(frames)
        .group_by("source", "target")
        .agg(pl.col("strength").sum(), pl.col("signal").unique().sort().alias("signals"))
        .filter(pl.col("strength") >= min_strength)
        .sort("source", "target")
        .cast(FUSED)
    )


def cluster_accounts(
    fused: pl.DataFrame,
    *,
    min_cluster_size: int,
    min_samples: int,
    split_density: float = 0.25,
    trim_share: float = 0.25,
    attach_share: float = 0.5,
    neighbourhood: bool = True,
) -> pl.DataFrame:
    """``account_id, cluster_id`` for every account in ``fused``; -1 for noise.

    ``neighbourhood``: HDBSCAN's distance weighs each link by its accounts'
    ``neighbourhood_overlap`` (the module docstring); off, by strength alone.

    Cluster ids are numbered 0, 1, ... in the order of each cluster's smallest
    account_id, so the same input always gives the same ids.
    """
    if fused.is_empty():
        return pl.DataFrame(schema=LABELS)
    names, coded = index_pairs(fused)
    i, j = coded["i"].to_numpy(), coded["j"].to_numpy()
    distance = 1.0 / (1.0 + coded["strength"].to_numpy())
    n = len(names)
    graph = sp.coo_matrix((np.concatenate([distance, distance]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)).tocsr()
    n_components, component = connected_components(graph, directed=False)
    clustered = _overlap_distances(graph) if neighbourhood else graph
    labels = np.full(n, -1, dtype=np.int64)
    next_label = 0
    for c in range(n_components):
        members = np.flatnonzero(component == c)
        if len(members) < min_cluster_size:
            continue
        local = _hdbscan_component(
            clustered[members][:, members], min_cluster_size=min_cluster_size, min_samples=min_samples, min_density=split_density
        )
        for value in np.unique(local[local >= 0]):
            labels[members[local == value]] = next_label
            next_label += 1
    labels = _trim_weak_members(graph, labels, share=trim_share, min_cluster_size=min_cluster_size)
    labels = _attach_noise(graph, labels, share=attach_share)
    frame = pl.DataFrame({"account_id": names, "cluster_id": labels})
    return _renumber(frame)


def index_pairs(pairs: pl.DataFrame) -> tuple[pl.Series, pl.DataFrame]:
    """The accounts of ``pairs`` (``source``, ``target``, ...) sorted, and ``pairs`` in its own row order with each side's position among them (``i``, ``j``)."""
    names = pl.concat([pairs["source"], pairs["target"]]).unique().sort()
    index = pl.DataFrame({"account_id": names}).with_row_index("node")
    coded = pairs.join(index.rename({"account_id": "source", "node": "i"}), on="source", maintain_order="left").join(
        index.rename({"account_id": "target", "node": "j"}), on="target", maintain_order="left"
    )
    return names, coded


def pairs_inside(pairs: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``pairs`` (``source``, ``target``, ...) whose two accounts share a cluster, with its ``cluster_id``."""
    members = labels.filter(pl.col("cluster_id") >= 0)
    return (
        pairs.join(members.rename({"account_id": "source"}), on="source")
        .join(members.rename({"account_id": "target", "cluster_id": "_target_cluster"}), on="target")
        .filter(pl.col("cluster_id") == pl.col("_target_cluster"))
        .drop("_target_cluster")
    )


# Rows of a block of the neighbourhood product are chosen so that it holds about this many entries.
_OVERLAP_BLOCK_ENTRIES = 20_000_000


def neighbourhood_overlap(graph: sp.csr_matrix) -> sp.csr_matrix:
    """Per stored link of ``graph`` (symmetric, canonical CSR), the cosine of its two accounts' closed neighbourhoods.

    ``|N[u] & N[v]| / sqrt(|N[u]| |N[v]|)`` with ``N[u]`` the account and its
    linked accounts: 1 for two accounts linked to exactly the same others, near
    0 for two hubs that share only their link. Same sparsity pattern as
    ``graph``. Computed as ``(A + I)^2`` restricted to the links, a block of rows
    at a time: the full square of a graph with busy accounts would not fit.
    """
    closed = graph.copy()
    closed.data = np.ones_like(closed.data)
    links = closed.copy()
    closed = (closed + sp.identity(graph.shape[0], format="csr")).tocsr()
    size = np.diff(closed.indptr).astype(np.float64)
    # Entries of the product's rows: each row touches its neighbours' neighbourhoods.
    work = np.cumsum(np.asarray(links @ size.reshape(-1, 1)).ravel() + size)
    common = []
    start = 0
    while start < graph.shape[0]:
        stop = max(start + 1, int(np.searchsorted(work, work[start] + _OVERLAP_BLOCK_ENTRIES, side="right")))
        common.append((closed[start:stop] @ closed).multiply(links[start:stop]).tocsr())
        start = stop
    shared = sp.vstack(common, format="csr")
    shared.sort_indices()
    if shared.nnz != graph.nnz or not np.array_equal(shared.indices, graph.indices):
        raise ValueError("neighbourhood_overlap needs a canonical CSR graph with no stored zeros")
    row = np.repeat(np.arange(graph.shape[0]), np.diff(shared.indptr))
    shared.data = shared.data / np.sqrt(size[row] * size[shared.indices])
    return shared


def _overlap_distances(graph: sp.csr_matrix) -> sp.csr_matrix:
    """``graph``'s distances ``1 / (1 + strength)`` turned into ``1 / (1 + strength * overlap)``."""
    out = graph.copy()
    out.data = 1.0 / (1.0 + (1.0 / graph.data - 1.0) * neighbourhood_overlap(graph).data)
    return out


def _member_links(graph: sp.csr_matrix, labels: np.ndarray) -> tuple[sp.coo_matrix, np.ndarray]:
    """Per account, its links to each cluster's members (sparse n x k: a dense one is gigabytes at 10M events) and the cluster sizes."""
    k = int(labels.max()) + 1
    rows = np.flatnonzero(labels >= 0)
    membership = sp.csr_matrix((np.ones(len(rows)), (rows, labels[rows])), shape=(len(labels), k))
    adjacency = graph.copy()
    adjacency.data = np.ones_like(adjacency.data)
    links = (adjacency @ membership).tocoo()
    links.sum_duplicates()
    return links, np.bincount(labels[rows], minlength=k)


def _trim_weak_members(graph: sp.csr_matrix, labels: np.ndarray, *, share: float, min_cluster_size: int) -> np.ndarray:
    """Make noise of members linked to far fewer of their cluster than its typical member is.

    HDBSCAN's mutual reachability pulls in an account that has one strong link to a
    dense group (an organic user who reshared a few of an operator's posts). A member
    linked to less than ``share`` times the median member's share of the cluster is
    not part of the group; a cluster left smaller than ``min_cluster_size`` dissolves.
    """
    if not (labels >= 0).any():
        return labels
    links, sizes = _member_links(graph, labels)
    own = links.col == labels[links.row]
    links_to_own = np.zeros(len(labels))
    links_to_own[links.row[own]] = links.data[own]
    out = labels.copy()
    for c in range(len(sizes)):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        frac = links_to_own[members] / (len(members) - 1)
        weak = frac < share * np.median(frac)
        out[members[weak]] = -1
        if len(members) - weak.sum() < min_cluster_size:
            out[members] = -1
    return out


def _attach_noise(graph: sp.csr_matrix, labels: np.ndarray, *, share: float) -> np.ndarray:
    """Give a noise account to the cluster it is linked to at least ``share`` of the members of.

    HDBSCAN keeps the densest core of a group and calls its rim noise; an account
    tied to most of a group's members is part of that group by any reading. Among
    clusters tied at the best share, the lowest id wins.
    """
    clustered = labels >= 0
    if not clustered.any() or clustered.all():
        return labels
    links, sizes = _member_links(graph, labels)
    ratio = links.data / np.maximum(sizes, 1)[links.col]
    order = np.lexsort((links.col, -ratio, links.row))  # per account: best share first, lowest cluster on ties
    row, first = np.unique(links.row[order], return_index=True)
    best = np.zeros(len(labels), dtype=np.int64)
    best_ratio = np.zeros(len(labels))
    best[row] = links.col[order][first]
    best_ratio[row] = ratio[order][first]
    take = (~clustered) & (best_ratio >= share)
    out = labels.copy()
    out[take] = best[take]
    return out


def _hdbscan_component(
    distances: sp.csr_matrix, *, min_cluster_size: int, min_samples: int, min_density: float = 0.25, depth: int = 3
) -> np.ndarray:
    """HDBSCAN labels of one connected component.

    ``allow_single_cluster``: a component may be one operator. But a cluster that
    comes out sparse (fewer than ``min_density`` of its member pairs linked) is a
    chain of groups rather than one group, so it is clustered again on its own
    with the single-cluster answer forbidden, up to ``depth`` times.
    """
    n = distances.shape[0]
    labels = sparse_hdbscan_labels(
        distances, min_cluster_size=min_cluster_size, min_samples=min(min_samples, n - 1), allow_single_cluster=depth == 3, max_dist=1.0
    ).astype(np.int64)
    if depth == 0:
        return labels
    next_label = labels.max() + 1
    for value in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == value)
        m = len(members)
        if m < 2 * min_cluster_size:
            continue
        sub = distances[members][:, members]
        if (sub.nnz / 2) / (m * (m - 1) / 2) >= min_density:
            continue
        local = _hdbscan_component(sub, min_cluster_size=min_cluster_size, min_samples=min_samples, min_density=min_density, depth=depth - 1)
        labels[members] = -1
        for part in np.unique(local[local >= 0]):
            labels[members[local == part]] = next_label
            next_label += 1
    return labels


def _renumber(frame: pl.DataFrame) -> pl.DataFrame:
    """Deterministic cluster ids: ordered by each cluster's smallest account_id; noise stays -1."""
    order = (
        frame.filter(pl.col("cluster_id") >= 0)
        .group_by("cluster_id")
        .agg(pl.col("account_id").min().alias("first"))
        .sort("first")
        .with_row_index("new_id")
        .select("cluster_id", pl.col("new_id").cast(pl.Int64))
    )
    return (
        frame.join(order, on="cluster_id", how="left")
        .select("account_id", pl.col("new_id").fill_null(-1).alias("cluster_id"))
        .sort("account_id")
        .cast(LABELS)
    )
