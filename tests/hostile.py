"""A copy of the planted fixture whose handle and shared posts carry markup: input is attacker-controlled."""

from __future__ import annotations

from pathlib import Path

import polars as pl

FIXTURE = Path(__file__).parent / "fixtures" / "planted"
SCRIPT_HANDLE = "<script>window.__pwned=1</script>"
IMG_TEXT = '"><img src=x onerror="window.__pwned=2">'


def hostile_copy(folder: Path) -> Path:
    """The planted fixture with a ring member's handle (ring_1) and the posts the ring shares (ring_0's) carrying markup."""
    folder.mkdir(parents=True, exist_ok=True)
    accounts = pl.read_csv(FIXTURE / "accounts.csv").with_columns(
        pl.when(pl.col("account_id") == "ring_1").then(pl.lit(SCRIPT_HANDLE)).otherwise(pl.col("handle")).alias("handle")
    )
    accounts.write_csv(folder / "accounts.csv")
    events = pl.read_csv(FIXTURE / "events.csv", infer_schema=False).with_columns(
        pl.when((pl.col("account_id") == "ring_0") & (pl.col("action") == "post") & pl.col("ip").is_null())
        .then(pl.lit(IMG_TEXT + " ") + pl.col("text"))
        .otherwise(pl.col("text"))
        .alias("text")
    )
    events.write_csv(folder / "events.csv")
    return folder
