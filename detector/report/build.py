"""What report.html shows, gathered from a scored folder's tables and the events that were scored.

The scored tables say which accounts form a cluster and which objects linked
them (``objects.parquet``); the events say when each member acted. For every
flagged cluster a card joins the two: the members' activity over time with
their actions on the cluster's shared objects marked, one shared object seen
up close, the co-action subgraph, the top shared objects with an example, and
the members' creation dates when account data exists. Sizes are capped (the
members drawn, rows, nodes, edges, cards) so the page stays light and quick on
the largest runs; each cap is stated on the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import polars as pl

from detector.config import Config
from detector.report import svg
from features.coaction import signal_events
from features.content import copy_candidates, near_duplicate_groups

MAX_CARDS = 60
DRAWN_MEMBERS = 60
TIMELINE_ROWS = 30
TIMELINE_COLUMNS = 200
BURST_ROWS = 30
BURST_MAX_S = 6 * 3600
GRAPH_NODES = 120
GRAPH_EDGES = 500
TOP_OBJECTS = 8
MEMBERS_LISTED = 60
TABLE_ROWS = 2000
EXAMPLE_CHARS = 240
COPY_SIGNAL = "copy"
TARGET_SIGNALS = ("share", "reply", "quote")


@dataclass
class Scored:
    """The tables of a scored folder and its run record."""

    accounts: pl.DataFrame
    clusters: pl.DataFrame
    edges: pl.DataFrame
    objects: pl.DataFrame
    record: dict


@dataclass
class Card:
    """One flagged cluster as the report shows it."""

    cluster_id: int
    n_accounts: int
    score: float
    evidence: str
    members: list[dict[str, str]]
    more_members: int
    objects: list[dict[str, Any]] = field(default_factory=list)
    timeline: str | None = None
    timeline_note: str = ""
    burst: str | None = None
    burst_note: str = ""
    graph: str | None = None
    graph_note: str = ""
    creation: str | None = None
    creation_note: str = ""
    drawn: int = 0


def gather(scored: Scored, events: pl.DataFrame, profiles: pl.DataFrame | None, config: Config) -> dict[str, Any]:
    """The report's content: run summary, cluster table and one card per flagged cluster (strongest first)."""
    flagged = scored.clusters.filter("flagged").sort(["score", "cluster_id"], descending=[True, False])
    shown = flagged.head(MAX_CARDS)
    handles = _handles(profiles)
    cards = [
        _card(row, scored, events, profiles, handles, config)
        for row in shown.iter_rows(named=True)
    ]
    table = scored.clusters.sort(["score", "cluster_id"], descending=[True, False]).head(TABLE_ROWS)
    return {
        "summary": _summary(scored.record),
        "clusters": table.to_dicts(),
        "clusters_total": scored.clusters.height,
        "carded": {c.cluster_id for c in cards},
        "cards": cards,
        "flagged_total": flagged.height,
        "legend": [(name, colour) for name, colour in svg.SIGNAL_COLOURS.items()],
    }


def _summary(record: dict) -> dict[str, Any]:
    inputs = record.get("input", {})
    counts = record.get("counts", {})
    not_kept = {**inputs.get("dropped", {}), **inputs.get("rejected", {})}
    return {
        "files": inputs.get("files", []),
        "accounts_files": record.get("accounts_files", []),
        "accounts_input": record.get("accounts_input"),
        "rows_read": inputs.get("rows_read"),
        "rows_kept": inputs.get("rows_kept"),
        "not_kept": {k.replace("_", " "): v for k, v in not_kept.items() if v},
        "counts": counts,
        "timings": _timings_before_writing(record.get("timings_s", {})),
        "peak_memory_mib": record.get("detection_peak_memory_mib", record.get("peak_memory_mib")),
        "threshold": record.get("config", {}).get("score", {}).get("threshold"),
        "version": record.get("version"),
    }


