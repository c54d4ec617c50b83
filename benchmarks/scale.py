"""Scale benchmark: ``coordetect score`` on simulated ``mixed`` data from 100k to 10M events.

Each size is a ``mixed`` simulation (``coordetect simulate``, seed 0) with the
number of accounts that gives about that many events; the data sets are made
once and reused while the simulator's code is unchanged. Each is scored in a
fresh subprocess running the real command line (``python -m detector score
EVENTS --accounts ACCOUNTS --out DIR``), so reading the Parquet input and
writing every output are included. Recorded per size: wall seconds, the peak
resident memory of that subprocess (``wait4`` rusage), and the stage timings
of its ``run.json`` (read, co-action, infrastructure, identity, cluster,
score, behaviour features, report, write; ``start+exit`` is the rest: interpreter, imports, teardown).
Growth is fitted as the least-squares slope of log(seconds) and log(peak
memory) against log(events): 1.0 is linear.

With ``--engine spark [--spark-master URL]`` each size is scored twice, by the
polars engine and by ``--engine spark``, each in a fresh subprocess on the same
cached data set, and a second table compares them: wall seconds, the peak
resident memory of the driver process (``wait4``) and the peak memory of its
whole process tree (Spark's JVM and Python workers are children of the driver,
which ``wait4`` does not see), sampled from ``/proc`` every half second as the
sum of the processes' proportional set sizes (PSS: shared pages split among
the processes that share them, so the sum counts each page once), and whether
the outputs are the same (cluster ids of ``accounts.parquet`` up to renumbering,
and ``edges.parquet``).

Usage::

    python benchmarks/scale.py --data /work/scratch/scale-data        # 100k, 1m, 10m
    python benchmarks/scale.py --sizes 100k 1m --out /tmp/results
    python benchmarks/scale.py --quick --data /tmp/d --out /tmp/r      # CI smoke run (two tiny sets)
    python benchmarks/scale.py --sizes 1m --engine spark --spark-master 'local[2]' --timeout 3600   # polars vs Spark

Writes ``scale.md`` and ``scale.json`` under ``--out`` (default
``benchmarks/results``). Timings on a shared machine are noisy: compare sizes
within one run, not across runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

log = logging.getLogger("scale")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIO = "mixed"
SEED = 0
# Accounts giving about the named number of events (the simulator makes ~35-50 events per
# account, more at larger sizes as viral bursts grow with the population); exact counts are recorded.
SIZES: dict[str, int] = {"100k": 2_880, "1m": 26_000, "10m": 150_000}
QUICK_SIZES: dict[str, int] = {"quick-300": 300, "quick-900": 900}
STAGES = ("read", "coaction", "infrastructure", "identity", "cluster", "score", "features", "report", "write")
GIB = 1024**3
TREE_SAMPLE_S = 0.5  # how often the process tree's memory is sampled (with --engine spark)

# The targets, reported (never asserted) under the table.
TARGET_EVENTS = 10_000_000
TARGET_SECONDS = 300.0
TARGET_PEAK_GIB = 8.0


@dataclass
class Run:
    """One scored size."""

    size: str
    accounts: int
    events: int
    seconds: float
    peak_rss_gib: float
    stages_s: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    simulate_s: float | None = None
    engine: str = "polars"
    tree_peak_gib: float | None = None  # the process tree's sampled peak PSS (with --engine spark)
    same_as_polars: dict[str, bool] | None = None  # spark runs: outputs compared with the polars run's

    def shares(self) -> dict[str, float]:
        """Each stage's share of the wall time; ``start+exit`` is what the run record does not cover."""
        out = {stage: self.stages_s.get(stage, 0.0) / self.seconds for stage in STAGES}
        out["start+exit"] = max(self.seconds - sum(self.stages_s.get(s, 0.0) for s in STAGES), 0.0) / self.seconds
        return out


# ---------------------------------------------------------------- subprocesses


