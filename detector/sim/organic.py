"""The organic population and its everyday activity.

Accounts differ in time zone, interest community, activity (log-normal, so a
few accounts produce a large share of events), action mix, client, address and
device. Activity: posts in sessions following each account's daily and weekly
rhythm, links to news articles (Zipf popularity, some posted with the article's
headline as text, as share buttons do), and reactions (share, reply, quote,
like) to earlier posts chosen by popularity with heavy-tailed delays (minutes
to days), mostly within the community. Operator accounts run through the same
code for their camouflage, so their everyday activity looks like anyone's.
"""

from __future__ import annotations

import numpy as np

from detector.sim.lexicon import CLIENT_P, SCHEDULER_CLIENTS, lexicon, zipf_ranks
from detector.sim.world import (
    DAY,
    FOLLOW,
    HOUR,
    LIKE,
    POST,
    QUOTE,
    REPLY,
    SHARE,
    TZ_HOURS,
    TZ_P,
    EventLog,
    World,
    cumulative_pick,
    gather_slices,
)

# Global action mix of organic accounts: post, share, reply, quote, like, follow.
_MIX = np.array([0.24, 0.24, 0.11, 0.04, 0.31, 0.06])
# Log-normal reaction delays (median seconds, sigma) per action: minutes to days.
_DELAY = {SHARE: (2400.0, 1.9), REPLY: (1200.0, 1.7), QUOTE: (3600.0, 1.8), LIKE: (1500.0, 1.9)}


