"""Shared addresses and devices: pairs, and crowd-weighted peer counts."""

import math
from datetime import datetime, timezone

import polars as pl
import pytest

from detector.errors import ConfigError
from detector.schema import EVENTS, conform
from features.infra import InfraBuilder, shared_infrastructure_pairs

T0 = datetime(2024, 3, 4, tzinfo=timezone.utc)


def _events(account_id, ip=None, device_id=None):
    n = len(account_id)
    frame = pl.DataFrame(
        {"account_id": account_id, "timestamp": [T0] * n, "action": ["post"] * n, "ip": ip or [None] * n, "device_id": device_id or [None] * n},
        schema_overrides={"ip": pl.String, "device_id": pl.String},
    )
    return conform(frame.with_columns(pl.col("timestamp").dt.cast_time_unit("us")), EVENTS)


def _col(out, name):
    return dict(zip(out["account_id"], out[f"infra__{name}"]))


def test_two_accounts_sharing_one_device_are_a_pair():
    events = _events(["a", "b", "c", "a"], device_id=["d1", "d1", "d2", "d1"], ip=["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"])
    pairs = shared_infrastructure_pairs(events)
    assert pairs.to_dicts() == [{"source": "a", "target": "b", "signal": "device", "n_shared": 1}]
    out = InfraBuilder(crowd_scale=10.0).build(events)
    assert _col(out, "log_device_peers") == pytest.approx({"a": math.log1p(1 / 1.01), "b": math.log1p(1 / 1.01), "c": 0.0})
    assert _col(out, "log_ips") == pytest.approx({"a": math.log(3), "b": math.log(2), "c": math.log(2)})


def test_peer_met_on_two_addresses_counts_once():
    events = _events(["a", "b", "a", "b"], ip=["x", "x", "y", "y"])
    assert shared_infrastructure_pairs(events).to_dicts() == [{"source": "a", "target": "b", "signal": "ip", "n_shared": 2}]
    assert _col(InfraBuilder().build(events), "log_ip_peers")["a"] == pytest.approx(math.log1p(1 / 1.01))


def test_five_hundred_accounts_on_one_address_are_down_weighted():
    crowd = [f"u{i:03d}" for i in range(500)]
    events = _events(crowd + ["p", "q"], ip=["nat"] * 500 + ["proxy", "proxy"])
    assert shared_infrastructure_pairs(events).to_dicts() == [{"source": "p", "target": "q", "signal": "ip", "n_shared": 1}]
    peers = _col(InfraBuilder(crowd_scale=10.0, max_accounts_per_address=50).build(events), "log_ip_peers")
    assert peers["u000"] == pytest.approx(math.log1p(499 / (1 + 49.9**2)))
    assert peers["u000"] < 0.3 * peers["p"] < 0.05 * math.log(500)
    # below the pair cap the same weighting applies pair by pair
    small = _col(InfraBuilder(crowd_scale=10.0, max_accounts_per_address=1000).build(events), "log_ip_peers")
    assert small["u000"] == pytest.approx(peers["u000"])


def test_bad_cap_is_named():
    with pytest.raises(ConfigError, match="'max_accounts_per_address' parameter of \\[infra\\]"):
        shared_infrastructure_pairs(_events(["a"]), max_accounts_per_address=1)


def test_same_input_gives_the_same_bits_on_a_realistic_data_set():
    # Peer weights are summed per account; a sum in another order can differ in the last bit.
    from detector.simulate import simulate

    events = simulate("viral_noise", seed=1).events
    first = InfraBuilder().build(events)
    for _ in range(4):
        assert InfraBuilder().build(events).equals(first)


def _rotating(rng, accounts, addresses, uses_per_account):
    """Each account acts from ``uses_per_account`` addresses drawn at random from ``addresses``."""
    rows = [(a, addresses[i]) for a in accounts for i in rng.choice(len(addresses), uses_per_account, replace=False)]
    return [a for a, _ in rows], [ip for _, ip in rows]


def test_a_farm_rotating_over_its_proxies_pairs_up_and_a_carrier_nat_does_not():
    import numpy as np

    rng = np.random.default_rng(3)
    farm = [f"farm{i:03d}" for i in range(120)]  # 120 accounts over 15 proxies: each proxy sees about 80 of them
    carrier = [f"user{i:04d}" for i in range(3000)]  # 3,000 subscribers over 40 addresses: each sees about 370
    fa, fi = _rotating(rng, farm, [f"10.0.0.{k}" for k in range(15)], 10)
    ca, ci = _rotating(rng, carrier, [f"100.64.0.{k}" for k in range(40)], 5)
    events = _events(fa + ca, ip=fi + ci)
    without = shared_infrastructure_pairs(events, max_accounts_per_address=50)
    assert without.is_empty()  # every address is beyond the cap
    pairs = shared_infrastructure_pairs(events, max_accounts_per_address=50, pool_overlap=0.5)
    linked = set(pairs["source"]) | set(pairs["target"])
    assert linked == set(farm)
    assert pairs.height == 120 * 119 // 2


def test_one_big_address_is_no_pool():
    accounts = [f"u{i:03d}" for i in range(80)]
    assert shared_infrastructure_pairs(_events(accounts, ip=["1.2.3.4"] * 80), pool_overlap=0.5).is_empty()


def test_a_device_that_hundreds_of_accounts_report_is_a_farm_until_the_device_cap():
    accounts = [f"u{i:03d}" for i in range(120)]
    events = _events(accounts, device_id=["phone-1"] * 120)
    assert shared_infrastructure_pairs(events, max_accounts_per_address=50).is_empty()  # devices default to the address cap
    pairs = shared_infrastructure_pairs(events, max_accounts_per_address=50, max_accounts_per_device=1000)
    assert pairs.height == 120 * 119 // 2 and set(pairs["signal"]) == {"device"}
    assert shared_infrastructure_pairs(events, max_accounts_per_address=50, max_accounts_per_device=100).is_empty()