def _env() -> dict[str, str]:
    """The environment of child processes: this tree's code first on the import path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def measured(cmd: list[str], log_path: Path, *, timeout_s: float | None = None, tree: list[float] | None = None) -> tuple[float, float]:
    """Run ``cmd``; return (wall seconds, peak RSS in GiB of that process), from ``wait4``'s rusage.

    With ``tree`` (a list), the memory of the process and all its descendants is
    sampled every ``TREE_SAMPLE_S`` seconds (``tree_memory``) and the peak, in
    GiB, appended to it. Output goes to ``log_path``. A non-zero exit or a
    timeout raises RuntimeError naming the log; on a timeout the whole process
    group is killed (a Spark driver's JVM and workers included).
    """
    peak_tree = 0
    with log_path.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(), cwd=ROOT, start_new_session=True)
        deadline = None if timeout_s is None else started + timeout_s
        sampled = 0.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                raise RuntimeError(f"{' '.join(cmd[:4])}... killed after {timeout_s:.0f} s; log {log_path}")
            if tree is not None and time.perf_counter() - sampled >= TREE_SAMPLE_S:
                sampled = time.perf_counter()
                peak_tree = max(peak_tree, tree_memory(proc.pid))
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-15:])
        raise RuntimeError(f"command failed (exit {proc.returncode}), log {log_path}:\n{tail}")
    peak = usage.ru_maxrss * 1024  # Linux reports KiB
    if tree is not None:
        # The driver's own peak is a floor for the tree's (a sample can miss the moment of the peak).
        tree.append(max(peak_tree, peak) / GIB)
    return seconds, peak / GIB


def tree_memory(root: int) -> int:
    """Bytes of memory of process ``root`` and all its descendants now: the sum of their PSS (RSS where PSS is unreadable)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent is the second field after the command name, which is in parentheses and may hold spaces.
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        total += _process_memory(pid)
    return total


def _process_memory(pid: int) -> int:
    for name, field_name in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
        try:
            for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
                if line.startswith(field_name):
                    return int(line.split()[1]) * 1024  # kB
        except (OSError, ValueError, IndexError):
            continue
    return 0


def _simulator_digest() -> str:
    """Hash of the simulator's code: a cached data set is reused only while it is unchanged."""
    files = [ROOT / "detector" / "simulate.py", *sorted((ROOT / "detector" / "sim").glob("*.py"))]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def dataset(accounts: int, data: Path) -> tuple[Path, dict]:
    """The simulated data set of ``accounts`` accounts (made once, then reused) and its metadata."""
    folder = data / f"{SCENARIO}-a{accounts}-s{SEED}"
    meta_path = folder.with_name(folder.name + ".meta.json")
    fingerprint = {"scenario": SCENARIO, "accounts": accounts, "seed": SEED, "simulator": _simulator_digest()}
    if meta_path.exists() and (folder / "events.parquet").exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("fingerprint") == fingerprint:
            return folder, meta
    data.mkdir(parents=True, exist_ok=True)
    log.info("simulating %s with %d accounts", SCENARIO, accounts)
    cmd = [sys.executable, "-m", "detector", "simulate", "--scenario", SCENARIO, "--accounts", str(accounts),
           "--seed", str(SEED), "--quiet", "--out", str(folder)]  # fmt: skip
    seconds, _ = measured(cmd, data / f"{folder.name}.simulate.log")
    events = pl.scan_parquet(folder / "events.parquet").select(pl.len()).collect().item()
    meta = {"fingerprint": fingerprint, "events": events, "simulate_s": round(seconds, 1)}
    meta_path.write_text(json.dumps(meta, indent=2))
    return folder, meta


def score(
    size: str, accounts: int, data: Path, *, timeout_s: float | None, engine: str | None = None, spark_master: str | None = None, keep: bool = False
) -> Run:
    """Score one size in a fresh ``coordetect score`` subprocess.

    ``engine`` (``polars`` or ``spark``, for the comparison) adds ``--engine``, gives the
    output and log their own names and samples the process tree's memory; ``keep`` leaves
    the output folder (``scored_folder``) in place for ``compare_outputs``.
    """
    folder, meta = dataset(accounts, data)
    out = scored_folder(data, folder, engine)
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "detector", "score", str(folder / "events.parquet"),
           "--accounts", str(folder / "accounts.parquet"), "--quiet", "--out", str(out)]  # fmt: skip
    if engine is not None:
        cmd += ["--engine", engine, *(["--spark-master", spark_master] if engine == "spark" and spark_master else [])]
    log.info("%s: scoring %d events%s", size, meta["events"], f" ({engine})" if engine else "")
    tree: list[float] | None = [] if engine is not None else None
    log_name = f"{folder.name}.score.log" if engine is None else f"{folder.name}.score-{engine}.log"
    seconds, peak = measured(cmd, data / log_name, timeout_s=timeout_s, tree=tree)
    record = json.loads((out / "run.json").read_text())
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    stages = {k: v for k, v in record["timings_s"].items() if k != "total"}
    return Run(
        size, accounts, meta["events"], round(seconds, 2), round(peak, 3), stages, record["counts"], meta.get("simulate_s"),
        engine=engine or "polars", tree_peak_gib=round(tree[0], 3) if tree else None,
    )  # fmt: skip


