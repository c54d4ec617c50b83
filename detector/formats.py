"""Input layouts: turn one file's raw table into canonical events (and accounts).

``detector.io`` reads a file into a raw ``DataFrame`` (CSV: every column text)
and hands it to one layout function here. Each layout returns the events in the
canonical column names with types coerced and validated (``schema.EVENTS``
order, extra input columns after), and, when the layout carries profile data,
an accounts frame in ``schema.ACCOUNTS`` order plus a ``_seen`` time column so
the reader can keep each account's latest profile across files.

Everything is vectorised: a column is parsed whole, and only when something
failed do we look for the first offending row to name it in the error.
"""

from __future__ import annotations

from typing import Callable, Iterable, NamedTuple, Sequence

import polars as pl

from detector import schema
from detector.errors import InputError

SEEN = "_seen"  # accounts helper column: time of the row the profile came from

# Ids where an empty string means "none" rather than a value.
_ID_COLUMNS = ("account_id", "event_id", "target")

# Without "%.f" polars takes a much faster path, so whole-second forms are listed first;
# rows they miss fall through to the fractional forms.
_ISO_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%#z",
    "%Y-%m-%dT%H:%M:%S%.f%#z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M%#z",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M%#z",
    "%Y-%m-%d %H:%M",
)
# Beyond this many seconds from 1970 a number is not a plausible epoch time (year ~9900).
_MAX_EPOCH_S = 2.5e11
_PROBE = 200  # leading values used to pick the parser to try first


class Layout(NamedTuple):
    """Canonical events of one file, and its accounts (None when the layout has none)."""

    events: pl.DataFrame
    accounts: pl.DataFrame | None


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dtype_name(dtype: pl.DataType) -> str:
    return str(dtype).replace("String", "text")


def _fail_at(where: str, column: str, raw: pl.Series, bad: pl.Series, expected: str) -> InputError:
    """Build the error for the first row where ``bad`` holds (rows are 1-based)."""
    idx = int(bad.arg_max())
    return InputError(f"{where}: row {idx + 1}, column '{column}': expected {expected}, got {_shown(raw[idx])}")


# --------------------------------------------------------------------- timestamps


def _epoch(seconds: pl.Series) -> pl.Series:
    """Float/int seconds since 1970 -> UTC microseconds; implausible or NaN values -> null."""
    secs = seconds.cast(pl.Float64)
    ok = secs.is_finite() & (secs.abs() < _MAX_EPOCH_S)
    micros = pl.select(pl.when(ok).then((secs * 1_000_000).round()).cast(pl.Int64)).to_series()
    return micros.cast(schema.TIMESTAMP)


def _text_parsers(extra_formats: Sequence[str]) -> list[Callable[[pl.Series], pl.Series]]:
    def strptime(fmt: str) -> Callable[[pl.Series], pl.Series]:
        # Naive times parse as UTC; %#z also accepts "Z" and converts offsets to UTC.
        return lambda s: s.str.strptime(schema.TIMESTAMP, fmt, strict=False)

    def date_only(s: pl.Series) -> pl.Series:
        return s.str.strptime(pl.Date, "%Y-%m-%d", strict=False).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")

    def epoch_text(s: pl.Series) -> pl.Series:
        return _epoch(s.cast(pl.Float64, strict=False))

    return [strptime(f) for f in (*_ISO_FORMATS, *extra_formats)] + [date_only, epoch_text]


def _parse_text_times(s: pl.Series, extra_formats: Sequence[str]) -> pl.Series:
    """Try each accepted text form, most common first, re-trying only the rows still unparsed."""
    parsers = _text_parsers(extra_formats)
    probe = s.drop_nulls().head(_PROBE)
    if probe.len():
        parsers.sort(key=lambda p: -p(probe).count())  # stable: ties keep the listed order
    out = parsers[0](s)
    for parse in parsers[1:]:
        todo = out.is_null() & s.is_not_null()
        if not todo.any():
            break
        idx = todo.arg_true()
        out = out.scatter(idx, parse(s.gather(idx)))
    return out