def _timings_before_writing(timings: dict) -> dict:
    """Stage timings up to the outputs: the page is drawn before it and the files are written, so it cannot show those."""
    shown = {k: v for k, v in timings.items() if k not in ("report", "write")}
    if "total" in shown:
        after = round(timings.get("write", 0.0) * 1000) + round(timings.get("report", 0.0) * 1000)
        shown["total"] = (round(shown["total"] * 1000) - after) / 1000
    return shown


def _handles(profiles: pl.DataFrame | None) -> dict[str, str]:
    if profiles is None or "handle" not in profiles.columns:
        return {}
    rows = profiles.select("account_id", "handle").drop_nulls()
    return dict(zip(rows["account_id"].to_list(), rows["handle"].to_list()))


def _card(row: dict, scored: Scored, events: pl.DataFrame, profiles, handles: dict[str, str], config: Config) -> Card:
    cid = row["cluster_id"]
    members = scored.accounts.filter(pl.col("cluster_id") == cid)["account_id"].sort()
    member_list = members.to_list()
    card = Card(
        cluster_id=cid,
        n_accounts=row["n_accounts"],
        score=row["score"],
        evidence=row["evidence"],
        members=[{"id": a, "handle": handles.get(a, "")} for a in member_list[:MEMBERS_LISTED]],
        more_members=max(0, len(member_list) - MEMBERS_LISTED),
    )
    inside = scored.objects.filter(pl.col("source").is_in(members.implode()) & pl.col("target").is_in(members.implode()))
    drawn = _most_involved(members, inside)
    card.drawn = drawn.len()
    member_events = events.filter(pl.col("account_id").is_in(drawn.implode())).with_row_index("event")
    shared = _shared_events(member_events, inside, config)
    card.objects = _top_objects(inside, shared, member_events, events)
    _timeline(card, member_events, shared, handles)
    _burst(card, shared, handles, config.detector.window_s)
    _graph(card, scored.edges, members, handles)
    _creation(card, profiles, members)
    return card


def _most_involved(members: pl.Series, inside: pl.DataFrame) -> pl.Series:
    """The ``DRAWN_MEMBERS`` members with the most shared-object links: the pictures draw these (bounds the work per card)."""
    if members.len() <= DRAWN_MEMBERS:
        return members
    ends = pl.concat([inside.select(pl.col("source").alias("account_id")), inside.select(pl.col("target").alias("account_id"))])
    counts = pl.DataFrame({"account_id": members}).join(ends.group_by("account_id").agg(pl.len().alias("links")), on="account_id", how="left")
    return counts.sort(["links", "account_id"], descending=[True, False], nulls_last=True).head(DRAWN_MEMBERS)["account_id"].sort()


def _shared_events(member_events: pl.DataFrame, inside: pl.DataFrame, config: Config) -> pl.DataFrame:
    """``event, account_id, ts, signal, object``: members' events on the objects that linked them inside the cluster."""
    schema = {"event": pl.UInt32(), "account_id": pl.String(), "ts": pl.Int64(), "signal": pl.String(), "object": pl.String()}
    keys = inside.select("signal", "object").unique()
    frames = []
    for signal in sorted(set(keys["signal"].to_list()) - {COPY_SIGNAL}):
        wanted = keys.filter(pl.col("signal") == signal).select("object")
        rows = signal_events(
            member_events.drop("event"), signal,
            normalize_urls=config.coaction.normalize_urls, tracking_params=config.coaction.tracking_params,
        ).collect()
        frames.append(rows.join(wanted, on="object").select("event", "account_id", "ts", pl.lit(signal).alias("signal"), "object"))
    copies = keys.filter(pl.col("signal") == COPY_SIGNAL)["object"]
    if copies.len() and "text" in member_events.columns:
        frames.append(_copy_events(member_events, copies, config))
    frames = [f.cast(schema) for f in frames if f.height]
    return pl.concat(frames).sort("ts", "account_id") if frames else pl.DataFrame(schema=schema)


