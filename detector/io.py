"""Reading input files into canonical frames, and writing outputs atomically.

``read_dataset`` is the project's one input boundary: it lists the files, reads
each by its extension (Parquet, CSV, JSON Lines, gzip-compressed text), maps the
named layout (``detector.formats``) to the canonical schema, rejects rows without
an account or a time, drops duplicates, and reports every row it did not keep.
Any unreadable or malformed input becomes an ``InputError`` with one line naming
the file (and the row or column when there is one).

The writers never leave a half-written file or folder where the user looks for
results: they write beside the target and rename into place on success.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import secrets
import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import polars as pl

from detector import formats, schema
from detector.errors import InputError, UsageError

log = logging.getLogger(__name__)

FORMATS = ("canonical", "twitter-io", "cntk", "ira")

# Longest suffix first so ".csv.gz" is not taken for something else.
_FILE_TYPES = {
    ".csv.gz": "csv",
    ".jsonl.gz": "jsonl",
    ".parquet": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_SNIFF_BYTES = 1 << 16
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class InputFile:
    """One input file as run.json records it; ``format`` is the layout it was read with."""

    path: str
    format: str
    rows: int
    sha256: str


@dataclass
class ReadReport:
    """What reading did: files, row counts, and every row not kept, by reason.

    ``dropped`` and ``rejected`` always hold the keys shown; ``rejected`` gains
    ``null_action`` only when some row had an account and a time but no action.
    """

    files: list[InputFile]
    rows_read: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=lambda: {"duplicate_row": 0, "duplicate_event_id": 0})
    rejected: dict[str, int] = field(default_factory=lambda: {"null_account_id": 0, "null_timestamp": 0})

    def to_dict(self) -> dict:
        """JSON-ready form for run.json."""
        return {
            "files": [asdict(f) for f in self.files],
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": dict(self.dropped),
            "rejected": dict(self.rejected),
        }


@dataclass
class Dataset:
    """Canonical events (``schema.EVENTS`` first, extra input columns after), accounts, and the report."""

    events: pl.DataFrame
    accounts: pl.DataFrame | None
    report: ReadReport


# ---------------------------------------------------------------- file listing


def _file_type(path: Path) -> str | None:
    name = path.name.lower()
    return next((kind for suffix, kind in _FILE_TYPES.items() if name.endswith(suffix)), None)


def input_files(path: str | Path) -> list[Path]:
    """The files an EVENTS argument names: the file itself, or a folder's input files sorted by name.

    Hidden files (names starting with ".") and other extensions in a folder are ignored.
    """
    path = Path(path)
    expected = ", ".join(_FILE_TYPES)
    if path.is_dir():
        found = sorted(
            (p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and _file_type(p)),
            key=lambda p: p.name,
        )
        if not found:
            raise InputError(f"{path}: folder holds no input files; expected files ending in {expected}")
        return found
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if _file_type(path) is None:
        raise InputError(f"{path}: unsupported file type; expected a name ending in {expected}")
    return [path]


# ---------------------------------------------------------------- raw reading


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _sniff_text(path: Path, where: str) -> None:
    """Reject text inputs that are empty, not valid gzip, or binary, before polars sees them."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
        if head.startswith(_GZIP_MAGIC):
            with gzip.open(path, "rb") as handle:
                head = handle.read(_SNIFF_BYTES)
    except (EOFError, gzip.BadGzipFile, zlib.error):
        raise InputError(f"{where}: truncated or corrupt gzip data") from None
    except OSError as exc:
        raise InputError(f"{where}: cannot read file: {exc.strerror or exc}") from None
    if not head.strip():
        raise InputError(f"{where}: empty file, expected a header row and data rows")
    if b"\x00" in head:
        raise InputError(f"{where}: not a text table (binary data)")