def _whole_epoch_seconds(raw: pl.Series) -> pl.Series | None:
    """Text that is all plain integer epoch seconds (the cntk layout's), parsed in one cast; None otherwise.

    Gives exactly what the general path gives for such text, with a fraction of
    its temporary columns; anything else (padding, fractions, ISO text, empty
    strings, implausible values) returns None and takes the general path.
    """
    seconds = raw.cast(pl.Int64, strict=False)
    if seconds.null_count() != raw.null_count() or seconds.null_count() == seconds.len():
        return None
    low, high = seconds.min(), seconds.max()
    if not (-_MAX_EPOCH_S < low and high < _MAX_EPOCH_S):
        return None
    return (seconds * 1_000_000).cast(schema.TIMESTAMP)


def parse_timestamps(
    raw: pl.Series, *, where: str, column: str, extra_formats: Sequence[str] = ()
) -> pl.Series:
    """Parse a time column of any accepted form into ``schema.TIMESTAMP`` (UTC).

    Accepts ISO-8601 text (``T`` or space, optional fraction, optional offset or
    ``Z``; naive means UTC), date-only text, epoch seconds (numbers or digit
    text), and datetime/date columns. Empty text is null. ``extra_formats`` adds
    strptime formats a layout needs. Raises ``InputError`` naming the first row
    that holds a value but cannot be parsed.
    """
    dtype = raw.dtype
    expected = "ISO-8601 time or epoch seconds"
    if dtype == pl.Null:
        return pl.Series(column, [None] * raw.len(), dtype=schema.TIMESTAMP)
    if isinstance(dtype, pl.Datetime):
        tz_fixed = raw.dt.replace_time_zone("UTC") if dtype.time_zone is None else raw.dt.convert_time_zone("UTC")
        return tz_fixed.cast(schema.TIMESTAMP).alias(column)
    if dtype == pl.Date:
        return raw.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias(column)
    if dtype.is_integer() or dtype.is_float():
        out = _epoch(raw)
    elif dtype == pl.String and (fast := _whole_epoch_seconds(raw)) is not None:
        return fast.alias(column)
    elif dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        raw = raw.cast(pl.String).str.strip_chars()
        raw = pl.select(pl.when(raw != "").then(raw)).to_series()
        out = _parse_text_times(raw, extra_formats)
    else:
        raise InputError(f"{where}: column '{column}': expected {expected}, got values of type {_dtype_name(dtype)}")
    bad = out.is_null() & raw.is_not_null()
    if bad.any():
        raise _fail_at(where, column, raw, bad, expected)
    return out.alias(column)


# ------------------------------------------------------------------ value types


def as_text(raw: pl.Series, *, where: str, column: str, empty_is_null: bool = False) -> pl.Series:
    """Coerce a column to text: integers (ids) become their digits; lists, floats, bools are an error."""
    dtype = raw.dtype
    if dtype == pl.String:
        out = raw
    elif dtype.is_integer() or dtype in (pl.Null, pl.Categorical) or isinstance(dtype, pl.Enum):
        out = raw.cast(pl.String)
    else:
        raise InputError(
            f"{where}: column '{column}': expected text or integer ids, got values of type {_dtype_name(dtype)}"
        )
    # Only rebuild the column (a copy of every value) when there is an empty string to clear.
    if empty_is_null and (out == "").any():
        out = pl.select(pl.when(out != "").then(out)).to_series()
    return out.alias(column)


