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

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import polars as pl

from detector.cluster import cluster_accounts
from detector.errors import InputError, UsageError
from detector.io import is_remote
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
    # (address, local folder) -> {local copy: address}: input files at a remote address, fetched (Spark only).
    fetch: Callable[[str, Path], dict[Path, str]] | None = None
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
        fetch=partial(spark.fetch_inputs, session),
        spark_master=master,
    )


@contextmanager
def readable(engine: Engine, path: str | Path | None) -> Iterator[tuple[str | Path | None, dict[str, str]]]:
    """``path`` as coordetect's readers open it, and each local file name mapped to the address it came from.

    A local path (or None) is given back as it is. A remote address (hdfs://,
    s3a://, file://...) is fetched through the Spark engine into a temporary
    folder, removed on leaving; an error while reading it names the address,
    not the temporary copy.
    """
    if path is None or not is_remote(path):
        yield path, {}
        return
    if engine.fetch is None:
        raise UsageError(f"{path}: a remote address is read through Spark; add --engine spark (and --spark-master)")
    with tempfile.TemporaryDirectory(prefix="coordetect-input-") as folder:
        fetched = {str(local): address for local, address in engine.fetch(str(path), Path(folder)).items()}
        try:
            yield Path(folder), fetched
        except InputError as exc:
            message = str(exc)
            for local, address in fetched.items():
                message = message.replace(local, address)
            raise InputError(message.replace(folder, str(path))) from None
