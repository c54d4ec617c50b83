"""Operators: groups of accounts one actor controls, and the coordinated activity they produce.

Each operator mixes tactics (``scenarios.TACTICS``): amplifying its seed posts
(and some popular organic posts it boosts), copy-pasting template texts with
small edits, pushing hashtags in bursts, pushing links to its own sites, and
stealth (low participation, hours of jitter, mostly camouflage). Only part of the
ring acts each time. Timing is burst-like, scheduler-like (staggered slots with
jitter, never an exact period) or slow. Identity and infrastructure vary per
operator: batch-created accounts with templated handles or aged accounts with
ordinary handles; shared proxies or devices, or none; accounts that join late
or retire. Members keep ordinary camouflage activity (run by ``organic``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from detector.sim.lexicon import CLIENT_P, lexicon, zipf_ranks
from detector.sim.organic import add_reaction_events, make_articles, post_appeal
from detector.sim.scenarios import TACTICS, ScenarioSpec
from detector.sim.world import (
    DAY, HOUR, LIKE, POST, QUOTE, REPLY, SHARE, TZ_HOURS, EventLog, World, concat_rows, edited_copies, gather_slices,
)


@dataclass(frozen=True)
class Operator:
    """One operator's plan: who, which tactics, and how it behaves."""

    index: int
    operator_id: str
    members: np.ndarray
    tactics: tuple[str, ...]
    timing: str  # burst | scheduler | slow
    participation: float
    batch_created: bool
    templated_handles: bool
    shared_ip: bool
    shared_device: bool
    late_share: float
    camouflage: float  # camouflage activity relative to an ordinary account's


def operator_sizes(rng: np.random.Generator, spec: ScenarioSpec, n: int) -> list[int]:
    """Heavy-tailed sizes from 3 upward filling the scenario's operator budget."""
    sizes: list[int] = []
    if spec.big_operator_share > 0:
        sizes.append(max(3, round(spec.big_operator_share * n)))
    budget = round(spec.operator_share * n)
    if budget < 3:
        return sizes
    if spec.span_sizes:
        big = min(spec.size_max, int(budget * 0.3))
        sizes += [3] + ([big] if big > 3 else [])
        budget -= sum(sizes[-2:] if big > 3 else sizes[-1:])
    while budget >= 3:
        s = int(3 * (1 - rng.random()) ** (-1 / spec.size_alpha))
        s = min(s, spec.size_max, budget)
        if budget - s < 3:  # no leftover smaller than the smallest operator
            s = budget if budget <= spec.size_max else budget - 3
        sizes.append(s)
        budget -= s
    return sizes


def plan_operators(world: World, spec: ScenarioSpec) -> list[Operator]:
    """Choose members and behaviour of every operator, and rewrite the members' account state."""
    rng = world.rng
    sizes = operator_sizes(rng, spec, world.n)
    free = rng.permutation(world.n)
    ids = rng.permutation(len(sizes))
    ops: list[Operator] = []
    used = 0
    for i, size in enumerate(sizes):
        members = np.sort(free[used : used + size])
        used += size
        tactics = _tactics(rng, spec, i)
        stealth = "stealth" in tactics
        forced = spec.all_tactics and i < 6
        op = Operator(
            index=i,
            operator_id=f"op{ids[i]:03d}",
            members=members,
            tactics=tactics,
            timing="slow" if stealth else ("burst", "scheduler")[int(rng.random() < 0.5)],
            participation=float(rng.uniform(0.08, 0.25) if stealth else rng.uniform(0.3, 0.9)),
            batch_created=bool(i % 2 == 1) if forced else bool(rng.random() < (0.2 if stealth else 0.5)),
            templated_handles=False,
            shared_ip=bool(i % 2 == 0) if forced else bool(rng.random() < (0.1 if stealth else 0.35)),
            shared_device=bool(i % 3 == 0) if forced else bool(rng.random() < (0.08 if stealth else 0.25)),
            late_share=float(rng.uniform(0.0, 0.35)),
            camouflage=float(rng.uniform(0.8, 1.3) if stealth else rng.uniform(0.15, 0.6)),
        )
        op = replace(op, templated_handles=op.batch_created and (forced or rng.random() < 0.8))
        _apply(world, op)
        ops.append(op)
    return ops


