"""Exclusivity: how much of the activity on a cluster's co-acted objects comes from its own members.

An operator pushes its own posts, links and tags, so most of their actors are
members; an organic crowd is a small part of a viral post's, a fandom's or a
meme's actors. ``cluster_exclusivity`` measures that share per cluster, over the
objects behind its significant links (``coacted_objects``).

A post's actors are its whole audience. Sharing, replying to, quoting and
liking one post are separate co-action signals (each its own test and its own
links), but who else acted on the post is everyone who reacted to it in any of
these ways (``post_audience``). Counted per signal, a few hyperactive accounts
that like every popular post within a minute of it appearing were most of those
posts' likers and scored as an operator of their own (3, 4 and 6 accounts on
`organic_only` seeds 0-2 of the quality benchmark); counted over the audience,
they are a small part of it and none is flagged. An operator's own seeds draw
mostly its members, however they react, so its share hardly moves.

The share is read over a cluster's main objects: those at least ``MAIN_SHARE``
times as many members acted on as on the one most of them acted on. A
significant pair's objects are all the objects the two met on, and members
also meet on their community's popular posts and tags (camouflage, or the same
timeline): a few members each, among a hundred or more outsiders. A
149-account operator in cascade/crowded seed 0 pushed 14 posts, links and tags
of which members were 99% of the actors (75% on its tags), but its members
also met on 700 other posts, 5% of each one's audience: three quarters of
its (member, object) incidences, so its share was 0.27 and it was not flagged
(0.95 over its main objects). What most of a cluster does together is what it
stands for; an organic crowd's main objects are its viral posts and shared
tags, which outsiders act on as much as it does.

A ``domain`` object is a site on one day (``features.coaction``); its share is
read over the site's whole life, everyone who ever linked it, as a tag's is.
On a quiet day a local site's regular readers can be all of that day's actors
but are a small part of its readers; an operator's own site is linked by its
members and hardly anyone else. A ``mention`` object (an account tagged on one
day) keeps its day: a journalist many people tag is a brigade's target all the
same, and what sets the brigade apart is that on its days most of her taggers
are members.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from detector.cluster import pairs_inside
from features.coaction import site_of

# Actions whose target is a post: together, everyone reacting to one post is its audience. ``follow`` targets
# an account and other actions name things of their own, so their objects keep their own signal's actors.
POST_REACTIONS = ("share", "reply", "quote", "like")

ACTORS: dict[str, pl.DataType] = {"object": pl.String(), "account_id": pl.String(), "signal": pl.String()}
COACTED: dict[str, pl.DataType] = {"cluster_id": pl.Int64(), "signal": pl.String(), "object": pl.String()}
EXCLUSIVITY: dict[str, pl.DataType] = {"cluster_id": pl.Int64(), "exclusivity": pl.Float64(), "broad_exclusivity": pl.Float64()}
# A cluster's main objects: members acted on each at least this share of the members on its most-acted object.
MAIN_SHARE = 0.5


def post_audience(events: pl.DataFrame, objects: pl.DataFrame) -> pl.DataFrame:
    """``object, account_id``: the distinct accounts that shared, replied to, quoted or liked each post in ``objects``."""
    if "target" not in events.columns or objects.is_empty():
        return pl.DataFrame(schema={"object": pl.String(), "account_id": pl.String()})
    return (
        events.lazy()
        .filter(pl.col("action").is_in(POST_REACTIONS) & pl.col("target").is_not_null())
        .select(pl.col("target").cast(pl.String).alias("object"), pl.col("account_id").cast(pl.String))
        .join(objects.lazy().select(pl.col("object").cast(pl.String)), on="object", how="semi")
        .unique()
        .sort("object", "account_id")
        .collect()
    )


def audience_actors(events: pl.DataFrame, objects: pl.DataFrame) -> pl.DataFrame:
    """``ACTORS`` rows for ``objects`` (``signal, object``: posts behind post-reaction signals' links): each post's audience.

    One pass over the events for every signal's posts together (a pass per signal took 1.8 s each at 10M events).
    """
    posts = objects.select(pl.col("signal").cast(pl.String), pl.col("object").cast(pl.String)).unique()
    audience = post_audience(events, posts.select("object").unique())
    return posts.join(audience, on="object").select(list(ACTORS)).sort("signal", "object", "account_id").cast(ACTORS)


def coacted_objects(labels: pl.DataFrame, objects: list[pl.DataFrame]) -> pl.DataFrame:
    """``COACTED`` rows: per cluster, the objects behind its significant links inside it (what its members co-acted on)."""
    # Frame by frame: the objects behind all significant pairs are millions of rows, and a concatenated copy was gigabytes at 10M events.
    per_frame = [
        pairs_inside(frame.select("source", "target", "signal", "object"), labels).select("cluster_id", "signal", "object").unique()
        for frame in objects
        if frame.height
    ]
    if not per_frame:
        return pl.DataFrame(schema=COACTED)
    return pl.concat(per_frame).unique().cast(COACTED)


@dataclass(frozen=True)
class Audience:
    """Who acted on the objects behind the links, read once per run (``audience_of``): every scoring of clusters
    and the families step count members against it, and only the clusters change between them."""

    everyone: pl.DataFrame  # signal, object, account_id; a domain object read as its site
    actors: pl.DataFrame  # signal, object, actors: how many accounts acted on each


def audience_of(actors: list[pl.DataFrame]) -> Audience | None:
    """The ``Audience`` of ``actors`` (``ACTORS`` frames, one per signal; a post's: ``audience_actors``); None without any."""
    frames = [frame for frame in actors if frame.height]
    if not frames:
        return None
    everyone = pl.concat([_by_site(frame) for frame in frames])  # frame by frame: only the domain signal's needs it
    return Audience(everyone, everyone.group_by("signal", "object").agg(pl.len().alias("actors")))


def cluster_exclusivity(labels: pl.DataFrame, cluster_objects: pl.DataFrame, audience: Audience | None) -> pl.DataFrame:
    """Per cluster: the share of the actors (``audience``) of its co-acted objects (``coacted_objects``) who
    are members, averaged over the objects weighted by the members acting on each: over its main objects (those at
    least ``MAIN_SHARE`` times as many members acted on as on its most-acted one), ``exclusivity``, and over all of
    them, ``broad_exclusivity`` (what every member's co-action says; ``detector.farms.farm_carve`` reads it)."""
    schema = EXCLUSIVITY
    per_object = _per_object(labels, cluster_objects, audience)
    if per_object is None:
        return pl.DataFrame(schema=schema)
    return (
        per_object.with_columns(weighted=(pl.col("members") / pl.col("actors")).clip(0.0, 1.0) * pl.col("members"))
        .group_by("cluster_id")
        .agg(
            (pl.col("weighted").filter("main").sum() / pl.col("members").filter("main").sum()).alias("exclusivity"),
            (pl.col("weighted").sum() / pl.col("members").sum()).alias("broad_exclusivity"),
        )
        .with_columns(pl.col("exclusivity", "broad_exclusivity").fill_nan(0.0))
        .cast(schema)
    )


def main_objects(labels: pl.DataFrame, cluster_objects: pl.DataFrame, audience: Audience | None) -> pl.DataFrame:
    """``COACTED`` rows of each cluster's main objects (see ``cluster_exclusivity``), a domain read as its site."""
    per_object = _per_object(labels, cluster_objects, audience)
    if per_object is None:
        return pl.DataFrame(schema=COACTED)
    return per_object.filter("main").select(list(COACTED)).cast(COACTED)


def _per_object(labels: pl.DataFrame, cluster_objects: pl.DataFrame, audience: Audience | None) -> pl.DataFrame | None:
    """Per cluster and co-acted object: ``members`` acting on it, its ``actors``, and whether it is ``main``; None without any."""
    if cluster_objects.is_empty() or audience is None:
        return None
    acting = (
        audience.everyone.join(labels.filter(pl.col("cluster_id") >= 0), on="account_id")
        .group_by("cluster_id", "signal", "object")
        .agg(pl.len().alias("members"))
    )
    return (
        _by_site(cluster_objects)
        .join(acting, on=["cluster_id", "signal", "object"], how="left")
        .join(audience.actors, on=["signal", "object"], how="left")
        .with_columns(pl.col("members").fill_null(0))
        .with_columns(main=pl.col("members") >= MAIN_SHARE * pl.col("members").max().over("cluster_id"))
    )


def _by_site(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (``signal, object`` and more) with each ``domain`` object read as its site over the whole period, deduplicated."""
    by_day = pl.col("signal") == "domain"
    if not frame.select(by_day.any()).item():
        return frame
    sites = frame.filter(by_day).with_columns(site_of(pl.col("object")).alias("object")).unique(maintain_order=True)
    return pl.concat([frame.filter(~by_day), sites])