def as_list(raw: pl.Series, *, where: str, column: str, allow_ids: bool = False) -> pl.Series:
    """Coerce a column to a list of text: lists pass, text splits on whitespace, null becomes []."""
    dtype = raw.dtype
    if dtype == pl.Null:
        out = pl.repeat(pl.lit([], dtype=schema.STRINGS), raw.len(), eager=True)
    elif dtype == pl.String:
        out = raw.str.extract_all(r"\S+")
    elif isinstance(dtype, pl.List) and (
        dtype.inner in (pl.String, pl.Null, pl.Categorical) or (allow_ids and dtype.inner.is_integer())
    ):
        out = raw.cast(schema.STRINGS)
    else:
        raise InputError(
            f"{where}: column '{column}': expected a list of text or space-separated text, "
            f"got values of type {_dtype_name(dtype)}"
        )
    return out.fill_null(pl.lit([], dtype=schema.STRINGS)).alias(column)


def _count(raw: pl.Series, *, where: str, column: str) -> pl.Series:
    """Profile counters: numbers or numeric text; anything else (or negative sentinels) is unknown."""
    if raw.dtype == pl.String:
        raw = raw.str.strip_chars().cast(pl.Float64, strict=False)
    elif not (raw.dtype.is_numeric() or raw.dtype == pl.Null):
        raise InputError(f"{where}: column '{column}': expected a count, got values of type {_dtype_name(raw.dtype)}")
    counts = raw.cast(pl.Float64).round().cast(pl.Int64, strict=False)
    return pl.select(pl.when(counts >= 0).then(counts)).to_series().alias(column)


def _require(raw: pl.DataFrame, columns: Sequence[str], where: str) -> None:
    for name in columns:
        if name not in raw.columns:
            seen = ", ".join(raw.columns)
            raise InputError(f"{where}: missing required column '{name}'; columns seen: {seen}")


def _assemble(parts: dict[str, pl.Series], raw: pl.DataFrame, consumed: Sequence[str], target: dict) -> pl.DataFrame:
    """Canonical columns from ``parts`` (missing ones null), then the raw columns no layout rule consumed.

    What ``schema.conform`` gives, but built column by column: a ``select`` would
    rechunk the reader's many chunks, copying every text once more.
    """
    n = raw.height
    known = [
        parts[name].alias(name) if name in parts else pl.repeat(None, n, dtype=dtype, eager=True).alias(name)
        for name, dtype in target.items()
    ]
    extra = [raw[c] for c in raw.columns if c not in consumed and c not in parts and c not in target]
    return pl.DataFrame(known + extra)


# ------------------------------------------------------------------- canonical


def canonical(raw: pl.DataFrame, where: str, *, accounts: bool = True) -> Layout:
    """The contract's own event columns; unknown columns are carried through (no accounts here)."""
    _require(raw, schema.EVENTS_REQUIRED, where)
    parts: dict[str, pl.Series] = {}
    for name in schema.EVENTS:
        if name not in raw.columns:
            continue
        if name == "timestamp":
            parts[name] = parse_timestamps(raw[name], where=where, column=name)
        elif name in schema.LIST_COLUMNS:
            parts[name] = as_list(raw[name], where=where, column=name, allow_ids=name == "mentions")
        else:
            parts[name] = as_text(raw[name], where=where, column=name, empty_is_null=name in _ID_COLUMNS)
    return Layout(_assemble(parts, raw, (), schema.EVENTS), None)


def canonical_accounts(raw: pl.DataFrame, where: str) -> pl.DataFrame:
    """A canonical accounts table, typed; rows in file order, duplicates not yet removed."""
    _require(raw, ("account_id",), where)
    parts: dict[str, pl.Series] = {}
    for name, dtype in schema.ACCOUNTS.items():
        if name not in raw.columns:
            continue
        if name == "created_at":
            parts[name] = parse_timestamps(raw[name], where=where, column=name)
        elif dtype == pl.Int64:
            parts[name] = _strict_count(raw[name], where=where, column=name)
        else:
            parts[name] = as_text(raw[name], where=where, column=name, empty_is_null=name == "account_id")
    return _assemble(parts, raw, (), schema.ACCOUNTS)


