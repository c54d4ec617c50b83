"""Timing features on tiny hand-made schedules with known answers."""

import math
from datetime import datetime, timedelta, timezone

import polars as pl
import pytest

from detector.schema import EVENTS, conform
from features.timing import FEATURES, TimingBuilder

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)  # a Monday


def _events(rows):
    frame = pl.DataFrame({"account_id": [a for a, _ in rows], "timestamp": [t for _, t in rows], "action": ["post"] * len(rows)})
    return conform(frame.with_columns(pl.col("timestamp").dt.cast_time_unit("us")), EVENTS)


def _row(out, account):
    return {k.split("__")[1]: v for k, v in out.filter(pl.col("account_id") == account).row(0, named=True).items() if k != "account_id"}


def test_burst_of_ten_events_five_seconds_apart():
    out = TimingBuilder().build(_events([("a", T0 + timedelta(seconds=5 * i)) for i in range(10)]), None)
    r = _row(out, "a")
    # nine gaps of exactly 5 s: sigma 0 -> perfectly regular
    assert r["burstiness"] == -1.0
    assert r["gap_cv"] == 0.0
    assert r["fast_gap_share"] == 1.0
    assert r["median_log_gap"] == pytest.approx(math.log10(6))
    assert r["log_events"] == pytest.approx(math.log(11))
    assert r["log_events_per_active_day"] == pytest.approx(math.log(11))
    assert r["log_active_span_days"] == pytest.approx(math.log1p(45 / 86400))
    # every event at 10:00-10:01 UTC on a Monday
    assert r["hour_entropy"] == 0.0
    assert r["weekend_share"] == 0.0
    hours = [10 + 5 * i / 3600 for i in range(10)]
    assert r["hour_cos"] == pytest.approx(sum(math.cos(2 * math.pi * h / 24) for h in hours) / 10)
    assert r["hour_sin"] == pytest.approx(sum(math.sin(2 * math.pi * h / 24) for h in hours) / 10)


def test_burstiness_by_hand_for_irregular_gaps():
    gaps = [1, 1, 1, 1, 996]  # mean 200, population std 398
    times = [T0]
    for g in gaps:
        times.append(times[-1] + timedelta(seconds=g))
    r = _row(TimingBuilder().build(_events([("b", t) for t in times]), None), "b")
    mean = 200.0
    std = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    assert r["gap_cv"] == pytest.approx(std / mean)
    assert r["burstiness"] == pytest.approx((std - mean) / (std + mean))
    assert r["fast_gap_share"] == pytest.approx(4 / 5)
    assert r["median_log_gap"] == pytest.approx(math.log10(2))


def test_single_event_gets_neutral_profile_and_gaps():
    r = _row(TimingBuilder().build(_events([("c", T0)]), None), "c")
    for key in ("hour_cos", "hour_sin", "hour_entropy", "weekend_share", "dow_entropy", "median_log_gap", "gap_cv", "burstiness", "fast_gap_share"):
        assert r[key] == FEATURES[key], key
    assert r["log_events"] == pytest.approx(math.log(2))


def test_spread_schedule_has_high_entropy_and_weekend_share():
    rows = [("d", T0 + timedelta(hours=25 * i)) for i in range(14)]  # one hour later each day, two weeks
    r = _row(TimingBuilder().build(_events(rows), None), "d")
    assert r["hour_entropy"] == pytest.approx(1.0)  # 14 distinct hours out of min(14, 24)
    assert r["weekend_share"] == pytest.approx(4 / 14)
    assert r["dow_entropy"] == pytest.approx(1.0)


def test_bad_min_events_is_named():
    from detector.errors import ConfigError

    with pytest.raises(ConfigError, match="'min_events' parameter of \\[timing\\] must be an int >= 2. Got 1"):
        TimingBuilder(min_events=1).build(_events([("a", T0)]), None)


def test_same_input_gives_the_same_bits_on_a_realistic_data_set():
    # Entropies sum per-bin terms; a sum in another order can differ in the last bit.
    from detector.simulate import simulate

    events = simulate("mixed", n_accounts=500, seed=5).events
    first = TimingBuilder().build(events)
    for _ in range(4):
        assert TimingBuilder().build(events).equals(first)
