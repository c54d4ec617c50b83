"""The polars GEXF/GraphML writer: files read back as the graph networkx's own writer gives."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import networkx as nx
import polars as pl
import pytest

from detector import graphs, schema
from detector.graphs import account_graph, write_account_graph, write_network

HOSTILE = "a&b<c>\"d'"
UNICODE = "ünïcødé"
TABBED = "t\tab\nnl"
READ = {"gexf": nx.read_gexf, "graphml": nx.read_graphml}
WRITE = {"gexf": nx.write_gexf, "graphml": nx.write_graphml}


def accounts_table() -> pl.DataFrame:
    """Hostile ids, a clustered account without links, and two accounts with neither (left out)."""
    rows = [
        (HOSTILE, 0, 0.1 + 0.2, True),
        (UNICODE, -1, 1e-7, False),
        (TABBED, -1, 0.25, False),
        ("z", -1, 0.0, False),
        ("clustered_alone", 1, 1.0, True),
        ("lonely", -1, 0.5, False),
        ("&amp;", -1, 0.75, False),
    ]
    frame = pl.DataFrame(rows, schema=["account_id", "cluster_id", "score", "flagged"], orient="row")
    return frame.with_columns(pl.lit("").alias("evidence")).cast(schema.OUT_ACCOUNTS)


def edges_table() -> pl.DataFrame:
    """Edges with ``source < target``; the first pair carries two signals (weights summed, ``share+url``)."""
    rows = [(HOSTILE, UNICODE, 0.1, "url"), (HOSTILE, UNICODE, 0.2, "share"), ("z", UNICODE, 3.0, "share"), (TABBED, "z", 1e-7, "url")]
    return pl.DataFrame(rows, schema=["source", "target", "weight", "signal"], orient="row").cast(schema.OUT_EDGES)


def typed_nodes(graph: nx.Graph) -> dict:
    """Every node's attributes with their Python types, so ``1`` and ``1.0`` or ``True`` and ``"true"`` differ."""
    return {node: {k: (type(v), v) for k, v in data.items()} for node, data in graph.nodes(data=True)}


def typed_edges(graph: nx.Graph) -> dict:
    """Every edge (unordered) with its attributes and their Python types."""
    return {frozenset((u, v)): {k: (type(w), w) for k, w in data.items()} for u, v, data in graph.edges(data=True)}


def networkx_round_trip(graph: nx.Graph, kind: str, tmp_path) -> nx.Graph:
    """``graph`` written by networkx's own writer and read back."""
    path = tmp_path / f"networkx.{kind}"
    WRITE[kind](graph, path)
    return READ[kind](path)


@pytest.fixture(params=["gexf", "graphml"])
def kind(request):
    return request.param


def test_reads_back_as_networkx_writes_it(kind, tmp_path):
    path = tmp_path / f"graph.{kind}"
    write_account_graph(accounts_table(), edges_table(), path, kind)
    ours = READ[kind](path)
    theirs = networkx_round_trip(account_graph(accounts_table(), edges_table()), kind, tmp_path)
    assert list(ours.nodes) == list(theirs.nodes) == sorted([HOSTILE, UNICODE, TABBED, "z", "clustered_alone"])
    assert typed_nodes(ours) == typed_nodes(theirs)
    assert typed_edges(ours) == typed_edges(theirs)
    assert ours.edges[HOSTILE, UNICODE]["signal"] == "share+url"
    assert ours.edges[HOSTILE, UNICODE]["weight"] == 0.1 + 0.2


def test_floats_round_trip_exactly(kind, tmp_path):
    scores = [0.1 + 0.2, 1e-7, 5e-324, 1.7976931348623157e308, 2 / 3, 1e16 + 2, -0.0]
    accounts = pl.DataFrame({"account_id": [f"a{i}" for i in range(len(scores))], "cluster_id": 0, "score": scores, "flagged": False, "evidence": ""})
    path = tmp_path / f"graph.{kind}"
    write_account_graph(accounts.cast(schema.OUT_ACCOUNTS), edges_table().clear(), path, kind)
    read = READ[kind](path)
    back = [read.nodes[f"a{i}"]["score"] for i in range(len(scores))]
    assert [math.copysign(1, x) for x in back] == [math.copysign(1, x) for x in scores]
    assert [x.hex() for x in back] == [x.hex() for x in scores]


