"""Input readers (every layout and file type) and the atomic writers."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from detector import schema
from detector.errors import InputError, UsageError
from detector.formats import parse_timestamps
from detector.io import (
    FORMATS,
    atomic_directory,
    atomic_path,
    read_accounts,
    read_dataset,
    write_table,
)

FIXTURES = Path(__file__).parent / "fixtures" / "io"
UTC = timezone.utc
T0 = datetime(2021, 1, 8, 14, 3, 11, tzinfo=UTC)


def _times(*values: datetime | None) -> pl.Series:
    return pl.Series("timestamp", values, dtype=schema.TIMESTAMP)


# ------------------------------------------------------------------ canonical


def _expected_canonical() -> pl.DataFrame:
    """events.csv by hand: the values every file type of the same data must yield."""
    return pl.DataFrame(
        {
            "account_id": ["a1", "a2", "a3", "a1"],
            "timestamp": _times(T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), T0 + timedelta(seconds=3.5)),
            "action": ["post", "share", "reply", "quote"],
            "event_id": ["e1", "e2", "e3", "e4"],
            "target": [None, "e1", "e1", "e1"],
            "text": ["Hello #news see https://x.org/1", None, "multi\nline reply", "quoted, with comma"],
            "urls": [["https://x.org/1"], [], ["https://x.org/2", "https://y.org/3"], []],
            "hashtags": [["#news"], [], ["news", "Politics"], []],
            "mentions": [[], [], ["a1", "a2"], ["a3"]],
            "client": ["web", "android", "iphone", "web"],
            "ip": pl.Series([None] * 4, dtype=pl.String),
            "device_id": pl.Series([None] * 4, dtype=pl.String),
            "lang": ["en", "en", "fr", None],
        },
        schema={**schema.EVENTS, "lang": pl.String},
    )


def test_canonical_csv_reads_to_known_frame():
    data = read_dataset(FIXTURES / "events.csv")
    assert_frame_equal(data.events, _expected_canonical())
    assert data.accounts is None
    report = data.report
    assert (report.rows_read, report.rows_kept) == (4, 4)
    assert report.files[0].format == "canonical" and report.files[0].rows == 4
    assert report.files[0].sha256 == hashlib.sha256((FIXTURES / "events.csv").read_bytes()).hexdigest()


def _jsonl_rows() -> list[dict]:
    # Same data as events.csv in JSON's own types: integer ids, float epoch times, real lists.
    return [
        {"account_id": "a1", "timestamp": 1610114591, "action": "post", "event_id": "e1", "target": None,
         "text": "Hello #news see https://x.org/1", "urls": ["https://x.org/1"], "hashtags": ["#news"],
         "mentions": [], "client": "web", "lang": "en"},
        {"account_id": "a2", "timestamp": 1610114592, "action": "share", "event_id": "e2", "target": "e1",
         "text": None, "urls": [], "hashtags": [], "mentions": [], "client": "android", "lang": "en"},
        {"account_id": "a3", "timestamp": 1610114593, "action": "reply", "event_id": "e3", "target": "e1",
         "text": "multi\nline reply", "urls": ["https://x.org/2", "https://y.org/3"],
         "hashtags": ["news", "Politics"], "mentions": ["a1", "a2"], "client": "iphone", "lang": "fr"},
        {"account_id": "a1", "timestamp": 1610114594.5, "action": "quote", "event_id": "e4", "target": "e1",
         "text": "quoted, with comma", "urls": None, "hashtags": [], "mentions": ["a3"], "client": "web",
         "lang": None},
    ]


def _write_jsonl(path: Path, rows: list[dict], *, compress: bool = False) -> None:
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode()) if compress else text.encode())


WRITERS = {
    "events.parquet": lambda p: _expected_canonical().write_parquet(p),
    "events.csv.gz": lambda p: p.write_bytes(gzip.compress((FIXTURES / "events.csv").read_bytes())),
    "events.jsonl": lambda p: _write_jsonl(p, _jsonl_rows()),
    "events.ndjson": lambda p: _write_jsonl(p, _jsonl_rows()),
    "events.jsonl.gz": lambda p: _write_jsonl(p, _jsonl_rows(), compress=True),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_file_type_gives_the_same_canonical_frame(tmp_path, name):
    path = tmp_path / name
    WRITERS[name](path)
    assert_frame_equal(read_dataset(path).events, _expected_canonical())


def test_integer_ids_become_text(tmp_path):
    path = tmp_path / "ids.jsonl"
    _write_jsonl(path, [{"account_id": 123456789012345678, "timestamp": 0, "action": "share", "target": 42,
                         "mentions": [7, 8]}])
    row = read_dataset(path).events.row(0, named=True)
    assert (row["account_id"], row["target"], row["mentions"]) == ("123456789012345678", "42", ["7", "8"])


def test_folder_reads_input_files_in_name_order(tmp_path):
    rows = (FIXTURES / "events.csv").read_text().splitlines(keepends=True)
    # The second file holds rows 3-4 (row 3 spans two lines), the first rows 1-2.
    (tmp_path / "b.csv").write_text(rows[0] + "".join(rows[3:]))
    (tmp_path / "a.csv").write_text("".join(rows[:3]))
    (tmp_path / "README.txt").write_text("not data")
    (tmp_path / ".hidden.csv").write_text("junk")
    data = read_dataset(tmp_path)
    assert_frame_equal(data.events, _expected_canonical())
    assert [Path(f.path).name for f in data.report.files] == ["a.csv", "b.csv"]
    assert [f.rows for f in data.report.files] == [2, 2]


def test_folder_without_input_files_is_an_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no input files"):
        read_dataset(tmp_path)


def test_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="expected one of canonical"):
        read_dataset(FIXTURES / "events.csv", format="tweets")
    assert FORMATS == ("canonical", "twitter-io", "cntk", "ira")


# ---------------------------------------------------------------- timestamps

SAME_INSTANT = [
    "2021-01-08T14:03:11Z",
    "2021-01-08T16:03:11+02:00",
    "2021-01-08T09:03:11-0500",
    "2021-01-08 14:03:11",
    "2021-01-08T14:03:11",
    "2021-01-08T14:03:11.000",
    "2021-01-08 14:03:11.000000+00:00",
    "1610114591",
    " 1610114591.0 ",
    1610114591,
    1610114591.0,
    datetime(2021, 1, 8, 14, 3, 11),
    datetime(2021, 1, 8, 16, 3, 11, tzinfo=timezone(timedelta(hours=2))),
]


@pytest.mark.parametrize("value", SAME_INSTANT, ids=repr)
def test_every_time_form_gives_the_same_instant(value):
    parsed = parse_timestamps(pl.Series([value, value]), where="f", column="timestamp")
    assert parsed.dtype == schema.TIMESTAMP
    assert parsed.to_list() == [T0, T0]


def test_mixed_time_forms_in_one_column():
    values = [v for v in SAME_INSTANT if isinstance(v, str)] + ["2021-01-08 14:03", "2021-01-08T14:03Z", ""]
    parsed = parse_timestamps(pl.Series(values), where="f", column="timestamp").to_list()
    assert parsed[: len(values) - 3] == [T0] * (len(values) - 3)
    assert parsed[-3:] == [T0 - timedelta(seconds=11)] * 2 + [None]


def test_epoch_digits_in_csv(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("account_id,timestamp,action\na,1610114591,post\nb,2021-01-08T14:03:11Z,post\n")
    assert read_dataset(path).events["timestamp"].to_list() == [T0, T0]


# --------------------------------------------------------- rejection and dups


def test_null_rows_and_duplicates_are_counted():
    data = read_dataset(FIXTURES / "events_dirty.csv")
    assert data.report.rejected == {"null_account_id": 1, "null_timestamp": 1}
    assert data.report.dropped == {"duplicate_row": 2, "duplicate_event_id": 1}
    assert (data.report.rows_read, data.report.rows_kept) == (9, 4)
    # Kept rows stay in file order; the first of each repeated event_id wins.
    assert data.events.select("account_id", "event_id").rows() == [("a1", "e1"), ("a3", None), ("a3", None), ("a4", "e5")]
    assert data.events["timestamp"].dt.minute().to_list() == [0, 3, 4, 5]
    as_json = json.loads(json.dumps(data.report.to_dict()))
    assert as_json["files"][0]["rows"] == 9 and as_json["dropped"]["duplicate_event_id"] == 1


def test_empty_account_id_counts_as_null(tmp_path):
    path = tmp_path / "e.jsonl"
    _write_jsonl(path, [{"account_id": "", "timestamp": 1, "action": "post"}, {"account_id": "x", "timestamp": 1, "action": "post"}])
    assert read_dataset(path).report.rejected == {"null_account_id": 1, "null_timestamp": 0}


def test_row_without_action_is_rejected_and_counted(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("account_id,timestamp,action\na,1,post\nb,2,\n")
    data = read_dataset(path)
    assert data.report.rejected == {"null_account_id": 0, "null_timestamp": 0, "null_action": 1}
    assert data.events["account_id"].to_list() == ["a"]


def test_duplicates_across_files_are_dropped(tmp_path):
    shutil.copy(FIXTURES / "events.csv", tmp_path / "1.csv")
    shutil.copy(FIXTURES / "events.csv", tmp_path / "2.csv")
    data = read_dataset(tmp_path)
    assert data.report.dropped == {"duplicate_row": 4, "duplicate_event_id": 0}
    assert_frame_equal(data.events, _expected_canonical())


# ------------------------------------------------------------- malformed input


def _bad_gzip(p: Path) -> None:
    data = gzip.compress((FIXTURES / "events.csv").read_bytes() * 200)
    p.write_bytes(data[: len(data) // 2])


MALFORMED = {
    "missing column": ("e.csv", lambda p: p.write_text("account_id,action\na,post\n"),
                       r"missing required column 'timestamp'; columns seen: account_id, action"),
    "bad timestamp": ("e.csv", lambda p: p.write_text("account_id,timestamp,action\na,1,post\nb,2,post\nc,yesterday,post\n"),
                      r"row 3, column 'timestamp': expected ISO-8601 time or epoch seconds, got 'yesterday'"),
    "list as account": ("e.jsonl", lambda p: _write_jsonl(p, [{"account_id": ["a"], "timestamp": 1, "action": "post"}]),
                        r"column 'account_id': expected text"),
    "bool timestamp": ("e.parquet", lambda p: pl.DataFrame({"account_id": ["a"], "timestamp": [True], "action": ["post"]}).write_parquet(p),
                       r"column 'timestamp': expected ISO-8601 time or epoch seconds, got values of type Boolean"),
    "numbers in urls": ("e.jsonl", lambda p: _write_jsonl(p, [{"account_id": "a", "timestamp": 1, "action": "post", "urls": [1, 2]}]),
                        r"column 'urls': expected a list of text"),
    "empty file": ("e.csv", lambda p: p.write_bytes(b""), r"empty file"),
    "blank file": ("e.jsonl", lambda p: p.write_text("\n\n"), r"empty file"),
    "header only": ("e.csv", lambda p: p.write_text("account_id,timestamp,action\n"), r"no data rows"),
    "empty parquet": ("e.parquet", lambda p: schema.empty_frame(schema.EVENTS).write_parquet(p), r"no data rows"),
    "truncated gzip": ("e.csv.gz", _bad_gzip, r"truncated or corrupt gzip"),
    "binary junk": ("e.csv", lambda p: p.write_bytes(bytes(range(256)) * 8), r"not a text table"),
    "junk parquet": ("e.parquet", lambda p: p.write_text("account_id,timestamp\n"), r"not a valid Parquet file"),
    "json array": ("e.jsonl", lambda p: p.write_text('[{"account_id": "a"}, {"account_id": "b"}]\n'), r"one JSON object per line"),
    "pretty json": ("e.jsonl", lambda p: p.write_text('{\n  "account_id": "a"\n}\n'), r"one JSON object per line"),
    "ragged csv": ("e.csv", lambda p: p.write_text("account_id,timestamp,action\na,1,post\nb,2,post,extra\n"), r"ragged CSV"),
    "no such file": ("missing.csv", lambda p: None, r"no such file"),
    "unsupported type": ("e.xlsx", lambda p: p.write_text("x"), r"unsupported file type"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_raises_one_line_naming_the_file(tmp_path, case):
    name, make, pattern = MALFORMED[case]
    path = tmp_path / name
    make(path)
    with pytest.raises(InputError, match=pattern) as info:
        read_dataset(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))


# ------------------------------------------------------------------- layouts


def test_cntk_layout():
    data = read_dataset(FIXTURES / "cntk.csv", format="cntk")
    ev = data.events
    assert ev.select("account_id", "action", "event_id", "target").rows() == [
        ("7", "post", "100", None), ("8", "share", "101", "100"), ("7", "reply", "102", "100"), ("9", "post", "103", None)]
    assert ev["urls"].to_list() == [["http://a.com"], [], ["http://b.com", "http://c.com"], []]
    assert ev["text"][2] == "a reply, with comma"
    assert ev["timestamp"].to_list() == [datetime.fromtimestamp(t, UTC) for t in (1610114591, 1610114600, 1610114700, 1610114800.5)]
    assert ev.columns == list(schema.EVENTS)
    # The username last seen (latest time) is the account's handle.
    assert data.accounts.select("account_id", "handle").rows() == [("7", "alice_renamed"), ("8", "bob"), ("9", "carol")]
    assert data.accounts.schema == pl.Schema(schema.ACCOUNTS)


def test_cntk_layout_from_parquet_with_numbers(tmp_path):
    # The layout is independent of the file type: integer ids, float epochs and real lists work too.
    path = tmp_path / "cntk.parquet"
    pl.DataFrame({
        "message_id": [1, 2], "user_id": [7, 8], "username": ["a", "b"], "repost_id": [None, 1],
        "reply_id": pl.Series([None, None], dtype=pl.Int64), "message": ["x", "x"],
        "timestamp": [1610114591.0, 1610114592.5], "urls": [["http://a.com"], []],
    }).write_parquet(path)
    ev = read_dataset(path, format="cntk").events
    assert ev.select("account_id", "event_id", "action", "target", "urls").rows() == [
        ("7", "1", "post", None, ["http://a.com"]), ("8", "2", "share", "1", [])]
    assert ev["timestamp"].to_list() == [T0, T0 + timedelta(seconds=1.5)]


def test_cntk_layout_needs_eight_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("message_id,user_id,username\n1,2,x\n")
    with pytest.raises(InputError, match="expected the 8 cntk columns"):
        read_dataset(path, format="cntk")


def test_twitter_io_layout():
    data = read_dataset(FIXTURES / "twitter_io.csv", format="twitter-io")
    ev = data.events
    assert ev.select("account_id", "action", "event_id", "target", "client").rows() == [
        ("u1", "post", "900", None, "Twitter Web Client"),
        ("u2", "share", "901", "900", "Twitter for iPhone"),
        ("u1", "reply", "902", "901", "Twitter Web Client"),
        ("u2", "quote", "903", "900", "TweetDeck"),
    ]
    assert ev["hashtags"].to_list() == [["a", "b"], ["a", "b"], [], []]
    assert ev["urls"].to_list() == [["https://t.co/x"], [], [], ["https://t.co/q", "https://example.org/a,b"]]
    assert ev["mentions"].to_list() == [[], ["u1"], ["u2"], []]
    assert ev["timestamp"][0] == datetime(2018, 1, 1, 12, 34, tzinfo=UTC)
    assert {"tweet_language", "like_count", "retweet_userid"} <= set(ev.columns)
    acc = data.accounts.select("account_id", "handle", "display_name", "description", "followers", "following", "created_at")
    assert acc.rows() == [
        ("u1", "one_new", "User One", "bio one", 11, 21, datetime(2016, 5, 1, tzinfo=UTC)),
        ("u2", "two", "User Two", None, 7, 8, datetime(2017, 2, 3, tzinfo=UTC)),
    ]


def test_twitter_io_rejects_unknown_boolean(tmp_path):
    lines = (FIXTURES / "twitter_io.csv").read_text().splitlines()
    lines[2] = lines[2].replace(",True,", ",maybe,")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"row 2, column 'is_retweet': expected True/False/1/0, got 'maybe'"):
        read_dataset(path, format="twitter-io")


def _ira_sample() -> pl.DataFrame:
    """A few rows in FiveThirtyEight's layout (all text columns, as in the real file)."""
    rows = [
        # author, content, publish_date, following, followers, post_type, retweet
        ("AmyTroll", "Vote! #MAGA @realDonaldTrump https://t.co/abc…", "2016-10-01 12:00:00", "50", "100", None, "0"),
        ("BobTroll", "  Vote!\n #MAGA   @realDonaldTrump https://t.co/abc… ", "2016-10-01 12:01:00", "5", "7", "R", "1"),
        ("AmyTroll", "mail me at amy@example.com (https://example.org/x).", "10/2/2016 9:05", "55", "120", "Q", "1"),
        ("CarlTroll", "RT this #one#two", "2016-10-03 00:00:00", "1", "-1", None, "1"),
    ]
    frame = pl.DataFrame(rows, schema=["author", "content", "publish_date", "following", "followers", "post_type", "retweet"], orient="row")
    return frame.with_columns(
        external_author_id=pl.lit("1234"),
        region=pl.lit("United States"),
        language=pl.lit("English"),
        harvested_date=pl.col("publish_date"),
        updates=pl.lit("3"),
        account_type=pl.lit("Right"),
        account_category=pl.Series(["RightTroll", "LeftTroll", "RightTroll", "HashtagGamer"]),
        new_june_2018=pl.lit("0"),
    )


