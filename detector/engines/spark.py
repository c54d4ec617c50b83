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
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator

import polars as pl
import pyarrow as pa

from detector.errors import UsageError
from detector.schema import NETWORK, empty_frame
from features.coaction import CoactionResult, check_signal, signal_columns, signal_events
from features.normalize import DEFAULT_TRACKING_PARAMS

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
        # The pair tables come back to the driver for the significance test; 1 GiB (Spark's default)
        # is too little from about a million events. COORDETECT_SPARK_MAX_RESULT sets it (0 = no limit).
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
    rows = _signal_rows(spark, events, signal, normalize_urls, tuple(tracking_params)).withColumn("bucket", F.floor(F.col("ts") / max(window_us, 1)).cast("long"))
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


def cluster_accounts_spark(spark, fused: pl.DataFrame, **params) -> pl.DataFrame:
    """``detector.cluster.cluster_accounts`` (same arguments and labels), one connected component per Spark task.

    Components never share a link, and the clustering of one (HDBSCAN, splits,
    trimming, attaching rim accounts) reads only its own links, so each runs on
    an executor by itself; the driver finds the components (a sparse graph of
    pairs, small next to the events) and numbers the clusters as the embedded
    engine does, by each cluster's smallest account_id.
    """
    from scipy.sparse.csgraph import connected_components

    from detector.cluster import LABELS, _renumber, cluster_accounts

    if fused.is_empty():
        return pl.DataFrame(schema=LABELS)
    names = pl.concat([fused["source"], fused["target"]]).unique().sort()
    index = pl.DataFrame({"account_id": names}).with_row_index("node")
    source = fused["source"].to_frame().join(index, left_on="source", right_on="account_id", maintain_order="left")["node"].to_numpy()
    target = fused["target"].to_frame().join(index, left_on="target", right_on="account_id", maintain_order="left")["node"].to_numpy()
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

