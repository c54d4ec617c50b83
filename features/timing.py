"""Timing features: when and how regularly an account acts.

Accounts run by one operator share a schedule (a shift, a timezone, a
scheduler's cadence); organic accounts spread over their owners' lives.

Hour-of-day is kept compact rather than as 24 shares: with tens of events per
account, 24 shares are mostly sampling noise, and 24 near-independent columns
would dominate the distances HDBSCAN sees. Instead the profile is the mean
resultant vector of the events' times on the 24-hour circle (``hour_cos``,
``hour_sin``: its direction is the typical time of day, its length how
concentrated the account is around it, and it has no wrap-around jump at
midnight) plus the normalised entropy of the hourly histogram, which catches
spread-out or multi-modal schedules (two shifts) that a mean vector alone
cannot. Day-of-week is the weekend share (office-hours operators post on
weekdays) plus the normalised entropy of the weekday histogram. Timestamps are
UTC: the features compare accounts with each other, not with local clocks.

Neutral values, used for accounts with fewer than ``min_events`` events, where
a profile or a gap distribution is not measurable:

- ``hour_cos``, ``hour_sin`` 0 (no preferred hour); ``hour_entropy``,
  ``dow_entropy`` 1 (as spread as possible); ``weekend_share`` 2/7 (uniform);
- ``median_log_gap`` log10(1 + 86400) (a gap of one day); ``gap_cv`` 1 and
  ``burstiness`` 0 (what a Poisson process gives); ``fast_gap_share`` 0.

``log_events``, ``log_events_per_active_day`` and ``log_active_span_days`` are
always measured (0 for an account with no events, when ``build_all`` fills in).
Entropies are divided by log(min(n, bins)), the largest value n events can
reach, so a small account that never repeats an hour is not called
"concentrated" for lack of events.
"""

from __future__ import annotations

import math

import polars as pl

from features import base

NAME = "timing"
_US_PER_S = 1_000_000
_US_PER_HOUR = 3600 * _US_PER_S
_US_PER_DAY = 24 * _US_PER_HOUR

FEATURES: dict[str, float] = {
    "log_events": 0.0,
    "hour_cos": 0.0,
    "hour_sin": 0.0,
    "hour_entropy": 1.0,
    "weekend_share": 2.0 / 7.0,
    "dow_entropy": 1.0,
    "median_log_gap": math.log10(1.0 + 86400.0),
    "gap_cv": 1.0,
    "burstiness": 0.0,
    "fast_gap_share": 0.0,
    "log_events_per_active_day": 0.0,
    "log_active_span_days": 0.0,
}


def _normalised_entropy(counts: pl.Expr, n: pl.Expr, bins: int) -> pl.Expr:
    """Shannon entropy of a histogram over log(min(n, bins)); null when n < 2."""
    top = pl.min_horizontal(n, pl.lit(bins)).cast(pl.Float64).log()
    return pl.when(n >= 2).then(counts.entropy(normalize=True) / top)