def test_ira_layout(tmp_path):
    path = tmp_path / "ira.parquet"
    _ira_sample().write_parquet(path)
    data = read_dataset(path, format="ira")
    ev = data.events
    assert ev["account_id"].to_list() == ["AmyTroll", "BobTroll", "AmyTroll", "CarlTroll"]
    # Quote tweets carry retweet=1 in this data; the Q must win.
    assert ev["action"].to_list() == ["post", "share", "quote", "share"]
    assert ev["target"].to_list() == [None, "Vote! #MAGA @realDonaldTrump https://t.co/abc…", None, "RT this #one#two"]
    assert ev["hashtags"].to_list() == [["#MAGA"], ["#MAGA"], [], ["#one", "#two"]]
    assert ev["mentions"].to_list() == [["realDonaldTrump"], ["realDonaldTrump"], [], []]
    assert ev["urls"].to_list() == [["https://t.co/abc"], ["https://t.co/abc"], ["https://example.org/x"], []]
    assert ev["event_id"].null_count() == 4
    assert ev["timestamp"][2] == datetime(2016, 10, 2, 9, 5, tzinfo=UTC)
    assert {"account_category", "account_type", "region", "language", "external_author_id"} <= set(ev.columns)
    assert ev["account_category"].to_list() == ["RightTroll", "LeftTroll", "RightTroll", "HashtagGamer"]
    # Counters from each author's latest row; the -1 sentinel means unknown.
    assert data.accounts.select("account_id", "handle", "followers", "following").rows() == [
        ("AmyTroll", "AmyTroll", 120, 55), ("BobTroll", "BobTroll", 7, 5), ("CarlTroll", "CarlTroll", None, 1)]


