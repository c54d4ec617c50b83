"""Popularity control and significance for co-action pairs.

A raw co-action network links everybody who shared the same viral post, typed
the same trending hashtag or pasted the same meme, and links an account that
acts on everything to everyone. Two corrections turn it into evidence:

1. **Rarity weighting.** Each object the pair co-acted on counts
   ``w_o = log(N / d_o) / log(N)`` — an inverse document frequency scaled to
   (0, 1], where ``d_o`` is the number of distinct accounts acting on the object
   and ``N`` the accounts active in the signal. An object half the population
   touched counts almost nothing; one only a handful touched counts nearly 1.
   Objects with more than ``max_object_accounts`` actors are left out entirely
   (they cannot tell an operator from a crowd, and pairing them is quadratic).
   We prefer IDF to FRAUDAR's ``1/log(d + 5)`` because it falls to zero as an
   object approaches everyone, where FRAUDAR's stays near 0.1.

2. **A null model.** Under a configuration model, account ``i`` acts on an
   object with probability proportional to its activity ``n_i`` (distinct
   objects it acted on in this signal), so pairs co-act in proportion to
   ``n_i * n_j``. The rate ``kappa`` is the observed rarity-weighted co-action
   per unit of ``n_i * n_j`` over all pairs (so a viral object's crowd of pairs
   counts at its low weight and cannot inflate the chance level). A pair's
   expected count of co-acted objects is ``E = n_i * n_j * kappa / w_ij``, where
   ``w_ij`` is the mean weight of the objects it actually shared: a pair whose
   shared objects are popular is expected to share more of them by chance. The
   p-value is the Poisson tail ``P(K >= k | E)`` of its ``k`` co-acted objects.
   Pairs are kept when ``k`` is at least ``min_objects``, the p-value passes
   Benjamini-Hochberg at false-discovery rate ``fdr`` over all pairs of the
   signal, and the effect is large: ``k >= min_lift * E``. Significance alone is
   not enough: two accounts that each reshare a thousand popular posts within
   minutes meet on hundreds of them, a count far beyond chance in p-value terms
   yet only a little above it (lift ~1.5), while an operator's accounts meet tens
   to hundreds of times more often than chance.

The configuration null is a deliberate simplification (it ignores when objects
are popular); the time window in the co-action engine and the rarity weights
carry the timing and popularity, and the cluster score weighs the rest.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import poisson

EVIDENCE: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "signal": pl.String(),
    "objects": pl.Int64(),
    "evidence": pl.Float64(),
    "expected": pl.Float64(),
    "p_value": pl.Float64(),
    "median_gap_s": pl.Float64(),
}


def rarity_weight(object_accounts: pl.Expr, n_accounts: int) -> pl.Expr:
    """IDF of an object acted on by ``object_accounts`` of ``n_accounts``, scaled to (0, 1]."""
    if n_accounts < 2:
        return pl.lit(1.0)
    scale = float(np.log(n_accounts))
    return ((scale - object_accounts.cast(pl.Float64).log()) / scale).clip(0.01, 1.0)


# Rarity weights are summed as whole multiples of this unit (``rarity_units``): integer sums
# are exact in any order, so a pair's evidence and the null's rate are the same bit for bit
# whether the pairs are summed in one frame, by partition or on another engine. The weights
# lie in [0.01, 1], so the rounding is below 1e-9 of any weight.
EVIDENCE_UNIT = 2.0**-30


def rarity_units(object_accounts: pl.Expr, n_accounts: int) -> pl.Expr:
    """``rarity_weight`` in whole ``EVIDENCE_UNIT``s (Int64)."""
    return (rarity_weight(object_accounts, n_accounts) / EVIDENCE_UNIT).round().cast(pl.Int64)


def benjamini_hochberg(p_values: np.ndarray, fdr: float) -> np.ndarray:
    """Boolean mask of the discoveries at false-discovery rate ``fdr``."""
    m = len(p_values)
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p_values, kind="stable")
    passed = p_values[order] <= fdr * np.arange(1, m + 1) / m
    if not passed.any():
        return np.zeros(m, dtype=bool)
    cutoff = p_values[order][np.nonzero(passed)[0][-1]]
    return p_values <= cutoff


def null_rate(total_units: int, possible: float) -> float:
    """``kappa``: the summed evidence over all pairs (in units) per unit of ``n_i * n_j`` (``possible``, summed over all pairs)."""
    return total_units * EVIDENCE_UNIT / possible if possible > 0 else 0.0


def significant_pairs(
    pair_objects: pl.DataFrame,
    activity: pl.DataFrame,
    *,
    signal: str,
    max_object_accounts: int,
    min_objects: int = 2,
    fdr: float = 0.01,
    min_lift: float = 1.0,
) -> pl.DataFrame:
    """Pairs whose co-action on rare objects is significantly above what their activity explains.

    ``pair_objects`` and ``activity`` come from ``coaction_network(..., keep_objects=True)``.
    Returns ``EVIDENCE`` rows: ``objects`` (co-acted objects counted), ``evidence``
    (sum of their rarity weights), ``expected`` (null expectation of ``objects``, see the module docstring),
    ``p_value``, and the median of the closest gaps.
    """
    n_accounts = activity.height
    counted = pair_objects.filter(pl.col("object_accounts") <= max_object_accounts)
    if counted.is_empty():
        return pl.DataFrame(schema=EVIDENCE)
    pairs = counted.group_by("source", "target").agg(
        pl.len().cast(pl.Int64).alias("objects"),
        rarity_units(pl.col("object_accounts"), n_accounts).sum().alias("units"),
        pl.col("gap_s").median().alias("median_gap_s"),
    )
    n = activity["objects"].cast(pl.Float64)
    possible = (float(n.sum()) ** 2 - float((n * n).sum())) / 2.0
    # Rarity-weighted co-action rate: a viral object's crowd of pairs counts at its (low) weight.
    kappa = null_rate(int(pairs["units"].sum()), possible)
    pairs = pairs.with_columns((pl.col("units") * EVIDENCE_UNIT).alias("evidence"))
    sizes = activity.select("account_id", pl.col("objects").cast(pl.Float64).alias("n"))
    pairs = (
        pairs.join(sizes.rename({"account_id": "source", "n": "n_source"}), on="source")
        .join(sizes.rename({"account_id": "target", "n": "n_target"}), on="target")
        # Expected weighted co-action, in units of this pair's mean object weight: the count
        # of objects the pair would share by chance if its objects were as rare as they are.
        .with_columns(
            (pl.col("n_source") * pl.col("n_target") * kappa / (pl.col("evidence") / pl.col("objects"))).alias("expected")
        )
    )
    p_values = poisson.sf(pairs["objects"].to_numpy() - 1, pairs["expected"].to_numpy())
    objects = pairs["objects"].to_numpy()
    keep = benjamini_hochberg(p_values, fdr) & (objects >= min_objects) & (objects >= min_lift * pairs["expected"].to_numpy())
    return (
        pairs.with_columns(pl.Series("p_value", p_values, dtype=pl.Float64), pl.lit(signal).alias("signal"))
        .filter(pl.Series(keep))
        .select(list(EVIDENCE))
        .sort("source", "target")
        .cast(EVIDENCE)
    )
