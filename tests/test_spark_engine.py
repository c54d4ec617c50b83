"""The Spark engine gives exactly the embedded engine's answer (`--engine spark --spark-master local[2]`).

Needs pyspark and a Java runtime; `make test` installs both. One Spark session
serves the module (starting one takes seconds).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from detector.cli import main
from detector.engines import spark as spark_engine
from detector.engines.spark import coaction_network_spark, significant_coaction_spark, spark_session
from detector.simulate import simulate, write_simulation
from features.coaction import coaction_network, signal_names
from features.pair_evidence import significant_coaction

pytestmark = pytest.mark.slow
MASTER = "local[2]"


def run(*argv):
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def spark():
    return spark_session(MASTER)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("world")
    write_simulation(simulate("mixed", n_accounts=400, seed=5), folder)
    return folder


def test_every_signal_with_its_objects_and_the_viral_cap(spark, world):
    events = pl.read_parquet(world / "events.parquet")
    signals = signal_names(events)
    assert {"share", "reply", "url", "domain", "hashtag", "mention", "text"} <= set(signals)
    capped_somewhere = False
    for signal in signals:
        # A low cap makes some (object, window) buckets viral, so the cap is compared too.
        kwargs = dict(signal=signal, window_s=1800, max_actors_per_window=12, keep_objects=True)
        embedded, distributed = coaction_network(events, **kwargs), coaction_network_spark(spark, events, **kwargs)
        assert distributed.edges.equals(embedded.edges), signal
        assert (distributed.capped_events, distributed.capped_objects) == (embedded.capped_events, embedded.capped_objects), signal
        assert distributed.pair_objects.equals(embedded.pair_objects), signal
        assert distributed.activity.equals(embedded.activity), signal
        capped_somewhere |= embedded.capped_events > 0
    assert capped_somewhere


@pytest.fixture(scope="module")
def repeated(world) -> pl.DataFrame:
    """The world's events plus a second act of some accounts on objects they already acted on, minutes later."""
    events = pl.read_parquet(world / "events.parquet")
    again = events.gather_every(7).with_columns(pl.col("timestamp") + pl.duration(minutes=4))
    return pl.concat([events, again])


# Low thresholds so that many pairs pass, some objects are popular (more than 15 accounts) and
# some (object, window) buckets are viral (more than 12 accounts).
SIGNIFICANCE = dict(window_s=1800, max_object_accounts=15, min_objects=2, fdr=0.05, min_lift=1.0, max_actors_per_window=12)


@pytest.mark.parametrize("signal", ["share", "url", "hashtag", "like"])
def test_significance_on_spark_equals_the_embedded_path(spark, repeated, signal):
    embedded = significant_coaction(repeated, signal=signal, **SIGNIFICANCE)
    distributed = significant_coaction_spark(spark, repeated, signal=signal, **SIGNIFICANCE)
    assert embedded.significant.height > 0
    assert (distributed.capped_events, distributed.pairs_tested) == (embedded.capped_events, embedded.pairs_tested)
    assert_frame_equal(distributed.significant, embedded.significant, check_exact=True)
    assert_frame_equal(distributed.objects, embedded.objects, check_exact=True)


def test_significance_on_spark_covers_popular_objects_repeats_and_the_cap(spark, repeated):
    """The generated data exercise what the equality above is about, so it is not vacuous."""
    acts = repeated.filter(pl.col("action") == "share").group_by("account_id", "target").len()
    assert (acts["len"] > 1).any()
    found = significant_coaction(repeated, signal="share", **SIGNIFICANCE)
    assert (found.objects["object_accounts"] > SIGNIFICANCE["max_object_accounts"]).any()
    assert found.capped_events > 0


def test_significance_on_spark_with_colliding_object_hashes(spark, repeated, monkeypatch):
    from pyspark.sql import functions as F

    monkeypatch.setattr(spark_engine, "_hash_objects", lambda: F.lit(0).cast("long"))  # every object collides: keyed by strings
    embedded = significant_coaction(repeated, signal="hashtag", **SIGNIFICANCE)
    distributed = significant_coaction_spark(spark, repeated, signal="hashtag", **SIGNIFICANCE)
    assert embedded.significant.height > 0
    assert_frame_equal(distributed.significant, embedded.significant, check_exact=True)
    assert_frame_equal(distributed.objects, embedded.objects, check_exact=True)


def test_significance_on_spark_without_pairs(spark, repeated):
    lonely = repeated.filter(pl.col("action") == "share").head(1)
    found = significant_coaction_spark(spark, lonely, signal="share", **SIGNIFICANCE)
    assert found.significant.is_empty() and found.objects.is_empty() and found.pairs_tested == 0
    embedded = significant_coaction(lonely, signal="share", **SIGNIFICANCE)
    assert (found.significant.schema, found.objects.schema) == (embedded.significant.schema, embedded.objects.schema)


def test_network_command_on_spark_writes_the_same_file(world, tmp_path):
    for signal in ("share", "url"):
        assert run("network", world / "events.parquet", "--signal", signal, "--window", 600, "--quiet", "--out", tmp_path / f"{signal}-polars.parquet") == 0
        assert run("network", world / "events.parquet", "--signal", signal, "--window", 600, "--engine", "spark", "--spark-master", MASTER,
                   "--quiet", "--out", tmp_path / f"{signal}-spark.parquet") == 0
        embedded = pl.read_parquet(tmp_path / f"{signal}-polars.parquet")
        assert embedded.height > 0
        assert pl.read_parquet(tmp_path / f"{signal}-spark.parquet").equals(embedded)


