"""Where the detector's heavy stages run: in this process (polars, the default) or on Spark.

An ``Engine`` names the stages that can move: the co-action network of one
signal (``features.coaction.coaction_network``'s signature and result), one
signal's significant pairs and the objects behind them
(``features.pair_evidence.significant_coaction``'s), the clustering of the fused
pairs (``detector.cluster.cluster_accounts``'s) and the per-account behaviour
features (``features.base.build_all``'s). Every engine gives the same answer;
the tests hold Spark to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import polars as pl

from detector.cluster import cluster_accounts
from detector.errors import UsageError
from features.base import build_all
from features.coaction import CoactionResult, coaction_network
from features.pair_evidence import SignalEvidence, significant_coaction

ENGINES = ("polars", "spark")
DEFAULT_SPARK_MASTER = "local[*]"


def _build_all(events: pl.DataFrame, accounts: pl.DataFrame | None, names: tuple[str, ...]) -> pl.DataFrame:
    return build_all(events, accounts, names=names)


@dataclass(frozen=True)
class Engine:
    """The functions the pipeline calls for co-action and clustering, and a name for run.json."""

    name: str = "polars"
    coaction: Callable[..., CoactionResult] = coaction_network
    significant: Callable[..., SignalEvidence] = significant_coaction
    cluster: Callable[..., pl.DataFrame] = cluster_accounts
    features: Callable[..., pl.DataFrame] = _build_all
    spark_master: str | None = None

    def describe(self) -> dict:
        return {"name": self.name, **({"spark_master": self.spark_master} if self.spark_master else {})}


POLARS = Engine()


def make_engine(name: str = "polars", spark_master: str | None = None) -> Engine:
    """The engine ``--engine NAME [--spark-master URL]`` asks for (starting a Spark session if needed)."""
    if name not in ENGINES:
        raise UsageError(f"--engine {name}: expected one of {', '.join(ENGINES)}")
    if name == "polars":
        if spark_master is not None:
            raise UsageError("--spark-master goes with --engine spark")
        return POLARS
    from detector.engines import spark

    master = spark_master or DEFAULT_SPARK_MASTER
    session = spark.spark_session(master)
    return Engine(
        name="spark",
        coaction=partial(spark.coaction_network_spark, session),
        significant=partial(spark.significant_coaction_spark, session),
        cluster=partial(spark.cluster_accounts_spark, session),
        features=partial(spark.behaviour_features_spark, session),
        spark_master=master,
    )
