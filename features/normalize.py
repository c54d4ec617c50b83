"""Vectorised normalisation of the things accounts act on: URLs, hashtags, mentions, texts.

Two accounts that link ``HTTPS://www.Example.com/a/?utm_source=x`` and
``https://example.com/a`` point at the same page; two that paste the same text
with different @mentions paste the same text. These polars expressions put such
variants on one key, so co-action compares what matters.

>>> import polars as pl
>>> pl.select(normalize_url(pl.lit("HTTPS://WWW.Example.COM/a/?utm_source=x&id=7"))).item()
'https://example.com/a?id=7'
>>> pl.select(normalize_text(pl.lit("RT  @bob Vote  NOW!"))).item()
'rt vote now!'
>>> pl.select(normalize_hashtag(pl.lit("#MAGA"))).item()
'maga'
"""

from __future__ import annotations

import re

import polars as pl

DEFAULT_TRACKING_PARAMS = ("utm_*", "fbclid", "gclid", "igshid", "mc_cid", "mc_eid", "ref_src")
# Link shorteners: their host says nothing about the site behind the link. Twitter wraps every link in a tweet's
# text in t.co, so in data read from tweet texts (the IRA set: 99.95% of its links) "linked t.co that day" would
# pair everyone who posted any link.
SHORTENER_HOSTS = (
    "t.co", "bit.ly", "goo.gl", "ow.ly", "tinyurl.com", "buff.ly", "dlvr.it", "ift.tt", "lnkd.in", "trib.al", "is.gd",
    "j.mp", "tiny.cc", "shorturl.at", "rebrand.ly", "cutt.ly", "wp.me", "rb.gy", "t.ly", "v.gd", "bl.ink",
)  # fmt: skip

# Python's str.split() also splits on the ASCII separators \x1c-\x1f, which the
# Unicode White_Space property (Rust's \s) leaves out; match Python exactly so the
# text key equals the coordination-network-toolkit's.
_WS = r"[\s\x1c-\x1f]"

# scheme (optional), host, path, query, fragment
_URL_PARTS = r"^(?:([A-Za-z][A-Za-z0-9+.\-]*)://)?([^/?#]*)([^?#]*)(?:\?([^#]*))?(#.*)?$"


def _tracking_regex(tracking_params: tuple[str, ...]) -> str:
    """Regex matching a query parameter (``key`` or ``key=value``) to drop."""
    keys = [re.escape(p[:-1]) + r"[^=]*" if p.endswith("*") else re.escape(p) for p in tracking_params]
    return r"^(?i:" + "|".join(keys) + r")(?:=.*)?$" if keys else r"^\b$"


def url_host(url: pl.Expr) -> pl.Expr:
    """The site a URL points at: its host lower-cased, without user info, port or ``www.``; null when it has none
    or when it is a link shortener's (``SHORTENER_HOSTS``), which hides the site.

    >>> pl.select(url_host(pl.lit("HTTPS://user@WWW.Example.COM:8080/a?x=1"))).item()
    'example.com'
    >>> pl.select(url_host(pl.lit("https://t.co/Ab12"))).item() is None
    True
    """
    host = url.str.strip_chars().str.extract_groups(_URL_PARTS).struct.field("2")
    host = host.str.replace(r"^[^@]*@", "").str.replace(r":[0-9]*$", "").str.to_lowercase().str.replace(r"^www\.", "")
    return pl.when((host != "") & ~host.is_in(SHORTENER_HOSTS)).then(host)


def normalize_url(url: pl.Expr, *, tracking_params: tuple[str, ...] = DEFAULT_TRACKING_PARAMS) -> pl.Expr:
    """Scheme and host lower-cased, ``www.``, trailing slash and tracking parameters removed.

    Path, the remaining query parameters (in their order) and the fragment are
    kept as they are: they are case-sensitive on most servers.
    """
    parts = url.str.strip_chars().str.extract_groups(_URL_PARTS)
    scheme = parts.struct.field("1").str.to_lowercase()
    host = parts.struct.field("2").str.to_lowercase().str.replace(r"^www\.", "")
    path = parts.struct.field("3").str.replace(r"/+$", "")
    kept = (
        parts.struct.field("4")
        .str.split("&")
        .list.eval(pl.element().filter((pl.element() != "") & ~pl.element().str.contains(_tracking_regex(tracking_params))))
        .list.join("&")
    )
    query = pl.when(kept.is_not_null() & (kept != "")).then(pl.lit("?") + kept).otherwise(pl.lit(""))
    prefix = pl.when(scheme.is_not_null()).then(scheme + pl.lit("://")).otherwise(pl.lit(""))
    return prefix + host + path + query + parts.struct.field("5").fill_null("")


def normalize_hashtag(tag: pl.Expr) -> pl.Expr:
    """Lower-cased, surrounding space and leading ``#`` removed (``#Vote`` == ``vote``)."""
    return _without_mark(tag, "#")


def normalize_mention(account: pl.Expr) -> pl.Expr:
    """Lower-cased, surrounding space and leading ``@`` removed (``@Jane_Doe`` == ``jane_doe``): handles ignore case."""
    return _without_mark(account, "@")


def _without_mark(name: pl.Expr, mark: str) -> pl.Expr:
    return name.str.strip_chars().str.to_lowercase().str.replace(f"^{mark}+", "")


def normalize_text(text: pl.Expr) -> pl.Expr:
    """The coordination-network-toolkit's text key: lower-cased, @mentions removed, whitespace collapsed."""
    return (
        text.str.to_lowercase()
        .str.replace_all(r"@\S*", "")
        .str.replace_all(_WS + "+", " ")
        .str.replace_all(r"^ | $", "")
    )


def copy_text(text: pl.Expr) -> pl.Expr:
    """``normalize_text`` without links: the key the ``copy`` signal compares.

    Twitter wraps every link in a tweet's text in its own ``t.co`` address, so
    the same text pasted by two accounts differs by a link, and in a short text
    that is enough to fall below the near-duplicate threshold. A text without a
    link keeps exactly its ``normalize_text`` key.

    >>> pl.select(copy_text(pl.lit("Vote NOW https://t.co/Ab12 @bob"))).item()
    'vote now'
    """
    return normalize_text(text).str.replace_all(r" ?https?://\S+", "").str.replace(r"^ ", "")
