"""Infrastructure features: accounts that act from the same address or device.

One operator running many accounts tends to reuse a proxy or a phone farm;
organic users share an address mostly behind a carrier NAT or a campus
network, where thousands of strangers look alike. So a peer met on an address
(``ip`` or ``device_id``) shared by ``n`` accounts counts with weight
``1 / (1 + ((n - 1) / crowd_scale) ** 2)``: about 1 in a small group, 1/2 when
``n - 1 == crowd_scale``, and the total an address gives, ``(n - 1)`` times the
weight, falls like ``crowd_scale**2 / n`` for large crowds.

Per account (0 when it has no addresses, the neutral value):

- ``log_ip_peers`` / ``log_device_peers``: log1p of the weighted number of
  distinct other accounts sharing an address (a peer met on several addresses
  counts once, with its best weight). Addresses with more than
  ``max_accounts_per_address`` accounts are not expanded into pairs; they add
  their ``(n - 1)`` times the weight (already small) to each of their accounts;
- ``log_ips`` / ``log_devices``: log1p of the account's distinct addresses.
"""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from features import base

log = logging.getLogger(__name__)

NAME = "infra"
SIGNALS = {"ip": "ip", "device_id": "device"}

FEATURES: dict[str, float] = {
    "log_ip_peers": 0.0,
    "log_device_peers": 0.0,
    "log_ips": 0.0,
    "log_devices": 0.0,
}

PAIRS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "target": pl.String(),
    "signal": pl.String(),
    "n_shared": pl.Int64(),
}


def _check_cap(value: object) -> None:
    base.check_param(NAME, "max_accounts_per_address", value, lambda v: base.is_int(v) and v >= 2, "an int >= 2")


def _addresses(events: pl.DataFrame, column: str) -> pl.DataFrame:
    """Distinct (account_id, address) with the address's crowd ``n`` (distinct accounts)."""
    return (
        events.lazy()
        .filter(pl.col("account_id").is_not_null() & pl.col(column).is_not_null() & (pl.col(column) != ""))
        .select("account_id", pl.col(column).alias("address"))
        .unique()
        .with_columns(pl.len().over("address").alias("n"))
        .collect()
    )


def _address_pairs(used: pl.DataFrame, cap: int) -> pl.DataFrame:
    """(a, b, address, n) for a < b sharing an address with at most ``cap`` accounts."""
    small = used.filter(pl.col("n") <= cap)
    big = used.filter(pl.col("n") > cap)["address"].n_unique()
    if big:
        log.info("infra: %d addresses with more than max_accounts_per_address=%d accounts not expanded into pairs", big, cap)
    return (
        small.lazy()
        .join(small.lazy().select(pl.col("account_id").alias("b"), "address"), on="address")
        .filter(pl.col("account_id") < pl.col("b"))
        .select(pl.col("account_id").alias("a"), "b", "address", "n")
        .collect()
    )


def closed_pools(used: pl.DataFrame, cap: int, *, min_overlap: float) -> pl.DataFrame:
    """The accounts of closed address pools, as ``account_id, address, n`` rows with one key per pool.

    Among the addresses with more than ``cap`` accounts, two belong to one pool
    when at least ``min_overlap`` of the smaller one's accounts also use the
    other; a pool is a connected group of at least two such addresses, ``n`` the
    accounts of all of them. A carrier NAT rotates a large, open population over
    its addresses, so each address sees a different slice of it (overlap 0.26 to
    0.39 in the simulator's carrier pools); a farm rotates its own accounts over
    its proxies, so every proxy sees most of the same accounts (0.5 to 0.99).
    """
    big = used.filter(pl.col("n") > cap).select("account_id", "address")
    empty = pl.DataFrame(schema={"account_id": pl.String(), "address": pl.String(), "n": pl.UInt32()})
    if big.is_empty():
        return empty
    addresses = pl.DataFrame({"address": big["address"].unique().sort()}).with_row_index("a")
    accounts = pl.DataFrame({"account_id": big["account_id"].unique().sort()}).with_row_index("c")
    coded = big.join(addresses, on="address").join(accounts, on="account_id")
    a, c = coded["a"].to_numpy(), coded["c"].to_numpy()
    incidence = sp.csr_matrix((np.ones(len(a)), (a, c)), shape=(addresses.height, accounts.height))
    size = np.asarray(incidence.sum(axis=1)).ravel()
    shared = (incidence @ incidence.T).tocoo()
    close = (shared.row != shared.col) & (shared.data >= min_overlap * np.minimum(size[shared.row], size[shared.col]))
    graph = sp.coo_matrix((np.ones(int(close.sum())), (shared.row[close], shared.col[close])), shape=(addresses.height,) * 2)
    _, pool = connected_components(graph, directed=False)
    members = np.bincount(pool, minlength=pool.max() + 1)
    pools = addresses.with_columns(pl.Series("pool", pool)).filter(pl.Series(members[pool] >= 2))
    if pools.is_empty():
        return empty
    keys = pools.group_by("pool").agg(pl.col("address").min().alias("key"))
    log.info("infra: %d addresses beyond max_accounts_per_address=%d form %d closed pools", pools.height, cap, keys.height)
    return (
        big.join(pools.join(keys, on="pool").select("address", "key"), on="address")
        .select("account_id", pl.concat_str(pl.lit("pool:"), "key").alias("address"))
        .unique()
        .with_columns(pl.len().over("address").alias("n"))
        .sort("address", "account_id")
    )