def _strict_count(raw: pl.Series, *, where: str, column: str) -> pl.Series:
    """Counts given by the user in a canonical file: whole numbers or an error naming the row."""
    if raw.dtype.is_integer() or raw.dtype == pl.Null:
        return raw.cast(pl.Int64).alias(column)
    if raw.dtype != pl.String:
        raise InputError(
            f"{where}: column '{column}': expected a whole number, got values of type {_dtype_name(raw.dtype)}"
        )
    text = raw.str.strip_chars()
    text = pl.select(pl.when(text != "").then(text)).to_series()
    out = text.cast(pl.Int64, strict=False)
    bad = out.is_null() & text.is_not_null()
    if bad.any():
        raise _fail_at(where, column, raw, bad, "a whole number")
    return out.alias(column)


# ------------------------------------------------------------------------ cntk

CNTK_COLUMNS = ("message_id", "user_id", "username", "repost_id", "reply_id", "message", "timestamp", "urls")


def _first_present(first: pl.Series, second: pl.Series) -> pl.Series:
    """``first.fill_null(second)``, without copying (often long) texts when one side is all null."""
    if second.null_count() == second.len():
        return first
    if first.null_count() == first.len():
        return second
    return first.fill_null(second)


def cntk(raw: pl.DataFrame, where: str, *, accounts: bool = True) -> Layout:
    """coordination-network-toolkit CSV: 8 columns by position, empty string means none.

    ``accounts=False`` skips building the profiles (the readers' ``derive_accounts``).
    """
    if raw.width < len(CNTK_COLUMNS):
        raise InputError(
            f"{where}: expected the {len(CNTK_COLUMNS)} cntk columns ({', '.join(CNTK_COLUMNS)}), "
            f"found {raw.width}: {', '.join(raw.columns)}"
        )
    given = raw.columns[: len(CNTK_COLUMNS)]
    col = {
        name: as_text(raw[given[i]], where=where, column=given[i], empty_is_null=True)
        for i, name in enumerate(CNTK_COLUMNS)
        if name not in ("timestamp", "urls")  # these two accept numbers / lists as well as text
    }
    repost, reply = col["repost_id"], col["reply_id"]
    action = pl.select(
        pl.when(repost.is_not_null()).then(pl.lit("share"))
        .when(reply.is_not_null()).then(pl.lit("reply"))
        .otherwise(pl.lit("post"))
    ).to_series()
    timestamp = parse_timestamps(raw[given[6]], where=where, column=given[6])
    parts = {
        "account_id": col["user_id"],
        "timestamp": timestamp,
        "action": action,
        "event_id": col["message_id"],
        "target": _first_present(repost, reply),
        "text": col["message"],
        "urls": as_list(raw[given[7]], where=where, column=given[7]),
    }
    events = _assemble(parts, raw, given, schema.EVENTS)
    if not accounts:
        return Layout(events, None)
    profiles = pl.DataFrame(
        [col["user_id"].alias("account_id"), col["username"].alias("handle"), timestamp.alias(SEEN)]
    )
    return Layout(events, schema.conform(profiles, schema.ACCOUNTS))


# ------------------------------------------------------------------ twitter-io

TWITTER_IO_REQUIRED = ("tweetid", "userid", "tweet_time")
_TRUE = ("true", "t", "1", "yes")
_FALSE = ("false", "f", "0", "no")


def _bracket_list(raw: pl.Series, *, where: str, column: str) -> pl.Series:
    """Twitter archive lists: ``[a, b]``, ``['a', 'b']`` or ``[]`` -> list of text."""
    if raw.dtype != pl.String:
        return as_list(raw, where=where, column=column, allow_ids=True)
    body = raw.str.strip_chars().str.strip_prefix("[").str.strip_suffix("]")
    quoted = body.str.extract_all(r"'[^']*'|\"[^\"]*\"").list.eval(
        pl.element().str.slice(1, pl.element().str.len_chars() - 2)  # drop the quotes
    )
    plain = body.str.split(",").list.eval(pl.element().str.strip_chars())
    has_quotes = body.str.contains("['\"]")
    out = pl.select(pl.when(has_quotes).then(quoted).otherwise(plain)).to_series()
    return out.list.filter(pl.element() != "").fill_null(pl.lit([], dtype=schema.STRINGS)).alias(column)


