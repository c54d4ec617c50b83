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
import re
import os
import secrets
import shutil
import zlib
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Sequence

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


INPUT_SUFFIXES = tuple(_FILE_TYPES)
REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_remote(path: str | Path) -> bool:
    """True for an address with a scheme (hdfs://, s3a://, file://...): read through Spark, not from this machine's disk."""
    return bool(REMOTE.match(str(path)))


def file_type(path: Path) -> str | None:
    """The reader for a file name ('csv', 'jsonl', 'parquet'), or None when its suffix is not an input type."""
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
            (p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and file_type(p)),
            key=lambda p: p.name,
        )
        if not found:
            raise InputError(f"{path}: folder holds no input files; expected files ending in {expected}")
        return found
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if file_type(path) is None:
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


def _read_raw(
    path: Path, kind: str, where: str, pick: Callable[[list[str]], list[str]] | None = None
) -> tuple[pl.DataFrame, bool]:
    """One file as a DataFrame, and whether every column was loaded; CSV columns all as text.

    ``pick`` (header -> columns to load) lets CSV and Parquet skip the parsing of
    columns nobody needs: they come back as all-null stand-ins (type Null, which
    costs no memory), so the layouts still see (and check the presence of) every
    column. JSON Lines are always read whole.
    """
    if path.stat().st_size == 0:
        raise InputError(f"{where}: empty file (0 bytes)")
    if kind != "parquet":
        _sniff_text(path, where)
    try:
        if kind == "csv":
            header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
            load = (pick(header) or header[:1]) if pick else header
            frame = pl.read_csv(path, infer_schema=False, columns=load if len(load) < len(header) else None)
        elif kind == "jsonl":
            try:
                frame = pl.read_ndjson(path)
            except pl.exceptions.ComputeError:
                # A value past the first rows may widen a column's type: infer from every row.
                frame = pl.read_ndjson(path, infer_schema_length=None)
            header = load = frame.columns
        else:
            header = list(pl.read_parquet_schema(path))
            load = (pick(header) or header[:1]) if pick else header
            frame = pl.read_parquet(path, columns=load)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(f"{where}: {_polars_reason(exc, kind)}") from None
    if frame.height == 0:
        raise InputError(f"{where}: no data rows (columns seen: {', '.join(header) or 'none'})")
    skipped = [name for name in header if name not in load]
    if skipped:
        stand_in = pl.repeat(None, frame.height, dtype=pl.Null, eager=True)
        # Built column by column: select() would rechunk, copying every loaded text once more.
        frame = pl.DataFrame([frame[name] if name in load else stand_in.alias(name) for name in header])
    return frame, not skipped


def _raw_rows(path: Path, kind: str, where: str, rows: pl.Series) -> pl.DataFrame:
    """Every column of the rows at (0-based, ascending) positions ``rows`` of a file already read once.

    A streaming scan keeps only those rows, so the file's text never sits in memory whole.
    """
    wanted = pl.col("_row").is_in(rows.implode())
    try:
        if kind == "csv":
            scan = pl.scan_csv(path, infer_schema=False)
        elif kind == "parquet":
            scan = pl.scan_parquet(path)
        else:
            return _read_raw(path, kind, where)[0][rows]
        return scan.with_row_index("_row").filter(wanted).drop("_row").collect(engine="streaming")
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise InputError(f"{where}: {_polars_reason(exc, kind)}") from None


def _concat(frames: list[pl.DataFrame], where: str) -> pl.DataFrame:
    if len(frames) == 1:
        return frames[0]
    try:
        return pl.concat(frames, how="diagonal_relaxed")
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{where}: files disagree on a column's type: {str(exc).splitlines()[0]}") from None


class _Source(NamedTuple):
    """One input file as read: where its rows sit among all files' rows, and whether every column was loaded."""

    path: Path
    start: int
    stop: int
    complete: bool