def scored_folder(data: Path, folder: Path, engine: str | None) -> Path:
    return data / (f"{folder.name}.scored" if engine is None else f"{folder.name}.scored-{engine}")


def compare_outputs(polars_out: Path, spark_out: Path) -> dict[str, bool]:
    """Whether two ``score`` outputs agree: the same clusters (ids up to renumbering, noise as noise) and the same edges."""
    a = pl.read_parquet(polars_out / "accounts.parquet").select("account_id", "cluster_id")
    b = pl.read_parquet(spark_out / "accounts.parquet").select("account_id", pl.col("cluster_id").alias("other"))
    both = a.join(b, on="account_id", how="full", coalesce=True)
    pairs = both.filter(pl.col("cluster_id").is_not_null() & pl.col("other").is_not_null()).unique(["cluster_id", "other"])
    clusters = (
        both.height == a.height == b.height
        and both.filter((pl.col("cluster_id") == -1) != (pl.col("other") == -1)).is_empty()
        and pairs.height == pairs["cluster_id"].n_unique() == pairs["other"].n_unique()
    )
    edges = pl.read_parquet(spark_out / "edges.parquet").equals(pl.read_parquet(polars_out / "edges.parquet"))
    return {"clusters": bool(clusters), "edges": bool(edges)}


def score_both(size: str, accounts: int, data: Path, *, timeout_s: float | None, spark_master: str | None) -> tuple[Run, Run]:
    """Score one size with the polars engine and with Spark, each in a fresh subprocess, and compare the outputs."""
    folder, _ = dataset(accounts, data)
    reference = score(size, accounts, data, timeout_s=timeout_s, engine="polars", keep=True)
    try:
        spark = score(size, accounts, data, timeout_s=timeout_s, engine="spark", spark_master=spark_master, keep=True)
        spark.same_as_polars = compare_outputs(scored_folder(data, folder, "polars"), scored_folder(data, folder, "spark"))
    finally:
        for engine in ("polars", "spark"):
            shutil.rmtree(scored_folder(data, folder, engine), ignore_errors=True)
    return reference, spark


# ---------------------------------------------------------------- analysis


def growth(runs: list[Run]) -> dict[str, float | None]:
    """Slopes of log(seconds), log(peak memory) and log(each stage's seconds) against log(events)."""
    if len({r.events for r in runs}) < 2:
        return {}
    x = np.log([r.events for r in runs])

    def slope(values: list[float]) -> float | None:
        if any(v <= 0 for v in values):
            return None
        return round(float(np.polyfit(x, np.log(values), 1)[0]), 2)

    out = {"wall": slope([r.seconds for r in runs]), "peak_memory": slope([r.peak_rss_gib for r in runs])}
    for stage in STAGES:
        out[stage] = slope([r.stages_s.get(stage, 0.0) for r in runs])
    return out


def slowest_stage(run: Run) -> tuple[str, float]:
    stage = max(STAGES, key=lambda s: run.stages_s.get(s, 0.0))
    return stage, run.stages_s.get(stage, 0.0)


def targets(runs: list[Run]) -> list[str]:
    lines = []
    for r in runs:
        if r.events >= 0.9 * TARGET_EVENTS:
            ok = r.seconds < TARGET_SECONDS and r.peak_rss_gib < TARGET_PEAK_GIB
            lines.append(
                f"- {r.events:,} events in < {TARGET_SECONDS:.0f} s with peak < {TARGET_PEAK_GIB:.0f} GiB: "
                f"{r.seconds:,.1f} s, {r.peak_rss_gib:.2f} GiB -> {'met' if ok else 'NOT met'}"
            )
    return lines


