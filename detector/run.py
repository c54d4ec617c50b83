"""The batch job behind ``coordetect score``: read, detect, write DIR and its run record.

DIR holds ``accounts.parquet``, ``clusters.parquet``, ``edges.parquet`` and
``run.json`` (the contract), ``objects.parquet`` (the objects behind each co-action link),
``features.parquet`` (each account's behaviour, for ``explain``),
``graph.gexf`` (or ``graph.graphml``) for Gephi and ``report.html`` (``detector.report``);
they are written into a fresh folder that replaces
DIR only when everything succeeded, so a failed run leaves the previous outputs
as they were.
"""

from __future__ import annotations

import hashlib
import json
import platform
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from detector import __version__
from detector.config import Config
from detector.engines import POLARS, Engine, make_engine, readable
from detector.errors import UsageError
from detector.graphs import GRAPH_FORMATS, write_account_graph
from detector.io import Dataset, atomic_directory, input_files, read_dataset
from detector.pipeline import Detection, detect
from detector.progress import Report, silent

SCHEMA_VERSION = "1.0"


@dataclass
class ScoreRun:
    """What a score run produced: the detection, its run record and the data it scored (for the report)."""

    detection: Detection
    record: dict
    dataset: Dataset
    behaviour: pl.DataFrame  # one row per account: features.base columns of BEHAVIOUR_BUILDERS


def peak_memory_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# Per-account behaviour written to DIR/features.parquet for `explain`: rhythm, bursts, creation
# cohort, handle template, profile and shared addresses. The content builder is left out: its
# near-duplicate search repeats the copy signal's work at several times the cost on large data.
BEHAVIOUR_BUILDERS = ("timing", "metadata", "infra")


def score_dataset(dataset: Dataset, config: Config, *, read_s: float = 0.0, report: Report = silent, engine: Engine = POLARS) -> ScoreRun:
    """Detect on an already read dataset, measure each account's behaviour, and build the run record."""
    started = time.perf_counter()
    detection = detect(dataset.events, dataset.accounts, config, report=report, engine=engine)
    report("behaviour features...")
    features_started = time.perf_counter()
    behaviour = engine.features(dataset.events, dataset.accounts, BEHAVIOUR_BUILDERS)
    detection.timings["features"] = round(time.perf_counter() - features_started, 3)
    timings = {"read": round(read_s, 3), **detection.timings, "total": round(read_s + time.perf_counter() - started, 3)}
    record = {
        "schema_version": SCHEMA_VERSION,
        "tool": "coordetect",
        "version": __version__,
        "command": "score",
        "config": config.to_dict(),
        "input": dataset.report.to_dict(),
        "accounts_input": None if dataset.accounts is None else dataset.accounts.height,
        "counts": detection.counts,
        "timings_s": timings,
        "peak_memory_mib": peak_memory_mib(),
        # What report.html shows: it is drawn before the outputs, so it cannot show their cost.
        "detection_peak_memory_mib": peak_memory_mib(),
        "python": platform.python_version(),
        "polars": pl.__version__,
    }
    return ScoreRun(detection=detection, record=record, dataset=dataset, behaviour=behaviour)


def write_outputs(run: ScoreRun, out_dir: Path, *, graph: str = "gexf", report: Report = silent) -> None:
    """Write the tables, the account graph, report.html and run.json into ``out_dir`` all together (or not at all)."""
    from detector.report import REPORT_NAME, build_report, Scored

    detection = run.detection
    scored = Scored(accounts=detection.accounts, clusters=detection.clusters, edges=detection.edges, objects=detection.objects, record=run.record)
    started = time.perf_counter()
    report("drawing report.html")
    page = build_report(scored, run.dataset.events, run.dataset.accounts, _config_of(run))
    _add_stage_time(run.record, "report", time.perf_counter() - started)
    with atomic_directory(Path(out_dir)) as tmp:
        started = time.perf_counter()
        run.detection.accounts.write_parquet(tmp / "accounts.parquet")
        run.detection.clusters.write_parquet(tmp / "clusters.parquet")
        run.detection.edges.write_parquet(tmp / "edges.parquet")
        run.detection.objects.write_parquet(tmp / "objects.parquet")
        run.behaviour.write_parquet(tmp / "features.parquet")
        write_account_graph(run.detection.accounts, run.detection.edges, tmp / f"graph.{graph}", graph)
        (tmp / REPORT_NAME).write_text(page, encoding="utf-8")
        _add_stage_time(run.record, "write", time.perf_counter() - started)
        (tmp / "run.json").write_text(json.dumps(run.record, indent=2, default=str) + "\n", encoding="utf-8")


def _add_stage_time(record: dict, stage: str, seconds: float) -> None:
    """Put a stage after detection (``report``, ``write``) into the record's timings, before ``total`` (which grows by it), and peak memory."""
    timings = {k: v for k, v in record.get("timings_s", {}).items() if k != "total"}
    total = record.get("timings_s", {}).get("total", 0.0)
    # In whole milliseconds, so the page (drawn before these stages) can take them off exactly.
    record["timings_s"] = {**timings, stage: round(seconds, 3), "total": (round(total * 1000) + round(seconds * 1000)) / 1000}
    record["peak_memory_mib"] = peak_memory_mib()


def score_files(
    events: str | Path,
    *,
    accounts: str | Path | None,
    format: str,
    config: Config,
    out_dir: Path,
    graph: str = "gexf",
    report: Report = silent,
    engine: str = "polars",
    spark_master: str | None = None,
) -> ScoreRun:
    """``coordetect score``: read EVENTS (and accounts), detect, write DIR."""
    if graph not in GRAPH_FORMATS:
        raise UsageError(f"--graph {graph}: expected one of {', '.join(GRAPH_FORMATS)}")
    started = time.perf_counter()
    chosen = make_engine(engine, spark_master)  # first: a remote input is read through its session
    report(f"reading {events}")
    with readable(chosen, events) as (local_events, event_names), readable(chosen, accounts) as (local_accounts, account_names):
        dataset = read_dataset(local_events, format=format, accounts_path=local_accounts)
        accounts_files = [] if local_accounts is None else _accounts_files(local_accounts, account_names)
    dataset.report.files = [replace(f, path=event_names.get(f.path, f.path)) for f in dataset.report.files]
    run = score_dataset(dataset, config, read_s=time.perf_counter() - started, report=report, engine=chosen)
    run.record["engine"] = chosen.describe()
    run.record["arguments"] = {"events": str(events), "accounts": None if accounts is None else str(accounts), "format": format}
    run.record["accounts_files"] = accounts_files
    run.record["output"] = str(out_dir)
    write_outputs(run, out_dir, graph=graph, report=report)
    return run


def _accounts_files(accounts: str | Path, names: dict[str, str]) -> list[dict]:
    """Path and sha256 of each accounts file, like ``input.files`` for events (``report DIR`` checks them); ``names``: fetched copies' addresses."""
    out = []
    for path in input_files(accounts):
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        out.append({"path": names.get(str(path), str(path)), "sha256": digest})
    return out


def _config_of(run: ScoreRun) -> Config:
    from detector.config import build_config

    return build_config(run.record["config"])
