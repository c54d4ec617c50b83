"""The ``coordetect`` command line: the only place that prints or exits.

Exit status (contract): 0 success; 2 bad arguments or unreadable/invalid input,
with one line on stderr naming the file, row or column and what was expected;
1 an internal error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from detector import __version__
from detector.errors import ConfigError, CoordetectError, InputError, UsageError

log = logging.getLogger("coordetect")

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors share one exit path."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _peak_memory_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cmd_network(args: argparse.Namespace) -> int:
    """Compute one co-action network and write it by the output's extension."""
    from dataclasses import replace

    import polars as pl

    from detector.config import load_config
    from detector.engines import make_engine, readable
    from detector.graphs import network_suffix, write_network
    from detector.io import atomic_path, read_dataset
    from features.coaction import signal_columns

    out = Path(args.out)
    network_suffix(out)  # refuse an unknown output type before any work
    config = load_config(args.config).coaction
    window_s = config.window_s if args.window is None else args.window
    min_weight = config.min_weight if args.min_weight is None else args.min_weight
    if window_s < 0 or min_weight < 1:
        raise UsageError(f"--window must be >= 0 and --min-weight >= 1; got {window_s} and {min_weight}")
    normalize_urls = config.normalize_urls and not args.raw_urls

    started = time.perf_counter()
    engine = make_engine(args.engine, args.spark_master)  # first: a remote input is read through its session
    # Only the columns this signal reads are parsed, and no account profiles are built: a
    # large input then reads in a fraction of the time and memory (counts keep their meaning).
    with readable(engine, args.events) as (events, names):
        dataset = read_dataset(events, format=args.format, columns=signal_columns(args.signal), derive_accounts=False)
    dataset.report.files = [replace(f, path=names.get(f.path, f.path)) for f in dataset.report.files]
    read_s = time.perf_counter() - started
    network = engine.coaction
    result = network(
        dataset.events,
        signal=args.signal,
        window_s=window_s,
        min_weight=min_weight,
        max_actors_per_window=config.max_actors_per_window,
        pairs_per_chunk=config.pairs_per_chunk,
        normalize_urls=normalize_urls,
        tracking_params=config.tracking_params,
    )
    network_s = time.perf_counter() - started - read_s
    write_network(result.edges, out)
    total_s = time.perf_counter() - started

    record = {
        "tool": "coordetect",
        "version": __version__,
        "command": "network",
        "signal": args.signal,
        "window_s": window_s,
        "min_weight": min_weight,
        "normalize_urls": normalize_urls,
        "max_actors_per_window": config.max_actors_per_window,
        "engine": args.engine,
        "input": dataset.report.to_dict(),
        "capped_events": result.capped_events,
        "capped_objects": result.capped_objects,
        "pairs": result.edges.height,
        "accounts_linked": pl.concat([result.edges["source"], result.edges["target"]]).n_unique(),
        "timings_s": {"read": round(read_s, 3), "network": round(network_s, 3), "total": round(total_s, 3)},
        "peak_memory_mib": _peak_memory_mib(),
        "output": str(out),
    }
    if args.record:
        with atomic_path(Path(args.record)) as tmp:
            tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if not args.quiet:
        _print_network_summary(record, result.edges)
    return EXIT_OK