def render(runs: list[Run], fit: dict, env: dict) -> str:
    short = {"infrastructure": "infra"}
    head = " | ".join(short.get(s, s) for s in (*STAGES, "start+exit"))
    rows = [
        f"| size | accounts | events | wall s | peak GiB | events/s | {head} |",
        "| --- | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * (len(STAGES) + 1),
    ]
    for r in runs:
        shares = " | ".join(f"{100 * v:.0f}%" for v in r.shares().values())
        rows.append(
            f"| {r.size} | {r.accounts:,} | {r.events:,} | {r.seconds:,.1f} | {r.peak_rss_gib:.2f} | "
            f"{r.events / r.seconds:,.0f} | {shares} |"
        )
    seconds = ["| size | " + " | ".join(STAGES) + " |", "| --- |" + " ---: |" * len(STAGES)]
    for r in runs:
        seconds.append(f"| {r.size} | " + " | ".join(f"{r.stages_s.get(s, 0.0):,.1f}" for s in STAGES) + " |")
    parts = [
        f"# Scale: `coordetect score` on simulated `{SCENARIO}` data",
        "",
        f"`{SCENARIO}` simulations (seed {SEED}) scored with the default configuration, each in a fresh "
        "`python -m detector score EVENTS --accounts ACCOUNTS --out DIR` subprocess (reading Parquet and writing "
        "every output included). Wall seconds end to end; peak memory is the subprocess's maximum resident set "
        "(`wait4`). Stage shares are of the wall time, from the run's `run.json`; `start+exit` is the interpreter, "
        "imports and teardown.",
        "",
        *rows,
        "",
        "Stage seconds:",
        "",
        *seconds,
        "",
    ]
    if fit:
        per_stage = ", ".join(f"{s} {fit[s]:.2f}" for s in STAGES if fit.get(s) is not None)
        parts += [
            f"Growth from {runs[0].events:,} to {runs[-1].events:,} events (slope of log cost against log events; 1.0 is linear): "
            f"wall time **{fit['wall']:.2f}**, peak memory **{fit['peak_memory']:.2f}**; per stage: {per_stage}.",
            "",
        ]
    if runs:
        stage, sec = slowest_stage(runs[-1])
        parts += [f"Slowest stage at {runs[-1].size}: **{stage}** ({sec:,.1f} s, {100 * sec / runs[-1].seconds:.0f}% of the wall time).", ""]
    lines = targets(runs)
    if lines:
        parts += ["Targets:", *lines, ""]
    parts += [
        f"Machine: {env['cpus']} CPUs ({env['cpu']}), {env['memory_gib']} GiB RAM, load average at start "
        f"{env['load_at_start']}, python {env['python']}, polars {env['polars']}; {env['date']}.",
        "",
    ]
    return "\n".join(parts)


def render_engines(runs: list[Run], spark_runs: list[Run], master: str | None) -> str:
    """The polars-vs-Spark section: per size both engines' wall time, memory, stage seconds and whether the outputs agree."""
    rows = [
        f"## Polars vs Spark (`--engine spark --spark-master {master or 'local[*]'}`)",
        "",
        "Each size scored by both engines on the same data set, each in a fresh subprocess. `driver GiB` is the peak resident "
        "set of the `coordetect` process itself (`wait4`); `tree GiB` the peak of the memory of the process and all its "
        f"descendants (Spark's JVM and its Python workers are children of the driver, which `wait4` does not count), "
        f"sampled every {TREE_SAMPLE_S:g} s from `/proc` as the sum of the processes' proportional set sizes (PSS: a page "
        "shared by several processes is split among them, so the sum counts it once), at least the driver's own peak; a "
        "peak shorter than the sampling interval can be missed. `same output`: cluster ids of `accounts.parquet` equal up "
        "to renumbering (noise as noise) and `edges.parquet` equal.",
        "",
        "| size | events | engine | wall s | driver GiB | tree GiB | " + " | ".join(STAGES) + " | same output |",
        "| --- | ---: | --- | ---: | ---: | ---: |" + " ---: |" * len(STAGES) + " --- |",
    ]
    by_size = {r.size: r for r in spark_runs}
    for r in runs:
        for run in (r, by_size.get(r.size)):
            if run is None:
                continue
            same = "reference"
            if run.same_as_polars is not None:
                differ = [name for name, ok in run.same_as_polars.items() if not ok]
                same = "yes" if not differ else "NO: " + ", ".join(differ)
            tree = f"{run.tree_peak_gib:.2f}" if run.tree_peak_gib is not None else "-"
            stages = " | ".join(f"{run.stages_s.get(s, 0.0):,.1f}" for s in STAGES)
            rows.append(f"| {run.size} | {run.events:,} | {run.engine} | {run.seconds:,.1f} | {run.peak_rss_gib:.2f} | {tree} | {stages} | {same} |")
    rows.append("")
    ratios = [f"{r.size} {by_size[r.size].seconds / r.seconds:.1f}x" for r in runs if r.size in by_size]
    if ratios:
        rows += [f"Spark's wall time against polars': {', '.join(ratios)}.", ""]
    return "\n".join(rows)


