"""`coordetect score` and `coordetect demo` end to end: the output folder, run.json, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest

from detector.cli import main
from detector.evaluate import evaluate_dir

FIXTURE = Path(__file__).parent / "fixtures" / "planted"


def run(*argv):
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("score") / "out"
    assert run("score", FIXTURE / "events.csv", "--accounts", FIXTURE / "accounts.csv", "--quiet", "--out", out) == 0
    return out


def test_writes_the_contract_files(scored):
    assert sorted(p.name for p in scored.iterdir()) == ["accounts.parquet", "clusters.parquet", "edges.parquet", "features.parquet", "graph.gexf", "objects.parquet", "report.html", "run.json"]
    accounts = pl.read_parquet(scored / "accounts.parquet")
    assert accounts.schema == pl.Schema({"account_id": pl.String, "cluster_id": pl.Int64, "score": pl.Float64, "flagged": pl.Boolean, "evidence": pl.String})
    clusters = pl.read_parquet(scored / "clusters.parquet")
    assert clusters.schema == pl.Schema({"cluster_id": pl.Int64, "n_accounts": pl.Int64, "score": pl.Float64, "flagged": pl.Boolean, "evidence": pl.String})
    edges = pl.read_parquet(scored / "edges.parquet")
    assert edges.schema == pl.Schema({"source": pl.String, "target": pl.String, "weight": pl.Float64, "signal": pl.String})
    assert set(accounts.filter("flagged")["account_id"]) == {f"ring_{i}" for i in range(6)}


def test_run_record_is_complete(scored):
    record = json.loads((scored / "run.json").read_text())
    for key in ("schema_version", "version", "config", "input", "counts", "timings_s", "peak_memory_mib"):
        assert key in record, key
    assert set(record["config"]) == {"coaction", "detector", "cluster", "score"}
    files = record["input"]["files"]
    assert len(files) == 1 and files[0]["rows"] == 834
    assert files[0]["sha256"] == hashlib.sha256((FIXTURE / "events.csv").read_bytes()).hexdigest()
    assert record["input"]["rejected"] == {"null_account_id": 0, "null_timestamp": 0}
    assert record["counts"]["accounts"] == 66 and record["counts"]["flagged_accounts"] == 6
    for stage in ("read", "coaction", "cluster", "score", "total"):
        assert record["timings_s"][stage] >= 0
    assert record["peak_memory_mib"] > 0


def test_evaluate_reads_a_scored_folder(scored, tmp_path):
    truth = pl.DataFrame({"account_id": [f"ring_{i}" for i in range(6)] + [f"user_{i:02d}" for i in range(60)]})
    truth = truth.with_columns(
        pl.when(pl.col("account_id").str.starts_with("ring")).then(pl.lit("op1")).otherwise(None).alias("operator_id"),
        pl.lit("x").alias("role"),
    )
    truth.write_parquet(tmp_path / "truth.parquet")
    metrics = evaluate_dir(scored, tmp_path / "truth.parquet")
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0 and metrics["organic_fpr"] == 0.0


def test_summary_lists_flagged_clusters(tmp_path, capsys):
    assert run("score", FIXTURE / "events.csv", "--accounts", FIXTURE / "accounts.csv", "--out", tmp_path / "o") == 0
    printed = capsys.readouterr().out
    assert "1 clusters flagged (6 accounts)" in printed and "share: 12 posts co-shared" in printed


def test_bad_input_exits_2_and_leaves_previous_outputs(scored, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in scored.iterdir()}
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,timestamp,action\na,not-a-time,post\n")
    assert run("score", bad, "--out", scored) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "bad.csv" in err and "timestamp" in err
    assert {p.name: p.read_bytes() for p in scored.iterdir()} == before


def test_unknown_config_key_exits_2(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[cluster]\nmin_cluster_sise = 4\n")
    assert run("score", FIXTURE / "events.csv", "--config", config, "--out", tmp_path / "o") == 2
    assert "min_cluster_sise" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_demo_scores_a_simulation_and_prints_metrics(tmp_path, capsys):
    assert run("demo", "--accounts", 600, "--seed", 3, "--out", tmp_path / "demo") == 0
    printed = capsys.readouterr().out
    assert "against the simulator's ground truth: precision" in printed
    assert (tmp_path / "demo" / "scored" / "accounts.parquet").exists()
    assert (tmp_path / "demo" / "data" / "truth.parquet").exists()


def test_data_without_any_co_action_scores_everyone_unflagged(tmp_path):
    events = tmp_path / "posts.csv"
    events.write_text("account_id,timestamp,action\na,2021-01-01T00:00:00Z,post\nb,2021-01-01T00:00:05Z,post\n")
    assert run("score", events, "--quiet", "--out", tmp_path / "o") == 0
    accounts = pl.read_parquet(tmp_path / "o" / "accounts.parquet")
    assert accounts["account_id"].to_list() == ["a", "b"]
    assert accounts["cluster_id"].to_list() == [-1, -1] and not accounts["flagged"].any()
    assert pl.read_parquet(tmp_path / "o" / "clusters.parquet").is_empty()


def test_graph_opens_in_networkx_with_cluster_score_and_flag(scored):
    import networkx as nx

    graph = nx.read_gexf(scored / "graph.gexf")
    ring = {f"ring_{i}" for i in range(6)}
    assert ring <= set(graph.nodes)
    for node in ring:
        attrs = graph.nodes[node]
        assert attrs["flagged"] is True and attrs["score"] > 0.5 and attrs["cluster_id"] >= 0
    flagged = {n for n, a in graph.nodes(data=True) if a["flagged"]}
    assert flagged == ring
    shares = [d for u, v, d in graph.edges(data=True) if u in ring and v in ring and "share" in d["signal"]]
    assert shares and all(d["weight"] > 0 for d in shares)


def test_graphml_on_request(tmp_path):
    import networkx as nx

    out = tmp_path / "o"
    assert run("score", FIXTURE / "events.csv", "--graph", "graphml", "--quiet", "--out", out) == 0
    graph = nx.read_graphml(out / "graph.graphml")
    assert graph.nodes["ring_1"]["flagged"] is True


def test_final_summary_is_a_table_at_a_terminal(tmp_path):
    import io

    from rich.console import Console

    from detector.cli import _print_score_summary
    from detector.config import Config
    from detector.run import score_files

    score = score_files(FIXTURE / "events.csv", accounts=FIXTURE / "accounts.csv", format="canonical", config=Config(), out_dir=tmp_path / "o")
    buffer = io.StringIO()
    _print_score_summary(score, console=Console(file=buffer, force_terminal=True, width=200, color_system=None))
    printed = buffer.getvalue()
    assert "flagged clusters (1 of 1, strongest first)" in printed
    row = next(line for line in printed.splitlines() if "share: 12 posts co-shared" in line)
    assert "│" in row and " 0 " in row and " 6 " in row  # cluster 0, 6 accounts, in table cells
    assert f"report: {tmp_path / 'o' / 'report.html'}" in printed