def _copy_events(member_events: pl.DataFrame, families: pl.Series, config: Config) -> pl.DataFrame:
    """Members' texts that fall in a near-duplicate family of a copied text that linked the cluster.

    The detector names each family by its smallest text over the whole data set
    (``copy_candidates``' keys: normalised, without links); here the families are
    rebuilt over the members' texts, read the same way, plus those names, and a
    text counts when its family holds one of them.
    """
    cfg = config.detector
    texts = copy_candidates(member_events, min_text_chars=cfg.min_text_chars, columns=("event", "account_id", "timestamp")).select(
        "event", "account_id", pl.col("timestamp").dt.epoch("us").alias("ts"), "text"
    )
    groups = near_duplicate_groups(pl.concat([texts["text"], families]), threshold=cfg.near_duplicate_threshold)
    named = groups.filter(pl.col("text").is_in(families.implode())).select("group", pl.col("text").alias("object"))
    return (
        texts.join(groups, on="text")
        .join(named.unique("group", keep="first"), on="group")
        .select("event", "account_id", "ts", pl.lit(COPY_SIGNAL).alias("signal"), "object")
    )


def _top_objects(inside: pl.DataFrame, shared: pl.DataFrame, member_events: pl.DataFrame, events: pl.DataFrame) -> list[dict[str, Any]]:
    """The objects most members co-acted on, each with its popularity overall and an example text."""
    if inside.is_empty():
        return []
    ends = pl.concat([inside.select("signal", "object", pl.col("source").alias("a")), inside.select("signal", "object", pl.col("target").alias("a"))])
    top = (
        ends.group_by("signal", "object")
        .agg(pl.col("a").n_unique().alias("members"))
        .join(inside.group_by("signal", "object").agg(pl.col("object_accounts").max()), on=["signal", "object"])
        .sort(["members", "object_accounts", "signal", "object"], descending=[True, False, False, False])
        .head(TOP_OBJECTS)
    )
    originals = _original_texts(top, events)
    rows = []
    for row in top.iter_rows(named=True):
        original = originals.get(row["object"]) if row["signal"] in TARGET_SIGNALS else None
        example = original if original is not None else _member_text(row["signal"], row["object"], shared, member_events)
        rows.append({**row, "example": example, "colour": svg.signal_colour(row["signal"])})
    return rows


def _original_texts(top: pl.DataFrame, events: pl.DataFrame) -> dict[str, str]:
    """Texts of the shared, replied-to or quoted posts themselves, when they are in the data (one scan)."""
    if "event_id" not in events.columns or "text" not in events.columns:
        return {}
    wanted = top.filter(pl.col("signal").is_in(TARGET_SIGNALS))["object"]
    found = events.filter(pl.col("event_id").is_in(wanted.implode()) & pl.col("text").is_not_null()).unique("event_id", keep="first", maintain_order=True)
    return {row[0]: _clip(row[1]) for row in found.select("event_id", "text").iter_rows()}


def _member_text(signal: str, obj: str, shared: pl.DataFrame, member_events: pl.DataFrame) -> str:
    """The first member's text on the object: the post that carried the link, hashtag or copied text, or the share."""
    if "text" not in member_events.columns:
        return ""
    first = shared.filter((pl.col("signal") == signal) & (pl.col("object") == obj)).sort("ts", "event").head(1)
    if first.is_empty():
        return ""
    text = member_events.filter(pl.col("event") == first["event"][0])["text"]
    return _clip(text[0]) if text.len() and text[0] is not None else ""


def _clip(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1] + "…"


def _label(account: str, handles: dict[str, str]) -> str:
    handle = handles.get(account)
    return f"@{handle}" if handle else account