def environment() -> dict:
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        memory = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB, 1)
    except (ValueError, OSError):
        memory = None
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": memory,
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "polars": pl.__version__,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), help=f"named sizes ({', '.join(SIZES)}) or account counts")
    parser.add_argument("--quick", action="store_true", help=f"two tiny sets ({', '.join(QUICK_SIZES)}), for CI")
    parser.add_argument("--data", type=Path, default=HERE / "work" / "scale", help="where simulated data sets are cached")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where scale.md and scale.json go")
    parser.add_argument("--timeout", type=float, default=None, help="kill a scoring run after this many seconds")
    parser.add_argument("--engine", choices=("polars", "spark"), default="polars",
                        help="spark: score each size with both engines and compare them (time, memory, outputs)")  # fmt: skip
    parser.add_argument("--spark-master", default=None, help="with --engine spark: the Spark master URL (default: coordetect's, local[*])")
    args = parser.parse_args(argv)
    if args.spark_master is not None and args.engine != "spark":
        parser.error("--spark-master goes with --engine spark")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)

    if args.quick:
        sizes = dict(QUICK_SIZES)
    else:
        sizes = {}
        for name in args.sizes:
            if name in SIZES:
                sizes[name] = SIZES[name]
            elif name.isdigit():
                sizes[f"{int(name):,} accounts"] = int(name)
            else:
                parser.error(f"--sizes: unknown size {name!r}; expected one of {', '.join(SIZES)} or a number of accounts")
    env = environment()
    runs, spark_runs = [], []
    for size, accounts in sizes.items():
        if args.engine == "spark":
            run, spark = score_both(size, accounts, args.data, timeout_s=args.timeout, spark_master=args.spark_master)
            log.info("%s on spark: %d events in %.1f s, peak %.2f GiB (tree %.2f GiB), same output: %s",
                     size, spark.events, spark.seconds, spark.peak_rss_gib, spark.tree_peak_gib, spark.same_as_polars)  # fmt: skip
            spark_runs.append(spark)
        else:
            run = score(size, accounts, args.data, timeout_s=args.timeout)
        log.info("%s: %d events in %.1f s, peak %.2f GiB", size, run.events, run.seconds, run.peak_rss_gib)
        runs.append(run)
    runs.sort(key=lambda r: r.events)
    fit = growth(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    text = render(runs, fit, env)
    if spark_runs:
        text += "\n" + render_engines(runs, spark_runs, args.spark_master)
    (args.out / "scale.md").write_text(text)
    payload = {
        "scenario": SCENARIO,
        "seed": SEED,
        "environment": env,
        "runs": [asdict(r) | {"shares": {k: round(v, 4) for k, v in r.shares().items()}} for r in runs],
        "growth": fit,
        "slowest_stage": slowest_stage(runs[-1])[0] if runs else None,
        "targets": targets(runs),
    }
    if spark_runs:
        payload["spark"] = {
            "spark_master": args.spark_master,
            "runs": [asdict(r) | {"shares": {k: round(v, 4) for k, v in r.shares().items()}} for r in spark_runs],
            "growth": growth(spark_runs),
        }
    (args.out / "scale.json").write_text(json.dumps(payload, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
