"""Metadata features on a tiny accounts table with known answers."""

import math
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from detector.schema import ACCOUNTS, conform
from features.metadata import MetadataBuilder

T0 = datetime(2023, 5, 1, 12, 0, tzinfo=timezone.utc)


def _accounts(**cols):
    frame = pl.DataFrame(cols, schema_overrides={k: v for k, v in ACCOUNTS.items() if k in cols})
    return conform(frame, ACCOUNTS)


def _col(out, name):
    return dict(zip(out["account_id"], out[f"metadata__{name}"]))


def test_handle_templates():
    out = MetadataBuilder().build(None, _accounts(account_id=["1", "2", "3"], handle=["anna1984", "Anna1985", "bob_smith"]))
    assert _col(out, "log_handle_template_peers") == {"1": math.log(2), "2": math.log(2), "3": 0.0}
    assert _col(out, "handle_trailing_digits") == {"1": 4.0, "2": 4.0, "3": 0.0}


def test_creation_cohorts():
    created = [T0, T0 + timedelta(minutes=30), T0 + timedelta(minutes=90), T0 + timedelta(hours=30), None]
    out = MetadataBuilder().build(None, _accounts(account_id=list("abcde"), created_at=created))
    # within 1 h: a-b, b-c; within 1 day: a, b, c together; d alone; e unknown
    assert _col(out, "log_cohort_1h") == pytest.approx({"a": math.log(2), "b": math.log(3), "c": math.log(2), "d": 0.0, "e": 0.0})
    assert _col(out, "log_cohort_1d") == pytest.approx({"a": math.log(3), "b": math.log(3), "c": math.log(3), "d": 0.0, "e": 0.0})


def test_profiles_images_and_follow_counts():
    n = 60
    ids = [f"u{i:02d}" for i in range(n)]
    images = ["default.png"] * 55 + ["stock.jpg"] * 3 + [" ", "me.jpg"]
    out = MetadataBuilder(default_image_min_accounts=50).build(
        None,
        _accounts(
            account_id=ids,
            profile_image=images,
            description=["hi"] * 59 + [None],
            display_name=[""] + ["Ann"] * 59,
            followers=[99] + [None] * 59,
            following=[9] + [0] * 59,
        ),
    )
    default, peers = _col(out, "default_image"), _col(out, "log_image_peers")
    assert (default["u00"], peers["u00"]) == (1.0, 0.0)
    assert (default["u55"], peers["u55"]) == (0.0, pytest.approx(math.log(3)))
    assert (default["u58"], peers["u58"], _col(out, "no_profile_image")["u58"]) == (0.0, 0.0, 1.0)
    assert peers["u59"] == 0.0
    assert _col(out, "no_description")["u59"] == 1.0
    assert _col(out, "no_display_name")["u00"] == 1.0
    assert _col(out, "log_follow_ratio")["u00"] == pytest.approx(math.log(100) - math.log(10))
    assert _col(out, "log_follow_ratio")["u01"] == 0.0  # followers unknown: neutral
    assert _col(out, "log_following")["u00"] == pytest.approx(math.log(10))


def test_no_accounts_table_gives_empty_frame():
    out = MetadataBuilder().build(None, None)
    assert out.height == 0 and out.columns[0] == "account_id" and len(out.columns) == 12