def _flag(raw: pl.Series, *, where: str, column: str) -> pl.Series:
    """Booleans written as True/False/true/false/1/0 (or a bool/int column)."""
    if raw.dtype == pl.Boolean:
        return raw
    if raw.dtype.is_integer():
        return raw != 0
    text = as_text(raw, where=where, column=column).str.strip_chars().str.to_lowercase()
    out = pl.select(pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False)).to_series()
    bad = out.is_null() & text.is_not_null() & (text != "")
    if bad.any():
        raise _fail_at(where, column, raw, bad, "True/False/1/0")
    return out.fill_null(False)


def twitter_io(raw: pl.DataFrame, where: str, *, accounts: bool = True) -> Layout:
    """Twitter's information-operations archive CSV; accounts come from the same rows (unless ``accounts=False``)."""
    _require(raw, TWITTER_IO_REQUIRED, where)
    n = raw.height

    def text(name: str, *, empty_is_null: bool = True) -> pl.Series:
        if name not in raw.columns:
            return pl.Series(name, [None] * n, dtype=pl.String)
        return as_text(raw[name], where=where, column=name, empty_is_null=empty_is_null)

    retweet_of, reply_to, quote_of = text("retweet_tweetid"), text("in_reply_to_tweetid"), text("quoted_tweet_tweetid")
    is_retweet = _flag(raw["is_retweet"], where=where, column="is_retweet") if "is_retweet" in raw.columns else None
    shared = retweet_of.is_not_null() if is_retweet is None else (is_retweet | retweet_of.is_not_null())
    flags = pl.DataFrame([shared.alias("s"), reply_to.alias("r"), quote_of.alias("q"), retweet_of.alias("t")])
    derived = flags.select(
        pl.when("s").then(pl.lit("share")).when(pl.col("r").is_not_null()).then(pl.lit("reply"))
        .when(pl.col("q").is_not_null()).then(pl.lit("quote")).otherwise(pl.lit("post")).alias("action"),
        pl.when("s").then("t").when(pl.col("r").is_not_null()).then("r").otherwise("q").alias("target"),
    )
    action, target = derived["action"], derived["target"]
    timestamp = parse_timestamps(raw["tweet_time"], where=where, column="tweet_time")
    account_id = text("userid")

    def listed(name: str) -> pl.Series | None:
        return _bracket_list(raw[name], where=where, column=name) if name in raw.columns else None

    parts = {
        "account_id": account_id,
        "timestamp": timestamp,
        "action": action,
        "event_id": text("tweetid"),
        "target": target,
        "text": text("tweet_text", empty_is_null=False),
        "client": text("tweet_client_name"),
    }
    for canon, name in (("urls", "urls"), ("hashtags", "hashtags"), ("mentions", "user_mentions")):
        if (values := listed(name)) is not None:
            parts[canon] = values
    profile = {
        "handle": "user_screen_name",
        "display_name": "user_display_name",
        "description": "user_profile_description",
    }
    counters = {"followers": "follower_count", "following": "following_count"}
    consumed = (
        *TWITTER_IO_REQUIRED, "is_retweet", "retweet_tweetid", "in_reply_to_tweetid", "quoted_tweet_tweetid",
        "tweet_text", "tweet_client_name", "urls", "hashtags", "user_mentions", "account_creation_date",
        *profile.values(), *counters.values(),
    )
    events = _assemble(parts, raw, consumed, schema.EVENTS)
    if not accounts:
        return Layout(events, None)

    acc = [account_id.alias("account_id"), timestamp.alias(SEEN)]
    acc += [text(src, empty_is_null=False).alias(dst) for dst, src in profile.items()]
    acc += [_count(raw[src], where=where, column=src).alias(dst) for dst, src in counters.items() if src in raw.columns]
    if "account_creation_date" in raw.columns:
        created = parse_timestamps(raw["account_creation_date"], where=where, column="account_creation_date")
        acc.append(created.alias("created_at"))
    return Layout(events, schema.conform(pl.DataFrame(acc), schema.ACCOUNTS))


