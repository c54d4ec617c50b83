"""Significant co-action evidence of one signal, in memory bounded by a partition of the pairs.

``significant_coaction`` gives exactly what

    result = coaction_network(events, ..., keep_objects=True, popular_above=max_object_accounts)
    significant = significant_pairs(result.pair_objects, result.activity, ...)
    behind = result.objects_behind(significant)

gives, without ever holding every (pair, object) row, let alone with account
and object names: on large inputs ordinary posts shared by tens of accounts
make hundreds of millions of pairs (150M co-share pairs at 10M simulated
events), nearly all of them one coincidence each. How:

- pairs are built in chunks of ``pairs_per_chunk`` (as in ``coaction_network``),
  each reduced to (pair code, object code, closest gap) and split by the pair's
  lower account code into partitions, which go to a temporary folder when
  there is more than one;
- pass 1 reduces each partition to per-pair statistics (objects and their
  rarity weights summed in whole units, ``significance.rarity_units``: exact in
  any order, so no sort is needed) and sums the evidence: the null model's rate
  ``kappa``;
- pass 2 computes each pair's expectation and p-value; only p-values at most
  ``fdr`` can pass Benjamini-Hochberg (``fdr * rank / m <= fdr``), so only those
  pairs are kept with the count ``m`` of all tests, and the cutoff found among
  them is the cutoff over all pairs;
- pass 3 gathers the objects behind the significant pairs and their median
  gaps; names are attached only to those.

The formulas are ``features.significance``'s; ``tests/test_pair_evidence.py``
holds the two paths equal bit for bit, so a change to the test there must be
made here too.
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import poisson

from features.coaction import (
    _PAIR_SHIFT,
    _US_PER_S,
    CoactionResult,
    _chunk_bounds,
    _closest_gaps,
    _coded_rows,
    _pair_rows,
    _window_ends,
    check_signal,
    signal_events,
    split_popular,
)
from features.normalize import DEFAULT_TRACKING_PARAMS
from features.significance import EVIDENCE, EVIDENCE_UNIT, null_rate, rarity_units

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignalEvidence:
    """One signal's significant pairs (``significance.EVIDENCE``), the objects behind them, and the viral cap's count."""

    significant: pl.DataFrame
    objects: pl.DataFrame  # source, target, object, object_accounts, gap_s (as CoactionResult.pair_objects)
    capped_events: int
    pairs_tested: int


def significant_coaction(
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
    """See the module docstring."""
    check_signal(events, signal)
    rows = signal_events(events, signal, normalize_urls=normalize_urls, tracking_params=tracking_params).collect()
    accounts = rows.select(pl.col("account_id").unique().sort()).with_row_index("acc")
    window_us = window_s * _US_PER_S
    ordered, kept, capped = _coded_rows(rows, accounts, window_us, max_actors_per_window, whole=True)
    objects = ordered.filter(pl.col("obj").is_first_distinct()).select("obj", pl.col("_row").alias("row"))
    objects = objects.with_columns(rows["object"].gather(objects["row"]).cast(pl.String).alias("object")).drop("row")
    degree = ordered.group_by("obj").agg(pl.col("acc").n_unique().cast(pl.Int64).alias("object_accounts"))
    activity = ordered.group_by("acc").agg(pl.col("obj").n_unique().cast(pl.Float64).alias("n")).sort("acc")
    capped_events = capped["event"].n_unique()
    kept, popular_rows = split_popular(kept, accounts, objects, degree, above=max_object_accounts)
    # Only a row whose account has another row on the object can make a (pair, object) twice.
    kept = kept.with_columns((pl.len().over("acc", "obj") > 1).alias("repeat"))
    del rows, ordered, capped
    n_accounts = accounts.height
    ends = _window_ends(kept, window_us)
    bounds = _chunk_bounds(ends, pairs_per_chunk)
    in_window = int((ends.cast(pl.Int64) - pl.int_range(0, ends.len(), eager=True, dtype=pl.Int64) - 1).sum()) if ends.len() else 0
    n_parts = max(1, math.ceil(in_window / pairs_per_chunk))
    units = degree.select("obj", rarity_units(pl.col("object_accounts"), n_accounts).alias("units"))
    with tempfile.TemporaryDirectory(prefix="coordetect-pairs-") as spill:
        parts = _Partitions(n_parts, Path(spill))
        for start, stop in bounds:
            parts.add(_pair_rows(kept, ends, start, stop, events=False))
        del kept, ends
        # Pass 1: per pair statistics, and the evidence over all pairs (the null model's rate).
        total_units = 0
        for j in range(n_parts):
            stats = _pair_stats(parts.gaps(j), units)
            total_units += int(stats["units"].sum())
            parts.put_stats(j, stats)
        n = activity["n"]
        possible = (float(n.sum()) ** 2 - float((n * n).sum())) / 2.0
        kappa = null_rate(total_units, possible)
        # Pass 2: p-values; only those <= fdr can pass Benjamini-Hochberg over all m tests.
        m, candidates = 0, []
        sizes = activity.select(pl.col("acc").cast(pl.UInt32), "n")
        for j in range(n_parts):
            stats = parts.stats(j)
            m += stats.height
            if stats.is_empty():
                continue
            tested = (
                stats.join(sizes.rename({"acc": "lo", "n": "n_source"}), on="lo", maintain_order="left")
                .join(sizes.rename({"acc": "hi", "n": "n_target"}), on="hi", maintain_order="left")
                .with_columns((pl.col("units") * EVIDENCE_UNIT).alias("evidence"))
                .with_columns(
                    (pl.col("n_source") * pl.col("n_target") * kappa / (pl.col("evidence") / pl.col("objects"))).alias("expected")
                )
            )
            p_values = poisson.sf(tested["objects"].to_numpy() - 1, tested["expected"].to_numpy())
            candidates.append(tested.with_columns(pl.Series("p_value", p_values, dtype=pl.Float64)).filter(pl.col("p_value") <= fdr))
        found = pl.concat(candidates) if candidates else pl.DataFrame()
        if found.height:
            cutoff = _bh_cutoff(found["p_value"].to_numpy(), m, fdr)
            found = found.filter(
                (pl.col("p_value") <= cutoff) & (pl.col("objects") >= min_objects) & (pl.col("objects") >= min_lift * pl.col("expected"))
            )
        # Pass 3: the objects behind the significant pairs, and their median gaps (needed for these pairs only).
        keys = found.select(_packed().alias("pair"), (pl.col("lo") % n_parts).alias("part")) if found.height else None
        behind = []
        for j in range(n_parts if keys is not None else 0):
            behind.append(parts.gaps(j, only=keys.filter(pl.col("part") == j).select("pair")))
    if found.height:
        found = found.join(_median_gaps(behind, objects), on=["lo", "hi"], how="left", maintain_order="left")
    significant = _named(found, accounts, signal) if found.height else pl.DataFrame(schema=EVIDENCE)
    pair_objects = _named_objects(behind, objects, degree, accounts)
    result = CoactionResult(
        edges=pl.DataFrame(), capped_events=capped_events, capped_objects=0, pair_objects=pair_objects, popular_rows=popular_rows, window_us=window_us
    )
    return SignalEvidence(significant=significant, objects=result.objects_behind(significant), capped_events=capped_events, pairs_tested=m)


class _Partitions:
    """(pair, obj, gap_us, repeat) rows split by the pair's lower account; on disk when there is more than one partition."""

    def __init__(self, n: int, folder: Path) -> None:
        self.n, self.folder, self.chunks = n, folder, 0
        self.memory: list[pl.DataFrame] = []
        self.memory_stats: list[pl.DataFrame | None] = [None] * n

    def add(self, rows: pl.DataFrame) -> None:
        if self.n == 1:
            self.memory.append(rows)
            return
        part = ((pl.col("pair") // _PAIR_SHIFT) % self.n).alias("_part")
        for (j,), frame in rows.with_columns(part).partition_by("_part", as_dict=True, include_key=False).items():
            frame.write_ipc(self.folder / f"gaps-{j}-{self.chunks}.arrow")
        self.chunks += 1

    def gaps(self, j: int, *, only: pl.DataFrame | None = None) -> pl.DataFrame:
        """Partition ``j``: one row per (pair, object) with its closest gap; ``only``: just the pairs in its ``pair`` column.

        A (pair, object) has more than one row only when one of its accounts has
        several rows on the object (``repeat``); only those few rows are grouped.
        """
        if self.n == 1:
            frames = self.memory
        else:
            frames = [pl.read_ipc(path) for path in sorted(self.folder.glob(f"gaps-{j}-*.arrow"))]
        if not frames:
            return pl.DataFrame(schema={"pair": pl.UInt64(), "obj": pl.UInt32(), "gap_us": pl.Int64()})
        rows = pl.concat(frames)
        if only is not None:
            rows = rows.join(only, on="pair", how="semi")
        single = rows.filter(~pl.col("repeat")).drop("repeat")
        return pl.concat([single, _closest_gaps(rows.filter("repeat").drop("repeat")).cast(single.schema)])

    def put_stats(self, j: int, stats: pl.DataFrame) -> None:
        if self.n == 1:
            self.memory_stats[j] = stats
        else:
            stats.write_ipc(self.folder / f"stats-{j}.arrow")

    def stats(self, j: int) -> pl.DataFrame:
        return self.memory_stats[j] if self.n == 1 else pl.read_ipc(self.folder / f"stats-{j}.arrow")


def _pair_stats(gaps: pl.DataFrame, units: pl.DataFrame) -> pl.DataFrame:
    """Per pair (``lo``, ``hi``): co-acted objects and their summed rarity weight in whole units (exact in any order)."""
    return (
        gaps.lazy()
        .join(units.lazy(), on="obj")
        .group_by("pair")
        .agg(pl.len().cast(pl.Int64).alias("objects"), pl.col("units").sum())
        .select(*_unpacked(), "objects", "units")
        .collect()
    )


def _median_gaps(behind: list[pl.DataFrame], objects: pl.DataFrame) -> pl.DataFrame:
    """Per significant pair (``lo``, ``hi``): the median of its closest gaps, in seconds."""
    frames = [frame for frame in behind if frame.height]
    if not frames:
        return pl.DataFrame(schema={"lo": pl.UInt32(), "hi": pl.UInt32(), "median_gap_s": pl.Float64()})
    return (
        pl.concat(frames)
        .lazy()
        .group_by("pair")
        .agg((pl.col("gap_us") / _US_PER_S).cast(pl.Float64).median().alias("median_gap_s"))
        .select(*_unpacked(), "median_gap_s")
        .collect()
    )


def _unpacked() -> list[pl.Expr]:
    return [(pl.col("pair") // _PAIR_SHIFT).cast(pl.UInt32).alias("lo"), (pl.col("pair") % _PAIR_SHIFT).cast(pl.UInt32).alias("hi")]


def _packed() -> pl.Expr:
    return pl.col("lo").cast(pl.UInt64) * _PAIR_SHIFT + pl.col("hi")


def _bh_cutoff(candidates: np.ndarray, m: int, fdr: float) -> float:
    """Benjamini-Hochberg's p-value cutoff over ``m`` tests, from the p-values at most ``fdr`` (a prefix of the sorted p-values)."""
    ordered = np.sort(candidates, kind="stable")
    passed = ordered <= fdr * np.arange(1, len(ordered) + 1) / m
    if not passed.any():
        return -1.0
    return float(ordered[np.nonzero(passed)[0][-1]])


def _named(found: pl.DataFrame, accounts: pl.DataFrame, signal: str) -> pl.DataFrame:
    names = accounts.select(pl.col("acc").cast(pl.UInt32), "account_id")
    return (
        found.join(names.rename({"acc": "lo", "account_id": "source"}), on="lo")
        .join(names.rename({"acc": "hi", "account_id": "target"}), on="hi")
        .with_columns(pl.lit(signal).alias("signal"))
        .select(list(EVIDENCE))
        .sort("source", "target")
        .cast(EVIDENCE)
    )


def _named_objects(behind: list[pl.DataFrame], objects: pl.DataFrame, degree: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    schema = {"source": pl.String(), "target": pl.String(), "object": pl.String(), "object_accounts": pl.Int64(), "gap_s": pl.Float64()}
    frames = [frame for frame in behind if frame.height]
    if not frames:
        return pl.DataFrame(schema=schema)
    names = accounts.select(pl.col("acc").cast(pl.UInt32), "account_id")
    return (
        pl.concat(frames)
        .lazy()
        .select(*_unpacked(), "obj", "gap_us")
        .join(objects.lazy(), on="obj")
        .join(degree.lazy(), on="obj")
        .join(names.lazy().rename({"acc": "lo", "account_id": "source"}), on="lo")
        .join(names.lazy().rename({"acc": "hi", "account_id": "target"}), on="hi")
        .select("source", "target", "object", "object_accounts", (pl.col("gap_us") / _US_PER_S).cast(pl.Float64).alias("gap_s"))
        .collect()
        .cast(schema)
    )