def test_ira_bad_date_names_the_row(tmp_path):
    path = tmp_path / "ira.parquet"
    _ira_sample().with_columns(pl.col("publish_date").replace("2016-10-03 00:00:00", "soon")).write_parquet(path)
    with pytest.raises(InputError, match=r"row 4, column 'publish_date'.*got 'soon'"):
        read_dataset(path, format="ira")


# ------------------------------------------------------------------ accounts


def test_accounts_file():
    acc = read_accounts(FIXTURES / "accounts.csv")
    assert acc.columns[: len(schema.ACCOUNTS)] == list(schema.ACCOUNTS)
    assert acc.select("account_id", "created_at", "handle", "followers", "following", "tier").rows() == [
        ("a1", datetime(2015, 3, 4, 5, 6, 7, tzinfo=UTC), "alpha", 10, 3, "gold"),
        ("a2", datetime(2016, 1, 1, tzinfo=UTC), "beta", None, 7, "silver"),
    ]


def test_accounts_file_bad_count_names_the_row(tmp_path):
    path = tmp_path / "acc.csv"
    path.write_text("account_id,followers\na,1\nb,many\n")
    with pytest.raises(InputError, match=r"acc.csv: row 2, column 'followers': expected a whole number, got 'many'"):
        read_accounts(path)


