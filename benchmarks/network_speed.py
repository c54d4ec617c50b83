"""Speed benchmark: ``coordetect network`` against the coordination-network-toolkit's co_retweet.

Both tools read the same toolkit-layout CSV and build the 60 s co-repost
network. Each runs in its own subprocess, timed end to end (wall seconds), with
peak memory from ``/usr/bin/time -v`` (for the toolkit, the largest single
process of its worker pool). The two networks must agree: the same unordered
account pairs, and our ``source_events``/``target_events`` equal to the
toolkit's directed weights. Any disagreement is printed and the script exits 1.

Data sets:
  ira     the IRA tweets (read-only, /work/shared/data/ira) converted to the toolkit's layout;
          a retweet's repost_id is its whitespace-collapsed text (no tweet ids survive).
  gen10m  10 million generated events (benchmarks/gen_events.py, seeded).
  quick   50 thousand generated events, for CI (``--quick``).

Derived files go under ``--work`` (default benchmarks/work/, git-ignored);
``network_speed.md`` and ``network_speed.json`` go under ``--results``.

Usage::

    .venv/bin/python benchmarks/network_speed.py                 # ira + gen10m
    .venv/bin/python benchmarks/network_speed.py --quick --results /tmp/r
    .venv/bin/python benchmarks/network_speed.py --datasets ira --toolkit-timeout 3600
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import inspect
import json
import logging
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_events  # noqa: E402  (sibling script, not a package)

log = logging.getLogger("network_speed")

HERE = Path(__file__).resolve().parent
IRA_PARQUET = Path("/work/shared/data/ira/ira_tweets.parquet")
WINDOW_S = 60
SIGNAL = "share"
GEN_SIZES = {"gen10m": 10_000_000, "quick": 50_000}
GEN_SEED = 7
MIB = 1024 * 1024

# Targets from the issue, reported (never asserted) next to the table.
TARGET_IRA_SPEEDUP = 20.0
TARGET_IRA_RSS_MIB = 1024.0
TARGET_10M_SECONDS = 60.0
TARGET_10M_RSS_MIB = 4096.0


@dataclass
class Run:
    """One timed subprocess run of one tool (a tool may need several steps)."""

    dataset: str
    events: int
    tool: str
    seconds: float | None = None  # end to end; None when skipped
    peak_rss_mib: float | None = None
    pairs: int | None = None
    steps: dict[str, float] = field(default_factory=dict)
    note: str = ""
    timed_out: bool = False  # seconds is then a lower bound


# ---------------------------------------------------------------- data preparation


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(csv_path: Path, fingerprint: dict) -> dict | None:
    """The sidecar metadata of ``csv_path`` if it was made from exactly ``fingerprint``."""
    meta_path = csv_path.with_suffix(".meta.json")
    if not (csv_path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    return meta if meta.get("fingerprint") == fingerprint else None


def _store_meta(csv_path: Path, fingerprint: dict, rows: int) -> dict:
    meta = {"fingerprint": fingerprint, "rows": rows}
    csv_path.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def ira_to_cntk(source: Path) -> pl.DataFrame:
    """The IRA tweets in the toolkit's 8 columns.

    message_id = row number, user_id = username = author; a retweet (post_type R
    or retweet == 1) gets repost_id = its text with whitespace collapsed, the
    rule our ``--format ira`` reader uses, so both tools group retweets by
    identical text. timestamp = epoch seconds of publish_date (UTC); urls = the
    http(s) links in the text, space-separated.
    """
    collapsed = pl.col("content").str.replace_all(r"\s+", " ").str.strip_chars()
    is_retweet = (pl.col("post_type") == "R").fill_null(False) | (pl.col("retweet") == "1").fill_null(False)
    return (
        pl.scan_parquet(source)
        .with_row_index("message_id")
        .select(
            pl.col("message_id").cast(pl.Int64),
            pl.col("author").alias("user_id"),
            pl.col("author").alias("username"),
            pl.when(is_retweet & (collapsed != "")).then(collapsed).alias("repost_id"),
            pl.lit(None, dtype=pl.String).alias("reply_id"),
            pl.col("content").alias("message"),
            pl.col("publish_date")
            .str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC")
            .dt.epoch("s")
            .alias("timestamp"),
            pl.col("content").str.extract_all(r"https?://\S+").list.join(" ").alias("urls"),
        )
        .collect()
    )


def prepare(dataset: str, work: Path) -> tuple[Path, int]:
    """The toolkit-layout CSV for ``dataset`` (built once, then reused) and its row count."""
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / f"{dataset}.csv"
    if dataset == "ira":
        stat = IRA_PARQUET.stat()
        fingerprint = {"source": str(IRA_PARQUET), "size": stat.st_size, "mtime": stat.st_mtime, "code": _digest(inspect.getsource(ira_to_cntk))}
        meta = _cached(csv_path, fingerprint)
        if meta is None:
            log.info("converting %s to the toolkit layout", IRA_PARQUET)
            frame = ira_to_cntk(IRA_PARQUET)
            gen_events.write_csv(frame, csv_path)
            meta = _store_meta(csv_path, fingerprint, frame.height)
        return csv_path, meta["rows"]
    spec = gen_events.GenSpec(events=GEN_SIZES[dataset], seed=GEN_SEED)
    fingerprint = {"spec": asdict(spec), "code": _digest(Path(gen_events.__file__).read_text())}
    meta = _cached(csv_path, fingerprint)
    if meta is None:
        log.info("generating %d events", spec.events)
        frame = gen_events.generate(spec)
        gen_events.write_csv(frame, csv_path)
        meta = _store_meta(csv_path, fingerprint, frame.height)
        del frame
    return csv_path, meta["rows"]


# ---------------------------------------------------------------- measured runs

_RSS_WRAPPER = """
import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"\\n\\tMaximum resident set size (kbytes): {kib}\\n")
sys.exit(rc)
"""


def _gnu_time() -> str | None:
    path = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if path is None:
        return None
    probe = subprocess.run([path, "-v", "true"], capture_output=True, text=True)
    return path if "Maximum resident set size" in probe.stderr else None


class TimedOut(Exception):
    """A measured command ran past its time limit and was killed."""


def measured(cmd: list[str], log_path: Path, *, timeout_s: float | None = None) -> tuple[float, float]:
    """Run ``cmd`` to completion; return (wall seconds, peak RSS MiB of its largest process).

    stdout and stderr go to ``log_path``. A non-zero exit raises RuntimeError
    naming the log; running past ``timeout_s`` kills the command's process
    group and raises TimedOut.
    """
    gnu_time = _gnu_time()
    wrapped = [gnu_time, "-v", *cmd] if gnu_time else [sys.executable, "-c", _RSS_WRAPPER, *cmd]
    with log_path.open("w") as out:
        started = time.perf_counter()
        # Own process group, so a timeout can stop the command and every worker it forked.
        proc = subprocess.Popen(wrapped, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise TimedOut(f"{' '.join(cmd[:3])}... killed after {timeout_s:.0f} s") from None
        seconds = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    if rc != 0:
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise RuntimeError(f"command failed (exit {rc}), log {log_path}:\n{tail}")
    found = re.findall(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return seconds, (int(found[-1]) / 1024 if found else float("nan"))


def _bin(name: str) -> Path | None:
    candidate = Path(sys.executable).parent / name
    return candidate if candidate.exists() else None


def ours_command(csv_path: Path, out: Path, record: Path) -> list[str]:
    """``coordetect network`` on a toolkit-layout CSV, as the installed command if there is one."""
    exe = _bin("coordetect")
    head = [str(exe)] if exe else [sys.executable, "-m", "detector"]
    return [*head, "network", str(csv_path), "--format", "cntk", "--signal", SIGNAL, "--window", str(WINDOW_S),
            "--min-weight", "1", "--quiet", "--record", str(record), "--out", str(out)]  # fmt: skip


def run_ours(dataset: str, events: int, csv_path: Path, work: Path) -> tuple[Run, pl.DataFrame]:
    """One ``coordetect network`` run; its own run record splits the time into read / network / write."""
    out, record = work / f"{dataset}_ours.parquet", work / f"{dataset}_ours_record.json"
    out.unlink(missing_ok=True)
    record.unlink(missing_ok=True)
    seconds, rss = measured(ours_command(csv_path, out, record), work / f"{dataset}_ours.log")
    edges = pl.read_parquet(out)
    run = Run(dataset, events, "coordetect", round(seconds, 2), round(rss, 1), edges.height)
    if record.exists():
        rec = json.loads(record.read_text())
        t = rec.get("timings_s", {})
        if {"read", "network", "total"} <= t.keys():
            run.steps = {
                "read": t["read"],
                "network": t["network"],
                "write": round(t["total"] - t["read"] - t["network"], 3),
                "start+exit": round(seconds - t["total"], 3),  # interpreter, imports, teardown
            }
        if rec.get("capped_events"):
            run.note = f"{rec['capped_events']:,} events on {rec['capped_objects']:,} objects capped (not paired)"
    return run, edges


def toolkit_commands(csv_path: Path, db: Path, threads: int) -> dict[str, list[str]]:
    exe = _bin("compute_networks")
    head = [str(exe)] if exe else [sys.executable, "-m", "coordination_network_toolkit"]
    return {
        "preprocess": [*head, str(db), "preprocess", "--format", "csv", str(csv_path)],
        "compute": [*head, str(db), "compute", "co_retweet", "--time_window", str(WINDOW_S),
                    "--min_edge_weight", "1", "--n_cpus", str(threads)],  # fmt: skip
    }


def run_toolkit(
    dataset: str, events: int, csv_path: Path, work: Path, *, threads: int, timeout_s: float | None
) -> tuple[Run, Path | None]:
    """preprocess + compute co_retweet on a fresh database; end-to-end time is their sum."""
    db = work / f"{dataset}_cntk.db"
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run = Run(dataset, events, "cntk", note=f"n_cpus={threads}")
    peak = 0.0
    for step, cmd in toolkit_commands(csv_path, db, threads).items():
        left = None if timeout_s is None else max(timeout_s - sum(run.steps.values()), 1.0)
        try:
            seconds, rss = measured(cmd, work / f"{dataset}_cntk_{step}.log", timeout_s=left)
        except TimedOut as exc:
            run.note += f"; timed out in {step}: {exc}"
            run.steps[step] = round(left, 1)
            run.seconds, run.timed_out = round(sum(run.steps.values()), 2), True
            run.peak_rss_mib = round(peak, 1) if peak else None  # of the steps that finished
            return run, None
        run.steps[step] = round(seconds, 2)
        peak = max(peak, rss)
    run.seconds = round(sum(run.steps.values()), 2)
    run.peak_rss_mib = round(peak, 1)
    with sqlite3.connect(db) as conn:
        loaded = conn.execute("select count(*) from edge").fetchone()[0]
    if loaded != events:
        # The toolkit dedups on message_id and parses the CSV itself; a gap means the inputs differ.
        run.note += f"; loaded {loaded:,} of {events:,} rows"
    return run, db


# ---------------------------------------------------------------- agreement check


def toolkit_edges(db: Path) -> pl.DataFrame:
    """The toolkit's co_retweet network as unordered pairs with both directed weights.

    Columns: a, b (a < b), ab (weight of user_1=a, user_2=b), ba. Self loops dropped.
    """
    chunks = []
    with sqlite3.connect(db) as conn:
        cur = conn.execute("select cast(user_1 as text), cast(user_2 as text), weight from co_retweet_network where user_1 != user_2")
        while rows := cur.fetchmany(1_000_000):
            chunks.append(pl.DataFrame(rows, schema={"u1": pl.String, "u2": pl.String, "w": pl.Int64}, orient="row"))
    directed = pl.concat(chunks) if chunks else pl.DataFrame(schema={"u1": pl.String, "u2": pl.String, "w": pl.Int64})
    forward = directed.filter(pl.col("u1") < pl.col("u2")).select(a="u1", b="u2", ab="w")
    backward = directed.filter(pl.col("u1") > pl.col("u2")).select(a="u2", b="u1", ba="w")
    return forward.join(backward, on=["a", "b"], how="full", coalesce=True)


def our_pairs(edges: pl.DataFrame) -> pl.DataFrame:
    """Our network in the same shape as ``toolkit_edges`` (tolerates either orientation)."""
    swap = pl.col("source") > pl.col("target")
    return edges.select(
        a=pl.when(swap).then("target").otherwise("source"),
        b=pl.when(swap).then("source").otherwise("target"),
        ab=pl.when(swap).then("target_events").otherwise("source_events"),
        ba=pl.when(swap).then("source_events").otherwise("target_events"),
    )


def compare(ours: pl.DataFrame, theirs: pl.DataFrame) -> dict:
    """Counts of pairs only one side has and of pairs whose directed weights differ, with examples."""
    joined = our_pairs(ours).join(theirs, on=["a", "b"], how="full", coalesce=True, suffix="_cntk")
    only_ours = joined.filter(pl.col("ab_cntk").is_null() & pl.col("ba_cntk").is_null())
    only_cntk = joined.filter(pl.col("ab").is_null())
    both = joined.filter(pl.col("ab").is_not_null() & (pl.col("ab_cntk").is_not_null() | pl.col("ba_cntk").is_not_null()))
    differ = both.filter((pl.col("ab") != pl.col("ab_cntk")).fill_null(True) | (pl.col("ba") != pl.col("ba_cntk")).fill_null(True))
    return {
        "pairs_ours": ours.height,
        "pairs_cntk": theirs.height,
        "only_ours": only_ours.height,
        "only_cntk": only_cntk.height,
        "weight_mismatches": differ.height,
        "examples": {
            "only_ours": only_ours.head(3).to_dicts(),
            "only_cntk": only_cntk.head(3).to_dicts(),
            "weight_mismatches": differ.head(3).to_dicts(),
        },
        "match": only_ours.height == 0 and only_cntk.height == 0 and differ.height == 0,
    }


# ---------------------------------------------------------------- report


def _fmt(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.{digits}f}"


def speedups(runs: list[Run]) -> dict[str, float | None]:
    """Toolkit seconds / our seconds per data set, from runs of this invocation only (a lower bound if it timed out)."""
    out: dict[str, float | None] = {}
    for ours in (r for r in runs if r.tool == "coordetect"):
        cntk = next((r for r in runs if r.tool == "cntk" and r.dataset == ours.dataset), None)
        ok = cntk is not None and cntk.seconds and ours.seconds
        out[ours.dataset] = round(cntk.seconds / ours.seconds, 1) if ok else None
    return out


def targets(runs: list[Run], ratio: dict[str, float | None]) -> list[str]:
    """One line per issue target that this run can speak to."""
    lines = []
    for r in runs:
        if r.tool != "coordetect" or r.seconds is None:
            continue
        if r.dataset == "ira":
            s = ratio.get("ira")
            ok = s is not None and s >= TARGET_IRA_SPEEDUP and r.peak_rss_mib < TARGET_IRA_RSS_MIB
            lines.append(
                f"- IRA: >= {TARGET_IRA_SPEEDUP:.0f}x faster than the toolkit with peak < 1 GiB: "
                f"{_fmt(s)}x, {_fmt(r.peak_rss_mib)} MiB -> {'met' if ok else 'NOT met'}"
            )
        if r.dataset == "gen10m":
            ok = r.seconds < TARGET_10M_SECONDS and r.peak_rss_mib < TARGET_10M_RSS_MIB
            lines.append(
                f"- 10M events in < {TARGET_10M_SECONDS:.0f} s with peak < 4 GiB: "
                f"{_fmt(r.seconds)} s, {_fmt(r.peak_rss_mib)} MiB -> {'met' if ok else 'NOT met'}"
            )
    return lines


def render(runs: list[Run], checks: dict[str, dict], env: dict) -> str:
    ratio = speedups(runs)
    rows = [
        "| dataset | events | tool | seconds | peak RSS MiB | pairs | speed-up vs toolkit |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    bound = {r.dataset for r in runs if r.timed_out}
    for r in runs:
        more = ">" if r.dataset in bound else ""
        speed = f"{more}{ratio[r.dataset]:.1f}x" if r.tool == "coordetect" and ratio.get(r.dataset) else ("1.0x" if r.tool == "cntk" and r.seconds else "—")
        seconds = f"{'>' if r.timed_out else ''}{_fmt(r.seconds, 2)}"
        rows.append(f"| {r.dataset} | {r.events:,} | {r.tool} | {seconds} | {_fmt(r.peak_rss_mib)} | {_fmt(r.pairs)} | {speed} |")
    notes = []
    for r in runs:
        if r.steps:
            steps = ", ".join(f"{k} {v:,.1f} s" for k, v in r.steps.items())
            notes.append(f"- {r.dataset} / {r.tool}: {steps}" + (f" ({r.note})" if r.note else ""))
        elif r.note:
            notes.append(f"- {r.dataset} / {r.tool}: {r.note}")
    agreement = []
    for name, c in checks.items():
        verdict = "same pairs and directed weights" if c["match"] else "MISMATCH"
        agreement.append(
            f"- {name}: {verdict} (ours {c['pairs_ours']:,}, toolkit {c['pairs_cntk']:,}; only ours {c['only_ours']:,}, "
            f"only toolkit {c['only_cntk']:,}, weight mismatches {c['weight_mismatches']:,})"
        )
    parts = [
        "# Co-repost network speed: coordetect vs coordination-network-toolkit",
        "",
        f"`--signal {SIGNAL} --window {WINDOW_S}` against the toolkit's `preprocess` + `compute co_retweet "
        f"--time_window {WINDOW_S} --min_edge_weight 1`, same CSV, each tool in its own process, wall seconds end to end; "
        "peak RSS from `/usr/bin/time -v` (toolkit: the largest single process of its pool). "
        "Speed-up = toolkit seconds / our seconds in the same run.",
        "",
        *rows,
        "",
        "Steps (ours: from its run record; toolkit: one process per step):" if any(r.steps for r in runs) else "",
        *notes,
        "",
        "Agreement (unordered pairs; source_events/target_events vs the toolkit's directed weights):",
        *agreement,
        *(f"- {d}: not checked (toolkit skipped or did not finish)" for d in dict.fromkeys(r.dataset for r in runs) if d not in checks),
        "",
        "Targets:",
        *(targets(runs, ratio) or ["- none applicable to these data sets"]),
    ]
    parts += [
        "",
        f"Machine: {env['cpus']} CPUs, load average at start {env['load_at_start']}, python {env['python']}, "
        f"polars {env['polars']}, toolkit {env['toolkit']}; {env['date']}.",
        "",
    ]
    return "\n".join(parts)


def environment() -> dict:
    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "cpus": os.cpu_count(),
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "polars": pl.__version__,
        "toolkit": version("coordination-network-toolkit"),
        "coordetect": version("coordetect"),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="only a small generated set (CI)")
    parser.add_argument("--datasets", default="ira,gen10m", help="comma-separated: ira, gen10m, quick")
    parser.add_argument("--skip-toolkit-10m", action="store_true", help="do not run the toolkit on gen10m")
    parser.add_argument("--toolkit-timeout", type=float, default=None, help="kill a toolkit run after this many seconds")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="toolkit --n_cpus (default: all cores)")
    parser.add_argument("--work", type=Path, default=HERE / "work", help="derived data and logs (git-ignored)")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="where the .md and .json go")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    datasets = ["quick"] if args.quick else [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = sorted(set(datasets) - {"ira", *GEN_SIZES})
    if unknown:
        parser.error(f"--datasets: unknown {unknown}; expected ira, gen10m or quick")
    env = environment()
    runs: list[Run] = []
    checks: dict[str, dict] = {}
    for name in datasets:
        csv_path, events = prepare(name, args.work)
        log.info("%s: %d events in %s", name, events, csv_path)
        ours_run, ours_edges = run_ours(name, events, csv_path, args.work)
        runs.append(ours_run)
        log.info("%s: coordetect %.1f s, %.0f MiB, %d pairs", name, ours_run.seconds, ours_run.peak_rss_mib, ours_run.pairs)
        if name == "gen10m" and args.skip_toolkit_10m:
            runs.append(Run(name, events, "cntk", note="skipped (--skip-toolkit-10m)"))
        else:
            cntk_run, db = run_toolkit(name, events, csv_path, args.work, threads=args.threads, timeout_s=args.toolkit_timeout)
            if db is not None:
                theirs = toolkit_edges(db)
                cntk_run.pairs = theirs.height
                checks[name] = compare(ours_edges, theirs)
            runs.append(cntk_run)
            log.info("%s: toolkit %s s (%s)", name, cntk_run.seconds, cntk_run.steps)

    args.results.mkdir(parents=True, exist_ok=True)
    ratio = speedups(runs)
    (args.results / "network_speed.md").write_text(render(runs, checks, env))
    payload = {
        "window_s": WINDOW_S,
        "signal": SIGNAL,
        "environment": env,
        "runs": [asdict(r) | {"speedup_vs_toolkit": ratio.get(r.dataset) if r.tool == "coordetect" else None} for r in runs],
        "agreement": checks,
        "targets": targets(runs, ratio),
    }
    (args.results / "network_speed.json").write_text(json.dumps(payload, indent=2, default=str))
    print((args.results / "network_speed.md").read_text())
    bad = {name: c for name, c in checks.items() if not c["match"]}
    for name, c in bad.items():
        print(f"MISMATCH on {name}: {json.dumps({k: v for k, v in c.items() if k != 'match'}, default=str)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
