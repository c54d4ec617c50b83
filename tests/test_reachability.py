"""The bulk mutual reachability gives exactly the hdbscan package's labels."""

from __future__ import annotations

import hdbscan
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from detector.reachability import sparse_hdbscan_labels


def _graph(seed: int, n: int) -> sp.csr_matrix:
    """A connected symmetric distance graph: planted dense groups, sparse noise links, heavily tied distances."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, max(2, n // 12), n)
    i, j = np.triu_indices(n, 1)
    same = group[i] == group[j]
    keep = rng.random(len(i)) < np.where(same, 0.6, 4.0 / n)
    chain = np.arange(n - 1)  # a path keeps the graph connected
    i, j = np.concatenate([i[keep], chain]), np.concatenate([j[keep], chain + 1])
    strength = rng.choice([0.5, 1.0, 1.0, 2.0, 3.5, 8.0], len(i))  # few distinct values: many ties
    d = 1.0 / (1.0 + strength)
    graph = sp.coo_matrix((np.concatenate([d, d]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)).tocsr()
    graph.sum_duplicates()
    assert connected_components(graph, directed=False)[0] == 1
    return graph


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("min_cluster_size,min_samples", [(3, 2), (5, 3), (4, 10)])
@pytest.mark.parametrize("allow_single_cluster", [True, False])
def test_labels_equal_the_package(seed, min_cluster_size, min_samples, allow_single_cluster):
    graph = _graph(seed, n=20 + 17 * seed)
    samples = min(min_samples, graph.shape[0] - 1)
    expected = hdbscan.HDBSCAN(
        metric="precomputed", min_cluster_size=min_cluster_size, min_samples=samples, allow_single_cluster=allow_single_cluster, max_dist=1.0
    ).fit(graph).labels_
    found = sparse_hdbscan_labels(graph, min_cluster_size=min_cluster_size, min_samples=samples, allow_single_cluster=allow_single_cluster, max_dist=1.0)
    assert np.array_equal(found, expected)


def test_the_graphs_have_clusters_to_find():
    """The comparison above is not between empty answers: the planted groups come out as several clusters."""
    found = [sparse_hdbscan_labels(_graph(seed, 20 + 17 * seed), min_cluster_size=3, min_samples=2, allow_single_cluster=False, max_dist=1.0) for seed in range(12)]
    assert sum(labels.max() >= 1 for labels in found) >= 9


def test_disconnected_graph_is_refused():
    a = sp.csr_matrix(np.array([[0, 0.5, 0, 0], [0.5, 0, 0, 0], [0, 0, 0, 0.5], [0, 0, 0.5, 0]]))
    with pytest.raises(ValueError, match="connected component"):
        sparse_hdbscan_labels(a, min_cluster_size=2, min_samples=1, allow_single_cluster=True, max_dist=1.0)
