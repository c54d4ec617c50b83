"""Quality harness: every scenario x seed x method, scored with the contract's metrics.

    python -m benchmarks.quality                 # full run: every scenario, 3 seeds, every method
    python -m benchmarks.quality --quick         # CI smoke run: small data sets, 1 seed
    python -m benchmarks.quality --scenarios NAME ... --seeds 5 --methods pacheco coortweet

For each run the simulator (``detector.simulate``) makes a data set with ground
truth, the method scores its events, and ``detector.evaluate.evaluate`` compares
the result with the truth. Writes ``RESULTS/quality.md`` (one table: mean over
seeds per scenario and method) and ``RESULTS/quality.json`` (every run's raw
metrics and the settings), ``RESULTS`` being ``benchmarks/results`` unless
``--out`` says otherwise. Progress goes to stderr. A method that raises is
recorded with its error and the harness goes on; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import polars as pl

from benchmarks.baselines import cntk_components, coortweet, pacheco
from detector.evaluate import evaluate
from detector.io import atomic_path

# A method maps (events, accounts or None) to the contract's accounts table.
Method = Callable[[pl.DataFrame, "pl.DataFrame | None"], pl.DataFrame]

def _coordetect(events: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
    """The detector with its default configuration, as ``coordetect score`` runs it."""
    from detector.config import Config
    from detector.pipeline import detect

    return detect(events, accounts, Config()).accounts


METHODS: dict[str, Method] = {
    "coordetect": _coordetect,
    "cntk_components": lambda events, accounts: cntk_components.run(events),
    "pacheco": lambda events, accounts: pacheco.run(events),
    "coortweet": lambda events, accounts: coortweet.run(events),
}

TABLE_METRICS = ("precision", "recall", "f1", "organic_fpr", "operator_ari")
DEFAULT_SEEDS = 3
QUICK_ACCOUNTS = 300
RESULTS = Path(__file__).resolve().parent / "results"


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(present) / len(present) if present else None


def run_method(sim, method: str, *, scenario: str, seed: int) -> dict:
    """Run ``method`` on one simulated data set; return its metrics and timing (or its error)."""
    record: dict = {"scenario": scenario, "seed": seed, "method": method, "n_events": sim.events.height}
    started = time.perf_counter()
    try:
        out = METHODS[method](sim.events, sim.accounts)
    except Exception as exc:  # one failing method must not lose the other runs of a long benchmark
        record.update(seconds=time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
        record["traceback"] = traceback.format_exc(limit=5)
        return record
    record["seconds"] = time.perf_counter() - started
    record.update(evaluate(out, sim.truth))
    return record


def summarize(runs: list[dict]) -> list[dict]:
    """One row per (scenario, method), in first-seen order: the mean of each metric over the seeds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["scenario"], r["method"]), []).append(r)
    rows = []
    for (scenario, method), members in groups.items():
        ok = [m for m in members if "error" not in m]
        row = {"scenario": scenario, "method": method, "seeds": len(ok), "failed": len(members) - len(ok)}
        for key in (*TABLE_METRICS, "seconds"):
            row[key] = _mean([m.get(key) for m in ok])
        rows.append(row)
    return rows


def _cell(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}"
    return f"{0.0:.{digits}f}" if float(text) == 0 else text  # no "-0.000" for tiny negative ARIs


def markdown_table(rows: list[dict], *, n_accounts: int | None, heading: str | None = None) -> str:
    """The summary as a Markdown table; '–' marks a metric undefined on every seed. ``heading`` replaces the title and note."""
    size = "each scenario's default size" if n_accounts is None else f"{n_accounts} accounts"
    lines = [
        heading
        or "# Quality on simulated scenarios: every method, contract metrics\n\n"
        f"Mean over seeds ({size}); `seeds` = runs averaged, `–` = undefined "
        "(e.g. recall with no coordinated accounts). Raw runs: `quality.json`. "
        "Regenerate with `python -m benchmarks.quality`.",
        "",
        "| scenario | method | precision | recall | f1 | organic_fpr | operator_ari | seconds | seeds |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        metrics = " | ".join(_cell(r[k], 3) for k in TABLE_METRICS)
        seeds = f"{r['seeds']}" + (f" ({r['failed']} failed)" if r["failed"] else "")
        lines.append(f"| {r['scenario']} | {r['method']} | {metrics} | {_cell(r['seconds'], 2)} | {seeds} |")
    return "\n".join(lines) + "\n"


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from detector.simulate import SCENARIOS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=None, help=f"seeds 0..N-1 per scenario (default {DEFAULT_SEEDS}; 1 with --quick)")
    parser.add_argument("--n-accounts", type=int, default=None, help="accounts per data set (default: the scenario's own)")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ACCOUNTS} accounts, 1 seed")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"folder for quality.md and quality.json (default {RESULTS})")
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = 1 if args.quick else DEFAULT_SEEDS
    if args.quick and args.n_accounts is None:
        args.n_accounts = QUICK_ACCOUNTS
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    if args.n_accounts is not None and args.n_accounts < 1:
        parser.error(f"--n-accounts must be >= 1, got {args.n_accounts}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from detector.simulate import simulate

    n_jobs = len(args.scenarios) * args.seeds * len(args.methods)
    runs: list[dict] = []
    started = time.perf_counter()
    for scenario in args.scenarios:
        for seed in range(args.seeds):
            # One data set per (scenario, seed), shared by every method.
            sim = simulate(scenario, n_accounts=args.n_accounts, seed=seed)
            for method in args.methods:
                record = run_method(sim, method, scenario=scenario, seed=seed)
                runs.append(record)
                outcome = f"ERROR {record['error']}" if "error" in record else (
                    f"f1={_cell(record['f1'], 3)} fpr={_cell(record['organic_fpr'], 3)} "
                    f"ari={_cell(record['operator_ari'], 3)}"
                )
                print(
                    f"[{len(runs)}/{n_jobs}] {scenario} seed={seed} {method}: {outcome} "
                    f"({record['n_events']} events, {record['seconds']:.2f}s)",
                    file=sys.stderr,
                    flush=True,
                )
    rows = summarize(runs)
    report = {
        "settings": {
            "scenarios": args.scenarios,
            "methods": args.methods,
            "seeds": list(range(args.seeds)),
            "n_accounts": args.n_accounts,
            "quick": args.quick,
        },
        "machine": {"python": platform.python_version(), "polars": pl.__version__, "cpus": os.cpu_count()},
        "total_seconds": time.perf_counter() - started,
        "summary": rows,
        "runs": runs,
    }
    _write_text(args.out / "quality.md", markdown_table(rows, n_accounts=args.n_accounts))
    _write_text(args.out / "quality.json", json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'quality.md'} and quality.json in {report['total_seconds']:.0f}s", file=sys.stderr)
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