def _tactics(rng: np.random.Generator, spec: ScenarioSpec, i: int) -> tuple[str, ...]:
    """A tactic mix: at least one active tactic, stealth as a modifier on top."""
    active = [t for t in TACTICS[:4] if rng.random() < spec.tactic_p[t]]
    if spec.all_tactics and i < 4:
        active.append(TACTICS[i])
    if not active:
        active.append(TACTICS[int(rng.integers(0, 4))])
    if rng.random() < spec.tactic_p["stealth"] or (spec.all_tactics and i == 4):
        active.append("stealth")
    return tuple(t for t in TACTICS if t in active)


def _apply(world: World, op: Operator) -> None:
    """Rewrite members' account state to the operator's identity and infrastructure."""
    rng, m, n_days = world.rng, op.members, world.days
    k = len(m)
    world.operator[m] = op.index
    world.tactics[op.index] = op.tactics
    world.role[m] = "+".join(op.tactics)
    home = rng.integers(0, world.n_communities)
    world.community[m] = np.where(rng.random(k) < 0.8, home, world.community[m])
    world.tz[m] = np.where(rng.random(k) < 0.7, TZ_HOURS[rng.integers(0, len(TZ_HOURS))], world.tz[m])
    world.rate[m] = world.rate[m] * op.camouflage
    if rng.random() < 0.5:  # one common app for the whole ring, else whatever each persona uses
        world.client[m] = rng.choice(3, p=CLIENT_P[:3] / CLIENT_P[:3].sum())
        world.client_loyalty[m] = rng.uniform(0.9, 1.0)
    if op.shared_ip:
        pool = world.new_ips(max(1, k // 8))
        world.ip_kind[m] = 2
        world.ip_pool[m] = (pool[0], len(pool))
        world.mobile_p[m] = 0.0
    if op.shared_device:
        pool = world.new_devices(max(1, k // 10))
        world.device[m] = pool[0]
        world.device_pool[m] = (pool[0], len(pool))
    late = rng.random(k) < op.late_share
    world.first_day[m] = np.where(late, rng.integers(int(0.15 * n_days), int(0.7 * n_days) + 1, k), 0)
    retire = (~late) & (rng.random(k) < op.late_share * 0.6)
    world.last_day[m] = np.where(retire, rng.integers(int(0.4 * n_days), n_days, k), n_days)
    world.followers[m] = np.round(rng.lognormal(np.log(70), 1.4, k)).astype(np.int64)
    world.following[m] = np.round(rng.lognormal(np.log(300), 1.0, k)).astype(np.int64)
    if rng.random() < 0.35:  # stock photos reused across personas
        pool = world.new_images(max(1, k // 4))
        world.image[m] = pool[rng.integers(0, len(pool), k)]
    world.created_at[m] = _creation(rng, op, world.first_day[m], world.created_at[m])
    if op.templated_handles:
        lex = lexicon()
        kind = ("name_digits", "stem_name", "word_word_digits")[int(rng.integers(0, 3))]
        stem = str(lex.words[rng.integers(0, 2000)])
        world.handle_templates.append((kind, int(rng.integers(2, 9)), stem))
        world.handle_template[m] = len(world.handle_templates) - 1


def _creation(rng: np.random.Generator, op: Operator, first_day: np.ndarray, aged: np.ndarray) -> np.ndarray:
    """Batch creation (bursts of sign-ups minutes apart) or aged, bought accounts."""
    k = len(first_day)
    late = first_day > 0
    if not op.batch_created:
        # Aged (bought or long-held) accounts; one that was a late organic sign-up gets an old date instead.
        aged = np.where(aged >= -DAY, -rng.integers(30, 2000, k) * DAY - rng.integers(0, DAY, k), aged)
        return np.where(late, first_day * DAY - rng.integers(HOUR, 3 * DAY, k), aged)
    n_batches = int(rng.integers(1, 4))
    base = -rng.integers(10, 1500, n_batches) * DAY
    batch = rng.integers(0, n_batches, k)
    gaps = rng.exponential(rng.uniform(30, 600), k).astype(np.int64)
    created = np.empty(k, dtype=np.int64)
    for b in range(n_batches):  # sign-ups of one batch follow each other minutes apart
        sel = batch == b
        created[sel] = base[b] + np.cumsum(gaps[sel])
    # Late joiners were registered in one more batch just before the first of them starts.
    if late.any():
        t_late = int(first_day[late].min()) * DAY - int(rng.integers(HOUR, 2 * DAY))
        created[late] = t_late + np.cumsum(gaps[late])
    return np.minimum(created, first_day * DAY - 60)


# ----------------------------------------------------------------------------- activity


def add_operator_activity(world: World, log: EventLog, ops: list[Operator]) -> None:
    """Coordinated events of every operator (camouflage comes from the organic generator)."""
    for op in ops:
        if "amplifier" in op.tactics:
            _amplify(world, log, op)
        if "copypaster" in op.tactics:
            _copypaste(world, log, op)
        if "hashtag-pusher" in op.tactics:
            _push_hashtags(world, log, op)
        if "link-pusher" in op.tactics:
            _push_links(world, log, op)


def _n_waves(world: World, op: Operator, lo: int, hi: int) -> int:
    return max(2, int(world.rng.integers(lo, hi + 1) * world.days / 30))


def _wave_times(world: World, op: Operator, n: int) -> np.ndarray:
    """Campaign moments in the operator's working hours (its core member's rhythm)."""
    core = np.full(n, op.members[0])
    t = world.rhythm_times(core)
    return np.clip(t, 0, world.span - 6 * HOUR)


def _participants(world: World, op: Operator, waves: np.ndarray, exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(wave index, account) pairs: each member joins each wave with the operator's participation rate."""
    rng, m = world.rng, op.members
    joins = rng.random((len(waves), len(m))) < op.participation
    if exclude is not None:
        joins &= m[None, :] != exclude[:, None]
    w, j = np.nonzero(joins)
    return w, m[j]


def _lags(world: World, op: Operator, wave: np.ndarray, *, stretch: float = 1.0) -> np.ndarray:
    """Delays after the wave moment: bursts, staggered scheduler slots with jitter, or hours."""
    rng, k = world.rng, len(wave)
    if op.timing == "slow":
        return rng.lognormal(np.log(rng.uniform(1, 8) * HOUR), 1.0, k).astype(np.int64)
    d0 = rng.uniform(5, 120)
    if op.timing == "burst":
        return (d0 + rng.exponential(rng.uniform(20, 300) * stretch, k)).astype(np.int64)
    # Scheduler: members fire in staggered slots; a random order per wave, a little jitter.
    step = rng.uniform(20, 180) * stretch
    order = np.lexsort((rng.random(k), wave))
    slot = np.empty(k, dtype=np.int64)
    starts = np.searchsorted(wave[order], wave[order], side="left")
    slot[order] = np.arange(k) - starts
    return (d0 + slot * step + np.abs(rng.normal(0, 4, k))).astype(np.int64)


def _amplify(world: World, log: EventLog, op: Operator) -> None:
    """Core members post seeds (or pick popular organic posts); the ring shares, likes, quotes them."""
    rng = world.rng
    n = _n_waves(world, op, 15, 60)
    core = op.members[: max(1, len(op.members) // 15)]
    own = rng.random(n) < 0.7
    t_seed = _wave_times(world, op, n)
    # Own seeds.
    author = core[rng.integers(0, len(core), int(own.sum()))]
    t_own = world.clip_to_active(author, t_seed[own])
    length = 5 + rng.poisson(9, len(author))
    tag_len = np.where(rng.random(len(author)) < 0.5, 1, 0)
    seed_rows = log.add(
        author, t_own, POST,
        text=(length, world.text_tokens(world.community[author], length)),
        hashtags=(tag_len, world.hashtag_ids(world.community[author], tag_len)),
    )
    # Boosted organic posts: a popular one from the operator's community.
    rows, appeal = post_appeal(world, log)
    early = log.column("t")[rows] < world.span - DAY
    comm = world.community[op.members[0]]
    local = early & (world.community[log.column("account")[rows]] == comm) & (world.operator[log.column("account")[rows]] < 0)
    pool = rows[local] if local.any() else rows[early]
    weights = appeal[local] if local.any() else appeal[early]
    boosted = pool[rng.choice(len(pool), size=int((~own).sum()), p=weights / weights.sum())]
    targets = np.concatenate([seed_rows, boosted])
    t0 = np.concatenate([t_own, log.column("t")[boosted] + rng.integers(60, 1800, len(boosted))])
    w, acc = _participants(world, op, t0, exclude=log.column("account")[targets])
    t = t0[w] + _lags(world, op, w)
    ok = world.active(acc, t)
    w, acc, t = w[ok], acc[ok], t[ok]
    kind = rng.random(len(w))
    for action, sel in ((SHARE, kind < 0.8), (LIKE, (kind >= 0.8) & (kind < 0.95)), (QUOTE, kind >= 0.95)):
        add_reaction_events(world, log, acc[sel], t[sel], targets[w[sel]], action)


def _copypaste(world: World, log: EventLog, op: Operator) -> None:
    """Template texts posted (or replied under popular posts) with small edits by part of the ring."""
    rng = world.rng
    n_tpl = int(rng.integers(2, 6))
    comm = world.community[op.members[0]]
    tpl_len = 10 + rng.poisson(8, n_tpl)
    tpl_tok = world.text_tokens(np.full(n_tpl, comm), tpl_len)
    tpl_tags = world.hashtag_ids(np.full(n_tpl, comm), np.ones(n_tpl, dtype=np.int64))
    n = _n_waves(world, op, 6, 30)
    t0 = _wave_times(world, op, n)
    tpl_of_wave = rng.integers(0, n_tpl, n)
    w, acc = _participants(world, op, t0)
    t = t0[w] + _lags(world, op, w, stretch=3.0)
    ok = world.active(acc, t)
    w, acc, t = w[ok], acc[ok], t[ok]
    text = edited_copies(world, tpl_len, tpl_tok, tpl_of_wave[w], acc)
    tag_len = (rng.random(len(w)) < 0.6).astype(np.int64)
    tags = (tag_len, tpl_tags[tpl_of_wave[w]][tag_len.astype(bool)])
    # A third of the waves are reply-spam under one popular post.
    rows, appeal = post_appeal(world, log)
    reply_wave = rng.random(n) < 0.33
    under = rows[rng.choice(len(rows), size=n, p=appeal / appeal.sum())]
    is_reply = reply_wave[w] & (log.column("t")[under[w]] < t) & (log.column("account")[under[w]] != acc)
    post_rows = np.flatnonzero(~is_reply)
    reply_rows = np.flatnonzero(is_reply)
    for sel, action in ((post_rows, POST), (reply_rows, REPLY)):
        tl, tt = gather_slices(text[0], text[1], sel)
        gl, gt = gather_slices(tags[0], tags[1], sel)
        target = under[w[sel]] if action == REPLY else None
        mentions = (np.ones(len(sel), dtype=np.int64), log.column("account")[target]) if action == REPLY else None
        log.add(acc[sel], t[sel], action, target=target, text=(tl, tt), hashtags=(gl, gt), mentions=mentions)


def _push_hashtags(world: World, log: EventLog, op: Operator) -> None:
    """Bursts in which the ring floods campaign hashtags (own, sometimes a hijacked trending one)."""
    rng, lex = world.rng, lexicon()
    n_tags = int(rng.integers(1, 4))
    camp = rng.integers(300, len(lex.hashtags), n_tags)
    if rng.random() < 0.4:
        camp = np.append(camp, zipf_ranks(rng, 60, 1))
    n = _n_waves(world, op, 3, 12)
    t0 = _wave_times(world, op, n)
    duration = rng.uniform(10, 60, n) * 60
    w, acc = _participants(world, op, t0)
    reps = rng.integers(1, 5, len(w))
    w, acc = np.repeat(w, reps), np.repeat(acc, reps)
    t = t0[w] + _lags(world, op, w) + (rng.random(len(w)) * duration[w]).astype(np.int64)
    ok = world.active(acc, t)
    w, acc, t = w[ok], acc[ok], t[ok]
    k = len(acc)
    length = 3 + rng.poisson(7, k)
    n_camp = rng.integers(1, min(2, len(camp)) + 1, k)
    camp_tags = camp[rng.integers(0, len(camp), int(n_camp.sum()))]
    camp_tags = camp_tags + np.where(rng.random(len(camp_tags)) < 0.2, len(lex.hashtags), 0)
    other = np.where(rng.random(k) < 0.3, 1, 0)
    tags = concat_rows(n_camp, camp_tags, other, world.hashtag_ids(world.community[acc], other))
    log.add(acc, t, POST, text=(length, world.text_tokens(world.community[acc], length)), hashtags=tags)


def _push_links(world: World, log: EventLog, op: Operator) -> None:
    """Articles on the operator's own sites, each pushed by part of the ring soon after it appears."""
    rng = world.rng
    lex = lexicon()
    domains = rng.integers(400, len(lex.domains), int(rng.integers(1, 5)))
    n = _n_waves(world, op, 5, 40)
    arts = make_articles(world, n, domains=domains, t0=0, t1=world.span - DAY)
    t0 = arts["t"] + rng.integers(0, 600, n)
    w, acc = _participants(world, op, t0)
    t = t0[w] + _lags(world, op, w, stretch=2.0)
    ok = world.active(acc, t)
    w, acc, t = w[ok], acc[ok], t[ok]
    k = len(acc)
    headline = rng.random(k) < 0.4
    length = 3 + rng.poisson(8, k)
    own_tok = world.text_tokens(world.community[acc], length)
    own_l, own_t = gather_slices(length, own_tok, np.flatnonzero(~headline))
    head_l, head_t = gather_slices(arts["head_len"], arts["head_tok"], w[headline])
    rows = np.concatenate([np.flatnonzero(~headline), np.flatnonzero(headline)])
    text = gather_slices(np.concatenate([own_l, head_l]), np.concatenate([own_t, head_t]), np.argsort(rows, kind="stable"))
    log.add(acc, t, POST, text=text, urls=(np.ones(k, dtype=np.int64), arts["url"][w]))


def operators_frame(ops: list[Operator]) -> pl.DataFrame:
    """One row per operator: its id, size, tactics and identity/infrastructure variants."""
    return pl.DataFrame(
        {
            "operator_id": [o.operator_id for o in ops],
            "n_accounts": [len(o.members) for o in ops],
            "tactics": [list(o.tactics) for o in ops],
            "timing": [o.timing for o in ops],
            "participation": [o.participation for o in ops],
            "batch_created": [o.batch_created for o in ops],
            "templated_handles": [o.templated_handles for o in ops],
            "shared_ip": [o.shared_ip for o in ops],
            "shared_device": [o.shared_device for o in ops],
            "late_share": [o.late_share for o in ops],
        },
        schema={
            "operator_id": pl.String, "n_accounts": pl.Int64, "tactics": pl.List(pl.String), "timing": pl.String,
            "participation": pl.Float64, "batch_created": pl.Boolean, "templated_handles": pl.Boolean,
            "shared_ip": pl.Boolean, "shared_device": pl.Boolean, "late_share": pl.Float64,
        },
    ).sort("operator_id")
