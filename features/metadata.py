"""Metadata features from the accounts table: how an account was made.

Operators create accounts in batches (a creation-time cohort), name them from
a template (a name plus a run of digits), and leave profiles empty or fill
them with one stock picture. Counts of "others like this one" are log-scaled:
the difference between 0 and 5 look-alikes matters, between 500 and 505 not.

Features and neutral values (0 unless said; neutral is used when the field is
null, and for accounts not in the table):

- ``log_cohort_1h`` / ``log_cohort_1d``: log1p of the other accounts created
  within +-1 hour / +-1 day (inclusive);
- ``handle_trailing_digits``: length of the run of digits ending the handle;
- ``log_handle_template_peers``: log1p of the other accounts whose handle has
  the same template: lower-cased letters before the trailing digits (separators
  and inner digits kept) and the number of trailing digits ("anna1984" and
  "anna1985" share "anna" + 4 digits);
- ``no_description``, ``no_display_name``, ``no_profile_image``: 1 when the
  field is null or blank;
- ``default_image``: 1 when the image is shared by at least
  ``default_image_min_accounts`` accounts (a platform default);
- ``log_image_peers``: log1p of the other accounts with the same image when it
  is not a default (a stock photo reused by a handful of accounts);
- ``log_follow_ratio``: log1p(followers) - log1p(following);
  ``log_following``: log1p(following).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from features import base

NAME = "metadata"
_US_PER_HOUR = 3600 * 1_000_000

FEATURES: dict[str, float] = {
    "log_cohort_1h": 0.0,
    "log_cohort_1d": 0.0,
    "handle_trailing_digits": 0.0,
    "log_handle_template_peers": 0.0,
    "no_description": 0.0,
    "no_display_name": 0.0,
    "no_profile_image": 0.0,
    "default_image": 0.0,
    "log_image_peers": 0.0,
    "log_follow_ratio": 0.0,
    "log_following": 0.0,
}


def _cohort(created_us: np.ndarray, window_us: int) -> np.ndarray:
    """Per value, how many OTHER values lie within +-window (inclusive); nulls are NaN in, 0 out."""
    known = ~np.isnan(created_us)
    out = np.zeros(len(created_us))
    times = np.sort(created_us[known])
    t = created_us[known]
    out[known] = np.searchsorted(times, t + window_us, side="right") - np.searchsorted(times, t - window_us, side="left") - 1
    return out


def _blank(col: str) -> pl.Expr:
    return (pl.col(col).is_null() | (pl.col(col).str.strip_chars() == "")).cast(pl.Float64)


class MetadataBuilder:
    """Creation cohorts, templated handles, empty/default profiles, follow counts.

    ``default_image_min_accounts``: an image shared by at least this many
    accounts is a platform default rather than a reused photo.
    """

    name = NAME

    def __init__(self, *, default_image_min_accounts: int = 50) -> None:
        self.default_image_min_accounts = default_image_min_accounts

    def neutral(self) -> dict[str, float]:
        return base.columns(NAME, FEATURES)

    def build(self, events: pl.DataFrame | None, accounts: pl.DataFrame | None) -> pl.DataFrame:
        """One row per account in ``accounts``; an empty frame when ``accounts`` is None (``events`` is not used)."""
        base.check_param(
            NAME, "default_image_min_accounts", self.default_image_min_accounts, lambda v: base.is_int(v) and v >= 2, "an int >= 2"
        )
        neutral = self.neutral()
        if accounts is None:
            return pl.DataFrame(schema=base.schema_of(neutral))
        acc = base.prepare_accounts(accounts, builder=NAME).filter(pl.col("account_id").is_not_null())
        # One row per account: a repeated id keeps its first row in id order (deterministic).
        acc = acc.sort("account_id", "created_at", nulls_last=True).unique("account_id", keep="first")

        created = acc["created_at"].dt.epoch("us").cast(pl.Float64).to_numpy()
        handle = pl.col("handle").str.strip_chars().str.to_lowercase()
        digits = handle.str.extract(r"(\d+)$", 1)
        image = pl.when(_blank("profile_image") == 0).then(pl.col("profile_image").str.strip_chars())
        frame = acc.with_columns(
            pl.Series("cohort_1h", _cohort(created, _US_PER_HOUR)),
            pl.Series("cohort_1d", _cohort(created, 24 * _US_PER_HOUR)),
            digits.str.len_chars().fill_null(0).alias("trailing"),
            handle.str.replace(r"\d+$", "").alias("stem"),
            image.alias("image"),
        ).with_columns(
            pl.when(pl.col("stem").is_not_null()).then(pl.len().over("stem", "trailing") - 1).otherwise(0).alias("template_peers"),
            pl.when(pl.col("image").is_not_null()).then(pl.len().over("image")).otherwise(0).alias("image_users"),
        )
        is_default = pl.col("image_users") >= self.default_image_min_accounts
        followers = pl.col("followers").cast(pl.Float64).clip(lower_bound=0).log1p()
        following = pl.col("following").cast(pl.Float64).clip(lower_bound=0).log1p()
        out = frame.select(
            "account_id",
            pl.col("cohort_1h").log1p().alias("log_cohort_1h"),
            pl.col("cohort_1d").log1p().alias("log_cohort_1d"),
            pl.col("trailing").cast(pl.Float64).alias("handle_trailing_digits"),
            pl.col("template_peers").cast(pl.Float64).log1p().alias("log_handle_template_peers"),
            _blank("description").alias("no_description"),
            _blank("display_name").alias("no_display_name"),
            _blank("profile_image").alias("no_profile_image"),
            is_default.cast(pl.Float64).alias("default_image"),
            pl.when(is_default | (pl.col("image_users") == 0)).then(0.0).otherwise(pl.col("image_users") - 1).log1p().alias("log_image_peers"),
            (followers - following).fill_null(0.0).alias("log_follow_ratio"),
            following.fill_null(0.0).alias("log_following"),
        ).rename(lambda c: c if c == "account_id" else f"{NAME}{base.SEPARATOR}{c}")
        return base.finish(out, neutral)