def test_score_on_spark_gives_the_same_clusters_edges_and_scores(world, tmp_path):
    common = (world / "events.parquet", "--accounts", world / "accounts.parquet", "--quiet")
    assert run("score", *common, "--out", tmp_path / "polars") == 0
    assert run("score", *common, "--engine", "spark", "--spark-master", MASTER, "--out", tmp_path / "spark") == 0
    for table in ("accounts", "clusters", "edges", "objects", "features"):
        embedded = pl.read_parquet(tmp_path / "polars" / f"{table}.parquet")
        assert pl.read_parquet(tmp_path / "spark" / f"{table}.parquet").equals(embedded), table
    assert pl.read_parquet(tmp_path / "polars" / "clusters.parquet")["flagged"].any()


def test_spark_master_needs_the_spark_engine(world, tmp_path, capsys):
    assert run("network", world / "events.parquet", "--signal", "share", "--spark-master", MASTER, "--out", tmp_path / "n.parquet") == 2
    assert "--spark-master goes with --engine spark" in capsys.readouterr().err


def test_clustering_one_component_per_task_gives_the_same_labels(spark):
    import random

    from detector.cluster import cluster_accounts
    from detector.engines.spark import cluster_accounts_spark

    rng = random.Random(4)
    rows = []
    for group in range(12):  # dense groups of 3-9 accounts, some chained to the next by a weak link, plus loose pairs
        members = [f"g{group:02d}_{i}" for i in range(rng.randint(3, 9))]
        rows += [(a, b, rng.uniform(1, 8)) for i, a in enumerate(members) for b in members[i + 1:] if rng.random() < 0.8]
        if group % 3:
            rows.append((members[0], f"g{group + 1:02d}_0", 0.3))
    rows += [(f"x{i}", f"y{i}", 1.0) for i in range(10)]
    fused = pl.DataFrame(
        [(min(a, b), max(a, b), w, ["share"]) for a, b, w in rows],
        schema={"source": pl.String(), "target": pl.String(), "strength": pl.Float64(), "signals": pl.List(pl.String())},
        orient="row",
    ).unique(["source", "target"], keep="first").sort("source", "target")
    params = dict(min_cluster_size=3, min_samples=2, split_density=0.25, trim_share=0.25, attach_share=0.5)
    embedded = cluster_accounts(fused, **params)
    assert embedded["cluster_id"].max() >= 8
    assert cluster_accounts_spark(spark, fused, **params).equals(embedded)


def test_behaviour_features_built_per_account_group_on_spark(spark, world):
    from detector.engines.spark import behaviour_features_spark
    from features.base import build_all

    events, accounts = pl.read_parquet(world / "events.parquet"), pl.read_parquet(world / "accounts.parquet")
    names = ("timing", "metadata", "infra")
    embedded = build_all(events, accounts, names=names)
    assert behaviour_features_spark(spark, events, accounts, names).equals(embedded)


def test_score_reads_a_remote_address_through_spark(world, tmp_path):
    """A file:// address (any scheme Spark reads) is fetched through Spark: same tables and inputs' sha256 as the local path, the address recorded."""
    import json
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    half = pl.read_parquet(world / "events.parquet")
    half.head(half.height // 2).write_parquet(folder / "a.parquet")
    half.slice(half.height // 2).write_parquet(folder / "b.parquet")
    (folder / "notes.txt").write_text("not an input")
    shutil.copy(world / "accounts.parquet", tmp_path / "accounts.parquet")
    local = ("--accounts", tmp_path / "accounts.parquet", "--quiet")
    assert run("score", folder, *local, "--out", tmp_path / "local") == 0
    remote = (f"file://{folder}", "--accounts", f"file://{tmp_path / 'accounts.parquet'}", "--quiet")
    assert run("score", *remote, "--engine", "spark", "--spark-master", MASTER, "--out", tmp_path / "remote") == 0
    for table in ("accounts", "clusters", "edges", "objects"):
        assert pl.read_parquet(tmp_path / "remote" / f"{table}.parquet").equals(pl.read_parquet(tmp_path / "local" / f"{table}.parquet")), table
    here = json.loads((tmp_path / "local" / "run.json").read_text())
    there = json.loads((tmp_path / "remote" / "run.json").read_text())
    assert [f["path"] for f in there["input"]["files"]] == [f"file:{folder}/a.parquet", f"file:{folder}/b.parquet"]
    assert [f["sha256"] for f in there["input"]["files"]] == [f["sha256"] for f in here["input"]["files"]]
    assert there["accounts_files"][0]["sha256"] == here["accounts_files"][0]["sha256"]


def test_a_remote_address_needs_the_spark_engine_and_bad_remote_input_names_the_address(world, tmp_path, capsys):
    assert run("score", f"file://{world}/events.parquet", "--quiet", "--out", tmp_path / "a") == 2
    assert "a remote address is read through Spark; add --engine spark" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "events.csv").write_text("account_id,timestamp\nu1,not a time\n")
    code = run("network", f"file://{broken}", "--signal", "share", "--engine", "spark", "--spark-master", MASTER, "--out", tmp_path / "n.parquet")
    err = capsys.readouterr().err
    assert code != 0 and f"file:{broken}/events.csv" in err and "coordetect-input-" not in err
    assert run("network", f"file://{tmp_path}/nothing-here", "--signal", "share", "--engine", "spark", "--spark-master", MASTER, "--out", tmp_path / "m.parquet") != 0
    assert "nothing-here" in capsys.readouterr().err
