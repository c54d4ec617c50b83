"""Hard negatives: organic behaviour that looks coordinated but is not.

- viral bursts: thousands of accounts share one post or link within minutes;
- fandom or live-event hours: the same fans post the same hashtag at a
  scheduled hour, week after week, some with fan-stem handles and shared avatars;
- "copy and paste this" memes: real users paste one text with small edits over hours;
- hyperactive accounts that share everything popular within seconds (and so
  resemble each other);
- households of 2-4 accounts behind one home address (sometimes one device).

Every participant is an organic account; ``World.mark`` records the role.
"""

from __future__ import annotations

import numpy as np

from detector.sim.lexicon import SCHEDULER_CLIENTS, lexicon
from detector.sim.organic import add_reaction_events, make_articles, post_appeal
from detector.sim.scenarios import ScenarioSpec
from detector.sim.world import DAY, HOUR, LIKE, POST, QUOTE, SHARE, EventLog, World, concat_rows, edited_copies


def _scaled(world: World, count: float, *, lo: int) -> int:
    """A group size given for 5,000 accounts, scaled to this population (at least ``lo``)."""
    return max(lo, int(round(count * world.n / 5000)))


def add_households(world: World, spec: ScenarioSpec) -> None:
    """Group some organic accounts into households sharing one home address (a third also one device)."""
    rng = world.rng
    organic = rng.permutation(world.organic_accounts())
    target = max(2, int(spec.household_share * world.n))
    sizes = rng.integers(2, 5, target)
    sizes = sizes[: max(1, int(np.searchsorted(np.cumsum(sizes), min(target, len(organic)), side="right")))]
    members = organic[: int(sizes.sum())]
    head = np.repeat(members[np.concatenate([[0], np.cumsum(sizes)[:-1]])], sizes)
    world.home_ip[members] = world.home_ip[head]
    world.ip_kind[members] = 1
    world.tz[members] = world.tz[head]
    share_device = np.repeat(rng.random(len(sizes)) < 0.33, sizes) & (world.device[head] >= 0)
    world.device[members[share_device]] = world.device[head[share_device]]
    world.mark(members, "organic-household")


def add_viral(world: World, log: EventLog, spec: ScenarioSpec) -> None:
    """Viral bursts: a popular post or article reaching a large crowd, most of it within minutes."""
    rng = world.rng
    organic = world.organic_accounts()
    reach = world.followers[organic].astype(np.float64)
    for _ in range(spec.n_viral):
        author = organic[rng.choice(len(organic), p=reach**1.5 / (reach**1.5).sum())]
        t0 = int(world.clip_to_active(np.array([author]), rng.integers(HOUR, world.span - 2 * DAY, 1))[0])
        size = int(rng.uniform(*spec.viral_reach) * len(organic))
        crowd = rng.choice(organic, size=min(len(organic), max(size, 20)), replace=False)
        crowd = crowd[crowd != author]
        fast = rng.random(len(crowd)) < 0.75
        delay = np.where(fast, rng.exponential(rng.uniform(60, 300), len(crowd)), rng.lognormal(np.log(HOUR), 1.5, len(crowd)))
        t = t0 + 5 + delay.astype(np.int64)
        ok = world.active(crowd, t)
        crowd, t = crowd[ok], t[ok]
        if rng.random() < 0.6:
            length = 6 + rng.poisson(8, 1)
            seed = log.add([author], [t0], POST, text=(length, world.text_tokens(world.community[[author]], length)))
            kind = rng.random(len(crowd))
            for action, sel in ((SHARE, kind < 0.7), (LIKE, (kind >= 0.7) & (kind < 0.95)), (QUOTE, kind >= 0.95)):
                add_reaction_events(world, log, crowd[sel], t[sel], np.repeat(seed, int(sel.sum())), action)
        else:
            art = make_articles(world, 1, t0=t0, t1=t0 + 1)
            k = len(crowd)
            headline = rng.random(k) < 0.5
            own_len = np.where(headline, 0, 3 + rng.poisson(8, k))
            head_len = np.where(headline, art["head_len"][0], 0)
            text = concat_rows(own_len, world.text_tokens(world.community[crowd], own_len), head_len, np.tile(art["head_tok"], int(headline.sum())))
            log.add(crowd, t, POST, text=text, urls=(np.ones(k, dtype=np.int64), np.repeat(art["url"], k)))
        world.mark(crowd, "organic-viral")