def test_accounts_file_wins_over_profiles_from_events(tmp_path):
    path = tmp_path / "acc.csv"
    path.write_text("account_id,handle,followers\n7,from_file,5\n")
    data = read_dataset(FIXTURES / "cntk.csv", format="cntk", accounts_path=path)
    assert data.accounts.select("account_id", "handle", "followers").rows() == [
        ("7", "from_file", 5), ("8", "bob", None), ("9", "carol", None)]


def test_canonical_with_accounts_file():
    data = read_dataset(FIXTURES / "events.csv", accounts_path=FIXTURES / "accounts.csv")
    assert data.accounts["account_id"].to_list() == ["a1", "a2"]
    assert data.accounts.schema["created_at"] == schema.TIMESTAMP


# ------------------------------------------------------------------- writers


def test_atomic_path_replaces_target_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target and tmp.name.endswith("out.txt")
        tmp.write_text("new")
        assert target.read_text() == "old"
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_directory_swaps_whole_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "stale.parquet").write_text("old run")
    with atomic_directory(out) as tmp:
        (tmp / "accounts.parquet").write_text("a")
        (tmp / "run.json").write_text("{}")
        assert (out / "stale.parquet").exists() and not (out / "run.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["accounts.parquet", "run.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_directory_error_keeps_existing_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(out) as tmp:
            (tmp / "run.json").write_text("new")
            raise RuntimeError("boom")
    assert (out / "run.json").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_directory_error_without_existing_folder(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "new") as tmp:
            (tmp / "x").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_table_round_trips_through_the_reader(tmp_path, suffix):
    path = tmp_path / f"events{suffix}"
    write_table(_expected_canonical(), path)
    assert_frame_equal(read_dataset(path).events, _expected_canonical())
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_write_table_rejects_unknown_extension(tmp_path):
    with pytest.raises(UsageError, match=r"\.parquet or \.csv"):
        write_table(_expected_canonical(), tmp_path / "events.xlsx")


# ------------------------------------------------------- reading only some columns


def _projection_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    ira = tmp_path / "ira.parquet"
    _ira_sample().write_parquet(ira)
    canonical_parquet = tmp_path / "events.parquet"
    _expected_canonical().write_parquet(canonical_parquet)
    return {
        "canonical csv": (FIXTURES / "events.csv", "canonical"),
        "canonical parquet": (canonical_parquet, "canonical"),
        "cntk": (FIXTURES / "cntk.csv", "cntk"),
        "twitter-io": (FIXTURES / "twitter_io.csv", "twitter-io"),
        "ira": (ira, "ira"),
    }


@pytest.mark.parametrize("case", ["canonical csv", "canonical parquet", "cntk", "twitter-io", "ira"])
@pytest.mark.parametrize("wanted", [["target"], ["text"], ["urls", "hashtags"], ["mentions", "client"], ["event_id"], []])
def test_reading_some_columns_equals_the_full_read(tmp_path, case, wanted):
    path, layout = _projection_cases(tmp_path)[case]
    full = read_dataset(path, format=layout)
    part = read_dataset(path, format=layout, columns=wanted, derive_accounts=False)
    keep = [c for c in full.events.columns if c in {*wanted, *schema.EVENTS_REQUIRED}]
    assert_frame_equal(part.events, full.events.select(keep))
    assert part.report == full.report
    assert part.accounts is None


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
@pytest.mark.parametrize("ids", [True, False], ids=["with event_id", "without event_id"])
def test_duplicates_span_every_column_even_when_few_are_read(tmp_path, suffix, ids):
    # Rows 1-2 are equal everywhere; rows 3-4 differ only in text, which the projection does not read.
    frame = pl.DataFrame({
        "account_id": ["a", "a", "b", "b", "c"],
        "timestamp": ["2021-01-08T14:00:00Z"] * 2 + ["2021-01-08T14:01:00Z"] * 2 + ["2021-01-08T14:02:00Z"],
        "action": ["share"] * 5,
        "target": ["p1", "p1", "p2", "p2", "p3"],
        "text": ["same", "same", "one", "two", None],
        **({"event_id": ["e1", "e1", "e2", "e2", "e3"]} if ids else {}),
    })
    path = tmp_path / f"e{suffix}"
    frame.write_csv(path) if suffix == ".csv" else frame.write_parquet(path)
    full = read_dataset(path)
    part = read_dataset(path, columns=["target"])
    expected = {"duplicate_row": 1, "duplicate_event_id": 1 if ids else 0}
    assert full.report.dropped == part.report.dropped == expected
    kept = ["p1", "p2", "p3"] if ids else ["p1", "p2", "p2", "p3"]  # without ids, rows 3-4 are distinct events
    assert part.events["target"].to_list() == full.events["target"].to_list() == kept


def test_duplicates_across_files_when_few_columns_are_read(tmp_path):
    shutil.copy(FIXTURES / "events.csv", tmp_path / "1.csv")
    shutil.copy(FIXTURES / "events.csv", tmp_path / "2.csv")
    data = read_dataset(tmp_path, columns=["target"])
    assert data.report.dropped == {"duplicate_row": 4, "duplicate_event_id": 0}
    assert data.events.columns == ["account_id", "timestamp", "action", "target"]


def test_dirty_counts_are_the_same_when_few_columns_are_read():
    full = read_dataset(FIXTURES / "events_dirty.csv")
    part = read_dataset(FIXTURES / "events_dirty.csv", columns=[])
    assert part.report == full.report
    assert_frame_equal(part.events, full.events.select(schema.EVENTS_REQUIRED))


def test_projection_still_reports_missing_required_columns_and_bad_rows(tmp_path):
    ira = tmp_path / "ira.parquet"
    _ira_sample().drop("content").write_parquet(ira)
    with pytest.raises(InputError, match="missing required column 'content'"):
        read_dataset(ira, format="ira", columns=["account_id"])  # content is required, though not needed here
    bad = tmp_path / "c.csv"
    bad.write_text("message_id,user_id,username,repost_id,reply_id,message,timestamp,urls\n1,7,a,,,x,1610114591,\n2,8,b,1,,y,later,\n")
    with pytest.raises(InputError, match=r"row 2, column 'timestamp'.*got 'later'"):
        read_dataset(bad, format="cntk", columns=["target"])


def test_whole_second_epoch_text_matches_the_general_parser():
    text = pl.Series(["1610114591", "-5", None, "+7"])
    fast = parse_timestamps(text, where="f", column="t")
    slow = parse_timestamps(text + pl.Series([".0", ".0", None, ".0"]), where="f", column="t")  # takes the general path
    assert fast.to_list() == slow.to_list()
    with pytest.raises(InputError, match="row 2"):
        parse_timestamps(pl.Series(["1", "99999999999999"]), where="f", column="t")