def _polars_reason(exc: Exception, kind: str) -> str:
    """Turn a polars/OS reader error into the short reason a user can act on."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    low = text.lower()
    if "end of file" in low or "gzip" in low or "deflate" in low or "decompress" in low:
        return "truncated or corrupt gzip data"
    if "utf-8" in low or "utf8" in low:
        return "not a UTF-8 text table (binary data?)"
    if kind == "csv" and "more fields" in low:
        return "ragged CSV: a row has more fields than the header"
    if kind == "jsonl":
        return f"expected JSON Lines (one JSON object per line): {text}"
    if kind == "parquet":
        return f"not a valid Parquet file: {text}"
    return f"cannot read as {kind}: {text}"


def _read_raw(path: Path, kind: str, where: str) -> pl.DataFrame:
    """One file as a DataFrame; CSV columns all as text so the layouts decide the types."""
    if path.stat().st_size == 0:
        raise InputError(f"{where}: empty file (0 bytes)")
    if kind != "parquet":
        _sniff_text(path, where)
    try:
        if kind == "csv":
            frame = pl.read_csv(path, infer_schema=False)
        elif kind == "jsonl":
            try:
                frame = pl.read_ndjson(path)
            except pl.exceptions.ComputeError:
                # A value past the first rows may widen a column's type: infer from every row.
                frame = pl.read_ndjson(path, infer_schema_length=None)
        else:
            frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(f"{where}: {_polars_reason(exc, kind)}") from None
    if frame.height == 0:
        raise InputError(f"{where}: no data rows (columns seen: {', '.join(frame.columns) or 'none'})")
    return frame


def _concat(frames: list[pl.DataFrame], where: str) -> pl.DataFrame:
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{where}: files disagree on a column's type: {str(exc).splitlines()[0]}") from None


def _read_layout(paths: list[Path], layout: str) -> tuple[list[formats.Layout], list[InputFile]]:
    convert = formats.LAYOUTS[layout]
    layouts, infos = [], []
    # Hash on a thread while polars parses: hashlib and polars both release the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        for path in paths:
            where = str(path)
            digest = pool.submit(_sha256, path)
            raw = _read_raw(path, _file_type(path) or "", where)
            rows = raw.height
            layouts.append(convert(raw, where))
            del raw
            infos.append(InputFile(path=where, format=layout, rows=rows, sha256=digest.result()))
    return layouts, infos


# ------------------------------------------------------------------- cleaning


def _first_of_equal_rows(events: pl.DataFrame) -> pl.Series:
    """True for each row that has no exact equal earlier in the frame.

    Hashing every row is several times cheaper than ``unique`` over all columns;
    only rows whose hash repeats are then compared exactly (all columns), so a
    hash collision never drops a row.
    """
    keep = pl.Series("keep", [True] * events.height)
    # Lists are slow to hash and equal rows have equal scalar columns anyway.
    scalar = [c for c, dtype in events.schema.items() if not isinstance(dtype, pl.List)] or events.columns
    maybe = events.select(scalar).hash_rows().is_duplicated()
    if not maybe.any():
        return keep
    idx = maybe.arg_true()
    first = events[idx].select(pl.struct(pl.all()).is_first_distinct()).to_series()
    return keep.scatter(idx, first)


def _clean(events: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int], dict[str, int]]:
    """Reject rows without account/time/action, then drop exact duplicates, then repeated event ids.

    All three rules become one row mask so the (large) frame is copied once.
    """
    flags = events.select(
        acc=pl.col("account_id").is_null(),
        ts=pl.col("timestamp").is_null(),
        act=pl.col("action").is_null(),
    )
    no_acc, no_ts, no_act = flags["acc"], flags["ts"] & ~flags["acc"], flags["act"] & ~flags["acc"] & ~flags["ts"]
    rejected = {"null_account_id": int(no_acc.sum()), "null_timestamp": int(no_ts.sum())}
    if no_act.any():
        rejected["null_action"] = int(no_act.sum())
    valid = ~(flags["acc"] | flags["ts"] | flags["act"])
    # Equal rows are all valid or all rejected, so duplicates among valid rows are just these.
    first = _first_of_equal_rows(events)
    kept = valid & first
    dropped = {"duplicate_row": int((valid & ~first).sum())}
    repeat = events.select(
        pl.when(pl.lit(kept)).then(pl.col("event_id")).is_first_distinct().not_() & pl.col("event_id").is_not_null()
    ).to_series()
    # A row dropped above shows as null here, so it cannot claim an event id first.
    repeat = repeat & kept
    dropped["duplicate_event_id"] = int(repeat.sum())
    kept = kept & ~repeat
    if not kept.all():
        events = events.filter(kept)
    return events, dropped, rejected


def _latest_accounts(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """One profile per account: the one seen at the latest time (file order breaks ties)."""
    stacked = pl.concat(frames, how="diagonal_relaxed")
    latest = (
        stacked.filter(pl.col("account_id").is_not_null())
        .sort(formats.SEEN, nulls_last=False, maintain_order=True)
        .unique(subset="account_id", keep="last")
        .sort("account_id")
        .drop(formats.SEEN)
    )
    return schema.conform(latest, schema.ACCOUNTS)


def _first_per_account(accounts: pl.DataFrame, where: str) -> pl.DataFrame:
    missing = int(accounts["account_id"].null_count())
    if missing:
        log.warning("%s: ignored %d account rows without account_id", where, missing)
    accounts = accounts.filter(pl.col("account_id").is_not_null())
    before = accounts.height
    accounts = accounts.unique(subset="account_id", keep="first", maintain_order=True)
    if accounts.height < before:
        log.info("%s: kept the first of repeated account_ids (%d rows ignored)", where, before - accounts.height)
    return accounts


# --------------------------------------------------------------------- public


def read_accounts(path: str | Path) -> pl.DataFrame:
    """A canonical accounts file (or folder) as ``schema.ACCOUNTS``; repeated account_ids keep the first."""
    paths = input_files(path)
    frames = [formats.canonical_accounts(_read_raw(p, _file_type(p) or "", str(p)), str(p)) for p in paths]
    return _first_per_account(_concat(frames, str(path)), str(path))


def read_dataset(
    events_path: str | Path, *, format: str = "canonical", accounts_path: str | Path | None = None
) -> Dataset:
    """Read EVENTS (a file or folder) in layout ``format`` into canonical events, plus accounts.

    Accounts come from ``accounts_path`` and/or the layout itself (twitter-io,
    cntk, ira carry profiles); rows of the accounts file win over profiles
    derived from events. ``accounts`` is None when neither source has any.
    """
    if format not in FORMATS:
        raise UsageError(f"unknown input format '{format}'; expected one of {', '.join(FORMATS)}")
    paths = input_files(events_path)
    layouts, infos = _read_layout(paths, format)
    rows_read = sum(f.rows for f in infos)
    events = _concat([lay.events for lay in layouts], str(events_path))
    derived = [lay.accounts for lay in layouts if lay.accounts is not None]
    del layouts
    events, dropped, rejected = _clean(events)
    report = ReadReport(files=infos, rows_read=rows_read, rows_kept=events.height, dropped=dropped, rejected=rejected)
    log.info("read %d rows from %d file(s); kept %d", rows_read, len(infos), events.height)

    accounts = _latest_accounts(derived) if derived else None
    if accounts_path is not None:
        given = read_accounts(accounts_path)
        if accounts is not None:
            extra = accounts.filter(~pl.col("account_id").is_in(given["account_id"].implode()))
            given = _concat([given, extra], str(accounts_path))
        accounts = schema.conform(given, schema.ACCOUNTS)
    return Dataset(events=events, accounts=accounts, report=report)


# -------------------------------------------------------------------- writers


def _temp_name(path: Path, kind: str) -> Path:
    # Hidden, unique, and ending in the target's own name so writers that look at the suffix still work.
    token = secrets.token_hex(4)
    return path.with_name(f".{kind}-{token}-{path.name}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, "tmp")
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb") as handle:  # flush to disk before the rename makes it visible
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Yield a fresh folder beside ``path``; on success it replaces ``path`` whole, on error it is removed.

    An existing ``path`` stays untouched until the new folder is complete, then
    is swapped out (and deleted) in two renames, so readers see the old outputs
    or the new ones, never a mix.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, "tmp")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        _remove(tmp)
        raise
    old = _temp_name(path, "old")
    had_old = path.exists()
    if had_old:
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        if had_old:
            os.replace(old, path)
        _remove(tmp)
        raise
    if had_old:
        _remove(old)


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` as Parquet or CSV by ``path``'s extension, atomically.

    CSV cannot hold lists, so list columns are written as space-joined text (the
    form the readers split again).
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        with atomic_path(path) as tmp:
            frame.write_parquet(tmp)
    elif name.endswith(".csv"):
        joined = [
            pl.col(c).cast(schema.STRINGS).list.join(" ")
            for c, dtype in frame.schema.items()
            if isinstance(dtype, pl.List)
        ]
        flat = frame.with_columns(joined) if joined else frame
        with atomic_path(path) as tmp:
            flat.write_csv(tmp)
    else:
        raise UsageError(f"{path}: cannot write a table here; expected a name ending in .parquet or .csv")