def _read_layout(
    paths: list[Path], layout: str, wanted: frozenset[str] | None, *, accounts: bool
) -> tuple[list[formats.Layout], list[InputFile], list[_Source]]:
    """Each file through its layout; with ``wanted``, only the raw columns those canonical columns need."""
    convert = formats.LAYOUTS[layout]
    pick = None if wanted is None else lambda header: formats.source_columns(layout, header, wanted, accounts=accounts)
    layouts, infos, sources = [], [], []
    start = 0
    # Hash on a thread while polars parses: hashlib and polars both release the GIL.
    with ThreadPoolExecutor(max_workers=1) as pool:
        for path in paths:
            where = str(path)
            digest = pool.submit(_sha256, path)
            raw, complete = _read_raw(path, file_type(path) or "", where, pick)
            rows = raw.height
            converted = convert(raw, where, accounts=accounts)
            del raw
            if wanted is not None:
                # Drop what came from stand-ins (and what nobody asked for) before it piles up over files.
                events = _only(converted.events, wanted)
                converted = formats.Layout(events, converted.accounts)
            layouts.append(converted)
            infos.append(InputFile(path=where, format=layout, rows=rows, sha256=digest.result()))
            sources.append(_Source(path, start, start + rows, complete))
            start += rows
    return layouts, infos, sources


def _only(frame: pl.DataFrame, names: set[str] | frozenset[str]) -> pl.DataFrame:
    """The columns of ``frame`` in ``names``, in frame order; unlike ``select`` it never rechunks (copies) them."""
    return pl.DataFrame([frame.get_column(c) for c in frame.columns if c in names])


def _full_rows(sources: list[_Source], layout: str, rows: pl.Series) -> pl.DataFrame:
    """Canonical events with every column for the rows at global positions ``rows`` (ascending)."""
    convert = formats.LAYOUTS[layout]
    parts = []
    for src in sources:
        local = rows.filter((rows >= src.start) & (rows < src.stop)) - src.start
        if local.len():
            where = str(src.path)
            parts.append(convert(_raw_rows(src.path, file_type(src.path) or "", where, local), where, accounts=False).events)
    return _concat(parts, "input files")


# ------------------------------------------------------------------- cleaning


def _repeated_ids(ids: pl.Series) -> pl.Series:
    """True for every non-null id whose 64-bit hash repeats: all repeated ids and (rarely) a few more.

    A superset is all the callers need. Counting distinct hashes settles the
    usual case (no id repeats) far cheaper than ``is_duplicated`` on the strings.
    """
    hashed, present = ids.hash(seed=0), ids.is_not_null()
    if hashed.filter(present).n_unique() == present.sum():
        return pl.repeat(False, ids.len(), eager=True)
    return hashed.is_duplicated() & present


def _first_of_equal_rows(
    events: pl.DataFrame,
    full_rows: Callable[[pl.Series], pl.DataFrame] | None = None,
    repeated: pl.Series | None = None,
) -> pl.Series:
    """True for each row that has no exact equal earlier in the frame.

    Rows with distinct event ids are never equal, so when ``event_id`` is there
    only rows whose id is null or repeats are compared at all. Hashing those rows
    is several times cheaper than ``unique`` over all columns; only rows whose
    hash repeats are then compared exactly, so a hash collision never drops a row.
    ``repeated`` is ``_repeated_ids`` of the event ids when the caller has it.
    ``full_rows`` (positions -> those rows with every column) is given when
    ``events`` holds only some columns: rows equal on these are then compared
    again on all of them, so equality always means every column of the input.
    """
    keep = pl.repeat(True, events.height, eager=True).alias("keep")
    if "event_id" in events.columns:
        if repeated is None:
            repeated = _repeated_ids(events["event_id"])
        candidates = events["event_id"].is_null() | repeated
        if not candidates.any():
            return keep
        idx = candidates.arg_true()
        subset = events[idx]
    else:
        idx, subset = None, events
    # Lists are slow to hash and equal rows have equal scalar columns anyway.
    scalar = [c for c, dtype in subset.schema.items() if not isinstance(dtype, pl.List)] or subset.columns
    maybe = subset.select(scalar).hash_rows().is_duplicated()
    if not maybe.any():
        return keep
    maybe_idx = maybe.arg_true() if idx is None else idx.filter(maybe)
    rows = events[maybe_idx] if full_rows is None else full_rows(maybe_idx)
    first = rows.select(pl.struct(pl.all()).is_first_distinct()).to_series()
    return keep.scatter(maybe_idx, first)