def shared_infrastructure_pairs(
    events: pl.DataFrame, *, max_accounts_per_address: int = 50, max_accounts_per_device: int | None = None, pool_overlap: float | None = None
) -> pl.DataFrame:
    """Account pairs sharing an ip or device: ``source < target``, ``signal`` ('ip'|'device'), ``n_shared`` addresses.

    Addresses with more than ``max_accounts_per_address`` distinct accounts
    (NATs, campuses) are left out, unless ``pool_overlap`` is given and they form
    a closed pool (``closed_pools``): then the pool's accounts pair up as if
    sharing one address. A device is one phone or install, not a network shared
    by strangers: ``max_accounts_per_device`` (default: the address cap) only
    keeps a placeholder id that thousands of accounts report from being paired.
    Sorted by signal, source, target.
    """
    _check_cap(max_accounts_per_address)
    if max_accounts_per_device is not None:
        base.check_param(NAME, "max_accounts_per_device", max_accounts_per_device, lambda v: base.is_int(v) and v >= 2, "an int >= 2")
    if pool_overlap is not None:
        base.check_param(NAME, "pool_overlap", pool_overlap, lambda v: isinstance(v, (int, float)) and 0 < v <= 1, "a number in (0, 1]")
    events = base.prepare_events(events, builder=NAME)
    frames = []
    for column, signal in SIGNALS.items():
        used = _addresses(events, column)
        cap = max_accounts_per_address if signal == "ip" or max_accounts_per_device is None else max_accounts_per_device
        pairs = _address_pairs(used, cap)
        if pool_overlap is not None:
            pooled = closed_pools(used, cap, min_overlap=pool_overlap)
            if pooled.height:
                pairs = pl.concat([pairs, _address_pairs(pooled, pooled["n"].max())], how="vertical_relaxed")
        frames.append(
            pairs.group_by("a", "b").agg(pl.len().cast(pl.Int64).alias("n_shared")).select(
                pl.col("a").alias("source"), pl.col("b").alias("target"), pl.lit(signal).alias("signal"), "n_shared"
            )
        )
    return pl.concat(frames).cast(PAIRS_SCHEMA).sort("signal", "source", "target")


class InfraBuilder:
    """Weighted count of accounts sharing an ip or a device, and distinct addresses per account.

    ``crowd_scale``: crowd size (other accounts) at which a peer counts half.
    ``max_accounts_per_address``: larger addresses are not expanded into pairs.
    """

    name = NAME

    def __init__(self, *, crowd_scale: float = 10.0, max_accounts_per_address: int = 50) -> None:
        self.crowd_scale = crowd_scale
        self.max_accounts_per_address = max_accounts_per_address

    def neutral(self) -> dict[str, float]:
        return base.columns(NAME, FEATURES)

    def build(self, events: pl.DataFrame, accounts: pl.DataFrame | None = None) -> pl.DataFrame:
        """One row per account in ``events`` (``accounts`` is not used)."""
        base.check_param(NAME, "crowd_scale", self.crowd_scale, lambda v: base.is_number(v) and v > 0, "a number > 0")
        _check_cap(self.max_accounts_per_address)
        events = base.prepare_events(events, builder=NAME)
        out = events.select(pl.col("account_id").unique()).filter(pl.col("account_id").is_not_null())
        for column, signal in SIGNALS.items():
            out = out.join(self._one(events, column, signal), on="account_id", how="left")
        out = out.with_columns(pl.col(c).fill_null(v) for c, v in FEATURES.items())
        out = out.rename(lambda c: c if c == "account_id" else f"{NAME}{base.SEPARATOR}{c}")
        return base.finish(out, self.neutral())

    def _weight(self, n: pl.Expr) -> pl.Expr:
        return 1.0 / (1.0 + ((n - 1).cast(pl.Float64) / self.crowd_scale) ** 2)

    def _one(self, events: pl.DataFrame, column: str, signal: str) -> pl.DataFrame:
        """Per account: weighted distinct peers and distinct addresses of one kind."""
        used = _addresses(events, column)
        pairs = _address_pairs(used, self.max_accounts_per_address).with_columns(self._weight(pl.col("n")).alias("w"))
        directed = pl.concat([pairs.select("a", "b", "w"), pairs.select(pl.col("b").alias("a"), pl.col("a").alias("b"), "w")])
        # Sorted before each float sum: group_by output comes in any order, and a sum in another
        # order can differ in the last bit, while the same input must give the same bits.
        peers = directed.group_by("a", "b").agg(pl.col("w").max()).sort("a", "b").group_by("a").agg(pl.col("w").sum().alias("peers"))
        crowd = (
            used.filter(pl.col("n") > self.max_accounts_per_address)
            .sort("account_id", "n")
            .group_by("account_id")
            .agg(((pl.col("n") - 1) * self._weight(pl.col("n"))).sum().alias("crowd"))
        )
        plural = "ips" if signal == "ip" else "devices"
        return (
            used.group_by("account_id")
            .agg(pl.len().cast(pl.Float64).log1p().alias(f"log_{plural}"))
            .join(peers.rename({"a": "account_id"}), on="account_id", how="left")
            .join(crowd, on="account_id", how="left")
            .select(
                "account_id",
                (pl.col("peers").fill_null(0.0) + pl.col("crowd").fill_null(0.0)).log1p().alias(f"log_{signal}_peers"),
                f"log_{plural}",
            )
        )
