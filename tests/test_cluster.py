"""Fusion and HDBSCAN clustering (detector.cluster) and the score (detector.scoring)."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from detector.cluster import cluster_accounts, fuse
from detector.scoring import noisy_or, score_clusters


def _clique(names, strength, signal="share"):
    return [(a, b, signal, strength) for a, b in itertools.combinations(sorted(names), 2)]


def _fused(rows):
    frame = pl.DataFrame(rows, schema=["source", "target", "signal", "strength"], orient="row")
    return fuse([frame], min_strength=0.0)


def _groups(labels: pl.DataFrame) -> list[set[str]]:
    clustered = labels.filter(pl.col("cluster_id") >= 0).group_by("cluster_id").agg("account_id")
    return sorted((set(g) for g in clustered["account_id"].to_list()), key=lambda g: min(g))


def test_fuse_adds_strengths_over_signals_and_lists_them():
    frame = pl.DataFrame({"source": ["a", "a", "b"], "target": ["b", "b", "c"], "signal": ["share", "url", "share"], "strength": [1.0, 2.0, 0.2]})
    out = fuse([frame], min_strength=0.5)
    assert out.rows() == [("a", "b", 3.0, ["share", "url"])]


def test_two_dense_groups_joined_by_one_weak_link_are_two_clusters():
    a = [f"a{i}" for i in range(6)]
    b = [f"b{i}" for i in range(5)]
    rows = _clique(a, 5.0) + _clique(b, 4.0) + [("a0", "b0", "share", 0.3)]
    labels = cluster_accounts(_fused(rows), min_cluster_size=3, min_samples=2)
    assert _groups(labels) == [set(a), set(b)]


def test_an_account_with_one_link_to_a_group_is_noise():
    a = [f"a{i}" for i in range(8)]
    rows = _clique(a, 5.0) + [("a3", "zz", "share", 6.0)]
    labels = cluster_accounts(_fused(rows), min_cluster_size=3, min_samples=2)
    assert _groups(labels) == [set(a)]
    assert labels.filter(pl.col("account_id") == "zz")["cluster_id"].item() == -1


def test_a_sparse_chain_of_groups_is_split():
    groups = [[f"g{k}_{i}" for i in range(5)] for k in range(4)]
    rows = [r for g in groups for r in _clique(g, 3.0)]
    rows += [(groups[k][0], groups[k + 1][1], "share", 1.0) for k in range(3)]
    labels = cluster_accounts(_fused(rows), min_cluster_size=3, min_samples=2)
    assert _groups(labels) == [set(g) for g in groups]


def test_cluster_ids_are_deterministic_and_ordered_by_smallest_member():
    rows = _clique(["m1", "m2", "m3", "m4"], 4.0) + _clique(["c1", "c2", "c3"], 4.0)
    first = cluster_accounts(_fused(rows), min_cluster_size=3, min_samples=2)
    again = cluster_accounts(_fused(list(reversed(rows))), min_cluster_size=3, min_samples=2)
    assert first.equals(again)
    assert first.filter(pl.col("account_id") == "c1")["cluster_id"].item() == 0


def test_empty_evidence_gives_no_clusters():
    assert cluster_accounts(_fused([]).clear(), min_cluster_size=3, min_samples=2).is_empty()


@pytest.mark.parametrize("values", [(0.0,) * 6, (1.0,) * 6, (0.3, 0.0, 1.0, 0.2, 0.9, 0.4)])
def test_noisy_or_stays_in_unit_interval_and_only_grows(values):
    names = ("coaction", "agreement", "identity", "infrastructure", "copy", "farm")
    frame = pl.DataFrame({n: [v] for n, v in zip(names, values)})
    base = frame.select(noisy_or({n: pl.col(n) for n in names}))
    assert 0.0 <= base.item() <= 1.0
    for n in names:
        bumped = frame.with_columns((pl.col(n) + 0.1).clip(upper_bound=1.0))
        assert bumped.select(noisy_or({m: pl.col(m) for m in names})).item() >= base.item()


def test_one_weak_strand_alone_cannot_flag():
    facts = pl.DataFrame({"coaction": [0.0], "agreement": [0.0], "identity": [1.0], "infrastructure": [0.0], "copy": [0.0], "farm": [0.0]})
    scored = score_clusters(facts, threshold=0.5)
    assert scored["score"].item() == pytest.approx(0.35) and not scored["flagged"].item()
    both = facts.with_columns(pl.lit(1.0).alias("infrastructure"))
    assert score_clusters(both, threshold=0.5)["flagged"].item()


def _dense_trim(graph, labels, *, share, min_cluster_size):
    """The rim trim as first written, on a dense account x cluster matrix: the reference."""
    k = int(labels.max()) + 1
    adjacency = (graph.toarray() > 0).astype(float)
    onehot = np.zeros((len(labels), k))
    onehot[labels >= 0, labels[labels >= 0]] = 1.0
    links = adjacency @ onehot
    out = labels.copy()
    for c in range(k):
        members = np.flatnonzero(labels == c)
        if len(members) < 2:
            continue
        frac = links[members, c] / (len(members) - 1)
        weak = frac < share * np.median(frac)
        out[members[weak]] = -1
        if len(members) - weak.sum() < min_cluster_size:
            out[members] = -1
    return out


def _dense_attach(graph, labels, *, share):
    k = int(labels.max()) + 1
    adjacency = (graph.toarray() > 0).astype(float)
    onehot = np.zeros((len(labels), k))
    onehot[labels >= 0, labels[labels >= 0]] = 1.0
    ratio = (adjacency @ onehot) / np.maximum(onehot.sum(axis=0), 1)
    best = ratio.argmax(axis=1)
    take = (labels < 0) & (ratio[np.arange(len(labels)), best] >= share)
    out = labels.copy()
    out[take] = best[take]
    return out


@pytest.mark.parametrize("seed", range(40))
def test_sparse_rim_trim_and_attach_equal_the_dense_reference(seed):
    """The sparse member-link counts give the same trims and attachments as a dense n x k matrix, ties included."""
    import scipy.sparse as sp

    from detector.cluster import _attach_noise, _trim_weak_members

    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    k = int(rng.integers(1, 6))
    labels = rng.integers(-1, k, size=n).astype(np.int64)
    labels[rng.integers(0, n)] = k - 1  # cluster ids run 0 .. k-1 with at least the last present
    density = rng.uniform(0.05, 0.6)
    upper = np.triu(rng.random((n, n)) < density, 1)
    i, j = np.nonzero(upper)
    distance = rng.choice([0.2, 0.5, 0.8], size=len(i))  # few values: tied shares are common
    graph = sp.coo_matrix((np.r_[distance, distance], (np.r_[i, j], np.r_[j, i])), shape=(n, n)).tocsr()
    for share in (0.25, 0.5, 1.0):
        assert np.array_equal(
            _trim_weak_members(graph, labels, share=share, min_cluster_size=3),
            _dense_trim(graph, labels, share=share, min_cluster_size=3),
        )
        assert np.array_equal(_attach_noise(graph, labels, share=share), _dense_attach(graph, labels, share=share))


def _random_graph(rng, n, n_links):
    import scipy.sparse as sp

    i, j = rng.integers(0, n, n_links), rng.integers(0, n, n_links)
    keep = i != j
    lo, hi = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    pairs = np.unique(np.stack([lo, hi], axis=1), axis=0)
    d = rng.uniform(0.05, 1.0, len(pairs))
    return sp.coo_matrix((np.r_[d, d], (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]])), shape=(n, n)).tocsr()


@pytest.mark.parametrize("seed", range(5))
def test_neighbourhood_overlap_equals_the_set_definition(seed, monkeypatch):
    import detector.cluster as cluster

    rng = np.random.default_rng(seed)
    graph = _random_graph(rng, 60, 240)
    nbrs = [set(graph.indices[graph.indptr[u] : graph.indptr[u + 1]]) | {u} for u in range(60)]
    expected = graph.tocoo()
    want = {(u, v): len(nbrs[u] & nbrs[v]) / np.sqrt(len(nbrs[u]) * len(nbrs[v])) for u, v in zip(expected.row, expected.col)}
    monkeypatch.setattr(cluster, "_OVERLAP_BLOCK_ENTRIES", 50)  # many row blocks: the result must not depend on them
    got = cluster.neighbourhood_overlap(graph)
    assert np.array_equal(got.indptr, graph.indptr) and np.array_equal(got.indices, graph.indices)
    coo = got.tocoo()
    assert {(u, v): pytest.approx(w) for u, v, w in zip(coo.row, coo.col, coo.data)} == want


def test_a_ring_inside_a_crowd_of_equally_strong_links_is_found():
    """A 30-account near-clique whose links are no stronger than the crowd's around it.

    Each ring member also links to a few crowd accounts; the crowd's accounts link
    at random. By strength alone HDBSCAN sees one undifferentiated component; the
    neighbourhood overlap lets the ring stand out as the group it is.
    """
    rng = np.random.default_rng(7)
    ring = [f"r{i:02d}" for i in range(30)]
    crowd = [f"c{i:03d}" for i in range(600)]
    rows = [row for row in _clique(ring, 1.8) if rng.random() < 0.95]
    for _ in range(2400):
        a, b = rng.choice(len(crowd), 2, replace=False)
        rows.append((crowd[min(a, b)], crowd[max(a, b)], "share", 1.8))
    for member in ring:
        for c in rng.choice(len(crowd), 2, replace=False):
            rows.append((member, crowd[c], "share", 1.8))
    fused = _fused(rows)
    labels = cluster_accounts(fused, min_cluster_size=3, min_samples=2)
    ring_labels = labels.filter(pl.col("account_id").is_in(ring))["cluster_id"]
    best = ring_labels.filter(ring_labels >= 0).mode().sort()[0]
    members = set(labels.filter(pl.col("cluster_id") == best)["account_id"])
    assert len(members & set(ring)) >= 27 and len(members - set(ring)) <= 2