class TimingBuilder:
    """Hour/day profile, inter-event gap statistics and activity rate per account.

    ``min_events``: accounts with fewer events get the neutral profile and gap
    values. ``fast_gap_s``: a gap shorter than this counts toward ``fast_gap_share``.
    """

    name = NAME

    def __init__(self, *, min_events: int = 3, fast_gap_s: float = 60.0) -> None:
        self.min_events = min_events
        self.fast_gap_s = fast_gap_s

    def neutral(self) -> dict[str, float]:
        return base.columns(NAME, FEATURES)

    def _validate(self) -> None:
        base.check_param(NAME, "min_events", self.min_events, lambda v: base.is_int(v) and v >= 2, "an int >= 2")
        base.check_param(NAME, "fast_gap_s", self.fast_gap_s, lambda v: base.is_number(v) and v > 0, "a number > 0")

    def build(self, events: pl.DataFrame, accounts: pl.DataFrame | None = None) -> pl.DataFrame:
        """One row per account in ``events`` (``accounts`` is not used)."""
        self._validate()
        events = base.prepare_events(events, builder=NAME)
        ts = pl.col("timestamp").dt.epoch("us")
        rows = events.lazy().filter(pl.col("account_id").is_not_null()).select(
            "account_id",
            ts.alias("ts"),
            ((ts % _US_PER_DAY) / _US_PER_HOUR).alias("hour"),
            (ts // _US_PER_DAY).alias("day"),
        )
        # 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays, 5-6 on weekends.
        rows = rows.with_columns(((pl.col("day") + 3) % 7).alias("dow"))

        gaps = pl.col("ts").sort().diff().drop_nulls().cast(pl.Float64) / _US_PER_S
        angle = pl.col("hour") * (2 * math.pi / 24)
        per_account = rows.group_by("account_id").agg(
            pl.len().alias("n"),
            angle.cos().mean().alias("hour_cos"),
            angle.sin().mean().alias("hour_sin"),
            (pl.col("dow") >= 5).mean().alias("weekend_share"),
            gaps.median().alias("gap_median"),
            gaps.mean().alias("gap_mean"),
            gaps.std(ddof=0).alias("gap_std"),
            (gaps < self.fast_gap_s).mean().alias("fast_gap_share"),
            pl.col("day").n_unique().alias("active_days"),
            ((pl.col("ts").max() - pl.col("ts").min()) / _US_PER_DAY).alias("span_days"),
        )
        hour_entropy = self._entropy(rows, pl.col("hour").floor().cast(pl.Int32), 24, "hour_entropy")
        dow_entropy = self._entropy(rows, pl.col("dow"), 7, "dow_entropy")

        mean, std = pl.col("gap_mean"), pl.col("gap_std")
        # Zero spread is a perfectly regular sequence (CV 0, burstiness -1), also
        # when every gap is 0: the limit of equal gaps shrinking to nothing.
        measured = {
            "hour_cos": pl.col("hour_cos"),
            "hour_sin": pl.col("hour_sin"),
            "hour_entropy": pl.col("hour_entropy"),
            "weekend_share": pl.col("weekend_share"),
            "dow_entropy": pl.col("dow_entropy"),
            "median_log_gap": (pl.col("gap_median") + 1.0).log10(),
            "gap_cv": pl.when(std == 0).then(0.0).otherwise(std / mean),
            "burstiness": pl.when(std == 0).then(-1.0).otherwise((std - mean) / (std + mean)),
            "fast_gap_share": pl.col("fast_gap_share"),
        }
        enough = pl.col("n") >= self.min_events
        out = (
            per_account.join(hour_entropy, on="account_id", how="left")
            .join(dow_entropy, on="account_id", how="left")
            .select(
                "account_id",
                pl.col("n").cast(pl.Float64).log1p().alias("log_events"),
                *(pl.when(enough).then(expr).otherwise(FEATURES[key]).alias(key) for key, expr in measured.items()),
                (pl.col("n") / pl.col("active_days")).log1p().alias("log_events_per_active_day"),
                pl.col("span_days").log1p().alias("log_active_span_days"),
            )
            .rename(lambda c: c if c == "account_id" else f"{NAME}{base.SEPARATOR}{c}")
        )
        return base.finish(out, self.neutral())

    @staticmethod
    def _entropy(rows: pl.LazyFrame, key: pl.Expr, bins: int, alias: str) -> pl.LazyFrame:
        """Per account: the normalised entropy of its histogram over ``key``."""
        counts = rows.group_by("account_id", key.alias("bin")).agg(pl.len().alias("count")).collect()
        # Counts sorted before the sum: the group_by above returns bins in any order, and a
        # float sum in another order can differ in the last bit, while the same input must
        # give the same bits. Eagerly, because the lazy optimiser drops a sort feeding entropy.
        return counts.group_by("account_id").agg(
            _normalised_entropy(pl.col("count").sort(), pl.col("count").sum(), bins).alias(alias)
        ).lazy()
