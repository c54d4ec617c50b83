"""`coordetect network` end to end: files by extension, exit codes, nothing half-written."""

import json

import networkx as nx
import polars as pl
import pytest

from detector.cli import main

CSV = """account_id,timestamp,action,target,urls
a,2021-01-08T14:00:00Z,share,X,
b,2021-01-08T14:00:30Z,share,X,
c,2021-01-08T14:01:01Z,share,X,
b,2021-01-08T14:03:20Z,share,Y,
a,2021-01-08T14:04:20Z,share,Y,
a,2021-01-08T14:04:20Z,share,Y,
d,2021-01-08T14:05:00Z,post,,https://www.site.com/p/?utm_source=a
e,2021-01-08T14:05:10Z,post,,https://site.com/p
"""


@pytest.fixture
def events_csv(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    return path


def run(*argv):
    return main([str(a) for a in argv])


def test_parquet_output_and_run_record(events_csv, tmp_path, capsys):
    out, record = tmp_path / "net.parquet", tmp_path / "run.json"
    assert run("network", events_csv, "--signal", "share", "--window", 60, "--record", record, "--out", out) == 0
    edges = pl.read_parquet(out)
    assert edges.columns == ["source", "target", "signal", "weight", "source_events", "target_events", "median_gap_s"]
    assert edges.select("source", "target", "weight").rows() == [("a", "b", 2), ("b", "c", 1)]
    facts = json.loads(record.read_text())
    assert facts["input"]["dropped"]["duplicate_row"] == 1
    assert facts["pairs"] == 2 and facts["capped_events"] == 0
    shown = capsys.readouterr().out
    assert "2 pairs among 3 accounts" in shown and "duplicate row 1" in shown


@pytest.mark.parametrize("suffix", [".graphml", ".gexf"])
def test_graph_files_open_in_networkx_with_attributes(events_csv, tmp_path, suffix):
    out = tmp_path / f"net{suffix}"
    assert run("network", events_csv, "--signal", "share", "--window", 60, "--quiet", "--out", out) == 0
    graph = nx.read_graphml(out) if suffix == ".graphml" else nx.read_gexf(out)
    assert set(graph.nodes) == {"a", "b", "c"}
    assert int(graph.edges["a", "b"]["weight"]) == 2 and graph.edges["a", "b"]["signal"] == "share"


def test_csv_output_and_url_normalisation_switch(events_csv, tmp_path):
    out = tmp_path / "net.csv"
    assert run("network", events_csv, "--signal", "url", "--window", 60, "--quiet", "--out", out) == 0
    assert pl.read_csv(out).select("source", "target").rows() == [("d", "e")]
    assert run("network", events_csv, "--signal", "url", "--window", 60, "--raw-urls", "--quiet", "--out", out) == 0
    assert pl.read_csv(out).height == 0


def test_min_weight_and_window_defaults_from_config(events_csv, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[coaction]\nwindow_s = 61\nmin_weight = 1\n")
    out = tmp_path / "net.parquet"
    assert run("network", events_csv, "--signal", "share", "--config", config, "--quiet", "--out", out) == 0
    assert ("a", "c") in pl.read_parquet(out).select("source", "target").rows()
    assert run("network", events_csv, "--signal", "share", "--min-weight", 2, "--quiet", "--out", out) == 0
    assert pl.read_parquet(out).select("source", "target").rows() == [("a", "b")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--signal", "retweet"], "unknown signal 'retweet'"),
        (["--signal", "share", "--window", "-1"], "--window must be >= 0"),
        (["--signal", "share", "--format", "nope"], "invalid choice: 'nope'"),
        (["--signal", "share", "--out-typo"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(events_csv, tmp_path, capsys, argv, message):
    out = tmp_path / "net.parquet"
    assert run("network", events_csv, *argv, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists()


def test_unknown_output_type_is_refused_before_reading(tmp_path, capsys):
    assert run("network", tmp_path / "absent.csv", "--signal", "share", "--out", tmp_path / "net.xlsx") == 2
    assert "unknown file type '.xlsx'" in capsys.readouterr().err


def test_missing_input_exit_2_and_existing_output_untouched(tmp_path, capsys):
    out = tmp_path / "net.parquet"
    out.write_bytes(b"previous result")
    assert run("network", tmp_path / "absent.csv", "--signal", "share", "--out", out) == 2
    assert "absent.csv" in capsys.readouterr().err
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.parquet"]


def test_bad_config_exit_2(events_csv, tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[coaction]\nwindow = 5\n")
    assert run("network", events_csv, "--signal", "share", "--config", config, "--out", tmp_path / "n.parquet") == 2
    assert "Unknown key 'window'" in capsys.readouterr().err


def test_module_entry_point_runs(events_csv, tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "detector", "network", str(events_csv), "--signal", "share", "--window", "60", "--out", str(tmp_path / "n.csv")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "2 pairs among 3 accounts" in done.stdout
