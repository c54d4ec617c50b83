"""A second world generator, built by other means than ``detector.simulate``: cascades on a follower graph.

Quality measured only on our own simulator could reward its quirks. This
generator shares no code or parameters with ``detector.sim``; it is written
from the mechanics the literature describes rather than from what the detector
looks for:

- **Organic sharing is an independent cascade on a scale-free follower graph**
  (Barabási-Albert, as networkx builds it). Each post reaches its author's
  followers; each follower shares it with a probability set by the post's
  appeal (lognormal) and the follower's susceptibility (beta), after a
  lognormal delay, and sharers pass it on to their own followers one
  generation further. Hubs with appealing posts go viral on their own: hundreds
  of unrelated accounts share one post within the hour.
- **Daily rhythm** from each account's time zone, activity from a lognormal
  rate (a few heavy users, many light ones).
- **Hard negatives**: fandoms (communities of the graph that post their tag
  during live events, again and again, within the same two hours), copy-paste
  memes (one text copied with a word changed by hundreds of accounts over
  days), households and one carrier NAT (addresses shared by unrelated
  accounts).
- **Operators** run campaigns: at each campaign's start a seed (an own post,
  a link or a tag); each member joins with its operator's participation rate
  after an exponential delay of the operator's own scale (seconds to hours);
  members also live in the follower graph and share organic posts like
  anybody (camouflage). Some operators share a proxy pool, create their
  accounts in a batch with templated handles, or post texts from a template.

``cascade_world(variant, seed)`` returns events, accounts and truth in the
contract's schemas. Variants: ``plain`` (the mix above), ``subtle`` (low
participation, slow members, more camouflage) and ``crowded`` (stronger
virality and more fandom activity).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

import networkx as nx
import numpy as np
import polars as pl

from detector import schema

START = datetime(2025, 5, 5, tzinfo=timezone.utc)
DAY_S = 86_400
WORDS = (
    "vote city plan water school road tax health park night market price rain team game film music "
    "story news power change truth voice future money job home family friend world people state law "
    "energy food street bridge train doctor nurse farm river forest island ocean garden window"
).split()
CLIENTS = ("Web", "Android", "iPhone", "iPad")


@dataclass(frozen=True)
class Variant:
    """The knobs of one world: sizes, organic virality, fandoms and how operators behave."""

    n_accounts: int = 4000
    days: int = 14
    share_base: float = 0.02
    fandoms: int = 3
    fandom_post_p: float = 0.5
    operators: int = 10
    participation: tuple[float, float] = (0.3, 0.9)
    delay_s: tuple[float, float] = (20.0, 900.0)  # range of operators' mean join delays (log-uniform)
    camouflage: float = 0.5  # operator members' organic activity, relative to an organic account's


VARIANTS = {
    "plain": Variant(),
    "subtle": Variant(participation=(0.15, 0.4), delay_s=(600.0, 7200.0), camouflage=1.0),
    "crowded": Variant(share_base=0.04, fandoms=5, fandom_post_p=0.7),
}


@dataclass
class World:
    events: pl.DataFrame
    accounts: pl.DataFrame
    truth: pl.DataFrame


class _Builder:
    """Collects event columns as numpy arrays and lists; numbered event ids in order of creation."""

    def __init__(self) -> None:
        self.parts: list[dict] = []
        self.next_id = 0

    def add(self, account, time_s, action, *, target=None, text=None, urls=None, hashtags=None) -> np.ndarray:
        n = len(account)
        ids = np.arange(self.next_id, self.next_id + n)
        self.next_id += n
        self.parts.append(
            {
                "account": np.asarray(account),
                "time": np.asarray(time_s, dtype=np.float64),
                "action": np.full(n, action, dtype=object),
                "event": ids,
                "target": np.full(n, -1) if target is None else np.asarray(target),
                "text": [None] * n if text is None else list(text),
                "urls": [None] * n if urls is None else list(urls),
                "hashtags": [None] * n if hashtags is None else list(hashtags),
            }
        )
        return ids


def _neighbours(graph_csr, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index into ``nodes``, neighbour) for every neighbour of every node, vectorised over a CSR adjacency."""
    starts, stops = graph_csr.indptr[nodes], graph_csr.indptr[nodes + 1]
    counts = stops - starts
    owner = np.repeat(np.arange(len(nodes)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, graph_csr.indices[np.repeat(starts, counts) + offset]


def _circadian_times(rng, n: int, days: int, zone_h: np.ndarray) -> np.ndarray:
    """Event times (seconds from START): a uniform day, an hour peaked in the local evening."""
    day = rng.integers(0, days, n)
    local_hour = (rng.normal(19.0, 4.0, n)) % 24
    return day * DAY_S + ((local_hour - zone_h) % 24) * 3600 + rng.uniform(0, 3600, n) % 3600


def cascade_world(variant: str = "plain", *, seed: int = 0, n_accounts: int | None = None) -> World:
    """One world of the given variant (see ``VARIANTS``), deterministic in ``seed``; ``n_accounts`` resizes it."""
    v = VARIANTS[variant] if n_accounts is None else replace(VARIANTS[variant], n_accounts=n_accounts)
    rng = np.random.default_rng([seed, list(VARIANTS).index(variant)])
    n, horizon = v.n_accounts, v.days * DAY_S
    graph = nx.barabasi_albert_graph(n, 4, seed=int(rng.integers(2**31)))
    adjacency = nx.to_scipy_sparse_array(graph, nodelist=range(n), format="csr")
    degree = np.diff(adjacency.indptr)
    zone_h = rng.choice([-8, -5, 0, 1, 3, 8], size=n).astype(float)
    rate = rng.lognormal(np.log(0.8), 1.0, n)  # own posts per day
    susceptibility = rng.beta(1.2, 30.0, n)
    operator_of = np.full(n, -1)
    # Operators: members drawn from the whole population (they follow and are followed like anybody).
    scale = n / VARIANTS["plain"].n_accounts  # operators keep their share of a smaller or larger world
    sizes = np.clip(rng.lognormal(np.log(25 * scale), 0.8, v.operators).astype(int), 5, max(5, int(150 * scale)))
    members = rng.permutation(n)[: sizes.sum()]
    for op, chunk in enumerate(np.split(members, np.cumsum(sizes)[:-1])):
        operator_of[chunk] = op
    is_member = operator_of >= 0
    rate[is_member] *= v.camouflage
    susceptibility[is_member] *= v.camouflage

    out = _Builder()
    # --- organic posts and their cascades
    n_posts = rng.poisson(rate * v.days)
    author = np.repeat(np.arange(n), n_posts)
    post_time = _circadian_times(rng, len(author), v.days, zone_h[author])
    topic = rng.zipf(1.6, len(author)) % 400
    has_tag = rng.random(len(author)) < 0.3
    has_url = rng.random(len(author)) < 0.15
    url_id = rng.zipf(1.4, len(author)) % 3000
    texts = [" ".join(rng.choice(WORDS, 8)) for _ in range(len(author))]
    post_ids = out.add(
        author, post_time, "post", text=texts,
        urls=[[f"https://news{u % 40}.example/a/{u}"] if h else None for u, h in zip(url_id, has_url)],
        hashtags=[[f"topic{t}"] if h else None for t, h in zip(topic, has_tag)],
    )
    appeal = rng.lognormal(0.0, 1.3, len(author)) * np.sqrt(degree[author] / degree.mean())
    origin, spreader, spread_time = np.arange(len(author)), author, post_time
    for _generation in range(2):
        which, follower = _neighbours(adjacency, spreader)
        p = np.clip(v.share_base * appeal[origin[which]] * susceptibility[follower] * 30, 0, 0.9)
        take = rng.random(len(which)) < p
        which, follower = which[take], follower[take]
        when = spread_time[which] + rng.lognormal(np.log(1800), 1.4, len(which))
        keep = (when < horizon) & (follower != author[origin[which]])
        which, follower, when = which[keep], follower[keep], when[keep]
        # One share per account and post.
        pair = pl.DataFrame({"o": origin[which], "f": follower, "t": when}).unique(["o", "f"], keep="first", maintain_order=True)
        out.add(pair["f"].to_numpy(), pair["t"].to_numpy(), "share", target=post_ids[pair["o"].to_numpy()])
        origin, spreader, spread_time = pair["o"].to_numpy(), pair["f"].to_numpy(), pair["t"].to_numpy()
    # Replies: a few followers of each post's author answer it.
    which, follower = _neighbours(adjacency, author)
    reply = rng.random(len(which)) < np.clip(0.2 * v.share_base * appeal[which] * susceptibility[follower] * 30, 0, 0.5)
    out.add(follower[reply], post_time[which[reply]] + rng.lognormal(np.log(3600), 1.2, reply.sum()), "reply",
            target=post_ids[which[reply]], text=[" ".join(rng.choice(WORDS, 5)) for _ in range(int(reply.sum()))])

    # --- fandoms: graph communities around a hub, posting their tag during live events
    for f in range(v.fandoms):
        hub = int(rng.choice(np.argsort(degree)[-50:]))
        fans = np.array(sorted(nx.single_source_shortest_path_length(graph, hub, cutoff=2)))
        fans = rng.choice(fans, size=min(len(fans), int(rng.integers(150, 400))), replace=False)
        for _event in range(int(rng.integers(4, 8))):
            start = rng.uniform(0, horizon - 7200)
            who = fans[rng.random(len(fans)) < v.fandom_post_p]
            out.add(who, start + rng.uniform(0, 7200, len(who)), "post", hashtags=[[f"fandom{f}"]] * len(who),
                    text=[" ".join(rng.choice(WORDS, 6)) + f" #fandom{f}" for _ in range(len(who))])
    # --- copy-paste memes: one text, a word changed, copied over days by unrelated accounts
    for m in range(4):
        base = list(rng.choice(WORDS, 14))
        who = rng.choice(n, size=int(rng.integers(80, 300)), replace=False)
        memes = []
        for _ in who:
            words = list(base)
            words[int(rng.integers(len(words)))] = str(rng.choice(WORDS))
            memes.append(" ".join(words))
        out.add(who, rng.uniform(0, horizon, len(who)), "post", text=memes)

    # --- operator campaigns
    for op in range(v.operators):
        crew = np.flatnonzero(operator_of == op)
        participation = rng.uniform(*v.participation)
        mean_delay = np.exp(rng.uniform(np.log(v.delay_s[0]), np.log(v.delay_s[1])))
        template = rng.random() < 0.4
        for c in range(int(rng.integers(10, 30))):
            start = rng.uniform(0, horizon - 6 * 3600)
            kind = rng.choice(["post", "url", "tag"])
            joined = crew[rng.random(len(crew)) < participation]
            if len(joined) < 2:
                continue
            when = start + rng.exponential(mean_delay, len(joined))
            text = None
            if template:
                frame = list(rng.choice(WORDS, 12))
                text = [" ".join(frame[:-2] + list(rng.choice(WORDS, 2))) for _ in joined]
            if kind == "post":
                seed_id = out.add([crew[0]], [start], "post", text=[" ".join(rng.choice(WORDS, 10))])[0]
                out.add(joined, when, "share", target=np.full(len(joined), seed_id))
            elif kind == "url":
                link = [f"https://site{op}.example/story/{c}"]
                out.add(joined, when, "post", urls=[link] * len(joined), text=text)
            else:
                out.add(joined, when, "post", hashtags=[[f"push{op}x{c % 4}"]] * len(joined), text=text)

    ids = np.array([f"acct{i:06d}" for i in range(n)])
    events = _events_frame(out, rng, ids, operator_of, horizon)
    accounts = _accounts_frame(rng, ids, operator_of, degree)
    truth = pl.DataFrame(
        {
            "account_id": ids,
            "operator_id": [f"op{o}" if o >= 0 else None for o in operator_of],
            "role": ["member" if o >= 0 else "organic" for o in operator_of],
        },
        schema=schema.TRUTH,
    )
    return World(events=events, accounts=accounts, truth=truth)


def _datetimes(seconds: np.ndarray) -> pl.Series:
    """Seconds from ``START`` as UTC datetimes (microseconds)."""
    return pl.Series(((START.timestamp() + seconds) * 1e6).astype(np.int64)).cast(pl.Datetime("us", "UTC"))


def _events_frame(out: _Builder, rng, ids: np.ndarray, operator_of: np.ndarray, horizon: float) -> pl.DataFrame:
    n = len(ids)
    cols = {key: np.concatenate([p[key] for p in out.parts]) for key in ("account", "time", "action", "event", "target")}
    lists = {key: [x for p in out.parts for x in p[key]] for key in ("text", "urls", "hashtags")}
    account = cols["account"]
    # Addresses: households of 2-4 share one; a carrier NAT serves 300 unrelated accounts; some operators use a proxy pool.
    home = np.arange(n)
    household = rng.random(n) < 0.08
    home[household] = rng.integers(0, n // 3, household.sum())
    nat = rng.choice(n, size=300, replace=False)
    home[nat] = n + 1
    for op in np.unique(operator_of[operator_of >= 0]):
        if rng.random() < 0.4:
            crew = np.flatnonzero(operator_of == op)
            home[crew] = n + 10 + op * 3 + rng.integers(0, 3, len(crew))
    ip = np.array([f"10.{(h >> 16) & 255}.{(h >> 8) & 255}.{h & 255}" for h in home])
    frame = pl.DataFrame(
        {
            "account_id": ids[account],
            "timestamp": _datetimes(cols["time"]),
            "action": cols["action"].astype(str),
            "event_id": [f"e{e}" for e in cols["event"]],
            "target": [f"e{t}" if t >= 0 else None for t in cols["target"]],
            "text": lists["text"],
            "urls": pl.Series(lists["urls"], dtype=pl.List(pl.String)),
            "hashtags": pl.Series(lists["hashtags"], dtype=pl.List(pl.String)),
            "client": np.array(CLIENTS)[rng.integers(0, len(CLIENTS), len(account))],
            "ip": ip[account],
        }
    )
    frame = frame.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias("mentions"), pl.lit(None, dtype=pl.String).alias("device_id"))
    frame = frame.filter(cols["time"] < horizon)
    return schema.conform(frame.sort("timestamp", "event_id"), schema.EVENTS)


def _accounts_frame(rng, ids: np.ndarray, operator_of: np.ndarray, degree: np.ndarray) -> pl.DataFrame:
    n = len(ids)
    created = rng.uniform(-5 * 365 * DAY_S, -30 * DAY_S, n)
    handle = np.array([f"{rng.choice(WORDS)}_{rng.choice(WORDS)}{int(rng.integers(0, 100))}" for _ in range(n)], dtype=object)
    for op in np.unique(operator_of[operator_of >= 0]):
        crew = np.flatnonzero(operator_of == op)
        if rng.random() < 0.5:  # a batch: created within hours, handles from one template
            created[crew] = rng.uniform(-200 * DAY_S, -40 * DAY_S) + rng.uniform(0, 6 * 3600, len(crew))
            stem = str(rng.choice(WORDS))
            handle[crew] = [f"{stem}{int(rng.integers(1000, 9999))}" for _ in crew]
    return schema.conform(
        pl.DataFrame(
            {
                "account_id": ids,
                "created_at": _datetimes(created),
                "handle": handle.astype(str),
                "followers": degree.astype(np.int64),
                "following": degree.astype(np.int64),
            }
        ),
        schema.ACCOUNTS,
    )