def add_fandom(world: World, log: EventLog, spec: ScenarioSpec) -> None:
    """Fans of one community posting a show's hashtag during its weekly airing (or a live event's days)."""
    rng, lex = world.rng, lexicon()
    organic = world.organic_accounts()
    for _ in range(spec.n_fandom):
        comm = int(rng.integers(0, world.n_communities))
        pool = organic[world.community[organic] == comm]
        if len(pool) < 10:
            pool = organic
        size = min(len(pool), _scaled(world, rng.uniform(60, 300), lo=8))
        fans = rng.choice(pool, size=size, replace=False)
        tag = int(rng.integers(100, len(lex.hashtags)))
        # Weekly show at a fixed hour, or a live event on consecutive days.
        hour = int(rng.integers(17, 23)) - int(np.median(world.tz[fans]))
        first = int(rng.integers(0, 7))
        step = 7 if rng.random() < 0.6 else 1
        starts = np.arange(first, world.days, step)[:6] * DAY + hour * HOUR
        starts = starts[(starts >= 0) & (starts < world.span - 2 * HOUR)]
        ep, who = np.nonzero(rng.random((len(starts), size)) < rng.uniform(0.4, 0.8))
        reps = rng.integers(1, 5, len(ep))
        ep, who = np.repeat(ep, reps), np.repeat(fans[who], reps)
        # A rush in the first minutes of the show, then a steady stream until it ends.
        rush = rng.random(len(ep)) < 0.4
        offset = np.where(rush, rng.exponential(90, len(ep)), rng.uniform(0, HOUR, len(ep)))
        t = starts[ep] + offset.astype(np.int64)
        ok = world.active(who, t)
        ep, who, t = ep[ok], who[ok], t[ok]
        k = len(who)
        length = 2 + rng.poisson(6, k)
        extra = (rng.random(k) < 0.3).astype(np.int64)
        tag_ids = np.where(rng.random(k) < 0.25, tag + len(lex.hashtags), tag)
        tags = concat_rows(np.ones(k, dtype=np.int64), tag_ids, extra, world.hashtag_ids(world.community[who], extra))
        rows = log.add(who, t, POST, text=(length, world.text_tokens(world.community[who], length)), hashtags=tags)
        # Fans share each other's posts during the show.
        n_sh = k // 4
        if n_sh and k > 1:
            src = rng.integers(0, k, n_sh)
            sharer = fans[rng.integers(0, size, n_sh)]
            t_sh = t[src] + rng.exponential(240, n_sh).astype(np.int64) + 3
            ok = world.active(sharer, t_sh) & (sharer != who[src])
            add_reaction_events(world, log, sharer[ok], t_sh[ok], rows[src[ok]], SHARE)
        # Fan accounts: a third carry the fandom's stem in their handle, some its star's photo.
        stem = str(lex.words[int(rng.integers(0, 3000))])
        world.handle_templates.append(("fan", 0, stem))
        stemmed = fans[rng.random(size) < 0.33]
        world.handle_template[stemmed] = len(world.handle_templates) - 1
        photos = world.new_images(3)
        starry = fans[rng.random(size) < 0.2]
        world.image[starry] = photos[rng.integers(0, 3, len(starry))]
        world.mark(fans, "organic-fandom")


def add_memes(world: World, log: EventLog, spec: ScenarioSpec) -> None:
    """"Copy and paste this" texts: a starter post, then real users pasting edited copies over hours."""
    rng = world.rng
    organic = world.organic_accounts()
    for _ in range(spec.n_memes):
        comm = int(rng.integers(0, world.n_communities))
        tpl_len = np.array([12 + rng.poisson(8)])
        tpl_tok = world.text_tokens(np.array([comm]), tpl_len)
        size = min(len(organic), _scaled(world, rng.uniform(60, 300), lo=10))
        near = world.community[organic] == comm
        weights = np.where(near, 4.0, 1.0)
        people = rng.choice(organic, size=size, replace=False, p=weights / weights.sum())
        t0 = int(rng.integers(0, world.span - 3 * DAY))
        t = t0 + rng.lognormal(np.log(2 * HOUR), 1.0, size).astype(np.int64)
        t = world.snap_awake(people, t)
        ok = world.active(people, t)
        people, t = people[ok], t[ok]
        text = edited_copies(world, tpl_len, tpl_tok, np.zeros(len(people), dtype=np.int64), people)
        log.add(people, t, POST, text=text)
        world.mark(people, "organic-meme")


def add_hyperactive(world: World, log: EventLog, spec: ScenarioSpec) -> None:
    """A few accounts that share (and like) most popular posts within seconds to minutes."""
    rng = world.rng
    organic = world.organic_accounts()
    n_hyper = min(len(organic), max(2, int(round(spec.hyperactive_share * world.n))))
    hyper = rng.choice(organic, size=n_hyper, replace=False)
    world.client[hyper] = rng.choice([2, *SCHEDULER_CLIENTS[:1]], size=n_hyper)
    rows, appeal = post_appeal(world, log)
    top = rows[appeal >= np.quantile(appeal, 0.97)] if len(rows) else rows
    if len(top) == 0:
        return
    who = np.repeat(hyper, len(top))
    target = np.tile(top, n_hyper)
    take = rng.random(len(who)) < np.repeat(rng.uniform(0.2, 0.6, n_hyper), len(top))
    who, target = who[take], target[take]
    speed = np.zeros(world.n)
    speed[hyper] = rng.uniform(20, 200, n_hyper)  # each one's typical reaction time, seconds
    t = log.column("t")[target] + 5 + rng.exponential(speed[who]).astype(np.int64)
    ok = world.active(who, t) & (log.column("account")[target] != who)
    who, t, target = who[ok], t[ok], target[ok]
    like = rng.random(len(who)) < 0.3
    add_reaction_events(world, log, who[~like], t[~like], target[~like], SHARE)
    add_reaction_events(world, log, who[like], t[like] + rng.integers(1, 30, int(like.sum())), target[like], LIKE)
    world.mark(hyper, "organic-hyperactive")