def test_files_are_xml_in_the_expected_namespace(kind, tmp_path):
    path = tmp_path / f"graph.{kind}"
    write_account_graph(accounts_table(), edges_table(), path, kind)
    root = ET.parse(path).getroot()
    if kind == "gexf":
        ns = "{http://www.gexf.net/1.2draft}"
        assert root.tag == f"{ns}gexf"
        graph = root.find(f"{ns}graph")
        assert graph.attrib == {"defaultedgetype": "undirected", "mode": "static"}
        assert {a.get("class") for a in graph.findall(f"{ns}attributes")} == {"node", "edge"}
    else:
        ns = "{http://graphml.graphdrawing.org/xmlns}"
        assert root.tag == f"{ns}graphml"
        assert root.find(f"{ns}graph").get("edgedefault") == "undirected"
        keys = {(k.get("for"), k.get("attr.name"), k.get("attr.type")) for k in root.findall(f"{ns}key")}
        assert ("node", "cluster_id", "long") in keys and ("edge", "weight", "double") in keys


def test_empty_graph_writes_a_valid_file(kind, tmp_path):
    path = tmp_path / f"graph.{kind}"
    accounts = accounts_table().with_columns(pl.lit(-1, dtype=pl.Int64).alias("cluster_id"))
    write_account_graph(accounts, edges_table().clear(), path, kind)
    ET.parse(path)
    read = READ[kind](path)
    assert read.number_of_nodes() == 0 and read.number_of_edges() == 0 and not read.is_directed()


def test_slices_join_into_one_file(kind, tmp_path, monkeypatch):
    """Rows are written a slice at a time; edge ids still count across slices."""
    path = tmp_path / f"graph.{kind}"
    monkeypatch.setattr(graphs, "_SLICE_ROWS", 2)
    write_account_graph(accounts_table(), edges_table(), path, kind)
    theirs = networkx_round_trip(account_graph(accounts_table(), edges_table()), kind, tmp_path)
    ours = READ[kind](path)
    assert typed_nodes(ours) == typed_nodes(theirs) and typed_edges(ours) == typed_edges(theirs)


def test_carriage_returns_and_missing_values_survive(kind, tmp_path):
    """A CR is kept (networkx's GraphML turns it into a newline); a null attribute is left out rather than written."""
    nodes = pl.DataFrame({"id": ["x\ry", "z"], "note": ["r\rn", None]})
    edges = pl.DataFrame({"source": ["x\ry"], "target": ["z"], "weight": [None], "gap": [None]}, schema={"source": pl.String, "target": pl.String, "weight": pl.Float64, "gap": pl.Float64})
    path = tmp_path / f"graph.{kind}"
    graphs.write_graph(nodes, edges, path, kind)
    read = READ[kind](path)
    assert read.nodes["x\ry"]["note"] == "r\rn" and "note" not in read.nodes["z"]
    assert {k: v for k, v in read.edges["x\ry", "z"].items() if k != "id"} == {}


def test_network_files_read_back_as_networkx_writes_them(kind, tmp_path):
    """``coordetect network``'s tables (integer weight, float gap) keep every column and type."""
    network = pl.DataFrame(
        {"source": [HOSTILE, "b", "b"], "target": [UNICODE, "c", "d"], "signal": "share", "weight": [2, 3, 1], "source_events": [2, 3, 1], "target_events": [2, 4, 1], "median_gap_s": [0.5, 1e-7, 30.0]},
        schema=schema.NETWORK,
    )
    path = tmp_path / f"network.{kind}"
    write_network(network, path)
    ours = READ[kind](path)
    theirs = networkx_round_trip(graphs.to_networkx(network), kind, tmp_path)
    assert typed_nodes(ours) == typed_nodes(theirs)
    assert typed_edges(ours) == typed_edges(theirs)
