"""Canonical schemas of what coordetect reads and writes, as code.

Leaf module: imports only polars and ``detector.errors``. Readers convert every
input layout to ``EVENTS``/``ACCOUNTS``; writers check frames against the output
schemas before anything reaches disk (see ``../shared/contract.md``).
"""

from __future__ import annotations

import polars as pl

from detector.errors import InputError

SCHEMA_VERSION = "1"

TIMESTAMP = pl.Datetime("us", "UTC")
STRINGS = pl.List(pl.String)

# Canonical events: one row per action by an account, after reading.
EVENTS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "timestamp": TIMESTAMP,
    "action": pl.String(),
    "event_id": pl.String(),
    "target": pl.String(),
    "text": pl.String(),
    "urls": STRINGS,
    "hashtags": STRINGS,
    "mentions": STRINGS,
    "client": pl.String(),
    "ip": pl.String(),
    "device_id": pl.String(),
}
EVENTS_REQUIRED = ("account_id", "timestamp", "action")
LIST_COLUMNS = ("urls", "hashtags", "mentions")

# Actions the contract names; any other value is kept as its own action kind.
KNOWN_ACTIONS = ("post", "share", "reply", "quote", "like", "follow")

ACCOUNTS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "created_at": TIMESTAMP,
    "handle": pl.String(),
    "display_name": pl.String(),
    "description": pl.String(),
    "followers": pl.Int64(),
    "following": pl.Int64(),
    "profile_image": pl.String(),
}

TRUTH: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "operator_id": pl.String(),
    "role": pl.String(),
}

# One co-action network (``coordetect network``): one row per unordered pair.
NETWORK: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "signal": pl.String(),
    "weight": pl.Int64(),
    "source_events": pl.Int64(),
    "target_events": pl.Int64(),
    "median_gap_s": pl.Float64(),
}

# Outputs of ``coordetect score`` (columns "at least"; extra columns allowed).
OUT_ACCOUNTS: dict[str, pl.DataType] = {
    "account_id": pl.String(),
    "cluster_id": pl.Int64(),
    "score": pl.Float64(),
    "flagged": pl.Boolean(),
    "evidence": pl.String(),
}
OUT_CLUSTERS: dict[str, pl.DataType] = {
    "cluster_id": pl.Int64(),
    "n_accounts": pl.Int64(),
    "score": pl.Float64(),
    "flagged": pl.Boolean(),
    "evidence": pl.String(),
}
OUT_EDGES: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "weight": pl.Float64(),
    "signal": pl.String(),
}


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with exactly ``schema``'s columns and types."""
    return pl.DataFrame(schema=schema)


def check_frame(frame: pl.DataFrame, schema: dict[str, pl.DataType], *, what: str) -> None:
    """Raise ``InputError`` unless ``frame`` has every column of ``schema`` with its type.

    Extra columns are allowed: the contract's tables list columns "at least".
    """
    for name, dtype in schema.items():
        if name not in frame.columns:
            raise InputError(f"{what}: missing column '{name}' (expected {dtype})")
        seen = frame.schema[name]
        if seen != dtype:
            raise InputError(f"{what}: column '{name}' has type {seen}, expected {dtype}")


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add any missing optional column of ``schema`` as nulls and order known columns first.

    Columns outside ``schema`` are kept after the known ones (the contract carries
    unknown input columns through).
    """
    missing = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in schema.items() if name not in frame.columns]
    if missing:
        frame = frame.with_columns(missing)
    extra = [c for c in frame.columns if c not in schema]
    return frame.select([*schema.keys(), *extra])