def _timeline(card: Card, member_events: pl.DataFrame, shared: pl.DataFrame, handles: dict[str, str]) -> None:
    """Binned activity of the members most involved, over the span in which they acted on shared objects."""
    if member_events.is_empty():
        card.timeline_note = "no events for these accounts"
        return
    source = shared if shared.height else member_events.select("account_id", pl.col("timestamp").dt.epoch("us").alias("ts"))
    start_us, end_us = int(source["ts"].min()), int(source["ts"].max())
    pad = max((end_us - start_us) // 50, 60_000_000)
    start_us, end_us = start_us - pad, end_us + pad
    ranking = (
        member_events.select("account_id")
        .join(shared.group_by("account_id").agg(pl.len().alias("shared")), on="account_id", how="left")
        .group_by("account_id")
        .agg(pl.col("shared").first().fill_null(0), pl.len().alias("events"))
        .sort(["shared", "events", "account_id"], descending=[True, True, False])
        .head(TIMELINE_ROWS)
    )
    rows = ranking["account_id"].to_list()
    index = pl.DataFrame({"account_id": rows, "row": list(range(len(rows)))}, schema={"account_id": pl.String(), "row": pl.Int64()})
    width = (end_us - start_us) / TIMELINE_COLUMNS
    column = ((pl.col("ts") - start_us) / width).floor().cast(pl.Int64).clip(0, TIMELINE_COLUMNS - 1).alias("column")
    all_events = member_events.select("event", "account_id", pl.col("timestamp").dt.epoch("us").alias("ts")).filter(pl.col("ts").is_between(start_us, end_us))
    marked = all_events.join(shared.select("event").unique().with_columns(pl.lit(1).alias("on_shared")), on="event", how="left")
    cells = (
        marked.join(index, on="account_id")
        .with_columns(column)
        .group_by("row", "column")
        .agg(pl.len().alias("events"), pl.col("on_shared").sum().alias("shared"))
        .sort("row", "column")
    )
    card.timeline = svg.activity_timeline(
        [_label(a, handles) for a in rows],
        [svg.TimelineCell(r["row"], r["column"], r["events"], r["shared"]) for r in cells.iter_rows(named=True)],
        columns=TIMELINE_COLUMNS,
        start_s=start_us / 1e6,
        end_s=end_us / 1e6,
    )
    hidden = card.n_accounts - len(rows)
    card.timeline_note = f"{len(rows)} most involved members shown" + (f"; {hidden} more not drawn" if hidden > 0 else "")


def _burst(card: Card, shared: pl.DataFrame, handles: dict[str, str], window_s: int) -> None:
    """The tightest burst on one shared object, up close: the most members acting on it within one window.

    Time is cut into windows of the detector's co-action window; the (object,
    window) with the most distinct members wins, and the picture spans that
    window with one window either side.
    """
    if shared.is_empty():
        card.burst_note = "no shared objects (the cluster is linked by identity or infrastructure)"
        return
    window_us = max(window_s, 60) * 1_000_000
    best = (
        shared.with_columns((pl.col("ts") // window_us).alias("bucket"))
        .group_by("signal", "object", "bucket")
        .agg(pl.col("account_id").n_unique().alias("members"))
        .sort(["members", "bucket", "signal", "object"], descending=[True, False, False, False])
        .row(0, named=True)
    )
    start_us, end_us = (best["bucket"] - 1) * window_us, (best["bucket"] + 2) * window_us
    on_it = shared.filter((pl.col("signal") == best["signal"]) & (pl.col("object") == best["object"]) & pl.col("ts").is_between(start_us, end_us, closed="left"))
    order = on_it.group_by("account_id").agg(pl.col("ts").min().alias("first")).sort("first", "account_id").head(BURST_ROWS)
    times = [on_it.filter(pl.col("account_id") == a)["ts"].sort().to_list() for a in order["account_id"].to_list()]
    card.burst = svg.object_burst(
        [_label(a, handles) for a in order["account_id"].to_list()],
        [[t / 1e6 for t in row] for row in times],
        start_s=start_us / 1e6,
        end_s=end_us / 1e6,
    )
    hidden = on_it["account_id"].n_unique() - order.height
    window = svg.duration(window_us / 1e6)
    card.burst_note = (
        f"{best['signal']} {_clip(best['object'])}: {best['members']} members acted on it within one {window} window "
        f"(shown with one window either side)" + (f"; {hidden} more members not drawn" if hidden > 0 else "")
    )


def _graph(card: Card, edges: pl.DataFrame, members: pl.Series, handles: dict[str, str]) -> None:
    """The members' co-action subgraph, laid out by a seeded spring layout (same picture every run)."""
    inside = edges.filter(pl.col("source").is_in(members.implode()) & pl.col("target").is_in(members.implode()))
    if inside.is_empty():
        card.graph_note = "no links inside the cluster"
        return
    pairs = (
        inside.sort(["weight", "signal"], descending=[True, False])
        .group_by("source", "target", maintain_order=True)
        .agg(pl.col("weight").sum(), pl.col("signal").first())
    )
    degree = (
        pl.concat([pairs.select(pl.col("source").alias("a"), "weight"), pairs.select(pl.col("target").alias("a"), "weight")])
        .group_by("a")
        .agg(pl.col("weight").sum())
        .sort(["weight", "a"], descending=[True, False])
        .head(GRAPH_NODES)
    )
    nodes = sorted(degree["a"].to_list())
    kept = pairs.filter(pl.col("source").is_in(nodes) & pl.col("target").is_in(nodes)).sort(
        ["weight", "source", "target"], descending=[True, False, False]
    ).head(GRAPH_EDGES)
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_weighted_edges_from(kept.select("source", "target", "weight").iter_rows())
    layout = nx.spring_layout(graph, seed=0, weight="weight", iterations=80)
    coords = np.array([layout[n] for n in nodes])
    coords = coords - coords.mean(axis=0)
    coords = coords / (np.abs(coords).max() or 1.0)
    position = {n: i for i, n in enumerate(nodes)}
    card.graph = svg.subgraph(
        [f"{_label(n, handles)} ({n})" if n in handles else n for n in nodes],
        [(float(x), float(y)) for x, y in coords],
        [svg.GraphEdge(position[s], position[t], w, sig) for s, t, w, sig in kept.iter_rows()],
    )
    card.graph_note = f"{len(nodes)} of {card.n_accounts} members, {kept.height} of {pairs.height} links (strongest first); colour = strongest signal"


BIN_SIZES_S = (60, 600, 3600, 86400, 7 * 86400, 30 * 86400, 365 * 86400)
MAX_BINS = 80


def _creation(card: Card, profiles: pl.DataFrame | None, members: pl.Series) -> None:
    """Histogram of the members' creation times and the largest batch created within one day."""
    if profiles is None or "created_at" not in profiles.columns:
        card.creation_note = "no account data (pass --accounts to score)"
        return
    created = profiles.filter(pl.col("account_id").is_in(members.implode()))["created_at"].drop_nulls().dt.epoch("s").sort()
    if created.len() < 2:
        card.creation_note = "creation dates unknown for these accounts"
        return
    t = created.to_numpy()
    batch = int((np.searchsorted(t, t + 86400, side="right") - np.arange(len(t))).max())
    span = max(int(t[-1] - t[0]), 1)
    bin_s = next((b for b in BIN_SIZES_S if span / b <= MAX_BINS), BIN_SIZES_S[-1])
    start = int(t[0]) - int(t[0]) % bin_s
    counts = np.bincount(((t - start) // bin_s).astype(np.int64)).tolist()
    caption = f"{batch} of {len(t)} members created within 24 hours of each other"
    card.creation = svg.histogram(counts, start_s=start, bin_s=bin_s, caption=caption)
    card.creation_note = caption