def build_world(rng: np.random.Generator, n: int, *, days: int, events_per_account: float) -> World:
    """Every account starts organic; operators later take some of them over."""
    lex = lexicon()
    k = max(4, n // 250)
    community = rng.permutation(k)[zipf_ranks(rng, k, n, s=0.7)]
    home_tz = rng.choice(len(TZ_HOURS), size=k, p=TZ_P)
    tz = np.where(rng.random(n) < 0.55, TZ_HOURS[home_tz[community]], TZ_HOURS[rng.choice(len(TZ_HOURS), size=n, p=TZ_P)])
    sigma = 1.4
    activity = rng.lognormal(-sigma**2 / 2, sigma, n)
    first = np.where(rng.random(n) < 0.04, rng.integers(1, days, n), 0)
    last = np.where(rng.random(n) < 0.04, rng.integers(1, days + 1, n), days)
    last = np.maximum(last, first + 1)
    world = World(
        rng=rng,
        n=n,
        days=days,
        n_communities=k,
        community=community,
        tz=tz,
        chrono=rng.integers(-2, 3, n).astype(np.float64),
        rate=events_per_account * activity,
        first_day=first,
        last_day=last,
        followers=np.round(rng.lognormal(np.log(150) + 0.5 * np.log(activity), 1.6)).astype(np.int64),
        following=np.round(rng.lognormal(np.log(220), 1.0, n)).astype(np.int64),
        client=rng.choice(len(CLIENT_P), size=n, p=CLIENT_P),
        client_loyalty=rng.beta(8.0, 1.2, n),
        ip_kind=np.where(rng.random(n) < 0.85, 1, 0).astype(np.int8),
        home_ip=np.zeros(n, dtype=np.int64),
        mobile_p=rng.beta(1.0, 3.0, n),
        ip_pool=np.zeros((n, 2), dtype=np.int64),
        device=np.full(n, -1, dtype=np.int64),
        device_pool=np.zeros((n, 2), dtype=np.int64),
        operator=np.full(n, -1, dtype=np.int64),
    )
    world.home_ip = world.new_ips(n)
    world.cgnat = world.new_ips(max(5, n // 60))
    has_device = rng.random(n) < 0.8
    world.device[has_device] = world.new_devices(int(has_device.sum()))
    world.role = np.full(n, "organic", dtype=object)
    world.handle_template = np.full(n, -1, dtype=np.int64)
    world.image = np.full(n, -1, dtype=np.int64)
    own_image = rng.random(n) < 0.92
    world.image[own_image] = world.new_images(int(own_image.sum()))
    world.created_at = _organic_creation(rng, first)
    world.topic_words = _choose_rows(rng, k, 150, len(lex.words), 300)
    world.topic_tags = _choose_rows(rng, k, 60, len(lex.hashtags) - 100, 40)
    world.topic_domains = _choose_rows(rng, k, 30, len(lex.domains) - 200, 25)
    # A few brands and news desks post on the quarter hour through scheduling tools.
    scheduled = rng.random(n) < 0.012
    world.client[scheduled] = rng.choice(SCHEDULER_CLIENTS, size=int(scheduled.sum()))
    world.meta["scheduled"] = scheduled
    world.mark(np.flatnonzero(scheduled), "organic-scheduled")
    return world


def _choose_rows(rng: np.random.Generator, k: int, lo: int, hi: int, width: int) -> np.ndarray:
    """``k`` rows of ``width`` distinct ids drawn from ``[lo, hi)``."""
    return lo + np.argsort(rng.random((k, hi - lo)), axis=1)[:, :width]


def _organic_creation(rng: np.random.Generator, first_day: np.ndarray) -> np.ndarray:
    """Creation times (seconds from window start): spread over years, some in sign-up waves.

    Waves (a platform migration, a big news day) make organic accounts that were
    created minutes apart, so batch creation alone does not prove an operator.
    """
    n = len(first_day)
    age_days = np.clip(rng.lognormal(np.log(1300), 0.85, n), 2, 6200)
    created = first_day * DAY - (age_days * DAY).astype(np.int64)
    wave_days = -rng.integers(20, 2000, 4)
    in_wave = rng.random(n) < 0.08
    wave = wave_days[rng.integers(0, 4, n)] * DAY + rng.integers(0, 10 * HOUR, n)
    created = np.where(in_wave, wave, created)
    # Late joiners create their account shortly before they start posting.
    late = first_day > 0
    created = np.where(late, first_day * DAY - rng.integers(HOUR, 3 * DAY, n), created)
    return created


def action_counts(world: World) -> np.ndarray:
    """(n, 6) event counts per account and action for the organic (or camouflage) activity."""
    rng = world.rng
    active = (world.last_day - world.first_day) / world.days
    total = rng.poisson(world.rate * active)
    mix = rng.dirichlet(_MIX * 6.0, size=world.n)
    return rng.multinomial(total, mix)


def add_posts(world: World, log: EventLog, counts: np.ndarray, articles: dict[str, np.ndarray]) -> None:
    """Original posts in sessions; some link an article (Zipf popular), some mention accounts."""
    rng = world.rng
    acc = np.repeat(np.arange(world.n), counts[:, POST])
    k = len(acc)
    t = session_times(world, acc)
    sched = world.meta["scheduled"][acc]
    t = np.where(sched, (t // 900) * 900, t)
    comm = world.community[acc]
    length = 4 + rng.poisson(9, k)
    tokens = world.text_tokens(comm, length)
    tag_len = np.where(rng.random(k) < 0.28, rng.integers(1, 4, k), 0)
    tags = world.hashtag_ids(comm, tag_len)
    men_len = np.where(rng.random(k) < 0.08, rng.integers(1, 3, k), 0)
    mentions = popular_accounts(world, np.repeat(comm, men_len))

    # Link posts: the time follows the article's publication, not the poster's rhythm.
    url_share = rng.beta(1.2, 3.0, world.n)[acc]
    wants_url = rng.random(k) < url_share
    art = np.where(wants_url, rng.choice(len(articles["t"]), size=k, p=articles["p"]), -1)
    t_link = articles["t"][art] + rng.lognormal(np.log(3 * HOUR), 1.5, k).astype(np.int64)
    t_link = world.snap_awake(acc, t_link)
    ok = wants_url & world.active(acc, t_link)
    t = np.where(ok, t_link, t)
    url_len = ok.astype(np.int64)
    url_idx = articles["url"][art[ok]]
    # A third of link posts carry the article's headline, as share buttons prefill it.
    headline = ok & (rng.random(k) < 0.33)
    text_len, text_tok = _replace_text(length, tokens, headline, articles, art)
    log.add(acc, t, POST, text=(text_len, text_tok), urls=(url_len, url_idx), hashtags=(tag_len, tags), mentions=(men_len, mentions))


def _replace_text(length, tokens, use, articles, art):
    """Rows where ``use`` get their article's headline instead of their own words."""
    own_len, own_tok = gather_slices(length, tokens, np.flatnonzero(~use))
    head_len, head_tok = gather_slices(articles["head_len"], articles["head_tok"], art[use])
    rows = np.concatenate([np.flatnonzero(~use), np.flatnonzero(use)])
    lens = np.concatenate([own_len, head_len])
    toks = np.concatenate([own_tok, head_tok])
    order = np.argsort(rows, kind="stable")
    return gather_slices(lens, toks, order)


def session_times(world: World, acc: np.ndarray) -> np.ndarray:
    """Times in bursts: each event joins one of its account's sessions (rhythm-timed anchors)."""
    rng = world.rng
    n_events = np.bincount(acc, minlength=world.n)
    n_sessions = np.ceil(n_events * 0.45).astype(np.int64)
    anchor_acc = np.repeat(np.arange(world.n), n_sessions)
    anchors = world.rhythm_times(anchor_acc)
    start = np.concatenate([[0], np.cumsum(n_sessions)[:-1]])
    pick = start[acc] + (rng.random(len(acc)) * n_sessions[acc]).astype(np.int64)
    t = anchors[pick] + rng.exponential(400.0, len(acc)).astype(np.int64)
    return world.clip_to_active(acc, t)


def popular_accounts(world: World, communities: np.ndarray) -> np.ndarray:
    """Accounts to mention or follow: by follower count, mostly from the given community."""
    rng = world.rng
    weights = world.followers.astype(np.float64) ** 0.8 + 1.0
    local = cumulative_pick(rng, weights, world.community, communities)
    glob = rng.choice(world.n, size=len(communities), p=weights / weights.sum())
    return np.where((rng.random(len(communities)) < 0.7) & (local >= 0), local, glob)


def make_articles(world: World, k: int, *, domains: np.ndarray | None = None, t0: float = -DAY, t1: float | None = None) -> dict[str, np.ndarray]:
    """``k`` news articles: URL, publication time, popularity and headline tokens.

    ``domains`` (ids into the lexicon) restricts them to a site list, as an
    operator pushing its own sites; otherwise domains follow a Zipf law.
    """
    rng, lex = world.rng, lexicon()
    t1 = world.span if t1 is None else t1
    if domains is None:
        comm = rng.integers(0, world.n_communities, k)
        dom = np.where(rng.random(k) < 0.5, world.topic_domains[comm, zipf_ranks(rng, world.topic_domains.shape[1], k)], zipf_ranks(rng, 400, k, s=1.1))
    else:
        comm = rng.integers(0, world.n_communities, k)
        dom = domains[rng.integers(0, len(domains), k)]
    t = rng.uniform(t0, t1, k).astype(np.int64)
    head_len = 5 + rng.poisson(5, k)
    head_tok = world.text_tokens(comm, head_len)
    slug_tok = gather_slices(head_len, head_tok, np.arange(k))[1]
    # Slugs from the headline's content words, a section and a numeric id, like real news URLs.
    words = np.array([*lex.function_words, *lex.words], dtype=object)
    starts = np.concatenate([[0], np.cumsum(head_len)[:-1]])
    slug = words[slug_tok[starts + 1]] + "-" + words[slug_tok[starts + 2]] + "-" + words[slug_tok[starts + 3]]
    section = np.array(["news", "politics", "world", "sport", "culture", "opinion", "tech", "health"], dtype=object)
    num = rng.integers(100_000, 9_999_999, k).astype(str).astype(object)
    url = "https://" + lex.domains[dom] + "/" + section[rng.integers(0, len(section), k)] + "/" + slug + "-" + num
    appeal = rng.pareto(1.1, k) + 0.05
    return {
        "url": world.add_urls(url),
        "t": t,
        "p": appeal / appeal.sum(),
        "head_len": head_len,
        "head_tok": head_tok,
        "domain": dom,
    }


def post_appeal(world: World, log: EventLog) -> tuple[np.ndarray, np.ndarray]:
    """Rows of shareable posts and their popularity weight (author reach times the post's heavy-tailed draw, the same on every call)."""
    rows = np.flatnonzero(np.isin(log.column("action"), (POST, QUOTE)))
    author = log.column("account")[rows]
    appeal = (world.followers[author] + 10.0) ** 0.5 * (world.post_draws(log.n)[rows] + 0.02)
    return rows, appeal


def add_reactions(world: World, log: EventLog, counts: np.ndarray, *, accounts: np.ndarray | None = None) -> None:
    """Shares, replies, quotes and likes of earlier posts, by popularity and community, with delays."""
    rng = world.rng
    rows, appeal = post_appeal(world, log)
    if len(rows) == 0:
        return
    author = log.column("account")[rows]
    t_post = log.column("t")[rows]
    keep = np.ones(world.n, dtype=bool) if accounts is None else np.isin(np.arange(world.n), accounts)
    for action in (SHARE, REPLY, QUOTE, LIKE):
        acc = np.repeat(np.arange(world.n), np.where(keep, counts[:, action], 0))
        k = len(acc)
        local = cumulative_pick(rng, appeal, world.community[author], world.community[acc])
        glob = cumulative_pick(rng, appeal, np.zeros(len(rows), dtype=np.int64), np.zeros(k, dtype=np.int64))
        pick = np.where((rng.random(k) < 0.7) & (local >= 0), local, glob)
        med, sig = _DELAY[action]
        t = t_post[pick] + np.maximum(5, rng.lognormal(np.log(med), sig, k)).astype(np.int64)
        t = world.snap_awake(acc, t)
        ok = world.active(acc, t) & (author[pick] != acc)
        acc, t, pick = acc[ok], t[ok], pick[ok]
        add_reaction_events(world, log, acc, t, rows[pick], action)


def add_reaction_events(world: World, log: EventLog, acc: np.ndarray, t: np.ndarray, target: np.ndarray, action: int) -> np.ndarray:
    """Append reactions to the given target rows; replies and quotes get their own words."""
    rng = world.rng
    k = len(acc)
    if action in (REPLY, QUOTE):
        length = (2 if action == REPLY else 4) + rng.poisson(6, k)
        text = (length, world.text_tokens(world.community[acc], length))
        mentions = (np.ones(k, dtype=np.int64), log.column("account")[target]) if action == REPLY else None
        return log.add(acc, t, action, target=target, text=text, mentions=mentions)
    return log.add(acc, t, action, target=target)


def add_follows(world: World, log: EventLog, counts: np.ndarray) -> None:
    """Follows of popular accounts, mostly within the community, at rhythm times."""
    acc = np.repeat(np.arange(world.n), counts[:, FOLLOW])
    target = popular_accounts(world, world.community[acc])
    ok = target != acc
    acc, target = acc[ok], target[ok]
    log.add(acc, world.rhythm_times(acc), FOLLOW, target_account=target)


def organic_articles(world: World, counts: np.ndarray) -> dict[str, np.ndarray]:
    """The news articles organic link posts point to (about one per four link posts)."""
    return make_articles(world, max(50, int(counts[:, POST].sum() * 0.3 / 4)))