def _clean(
    events: pl.DataFrame, full_rows: Callable[[pl.Series], pl.DataFrame] | None = None
) -> tuple[pl.DataFrame, dict[str, int], dict[str, int]]:
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
    repeated = _repeated_ids(events["event_id"]) if "event_id" in events.columns else None
    first = _first_of_equal_rows(events, full_rows, repeated)
    kept = valid & first
    dropped = {"duplicate_row": int((valid & ~first).sum())}
    if repeated is not None and repeated.any():
        repeat = events.select(
            pl.when(pl.lit(kept)).then(pl.col("event_id")).is_first_distinct().not_() & pl.col("event_id").is_not_null()
        ).to_series()
        # A row dropped above shows as null here, so it cannot claim an event id first.
        repeat = repeat & kept
    else:
        repeat = pl.repeat(False, events.height, eager=True)
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
    frames = [formats.canonical_accounts(_read_raw(p, file_type(p) or "", str(p))[0], str(p)) for p in paths]
    return _first_per_account(_concat(frames, str(path)), str(path))


def read_dataset(
    events_path: str | Path,
    *,
    format: str = "canonical",
    accounts_path: str | Path | None = None,
    columns: Sequence[str] | None = None,
    derive_accounts: bool = True,
) -> Dataset:
    """Read EVENTS (a file or folder) in layout ``format`` into canonical events, plus accounts.

    Accounts come from ``accounts_path`` and/or the layout itself (twitter-io,
    cntk, ira carry profiles; ``derive_accounts=False`` skips those); rows of the
    accounts file win over profiles derived from events. ``accounts`` is None
    when neither source has any.

    ``columns`` names the canonical (or extra) event columns the caller needs;
    the events then hold just those plus ``account_id``, ``timestamp`` and
    ``action``, and CSV/Parquet inputs parse only the raw columns they come from.
    Nothing else changes: required columns must still be present, loaded columns
    are validated as strictly, and the report counts mean the same (an exact
    duplicate row is equal in every input column: rows equal on the loaded
    columns, which are few, are read again whole and compared; see
    ``_first_of_equal_rows``). None, the default, reads every column.
    """
    if format not in FORMATS:
        raise UsageError(f"unknown input format '{format}'; expected one of {', '.join(FORMATS)}")
    paths = input_files(events_path)
    # event_id rides along: the duplicate rules need it, and it makes finding duplicates cheap.
    wanted = None if columns is None else frozenset(columns) | set(schema.EVENTS_REQUIRED) | {"event_id"}
    layouts, infos, sources = _read_layout(paths, format, wanted, accounts=derive_accounts)
    rows_read = sum(f.rows for f in infos)
    events = _concat([lay.events for lay in layouts], str(events_path))
    derived = [lay.accounts for lay in layouts if lay.accounts is not None]
    del layouts
    complete = all(src.complete for src in sources)
    full_rows = None if complete else lambda rows: _full_rows(sources, format, rows)
    events, dropped, rejected = _clean(events, full_rows)
    if columns is not None:
        events = _only(events, set(columns) | set(schema.EVENTS_REQUIRED))
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


def read_output_table(path: Path) -> pl.DataFrame:
    """A Parquet table of a folder written by ``coordetect score``, or ``InputError`` saying what is wrong."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: not found; expected a folder written by coordetect score")
    try:
        return pl.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(f"{path}: not a readable Parquet table ({type(exc).__name__})") from None
