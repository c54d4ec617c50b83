"""Synthetic social-media data with ground truth: organic crowds, operators, hard negatives.

``simulate(scenario, n_accounts=None, seed=0)`` returns a ``Simulation`` (events,
accounts, truth, and a per-operator table); ``write_simulation`` writes the three
contract files atomically. Scenarios and their default sizes are listed in
``detector.sim.scenarios`` (5,000-10,000 accounts, about 170k-290k events over 30
days; each generates in a few seconds). All randomness flows from one
``numpy.random.Generator`` seeded with ``seed``, so the same seed gives
byte-identical files.

The simulator avoids tells a detector could learn instead of coordination:
opaque random ids, time-sorted rows, the same clients, domains, hashtag and
handle styles for everyone, organic sign-up waves and digit-laden handles,
organic scheduled posting on the quarter hour, and hard negatives (viral bursts,
fandom hours, memes, hyperactive sharers, households) in every scenario.
Operator accounts keep ordinary camouflage activity from the organic generator.

Truth roles: organic accounts are ``organic`` or the hard negative they took part
in (``organic-viral``, ``organic-fandom``, ``organic-meme``,
``organic-hyperactive``, ``organic-household``, ``organic-scheduled``); operator
accounts carry their operator's tactics joined by ``+`` (e.g.
``amplifier+hashtag-pusher+stealth``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from detector import schema
from detector.errors import ConfigError
from detector.sim import negatives, operators, organic
from detector.sim.assemble import events_frame
from detector.sim.identity import accounts_frame, handles, random_ids
from detector.sim.scenarios import SCENARIOS, TACTICS, ScenarioSpec
from detector.sim.world import EventLog

__all__ = ["SCENARIOS", "TACTICS", "ScenarioSpec", "Simulation", "simulate", "write_simulation"]

log = logging.getLogger(__name__)

_MIN_ACCOUNTS = 200


def _empty_operators() -> pl.DataFrame:
    return operators.operators_frame([])


@dataclass(frozen=True)
class Simulation:
    """A simulated data set: canonical events and accounts, the truth, and one row per operator."""

    events: pl.DataFrame
    accounts: pl.DataFrame
    truth: pl.DataFrame
    operators: pl.DataFrame = field(default_factory=_empty_operators)


def simulate(scenario: str, *, n_accounts: int | None = None, seed: int = 0) -> Simulation:
    """Simulate ``scenario`` with ``n_accounts`` accounts (None: the scenario's default) from ``seed``."""
    if scenario not in SCENARIOS:
        raise ConfigError(f"Unknown scenario '{scenario}'; known scenarios: {', '.join(SCENARIOS)}.")
    spec = SCENARIOS[scenario]
    n = spec.n_accounts if n_accounts is None else n_accounts
    if isinstance(n, bool) or not isinstance(n, int) or n < _MIN_ACCOUNTS:
        raise ConfigError(f"The 'n_accounts' parameter of simulate must be an int >= {_MIN_ACCOUNTS}. Got {n!r} instead.")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    world = organic.build_world(rng, n, days=spec.days, events_per_account=spec.events_per_account)
    ops = operators.plan_operators(world, spec)
    negatives.add_households(world, spec)

    event_log = EventLog()
    counts = organic.action_counts(world)
    organic.add_posts(world, event_log, counts, organic.organic_articles(world, counts))
    operators.add_operator_activity(world, event_log, ops)
    negatives.add_viral(world, event_log, spec)
    negatives.add_fandom(world, event_log, spec)
    negatives.add_memes(world, event_log, spec)
    negatives.add_hyperactive(world, event_log, spec)
    organic.add_reactions(world, event_log, counts)
    organic.add_follows(world, event_log, counts)

    account_id = random_ids(rng, n, low_exp=6.0, high_exp=18.3).astype(str).astype(object)
    handle = handles(world)
    events = events_frame(world, event_log, account_id, handle)
    accounts = accounts_frame(world, account_id, handle)
    op_ids = np.array([o.operator_id for o in ops] or [""], dtype=object)
    truth = (
        pl.DataFrame(
            {
                "account_id": account_id.astype(str),
                "operator_id": pl.Series(op_ids[np.maximum(world.operator, 0)].astype(str)),
                "_op": world.operator,
                "role": world.role.astype(str),
            }
        )
        .with_columns(operator_id=pl.when(pl.col("_op") >= 0).then(pl.col("operator_id")).otherwise(None))
        .select(list(schema.TRUTH))
        .sort("account_id")
    )
    log.info(
        "simulated %s: %d accounts, %d operators, %d events in %.1f s",
        scenario, n, len(ops), events.height, time.perf_counter() - started,
    )
    return Simulation(events=events, accounts=accounts, truth=truth, operators=operators.operators_frame(ops))


def write_simulation(sim: Simulation, out_dir: Path) -> None:
    """Write ``events.parquet``, ``accounts.parquet`` and ``truth.parquet`` into ``out_dir``, all or nothing.

    Files are written into a temporary folder beside ``out_dir`` and moved into
    place by renaming, so readers never see a half-written data set.
    """
    out_dir = Path(out_dir)
    for frame, spec_schema, what in (
        (sim.events, schema.EVENTS, "events"),
        (sim.accounts, schema.ACCOUNTS, "accounts"),
        (sim.truth, schema.TRUTH, "truth"),
    ):
        schema.check_frame(frame, spec_schema, what=f"simulation {what}")
    ours = {"events.parquet", "accounts.parquet", "truth.parquet"}
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ConfigError(f"Output {out_dir} exists and is not a folder; expected a folder for the simulation.")
        others = sorted(p.name for p in out_dir.iterdir() if p.name not in ours)
        if others:
            raise ConfigError(f"Output folder {out_dir} holds other files ({', '.join(others[:3])}); expected an empty or simulation folder.")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    old = tmp.with_name(tmp.name + ".old")
    try:
        sim.events.write_parquet(tmp / "events.parquet")
        sim.accounts.write_parquet(tmp / "accounts.parquet")
        sim.truth.write_parquet(tmp / "truth.parquet")
        if out_dir.exists():
            os.replace(out_dir, old)  # a previous simulation: swap it out whole
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