def _print_network_summary(record: dict, edges) -> None:
    report = record["input"]
    dropped = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in {**report["dropped"], **report["rejected"]}.items() if v)
    print(f"read {report['rows_read']:,} rows, kept {report['rows_kept']:,}" + (f" (dropped/rejected: {dropped})" if dropped else ""))
    print(
        f"{record['signal']} network, window {record['window_s']} s, min weight {record['min_weight']}: "
        f"{record['pairs']:,} pairs among {record['accounts_linked']:,} accounts"
        + (f"; {record['capped_events']:,} events on {record['capped_objects']:,} viral objects not paired" if record["capped_events"] else "")
    )
    if edges.height:
        top = edges.sort(["weight", "source_events", "source"], descending=[True, True, False]).head(10)
        print("strongest pairs (weight = distinct objects co-acted on):")
        print(f"  {'source':<24} {'target':<24} {'weight':>7} {'events':>13} {'median gap':>11}")
        for row in top.iter_rows(named=True):
            events = f"{row['source_events']}/{row['target_events']}"
            print(f"  {row['source'][:24]:<24} {row['target'][:24]:<24} {row['weight']:>7} {events:>13} {row['median_gap_s']:>9.1f} s")
    t = record["timings_s"]
    print(f"wrote {record['output']} in {t['total']:.2f} s (read {t['read']:.2f} s, network {t['network']:.2f} s), peak memory {record['peak_memory_mib']:.0f} MiB")


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write a synthetic data set with ground truth."""
    from detector.simulate import simulate, write_simulation

    sim = simulate(args.scenario, n_accounts=args.accounts, seed=args.seed)
    write_simulation(sim, Path(args.out))
    if not args.quiet:
        n_coordinated = sim.truth["operator_id"].is_not_null().sum()
        n_operators = sim.truth["operator_id"].n_unique() - (1 if sim.truth["operator_id"].null_count() else 0)
        print(
            f"scenario {args.scenario} (seed {args.seed}): {sim.events.height:,} events by {sim.accounts.height:,} accounts; "
            f"{n_coordinated:,} coordinated accounts in {n_operators} operators -> {args.out}"
        )
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Print the contract's metrics for a scored DIR as JSON."""
    from detector.evaluate import evaluate_dir

    metrics = evaluate_dir(Path(args.dir), Path(args.truth))
    print(json.dumps(metrics, indent=2))
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    """The batch job: read, build features, cluster, score, write DIR."""
    from detector.config import load_config
    from detector.run import score_files

    from detector.progress import status_line

    config = load_config(args.config)
    with status_line(False if args.quiet else None) as report:
        run = score_files(
            args.events, accounts=args.accounts, format=args.format, config=config, out_dir=Path(args.out), graph=args.graph, report=report,
            engine=args.engine, spark_master=args.spark_master,
        )
    if not args.quiet:
        _print_score_summary(run)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Simulate a small mixed data set, score it, print the flagged clusters and the metrics."""
    from detector.config import load_config
    from detector.evaluate import evaluate
    from detector.run import score_files
    from detector.simulate import simulate, write_simulation

    out = Path(args.out)
    sim = simulate("mixed", n_accounts=args.accounts, seed=args.seed)
    write_simulation(sim, out / "data")
    n_ops = sim.truth["operator_id"].drop_nulls().n_unique()
    print(
        f"simulated scenario 'mixed' (seed {args.seed}): {sim.events.height:,} events by {sim.accounts.height:,} accounts, "
        f"{sim.truth['operator_id'].is_not_null().sum():,} of them run by {n_ops} operators, with viral bursts, fandoms, "
        f"memes, hyperactive users and households as hard negatives -> {out / 'data'}"
    )
    from detector.progress import status_line

    with status_line(False if args.quiet else None) as report:
        run = score_files(out / "data" / "events.parquet", accounts=out / "data" / "accounts.parquet", format="canonical",
                          config=load_config(args.config), out_dir=out / "scored", report=report)
    _print_score_summary(run)
    metrics = evaluate(run.detection.accounts, sim.truth)
    shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
    print(f"against the simulator's ground truth: {shown}")
    print(f"next: coordetect evaluate {out / 'scored'} --truth {out / 'data' / 'truth.parquet'}")
    flagged = run.detection.accounts.filter("flagged")
    if flagged.height:
        print(f"      coordetect explain {out / 'scored'} {flagged['account_id'][0]}   (why this account is flagged)")
    print(f"      open {out / 'scored' / 'report.html'} in a browser (the flagged clusters, their timelines and graphs)")
    print(f"      open {out / 'scored' / 'graph.gexf'} in Gephi")
    return EXIT_OK


def _print_score_summary(run, *, limit: int = 15, console=None) -> None:
    """The final summary: counts, the strongest flagged clusters, where the outputs are, time and memory.

    At a terminal the clusters are a rich table; into a pipe or file, plain lines (easy to grep).
    """
    record, detection = run.record, run.detection
    report = record["input"]
    dropped = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in {**report["dropped"], **report["rejected"]}.items() if v)
    counts = record["counts"]
    flagged = detection.clusters.filter("flagged").sort(["score", "cluster_id"], descending=[True, False])
    t = record["timings_s"]
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in t.items() if k != "total")
    lines_before = [
        f"read {report['rows_read']:,} rows, kept {report['rows_kept']:,}" + (f" (dropped/rejected: {dropped})" if dropped else ""),
        f"{counts['accounts']:,} accounts, {counts['clustered_accounts']:,} in {counts['clusters']:,} clusters; "
        f"{counts['flagged_clusters']:,} clusters flagged ({counts['flagged_accounts']:,} accounts)",
    ]
    out = record.get("output", "")
    lines_after = [
        f"wrote {out} in {t['total']:.1f} s ({stages}), peak memory {record['peak_memory_mib']:.0f} MiB",
        f"report: {Path(out) / 'report.html'}",
    ]
    if console is None and sys.stdout.isatty():
        from rich.console import Console

        console = Console()
    if console is not None:
        _rich_summary(console, lines_before, flagged, limit, lines_after)
        return
    print("\n".join(lines_before))
    if flagged.height:
        print(f"  {'cluster':>7} {'accounts':>8} {'score':>6}  evidence")
        for row in flagged.head(limit).iter_rows(named=True):
            print(f"  {row['cluster_id']:>7} {row['n_accounts']:>8} {row['score']:>6.2f}  {row['evidence']}")
        if flagged.height > limit:
            print(f"  ... {flagged.height - limit} more in clusters.parquet")
    print("\n".join(lines_after))


def _rich_summary(console, lines_before: list[str], flagged, limit: int, lines_after: list[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    for line in lines_before:
        console.print(Text(line))
    if flagged.height:
        table = Table(title=f"flagged clusters ({min(limit, flagged.height)} of {flagged.height}, strongest first)", title_justify="left")
        table.add_column("cluster", justify="right")
        table.add_column("accounts", justify="right")
        table.add_column("score", justify="right", style="bold red")
        table.add_column("evidence", overflow="fold")
        for row in flagged.head(limit).iter_rows(named=True):
            table.add_row(str(row["cluster_id"]), str(row["n_accounts"]), f"{row['score']:.2f}", Text(row["evidence"]))
        console.print(table)
        if flagged.height > limit:
            console.print(Text(f"... {flagged.height - limit} more in clusters.parquet and report.html"))
    for line in lines_after:
        console.print(Text(line))


def cmd_report(args: argparse.Namespace) -> int:
    """Rewrite DIR/report.html from a scored folder and the data it scored."""
    from detector.report import report_from_dir

    path = report_from_dir(Path(args.dir), events=args.events, accounts=args.accounts, format=args.format)
    if not args.quiet:
        print(f"wrote {path}")
    return EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    """Why one account is or is not flagged: its cluster, score, strongest links and their shared objects."""
    from detector.explain import explain, render_text

    facts = explain(Path(args.dir), args.account_id)
    print(json.dumps(facts, indent=2, default=str) if args.json else render_text(facts))
    return EXIT_OK


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default="polars", choices=("polars", "spark"), help="where co-action runs: in this process (polars, default) or on Spark")
    parser.add_argument("--spark-master", default=None, help="with --engine spark: the Spark master URL (default local[*]; spark://host:7077, yarn, k8s://...)")


def build_parser() -> argparse.ArgumentParser:
    from detector.io import FORMATS

    parser = _Parser(prog="coordetect", description="Detect coordinated account networks.")
    parser.add_argument("--version", action="version", version=f"coordetect {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    common.add_argument("-v", "--verbose", action="store_true", help="log progress and details to stderr")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    net = sub.add_parser("network", parents=[common], help="compute one co-action network and write it to a file")
    net.add_argument("events", help="events file or folder (.parquet, .csv, .csv.gz, .jsonl, .ndjson, .jsonl.gz); with --engine spark also an address Spark reads (hdfs://, s3a://, file://)")
    net.add_argument("--signal", required=True, help="share, reply, quote, url, domain (site and day), hashtag, mention, text, or another action in the data (like, follow, ...)")
    net.add_argument("--window", type=int, default=None, help="seconds; events at most this far apart co-act (default: config, 60)")
    net.add_argument("--min-weight", type=int, default=None, help="keep pairs with at least this many distinct shared objects (default: config, 1)")
    net.add_argument("--format", default="canonical", choices=FORMATS, help="input layout (default: canonical)")
    net.add_argument("--config", default=None, help="TOML file overriding configs/default.toml key by key")
    net.add_argument("--raw-urls", action="store_true", help="compare URLs as given, without normalisation")
    net.add_argument("--record", default=None, help="also write the run record (counts, timings, memory) as JSON here")
    net.add_argument("--out", required=True, help="output file: .parquet, .csv, .graphml or .gexf")
    _engine_arguments(net)
    net.set_defaults(func=cmd_network)

    score = sub.add_parser("score", parents=[common], help="the batch job: read, build features, cluster, score, write DIR")
    score.add_argument("events", help="events file or folder (.parquet, .csv, .csv.gz, .jsonl, .ndjson, .jsonl.gz); with --engine spark also an address Spark reads (hdfs://, s3a://, file://)")
    score.add_argument("--accounts", default=None, help="accounts table (account_id, created_at, handle, ...)")
    score.add_argument("--format", default="canonical", choices=FORMATS, help="input layout (default: canonical)")
    score.add_argument("--config", default=None, help="TOML file overriding configs/default.toml key by key")
    score.add_argument("--graph", default="gexf", choices=("gexf", "graphml"), help="file type of DIR/graph.* for Gephi (default gexf)")
    score.add_argument("--out", required=True, help="output folder: accounts, clusters, edges, objects (.parquet), graph.gexf, report.html and run.json")
    _engine_arguments(score)
    score.set_defaults(func=cmd_score)

    exp = sub.add_parser("explain", parents=[common], help="why one account is or is not flagged")
    exp.add_argument("dir", help="a folder written by score")
    exp.add_argument("account_id")
    exp.add_argument("--json", action="store_true", help="print the facts as JSON for tools")
    exp.set_defaults(func=cmd_explain)

    rep = sub.add_parser("report", parents=[common], help="write DIR/report.html again for a folder written by score")
    rep.add_argument("dir", help="a folder written by score")
    rep.add_argument("--events", default=None, help="the scored events, if no longer where DIR/run.json says (default: as recorded, checked by sha256)")
    rep.add_argument("--accounts", default=None, help="the accounts table that went with them (with --events)")
    rep.add_argument("--format", default=None, choices=FORMATS, help="input layout of --events (default: as recorded, else canonical)")
    rep.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", parents=[common], help="simulate a small data set, score it, print a summary")
    demo.add_argument("--accounts", type=int, default=2000, help="accounts to simulate (default 2000)")
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--config", default=None, help="TOML file overriding configs/default.toml key by key")
    demo.add_argument("--out", default="demo-output", help="folder for the data set and the scored outputs (default demo-output)")
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("simulate", parents=[common], help="write a synthetic data set with ground truth")
    sim.add_argument("--scenario", required=True, help="baseline, stealth, viral_noise, many_small, large_operator, organic_only or mixed")
    sim.add_argument("--accounts", type=int, default=None, help="number of accounts (default: the scenario's)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--out", required=True, help="folder for events.parquet, accounts.parquet, truth.parquet")
    sim.set_defaults(func=cmd_simulate)

    ev = sub.add_parser("evaluate", parents=[common], help="compare a scored folder with ground truth; print metrics as JSON")
    ev.add_argument("dir", help="a folder written by score (needs accounts.parquet)")
    ev.add_argument("--truth", required=True, help="truth.parquet with account_id, operator_id, role")
    ev.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (the console script exits with it)."""
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"coordetect: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except (InputError, ConfigError, UsageError) as exc:
        print(f"coordetect: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except CoordetectError as exc:
        print(f"coordetect: error: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("coordetect: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into exit 1
        log.debug("internal error", exc_info=True)
        print(f"coordetect: internal error: {type(exc).__name__}: {exc} (run with --verbose for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