# ------------------------------------------------------------------------- ira

IRA_REQUIRED = ("author", "content", "publish_date")
# FiveThirtyEight's original CSVs wrote times as M/D/YYYY H:MM.
_IRA_TIME_FORMATS = ("%m/%d/%Y %H:%M",)
_HASHTAG = r"#\w+"
# Any whitespace run to one space; matching only runs that need a change is ~4x faster than r"\s+".
_SPACES = r"[^\S ]\s*| \s+"
# A URL ends before whitespace, an ellipsis (truncated tweets) or trailing punctuation.
_URL = r"https?://[^\s…]*[^\s….,;:!?)\]'\"”’]"
# "@name" not preceded by a word character (so e-mail addresses do not count).
_MENTION = r"(?:^|[^\w@])@\w{1,50}"


def ira(raw: pl.DataFrame, where: str, *, accounts: bool = True) -> Layout:
    """FiveThirtyEight's IRA tweets: the handle is the account; entities come from the text (profiles unless ``accounts=False``)."""
    _require(raw, IRA_REQUIRED, where)
    n = raw.height
    author = as_text(raw["author"], where=where, column="author", empty_is_null=True)
    content = as_text(raw["content"], where=where, column="content")
    timestamp = parse_timestamps(
        raw["publish_date"], where=where, column="publish_date", extra_formats=_IRA_TIME_FORMATS
    )
    post_type = (
        as_text(raw["post_type"], where=where, column="post_type").str.strip_chars().str.to_uppercase()
        if "post_type" in raw.columns else pl.Series([None] * n, dtype=pl.String)
    )
    retweet = (
        _flag(raw["retweet"], where=where, column="retweet") if "retweet" in raw.columns else pl.Series([False] * n)
    )
    # Quote tweets also carry retweet=1 in this data, so "Q" must be checked first.
    is_quote = (post_type == "Q").fill_null(False)
    is_share = ~is_quote & ((post_type == "R").fill_null(False) | retweet)
    frame = pl.DataFrame([content.alias("text"), is_quote.alias("q"), is_share.alias("r")])
    none: pl.Expr = pl.lit([], dtype=schema.STRINGS)
    derived = frame.select(
        pl.when("q").then(pl.lit("quote")).when("r").then(pl.lit("share")).otherwise(pl.lit("post")).alias("action"),
        # A retweet has no retweeted id here; the retweeted text identifies what was shared.
        # Masking first means the regex only runs on retweets (null rows cost nothing).
        pl.when("r").then(pl.col("text")).str.replace_all(_SPACES, " ").str.strip_chars().alias("target"),
        pl.col("text").str.extract_all(_URL).fill_null(none).alias("urls"),
        pl.col("text").str.extract_all(_HASHTAG).fill_null(none).alias("hashtags"),
        pl.col("text").str.extract_all(_MENTION).list.eval(pl.element().str.replace(r"^[^@]*@", ""))
        .fill_null(none).alias("mentions"),
    )
    parts = {
        "account_id": author,
        "timestamp": timestamp,
        "action": derived["action"],
        "event_id": pl.Series("event_id", [None] * n, dtype=pl.String),
        "target": derived["target"],
        "text": content,
        **{name: derived[name] for name in schema.LIST_COLUMNS},
    }
    counters = ("followers", "following")
    events = _assemble(parts, raw, (*IRA_REQUIRED, "post_type", "retweet", *counters), schema.EVENTS)
    if not accounts:
        return Layout(events, None)
    acc = [author.alias("account_id"), author.alias("handle"), timestamp.alias(SEEN)]
    acc += [_count(raw[c], where=where, column=c) for c in counters if c in raw.columns]
    return Layout(events, schema.conform(pl.DataFrame(acc), schema.ACCOUNTS))


