"""Quality on worlds our simulator did not make: ``benchmarks.cascade_world``, every method, contract metrics.

    python -m benchmarks.generalization              # every variant, 3 seeds, every method
    python -m benchmarks.generalization --quick      # CI smoke run: 1 variant, 1 seed, 1,000 accounts

A detector tuned to ``detector.simulate``'s quirks does well there and worse
here; the gap between this table and ``quality.md`` is the measure. Writes
``RESULTS/generalization.md`` and ``generalization.json`` (every run's raw
metrics). Same methods, metrics and table as ``benchmarks.quality``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from benchmarks.cascade_world import VARIANTS, cascade_world
from benchmarks.quality import METHODS, RESULTS, _cell, _write_text, markdown_table, run_method, summarize

DEFAULT_SEEDS = 3
QUICK_ACCOUNTS = 1000


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.generalization", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=None, help=f"seeds 0..N-1 per variant (default {DEFAULT_SEEDS}; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: the first variant, {QUICK_ACCOUNTS} accounts, 1 seed")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"folder for generalization.md and .json (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = 1 if args.quick else DEFAULT_SEEDS
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.quick:
        args.variants = args.variants[:1]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    runs: list[dict] = []
    started = time.perf_counter()
    n_jobs = len(args.variants) * args.seeds * len(args.methods)
    for variant in args.variants:
        for seed in range(args.seeds):
            world = cascade_world(variant, seed=seed, n_accounts=QUICK_ACCOUNTS if args.quick else None)
            for method in args.methods:
                record = run_method(world, method, scenario=f"cascade/{variant}", seed=seed)
                runs.append(record)
                outcome = f"ERROR {record['error']}" if "error" in record else (
                    f"p={_cell(record['precision'], 3)} r={_cell(record['recall'], 3)} fpr={_cell(record['organic_fpr'], 3)} ari={_cell(record['operator_ari'], 3)}"
                )
                print(f"[{len(runs)}/{n_jobs}] {variant} seed={seed} {method}: {outcome} ({record['n_events']} events, {record['seconds']:.1f}s)",
                      file=sys.stderr, flush=True)
    rows = summarize(runs)
    heading = (
        "# Quality on cascade worlds (`benchmarks/cascade_world.py`, not our simulator): every method, contract metrics\n\n"
        f"Mean over seeds; variants: {', '.join(f'`{v}`' for v in args.variants)}"
        f"{f' at {QUICK_ACCOUNTS} accounts' if args.quick else ''}. Raw runs: `generalization.json`. "
        "Regenerate with `python -m benchmarks.generalization`."
    )
    report = {
        "settings": {"variants": {v: dataclasses.asdict(VARIANTS[v]) for v in args.variants}, "methods": args.methods,
                     "seeds": list(range(args.seeds)), "quick": args.quick},
        "machine": {"python": platform.python_version(), "polars": pl.__version__, "cpus": os.cpu_count()},
        "total_seconds": time.perf_counter() - started,
        "summary": rows,
        "runs": runs,
    }
    _write_text(args.out / "generalization.md", markdown_table(rows, n_accounts=None, heading=heading))
    _write_text(args.out / "generalization.json", json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'generalization.md'} and generalization.json in {report['total_seconds']:.0f}s", file=sys.stderr)
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
