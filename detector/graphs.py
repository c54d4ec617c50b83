"""Write a co-action network to the file type its name asks for.

Parquet and CSV keep the table as it is; GraphML and GEXF (both open in Gephi)
become an undirected networkx graph whose edges carry every column. Every
writer goes through ``atomic_path``, so a failed write leaves no partial file.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import polars as pl

from detector.errors import UsageError
from detector.io import atomic_path, write_table

NETWORK_SUFFIXES = (".parquet", ".csv", ".graphml", ".gexf")


def network_suffix(path: Path) -> str:
    """The output kind of ``path``, or ``UsageError`` naming the ones we write."""
    suffix = path.suffix.lower()
    if suffix not in NETWORK_SUFFIXES:
        raise UsageError(f"--out {path}: unknown file type '{suffix or '(none)'}'; expected one of {', '.join(NETWORK_SUFFIXES)}")
    return suffix


def to_networkx(edges: pl.DataFrame) -> nx.Graph:
    """Undirected graph: one node per account, one edge per pair with every other column as attributes."""
    graph = nx.Graph()
    attributes = [c for c in edges.columns if c not in ("source", "target")]
    for row in edges.iter_rows(named=True):
        graph.add_edge(row["source"], row["target"], **{k: row[k] for k in attributes})
    return graph


def write_network(edges: pl.DataFrame, path: Path) -> None:
    """Write ``edges`` as Parquet, CSV, GraphML or GEXF by ``path``'s extension, atomically."""
    suffix = network_suffix(path)
    if suffix in (".parquet", ".csv"):
        write_table(edges, path)
        return
    graph = to_networkx(edges)
    with atomic_path(path) as tmp:
        if suffix == ".graphml":
            nx.write_graphml(graph, tmp)
        else:
            nx.write_gexf(graph, tmp)


GRAPH_FORMATS = ("gexf", "graphml")


def account_graph(accounts: pl.DataFrame, edges: pl.DataFrame) -> nx.Graph:
    """The scored accounts as a graph for Gephi.

    Nodes: every account that is in a cluster or has a link, with ``cluster_id``,
    ``score`` and ``flagged`` (accounts with neither are left out: they would only
    scatter the picture). Edges: one per linked pair, ``weight`` the summed
    strength over its signals and ``signal`` the signals joined by ``+``.
    """
    pairs = (
        edges.group_by("source", "target")
        .agg(pl.col("weight").sum(), pl.col("signal").unique().sort().str.join("+"))
        .sort("source", "target")
    )
    linked = pl.concat([pairs["source"], pairs["target"]]).unique()
    nodes = accounts.filter((pl.col("cluster_id") >= 0) | pl.col("account_id").is_in(linked.implode())).sort("account_id")
    graph = nx.Graph()
    for row in nodes.iter_rows(named=True):
        graph.add_node(row["account_id"], label=row["account_id"], cluster_id=row["cluster_id"], score=row["score"], flagged=row["flagged"])
    for row in pairs.iter_rows(named=True):
        graph.add_edge(row["source"], row["target"], weight=row["weight"], signal=row["signal"])
    return graph


def write_account_graph(accounts: pl.DataFrame, edges: pl.DataFrame, path: Path, kind: str) -> None:
    """Write ``account_graph`` as GEXF or GraphML (``kind``)."""
    graph = account_graph(accounts, edges)
    if kind == "graphml":
        nx.write_graphml(graph, path)
    elif kind == "gexf":
        nx.write_gexf(graph, path)
    else:
        raise UsageError(f"--graph {kind}: expected one of {', '.join(GRAPH_FORMATS)}")
