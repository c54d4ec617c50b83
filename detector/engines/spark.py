"""The co-action engine as Spark DataFrame jobs, for data beyond one machine.

``coaction_network_spark`` returns exactly what ``features.coaction.coaction_network``
returns (same edges, weights, directed event counts, median gaps, viral-cap
counts and, with ``keep_objects``, the same per-object rows and activity), so the
detector can run on either engine and give the same answer.

How it maps onto Spark:

- Objects are extracted and normalised on the executors by the very same
  polars code the embedded engine uses (``signal_events`` inside
  ``mapInArrow``), so URL, hashtag and text normalisation cannot drift apart
  between engines.
- Time is cut into buckets one window wide. A bucket of one object with more
  than ``max_actors_per_window`` distinct accounts is viral and not paired
  (as in the embedded engine).
- Two events of one object can be within the window only if their buckets
  differ by at most one, so each row is joined with the rows of its own object
  in its own and the neighbouring buckets: an equi-join on (object, bucket)
  that Spark can shuffle and spill, not a cross join.
- Per pair and object the closest gap, per pair the distinct partnered events of
  each side: minimum and distinct counts, which no duplicate can change, so no
  ordering of equal timestamps is needed.

``significant_coaction_spark`` returns exactly what
``features.pair_evidence.significant_coaction`` returns (the significant pairs
and the objects behind them) and, like it, never gathers every pair: the pairs
and their statistics stay on the executors, and the driver receives only
per-account and per-degree tables, two sums, the pairs whose p-value can pass
Benjamini-Hochberg, and the objects behind the pairs that do.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa

from detector.errors import InputError, UsageError
from detector.schema import NETWORK, empty_frame
from features.coaction import CoactionResult, check_signal, signal_columns, signal_events
from features.normalize import DEFAULT_TRACKING_PARAMS
from features.pair_evidence import SignalEvidence, _bh_cutoff
from features.significance import EVIDENCE, EVIDENCE_UNIT, null_rate, rarity_units

log = logging.getLogger(__name__)

_US_PER_S = 1_000_000
DEFAULT_MASTER = "local[*]"


def spark_session(master: str = DEFAULT_MASTER, *, app_name: str = "coordetect"):
    """A Spark session for coordetect: UTC, Arrow transfers, few shuffle partitions on a local master.

    The executors run this same Python (``PYSPARK_PYTHON``), which has polars.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - depends on the installation
        raise UsageError("--engine spark needs pyspark: pip install 'coordetect[spark]' (and a Java runtime)") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # `coordetect network` brings every pair back to the driver; 1 GiB (Spark's default) is too
        # little from about a million events. COORDETECT_SPARK_MAX_RESULT sets it (0 = no limit).
        .config("spark.driver.maxResultSize", os.environ.get("COORDETECT_SPARK_MAX_RESULT", "8g"))
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "8").config("spark.driver.memory", os.environ.get("COORDETECT_SPARK_DRIVER_MEMORY", "4g"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _signal_rows(spark, events: pl.DataFrame, signal: str, normalize_urls: bool, tracking_params: tuple[str, ...]):
    """Spark rows ``event, account_id, object, ts`` for ``signal``; objects normalised on the executors by ``signal_events``."""
    needed = [c for c in signal_columns(signal) if c in events.columns]
    frame = events.select(needed).with_row_index("event").with_columns(pl.col("event").cast(pl.Int64), pl.col("timestamp").dt.epoch("us").alias("timestamp"))
    source = spark.createDataFrame(frame.to_arrow())
    out_schema = "event long, account_id string, object string, ts long"

    def extract(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            part = pl.from_arrow(batch)
            part = part.with_columns(pl.from_epoch(pl.col("timestamp"), time_unit="us").dt.replace_time_zone("UTC").alias("timestamp"))
            global_event = part["event"]
            rows = signal_events(part.drop("event"), signal, normalize_urls=normalize_urls, tracking_params=tracking_params).collect()
            rows = rows.with_columns(global_event.gather(rows["event"]).alias("event")).select(
                pl.col("event").cast(pl.Int64), "account_id", pl.col("object").cast(pl.String), pl.col("ts").cast(pl.Int64)
            )
            yield from rows.to_arrow().to_batches()

    return source.mapInArrow(extract, out_schema)


def _to_polars(frame) -> pl.DataFrame:
    return pl.from_arrow(frame.toArrow())


def _bucket(window_us: int):
    """The row's time bucket, one window wide (``ts // window``, as the embedded engine cuts it)."""
    from pyspark.sql import functions as F

    return F.floor(F.col("ts") / max(window_us, 1)).cast("long").alias("bucket")


def coaction_network_spark(
    spark,
    events: pl.DataFrame,
    *,
    signal: str,
    window_s: int,
    min_weight: int = 1,
    max_actors_per_window: int = 5000,
    normalize_urls: bool = True,
    tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS,
    keep_objects: bool = False,
    **_ignored,
) -> CoactionResult:
    """``coaction_network`` (same arguments and result) computed by ``spark``; see the module docstring."""
    from pyspark.sql import functions as F

    check_signal(events, signal)
    window_us = window_s * _US_PER_S
    rows = _signal_rows(spark, events, signal, normalize_urls, tuple(tracking_params)).withColumn("bucket", _bucket(window_us))
    rows = rows.persist()
    crowded = (
        rows.groupBy("object", "bucket").agg(F.countDistinct("account_id").alias("actors")).filter(F.col("actors") > max_actors_per_window).select("object", "bucket")
    )
    capped = rows.join(crowded, ["object", "bucket"], "left_semi")
    kept = rows.join(crowded, ["object", "bucket"], "left_anti")
    capped_counts = capped.agg(F.countDistinct("event").alias("events"), F.countDistinct("object").alias("objects")).collect()[0]

    left = kept.select(
        F.col("object"), F.explode(F.array(F.col("bucket") - 1, F.col("bucket"), F.col("bucket") + 1)).alias("bucket"),
        F.col("account_id").alias("lo"), F.col("event").alias("event_lo"), F.col("ts").alias("ts_lo"),
    )
    right = kept.select("object", "bucket", F.col("account_id").alias("hi"), F.col("event").alias("event_hi"), F.col("ts").alias("ts_hi"))
    pairs = (
        left.join(right, ["object", "bucket"])
        .filter((F.col("lo") < F.col("hi")) & (F.abs(F.col("ts_hi") - F.col("ts_lo")) <= window_us))
        .select("lo", "hi", "object", "event_lo", "event_hi", F.abs(F.col("ts_hi") - F.col("ts_lo")).alias("gap_us"))
    ).persist()
    per_object = pairs.groupBy("lo", "hi", "object").agg(F.min("gap_us").alias("gap_us"))
    stats = (
        per_object.groupBy("lo", "hi")
        .agg(F.count(F.lit(1)).alias("weight"), F.percentile(F.col("gap_us"), F.lit(0.5)).alias("median_gap_us"))
        .filter(F.col("weight") >= min_weight)
    )
    counts = pairs.groupBy("lo", "hi").agg(F.countDistinct("event_lo").alias("source_events"), F.countDistinct("event_hi").alias("target_events"))
    edges = _to_polars(stats.join(counts, ["lo", "hi"]))
    pairs_objects = _to_polars(per_object.join(stats.select("lo", "hi"), ["lo", "hi"], "left_semi")) if keep_objects else None
    degree = _to_polars(rows.groupBy("object").agg(F.countDistinct("account_id").alias("object_accounts"))) if keep_objects else None
    activity = (
        _to_polars(rows.groupBy("account_id").agg(F.countDistinct("object").alias("objects"), F.countDistinct("event").alias("events")))
        if keep_objects
        else None
    )
    pairs.unpersist()
    rows.unpersist()

    edges = edges.select(
        pl.col("lo").alias("source"),
        pl.col("hi").alias("target"),
        pl.lit(signal).alias("signal"),
        "weight",
        "source_events",
        "target_events",
        (pl.col("median_gap_us") / _US_PER_S).alias("median_gap_s"),
    ).sort("source", "target")
    result = CoactionResult(
        edges=edges.cast(NETWORK) if edges.height else empty_frame(NETWORK),
        capped_events=int(capped_counts["events"]),
        capped_objects=int(capped_counts["objects"]),
    )
    if not keep_objects:
        return result
    pair_objects = (
        pairs_objects.join(degree, on="object")
        .select(
            pl.col("lo").alias("source"),
            pl.col("hi").alias("target"),
            pl.col("object").cast(pl.String),
            pl.col("object_accounts").cast(pl.Int64),
            (pl.col("gap_us") / _US_PER_S).cast(pl.Float64).alias("gap_s"),
        )
        .sort("source", "target", "object")
    )
    activity = activity.select("account_id", pl.col("objects").cast(pl.Int64), pl.col("events").cast(pl.Int64)).sort("account_id")
    return CoactionResult(edges=result.edges, capped_events=result.capped_events, capped_objects=result.capped_objects, pair_objects=pair_objects, activity=activity)


BEHIND: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "object": pl.String(),
    "object_accounts": pl.Int64(),
    "gap_s": pl.Float64(),
}


def significant_coaction_spark(
    spark,
    events: pl.DataFrame,
    *,
    signal: str,
    window_s: int,
    max_object_accounts: int,
    min_objects: int = 2,
    fdr: float = 0.01,
    min_lift: float = 1.0,
    max_actors_per_window: int = 5000,
    pairs_per_chunk: int = 5_000_000,
    normalize_urls: bool = True,
    tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS,
) -> SignalEvidence:
    """``features.pair_evidence.significant_coaction`` (same arguments and result) computed by ``spark``.

    ``pairs_per_chunk`` is accepted for the common signature and unused: Spark
    partitions the pairs itself. The passes are ``significant_coaction``'s:

    1. the driver gathers each account's distinct objects (its code, in name
       order, and the null model's activity) and the distinct object degrees,
       and turns the degrees into rarity units with ``rarity_units`` itself (so
       the integers are the embedded engine's bit for bit); objects with more
       than ``max_object_accounts`` accounts are not paired; the executors pair
       the rest and reduce them to per-pair objects and units;
    2. two integer sums give the null rate; the executors compute each pair's
       p-value (the same polars and scipy expressions) and only pairs with
       p-value at most ``fdr`` come back, with the count of all tests, for the
       Benjamini-Hochberg cutoff and the filters;
    3. the objects behind the significant pairs (popular ones included) are
       rebuilt from those pairs' accounts' rows, and their median gaps computed
       on the driver.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    del pairs_per_chunk
    check_signal(events, signal)
    started = time.perf_counter()
    window_us = window_s * _US_PER_S
    raw = _signal_rows(spark, events, signal, normalize_urls, tuple(tracking_params)).persist(StorageLevel.MEMORY_AND_DISK)
    cached = [raw]
    try:
        # Accounts coded in name order, as the embedded engine codes them, so lo < hi is source < target.
        accounts = _to_polars(raw.groupBy("account_id").agg(F.count_distinct("object").alias("n")))
        if accounts.is_empty():
            return SignalEvidence(pl.DataFrame(schema=EVIDENCE), pl.DataFrame(schema=BEHIND), capped_events=0, pairs_tested=0)
        accounts = accounts.sort("account_id").with_row_index("acc").select(pl.col("acc").cast(pl.Int64), "account_id", pl.col("n").cast(pl.Float64))
        n = accounts["n"]
        possible = (float(n.sum()) ** 2 - float((n * n).sum())) / 2.0
        codes = spark.createDataFrame(accounts.to_arrow())
        rows = raw.join(F.broadcast(codes.select("account_id", "acc")), "account_id").select("event", "acc", "object", "ts", _bucket(window_us))

        # Objects keyed by a 64-bit hash when it is proven exact on this input (else by the string).
        degree = rows.groupBy("object").agg(F.count_distinct("acc").alias("object_accounts")).persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(degree)
        check = degree.agg(
            F.count(F.lit(1)).alias("objects"), F.count_distinct(_hash_objects()).alias("keys"), F.collect_set("object_accounts").alias("degrees")
        ).first()
        key = _hash_objects() if check["objects"] == check["keys"] else F.col("object")
        # Rarity units from the distinct degrees (a few thousand at most), by the embedded engine's own expression.
        degrees = pl.DataFrame({"object_accounts": check["degrees"]}, schema={"object_accounts": pl.Int64()})
        units = degrees.select("object_accounts", rarity_units(pl.col("object_accounts"), accounts.height).alias("units"))
        objects = degree.withColumn("key", key).join(F.broadcast(spark.createDataFrame(units.to_arrow())), "object_accounts")
        rows = rows.withColumn("key", key)
        log.debug("%s: %d accounts, %d objects (%d degrees) in %.1f s", signal, accounts.height, check["objects"], degrees.height, time.perf_counter() - started)

        # Viral (object, bucket)s are few (each has more than max_actors_per_window accounts): they come to the driver.
        crowded = _to_polars(
            rows.groupBy("key", "bucket").agg(F.count_distinct("acc").alias("actors")).filter(F.col("actors") > max_actors_per_window).select("key", "bucket")
        )
        capped_events = 0
        if crowded.height:
            crowded = F.broadcast(spark.createDataFrame(crowded.to_arrow()))
            capped_events = int(rows.join(crowded, ["key", "bucket"], "left_semi").agg(F.count_distinct("event")).first()[0])
            rows = rows.join(crowded, ["key", "bucket"], "left_anti")
        kept = rows.select("acc", "key", "ts", "bucket").persist(StorageLevel.MEMORY_AND_DISK)
        cached.append(kept)

        # Pass 1: per pair, its objects and their summed units (popular objects are not paired).
        rare = kept.join(objects.filter(F.col("object_accounts") <= max_object_accounts).select("key", "units"), "key")
        # Each row meets the rows of its own bucket and of the next: an unordered pair of rows in
        # neighbouring buckets is met once, one in the same bucket twice (kept in account order).
        left = rare.select(
            "key", F.col("bucket").alias("home"), F.explode(F.array(F.col("bucket"), F.col("bucket") + 1)).alias("bucket"),
            F.col("acc").alias("a"), F.col("ts").alias("ts_a"), "units",
        )
        right = rare.select("key", "bucket", F.col("acc").alias("b"), F.col("ts").alias("ts_b"))
        stats = (
            left.join(right, ["key", "bucket"])
            .filter(
                ((F.col("a") < F.col("b")) | ((F.col("a") > F.col("b")) & (F.col("home") != F.col("bucket"))))
                & (F.abs(F.col("ts_b") - F.col("ts_a")) <= window_us)
            )
            .select(F.least("a", "b").alias("lo"), F.greatest("a", "b").alias("hi"), "key", "units")
            .dropDuplicates(["lo", "hi", "key"])
            .groupBy("lo", "hi")
            .agg(F.count(F.lit(1)).alias("objects"), F.sum("units").alias("units"))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        cached.append(stats)
        totals = stats.agg(F.count(F.lit(1)).alias("m"), F.sum("units").alias("units")).first()
        m, kappa = int(totals["m"]), null_rate(int(totals["units"] or 0), possible)
        log.debug("%s: pass 1, %d pairs, %d capped events, at %.1f s", signal, m, capped_events, time.perf_counter() - started)

        # Pass 2: p-values on the executors; only those <= fdr can pass Benjamini-Hochberg over all m tests.
        tested = (
            stats.join(F.broadcast(codes.select(F.col("acc").alias("lo"), F.col("n").alias("n_source"))), "lo")
            .join(F.broadcast(codes.select(F.col("acc").alias("hi"), F.col("n").alias("n_target"))), "hi")
            .select("lo", "hi", "objects", "units", "n_source", "n_target")
        )
        schema = "lo long, hi long, objects long, units long, evidence double, expected double, p_value double"
        found = _to_polars(tested.mapInArrow(_p_values(kappa, fdr), schema))
        log.debug("%s: pass 2, %d candidates, at %.1f s", signal, found.height, time.perf_counter() - started)
        if found.height:
            cutoff = _bh_cutoff(found["p_value"].to_numpy(), m, fdr)
            found = found.filter(
                (pl.col("p_value") <= cutoff) & (pl.col("objects") >= min_objects) & (pl.col("objects") >= min_lift * pl.col("expected"))
            )
        if found.is_empty():
            return SignalEvidence(pl.DataFrame(schema=EVIDENCE), pl.DataFrame(schema=BEHIND), capped_events=capped_events, pairs_tested=m)

        # Pass 3: every object behind the significant pairs (closest in-window gap, outside viral buckets).
        pairs = F.broadcast(spark.createDataFrame(found.select("lo", "hi").to_arrow()))
        mine = kept.select(F.col("acc").alias("lo"), "key", F.col("ts").alias("ts_lo")).join(pairs, "lo")
        theirs = kept.select(F.col("acc").alias("hi"), "key", F.col("ts").alias("ts_hi"))
        behind = _to_polars(
            mine.join(theirs, ["hi", "key"])
            .select("lo", "hi", "key", F.abs(F.col("ts_hi") - F.col("ts_lo")).alias("gap_us"))
            .filter(F.col("gap_us") <= window_us)
            .groupBy("lo", "hi", "key")
            .agg(F.min("gap_us").alias("gap_us"))
            .join(objects.select("key", "object", F.col("object_accounts").cast("long")), "key")
            .drop("key")
        )
        log.debug("%s: pass 3, %d objects behind %d pairs, at %.1f s", signal, behind.height, found.height, time.perf_counter() - started)
    finally:
        for frame in cached:
            frame.unpersist()
    return _named_evidence(found, behind, accounts, signal=signal, max_object_accounts=max_object_accounts, capped_events=capped_events, pairs_tested=m)


def _hash_objects():
    """64-bit hashes of the ``object`` column (a seam so tests can force collisions)."""
    from pyspark.sql import functions as F

    return F.xxhash64("object")


def _p_values(kappa: float, fdr: float):
    """The executors' pass 2: ``pair_evidence.significant_coaction``'s expectation and Poisson tail, pairs with p <= ``fdr``."""

    def test(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from scipy.stats import poisson

        for batch in batches:
            tested = (
                pl.from_arrow(batch)
                .with_columns((pl.col("units") * EVIDENCE_UNIT).alias("evidence"))
                .with_columns((pl.col("n_source") * pl.col("n_target") * kappa / (pl.col("evidence") / pl.col("objects"))).alias("expected"))
            )
            p_values = poisson.sf(tested["objects"].to_numpy() - 1, tested["expected"].to_numpy())
            kept = tested.with_columns(pl.Series("p_value", p_values, dtype=pl.Float64)).filter(pl.col("p_value") <= fdr)
            yield from kept.select("lo", "hi", "objects", "units", "evidence", "expected", "p_value").to_arrow().to_batches()

    return test


def _named_evidence(
    found: pl.DataFrame, behind: pl.DataFrame, accounts: pl.DataFrame, *, signal: str, max_object_accounts: int, capped_events: int, pairs_tested: int
) -> SignalEvidence:
    """The significant pairs (``EVIDENCE``, median gap over their counted objects) and the objects behind them, by name."""
    gap_s = (pl.col("gap_us") / _US_PER_S).cast(pl.Float64)
    medians = behind.filter(pl.col("object_accounts") <= max_object_accounts).group_by("lo", "hi").agg(gap_s.median().alias("median_gap_s"))
    names = accounts.select("acc", "account_id")
    source = names.rename({"acc": "lo", "account_id": "source"})
    target = names.rename({"acc": "hi", "account_id": "target"})
    significant = (
        found.join(medians, on=["lo", "hi"], how="left")
        .join(source, on="lo")
        .join(target, on="hi")
        .with_columns(pl.lit(signal).alias("signal"))
        .select(list(EVIDENCE))
        .sort("source", "target")
        .cast(EVIDENCE)
    )
    objects = (
        behind.join(source, on="lo")
        .join(target, on="hi")
        .select("source", "target", "object", "object_accounts", gap_s.alias("gap_s"))
        .sort("source", "target", "object")
        .cast(BEHIND)
    )
    return SignalEvidence(significant=significant, objects=objects, capped_events=capped_events, pairs_tested=pairs_tested)


def cluster_accounts_spark(spark, fused: pl.DataFrame, **params) -> pl.DataFrame:
    """``detector.cluster.cluster_accounts`` (same arguments and labels), one connected component per Spark task.

    Components never share a link, and the clustering of one (HDBSCAN, splits,
    trimming, attaching rim accounts) reads only its own links, so each runs on
    an executor by itself; the driver finds the components (a sparse graph of
    pairs, small next to the events) and numbers the clusters as the embedded
    engine does, by each cluster's smallest account_id.
    """
    from scipy.sparse.csgraph import connected_components

    from detector.cluster import LABELS, _renumber, cluster_accounts, index_pairs

    if fused.is_empty():
        return pl.DataFrame(schema=LABELS)
    names, coded = index_pairs(fused)
    source, target = coded["i"].to_numpy(), coded["j"].to_numpy()
    import numpy as np
    import scipy.sparse as sp

    n = names.len()
    graph = sp.coo_matrix((np.ones(len(source)), (source, target)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    tagged = fused.with_columns(pl.Series("component", component[source], dtype=pl.Int64))

    def cluster_one(table: pa.Table) -> pa.Table:
        pairs = pl.from_arrow(table)
        labels = cluster_accounts(pairs.drop("component"), **params)
        out = labels.with_columns(pl.lit(pairs["component"][0], dtype=pl.Int64).alias("component")).to_arrow()
        return out.cast(pa.schema([("account_id", pa.string()), ("cluster_id", pa.int64()), ("component", pa.int64())]))

    schema = "account_id string, cluster_id long, component long"
    local = _to_polars(spark.createDataFrame(tagged.to_arrow()).groupBy("component").applyInArrow(cluster_one, schema))
    unique = pl.when(pl.col("cluster_id") >= 0).then(pl.col("component") * (n + 1) + pl.col("cluster_id")).otherwise(-1)
    return _renumber(local.select("account_id", unique.alias("cluster_id")))


PER_ACCOUNT_BUILDERS = ("timing",)  # builders whose rows depend only on the account's own events
FEATURE_TASKS = 16


def behaviour_features_spark(spark, events: pl.DataFrame, accounts: pl.DataFrame | None, names: tuple[str, ...]) -> pl.DataFrame:
    """``features.base.build_all(events, accounts, names=names)``, the per-account builders run on the executors.

    A per-account builder sees only each account's own events, so accounts are
    hashed into ``FEATURE_TASKS`` groups and each group is built by one task.
    Builders that compare accounts with each other (creation cohorts, handle
    templates, shared addresses) read the accounts table and the addresses, small
    next to the events, on the driver.
    """
    from pyspark.sql import functions as F

    from features.base import BUILDERS, build_all

    spread = [n for n in names if n in PER_ACCOUNT_BUILDERS]
    local = build_all(events, accounts, names=[n for n in names if n not in PER_ACCOUNT_BUILDERS])
    out = local.select("account_id")
    rows = events.select("account_id", pl.col("timestamp").dt.epoch("us").alias("ts"), "action")
    source = spark.createDataFrame(rows.to_arrow()).withColumn("task", F.abs(F.hash("account_id")) % FEATURE_TASKS)
    for name in spread:
        neutral = BUILDERS[name]().neutral()
        spec = ", ".join(["account_id string", *[f"`{c}` double" for c in neutral]])
        built = _to_polars(source.groupBy("task").applyInArrow(_group_builder(name, neutral), spec))
        out = out.join(built, on="account_id", how="left", maintain_order="left").with_columns(pl.col(c).fill_null(v) for c, v in neutral.items())
    ordered = [c for name in names for c in (out.columns if name in spread else local.columns) if c.startswith(f"{name}__")]
    return out.join(local, on="account_id", how="left", maintain_order="left").select("account_id", *ordered)


def _group_builder(name: str, neutral: dict[str, float]):
    """The task for one group of accounts: the builder ``name`` over their events (one argument, as applyInArrow wants)."""
    schema = pa.schema([("account_id", pa.string()), *[(c, pa.float64()) for c in neutral]])

    def build_group(table: pa.Table) -> pa.Table:
        from features.base import BUILDERS

        part = pl.from_arrow(table).select(
            "account_id", pl.from_epoch(pl.col("ts"), time_unit="us").dt.replace_time_zone("UTC").alias("timestamp"), "action"
        )
        return BUILDERS[name]().build(part).to_arrow().cast(schema)

    return build_group



def fetch_inputs(spark, uri: str, into: Path) -> dict[Path, str]:
    """Copy the input files at ``uri`` (any path Spark reads: hdfs://, s3a://, file://...) into the folder ``into``.

    Spark's file sources do the listing and the reading (its ``binaryFile``
    source: a file, or a folder's files without descending, hidden ones skipped),
    so any filesystem Spark is configured for works; the bytes arrive unchanged
    and coordetect's own readers then parse and check them exactly as a local
    file. Returns each local copy with the address it came from.
    """
    from pyspark.sql import functions as F
    from pyspark.errors import AnalysisException

    from detector.io import INPUT_SUFFIXES, file_type

    try:
        files = spark.read.format("binaryFile").load(uri)
        listed = sorted(row.path for row in files.select("path").collect())
    except AnalysisException as exc:
        raise InputError(f"{uri}: Spark cannot read it: {str(exc).splitlines()[0]}") from None
    wanted = [path for path in listed if file_type(Path(path.rsplit("/", 1)[-1])) is not None]
    if not wanted:
        raise InputError(f"{uri}: no input files there; expected names ending in {', '.join(INPUT_SUFFIXES)}")
    fetched: dict[Path, str] = {}
    # One file at a time through the driver: never more than one file's bytes in memory.
    for row in files.filter(F.col("path").isin(wanted)).select("path", "content").toLocalIterator():
        local = into / row.path.rsplit("/", 1)[-1]
        local.write_bytes(row.content)
        fetched[local] = row.path
    log.info("fetched %d file(s) from %s", len(fetched), uri)
    return fetched