# Each is layout(raw, where, *, accounts=True) -> Layout.
LAYOUTS: dict[str, Callable[..., Layout]] = {
    "canonical": canonical,
    "twitter-io": twitter_io,
    "cntk": cntk,
    "ira": ira,
}


# ------------------------------------------------------------ column projection

# Per layout: the raw columns each canonical event column is built from, and those the
# account profiles are built from (cntk by position). Kept beside the layouts above;
# tests/test_io.py checks that reading any projection equals the full read.
_CNTK_SOURCES = {
    "account_id": (1,), "timestamp": (6,), "action": (3, 4), "event_id": (0,),
    "target": (3, 4), "text": (5,), "urls": (7,),
}  # fmt: skip
_CNTK_ACCOUNT_SOURCES = (1, 2, 6)
_TWITTER_IO_ACTION = ("is_retweet", "retweet_tweetid", "in_reply_to_tweetid", "quoted_tweet_tweetid")
_TWITTER_IO_SOURCES = {
    "account_id": ("userid",), "timestamp": ("tweet_time",), "action": _TWITTER_IO_ACTION,
    "event_id": ("tweetid",), "target": _TWITTER_IO_ACTION, "text": ("tweet_text",),
    "client": ("tweet_client_name",), "urls": ("urls",), "hashtags": ("hashtags",), "mentions": ("user_mentions",),
}  # fmt: skip
_TWITTER_IO_ACCOUNT_SOURCES = (
    "userid", "tweet_time", "user_screen_name", "user_display_name", "user_profile_description",
    "follower_count", "following_count", "account_creation_date",
)  # fmt: skip
_IRA_SOURCES = {
    "account_id": ("author",), "timestamp": ("publish_date",), "action": ("post_type", "retweet"),
    "event_id": (), "target": ("post_type", "retweet", "content"),
    "text": ("content",), "urls": ("content",), "hashtags": ("content",), "mentions": ("content",),
}  # fmt: skip
_IRA_ACCOUNT_SOURCES = ("author", "publish_date", "followers", "following")


def _sources(layout: str, header: Sequence[str]) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    if layout == "canonical":
        return {name: (name,) for name in schema.EVENTS}, ()
    if layout == "cntk":
        given = list(header[: len(CNTK_COLUMNS)])
        events = {name: tuple(given[i] for i in idx) for name, idx in _CNTK_SOURCES.items()}
        return events, tuple(given[i] for i in _CNTK_ACCOUNT_SOURCES)
    if layout == "twitter-io":
        return _TWITTER_IO_SOURCES, _TWITTER_IO_ACCOUNT_SOURCES
    return _IRA_SOURCES, _IRA_ACCOUNT_SOURCES


def source_columns(layout: str, header: Sequence[str], wanted: Iterable[str], *, accounts: bool) -> list[str]:
    """The raw columns of a file with ``header`` that ``layout`` reads to build the canonical columns ``wanted``.

    With ``accounts`` the columns its account profiles come from are added. A
    wanted name that is no canonical column is an extra input column carried
    through as is. Returned in header order; a cntk file too narrow to have its
    eight columns needs them all (the layout then reports what is missing).
    """
    if layout == "cntk" and len(header) < len(CNTK_COLUMNS):
        return list(header)
    events, account_sources = _sources(layout, header)
    consumed = {c for cols in events.values() for c in cols} | set(account_sources)
    needed = set(account_sources) if accounts else set()
    for name in wanted:
        if name in events:
            needed.update(events[name])
        elif name not in consumed:
            needed.add(name)
    return [c for c in header if c in needed]
