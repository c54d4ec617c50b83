"""River-style contract checks, each applied to every registered feature builder."""

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from detector.errors import ConfigError
from detector.schema import ACCOUNTS, EVENTS, conform, empty_frame
from features.base import BUILDERS, SEPARATOR, FeatureBuilder, build_all

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=timezone.utc)
WORDS = np.array("vote now for the people our city needs change today clean water jobs and schools".split())


def _events(n: int = 240, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    acc = rng.integers(0, 12, n)
    text = [" ".join(rng.choice(WORDS, 8)) for _ in range(n)]
    frame = pl.DataFrame(
        {
            "account_id": [f"a{i:02d}" for i in acc],
            "timestamp": [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 5 * 86400, n)],
            "action": rng.choice(["post", "share", "reply", "like", "boost"], n).tolist(),
            "text": text,
            "urls": [[f"https://ex.com/{i % 5}"] if i % 3 == 0 else [] for i in range(n)],
            "hashtags": [["#Vote"] if i % 4 == 0 else [] for i in range(n)],
            "client": rng.choice(["web", "android"], n).tolist(),
            "ip": [f"10.0.0.{i % 7}" for i in acc],
            "device_id": [f"d{i // 2}" for i in acc],
        }
    )
    return conform(frame.with_columns(pl.col("timestamp").dt.cast_time_unit("us")), EVENTS)


def _accounts() -> pl.DataFrame:
    ids = [f"a{i:02d}" for i in range(14)]  # two accounts without events
    frame = pl.DataFrame(
        {
            "account_id": ids,
            "created_at": [T0 - timedelta(days=30, minutes=7 * i) for i in range(14)],
            "handle": [f"user{1980 + i}" for i in range(14)],
            "profile_image": ["default.png"] * 7 + [None] * 7,
            "followers": list(range(14)),
            "following": [10] * 14,
        }
    )
    return conform(frame.with_columns(pl.col("created_at").dt.cast_time_unit("us")), ACCOUNTS)


NAMES = list(BUILDERS)


def _build(name, events, accounts=None):
    return BUILDERS[name]().build(events, _accounts() if accounts is None else accounts)


def _expected_ids(name, events, accounts):
    source = accounts if name == "metadata" else events
    return sorted(set(source["account_id"].to_list()))


@pytest.mark.parametrize("name", NAMES)
def test_follows_protocol_and_name(name):
    builder = BUILDERS[name]()
    assert isinstance(builder, FeatureBuilder)
    assert builder.name == name


@pytest.mark.parametrize("name", NAMES)
def test_one_row_per_account_keyed_by_account_id(name):
    events, accounts = _events(), _accounts()
    out = _build(name, events, accounts)
    assert out.columns[0] == "account_id"
    assert out["account_id"].is_unique().all()
    assert out["account_id"].to_list() == _expected_ids(name, events, accounts)


@pytest.mark.parametrize("name", NAMES)
def test_column_names_and_neutral_keys(name):
    builder = BUILDERS[name]()
    out = builder.build(_events(), _accounts())
    features = out.columns[1:]
    assert features == list(builder.neutral())
    assert all(c.startswith(name + SEPARATOR) and len(c) > len(name) + 2 for c in features)


@pytest.mark.parametrize("name", NAMES)
def test_float64_finite_no_nulls(name):
    out = _build(name, _events())
    values = out.drop("account_id")
    assert all(dtype == pl.Float64 for dtype in values.dtypes)
    assert values.null_count().sum_horizontal().item() == 0
    assert np.isfinite(values.to_numpy()).all()


@pytest.mark.parametrize("name", NAMES)
def test_shuffled_rows_give_same_result(name):
    events, accounts = _events(), _accounts()
    expected = _build(name, events, accounts)
    shuffled = _build(name, events.sample(fraction=1.0, shuffle=True, seed=11), accounts.sample(fraction=1.0, shuffle=True, seed=5))
    assert_frame_equal(shuffled, expected)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name):
    assert_frame_equal(_build(name, _events()), _build(name, _events()))


@pytest.mark.parametrize("name", NAMES)
def test_empty_input_gives_empty_frame_with_schema(name):
    builder = BUILDERS[name]()
    out = builder.build(empty_frame(EVENTS), empty_frame(ACCOUNTS))
    assert out.height == 0
    assert out.schema == pl.Schema({"account_id": pl.String, **{c: pl.Float64 for c in builder.neutral()}})


@pytest.mark.parametrize("name", NAMES)
def test_optional_columns_all_null_or_missing(name):
    events = _events()
    nulled = events.with_columns(pl.lit(None, dtype=EVENTS[c]).alias(c) for c in ("text", "urls", "hashtags", "client", "ip", "device_id", "target"))
    minimal = events.select("account_id", "timestamp", "action")
    accounts = _accounts().select("account_id")
    for frame in (nulled, minimal):
        out = BUILDERS[name]().build(frame, accounts)
        assert out.drop("account_id").null_count().sum_horizontal().item() == 0
        assert out["account_id"].to_list() == _expected_ids(name, frame, accounts)


@pytest.mark.parametrize("name", NAMES)
def test_bad_parameter_named_in_config_error(name):
    builder = BUILDERS[name]()
    param = next(iter(vars(builder)))
    setattr(builder, param, -1)
    with pytest.raises(ConfigError, match=f"'{param}' parameter of \\[{name}\\]"):
        builder.build(_events(), _accounts())


def test_build_all_joins_every_builder_and_fills_neutral():
    events, accounts = _events(), _accounts()
    out = build_all(events, accounts)
    assert out["account_id"].to_list() == sorted(set(events["account_id"]) | set(accounts["account_id"]))
    for name, cls in BUILDERS.items():
        assert set(cls().neutral()) <= set(out.columns), name
    no_events = out.filter(pl.col("account_id") == "a13")
    for col, value in BUILDERS["timing"]().neutral().items():
        assert no_events[col].item() == value


def test_build_all_without_accounts_and_selected_names():
    out = build_all(_events(), None, names=["timing", "metadata"], params={"timing": {"min_events": 2}})
    assert [c.split(SEPARATOR)[0] for c in out.columns[1:]] == ["timing"] * 12 + ["metadata"] * 11
    assert (out.select(pl.col("^metadata__.*$")).to_numpy() == 0).all()


def test_build_all_unknown_builder():
    with pytest.raises(ConfigError, match="Unknown feature builder 'nope'"):
        build_all(_events(), None, names=["nope"])
