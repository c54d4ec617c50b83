"""Differential tests: our co-action engine against the coordination-network-toolkit 1.5.2.

The same generated cntk CSV goes through the toolkit (its own preprocessing and
SQL) and through ``detector.io.read_dataset`` + ``features.coaction``. For each
signal the unordered pairs must be the same and, per pair, our
``source_events``/``target_events`` must equal the toolkit's directed weights
``source -> target`` / ``target -> source``. ``weight`` (distinct objects) and
``median_gap_s``, which the toolkit does not compute, are checked against a
small reference over the toolkit's own keyed events (see ``toolkit_oracle``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

# tests/ is on sys.path under pytest's default (prepend) import mode.
from toolkit_oracle import (
    generate_messages,
    read_events,
    reference_pair_stats,
    toolkit_keys,
    toolkit_networks,
    toolkit_pairs,
    write_cntk_csv,
)

from features.coaction import coaction_network

SIGNALS = ("share", "reply", "url", "text")
PAIR = ["source", "target"]

SIGNAL_PARAMS = SIGNALS


@dataclass(frozen=True)
class Case:
    """One generated data set: seed, window and generator knobs."""

    name: str
    seed: int
    window_s: int
    gen: dict = field(default_factory=dict)
    n_threads: int = 1
    slow: bool = False


CASES = (
    Case("window0", 0, 0),
    Case("window1", 1, 1),
    Case("window10", 2, 10),
    Case("window60", 3, 60),
    # everything within one window: every pair that shares an object pairs
    Case("window3600-dense", 4, 3600, {"span_s": 600}),
    # 200 accounts on one object in one window; two toolkit worker processes
    Case("viral200", 5, 30, {"viral_accounts": 200}, n_threads=2, slow=True),
    Case("wide", 6, 30, {"n_accounts": 40, "n_objects": 25, "n_random": 1500}, slow=True),
)


def _params(cases=CASES):
    return [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.slow else []) for c in cases]


@dataclass
class Computed:
    """Both sides of one case, computed once per module."""

    rows: list
    events: pl.DataFrame
    toolkit: dict[str, pl.DataFrame]
    db_path: Path


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    cache: dict[str, Computed] = {}

    def get(case: Case) -> Computed:
        if case.name not in cache:
            folder = tmp_path_factory.mktemp(case.name)
            rows = generate_messages(case.seed, window_s=case.window_s, **case.gen)
            csv_path = write_cntk_csv(folder / "messages.csv", rows)
            db_path = folder / "toolkit.sqlite"
            nets = toolkit_networks(csv_path, db_path, case.window_s, n_threads=case.n_threads)
            cache[case.name] = Computed(rows, read_events(csv_path), nets, db_path)
        return cache[case.name]

    return get


def _ours(events: pl.DataFrame, signal: str, window_s: int) -> pl.DataFrame:
    return coaction_network(events, signal=signal, window_s=window_s, min_weight=1, normalize_urls=False).edges


@pytest.mark.parametrize("signal", SIGNAL_PARAMS)
@pytest.mark.parametrize("case", _params())
def test_pairs_and_directed_weights_equal_toolkit(case, signal, computed):
    got = computed(case)
    ours = _ours(got.events, signal, case.window_s)
    theirs = toolkit_pairs(got.toolkit[signal], signal)
    assert theirs.height > 0, "the generated data must produce toolkit edges"
    assert (ours["source"] < ours["target"]).all()
    ours_pairs = set(ours.select(PAIR).iter_rows())
    their_pairs = set(theirs.select(PAIR).iter_rows())
    assert ours_pairs - their_pairs == set(), "pairs only we found"
    assert their_pairs - ours_pairs == set(), "pairs only the toolkit found"
    cols = [*PAIR, "source_events", "target_events"]
    assert_frame_equal(ours.select(cols), theirs.select(cols))


@pytest.mark.parametrize("signal", SIGNAL_PARAMS)
@pytest.mark.parametrize("case", _params())
def test_weight_and_median_gap_equal_reference(case, signal, computed):
    got = computed(case)
    ours = _ours(got.events, signal, case.window_s)
    ref = reference_pair_stats(toolkit_keys(got.db_path, signal), case.window_s, signal)
    cols = [*PAIR, "signal", "weight", "median_gap_s"]
    assert_frame_equal(ours.select(cols), ref.select(cols))


@pytest.mark.parametrize("signal", SIGNALS)
@pytest.mark.parametrize("case", _params(CASES[:4]))
def test_oracle_reference_agrees_with_toolkit(case, signal, computed):
    """The reference reads the toolkit's keys the way its SQL does: same per-side counts, symmetric pairs."""
    got = computed(case)
    theirs = toolkit_pairs(got.toolkit[signal], signal)
    ref = reference_pair_stats(toolkit_keys(got.db_path, signal), case.window_s, signal)
    cols = [*PAIR, "source_events", "target_events"]
    # a co-acting pair is seen from both sides, so neither direction may be missing
    assert theirs.select(cols).null_count().sum_horizontal().item() == 0
    assert_frame_equal(ref.select(cols), theirs.select(cols))


@pytest.mark.parametrize("case", _params(CASES[:4]))
def test_generated_data_holds_the_edge_cases(case, computed):
    """Guard against a vacuous comparison: the planted cases are really in the data."""
    got = computed(case)
    ids = [r[0] for r in got.rows]
    assert len(ids) > len(set(ids)), "repeated message ids"
    assert len(got.rows) > len(set(got.rows)), "exact duplicate rows"
    planted = [r for r in got.rows if r[3] == "edge-share"]
    a, b = planted[0][1], planted[1][1]
    assert int(planted[1][6]) - int(planted[0][6]) == case.window_s, "a gap of exactly the window"
    for signal in SIGNALS:
        net = got.toolkit[signal]
        self_loops = net.filter(pl.col("user_1") == pl.col("user_2"))["user_1"].to_list()
        assert a in self_loops, f"{signal}: an account co-acting with itself"
        assert (min(a, b), max(a, b)) in set(toolkit_pairs(net, signal).select(PAIR).iter_rows())
    texts = got.events.filter(pl.col("action") != "share")["text"].drop_nulls()
    assert texts.str.contains("@").any() and texts.str.contains("[\u0590-\u06ff]").any()
    assert (got.events["urls"].list.len() >= 2).any()


# -------------------------------------------------------------- minimal cases


def _tiny(tmp_path: Path, rows: list[tuple], window_s: int, signal: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Ours and the toolkit's unordered pairs for a hand-written cntk CSV."""
    csv_path = write_cntk_csv(tmp_path / "tiny.csv", [tuple(str(v) for v in r) for r in rows])
    nets = toolkit_networks(csv_path, tmp_path / "tiny.sqlite", window_s)
    return _ours(read_events(csv_path), signal, window_s), toolkit_pairs(nets[signal], signal)


def test_mention_runs_to_unicode_white_space_only(tmp_path):
    """The toolkit removes ``@m\\x1fb`` whole: its mention regex (``regex`` module ``\\s``) stops
    only at Unicode White_Space, while ``str.split`` then also splits on ``\\x1c-\\x1f``."""
    rows = [("1", "A", "A", "", "", "a@m\x1fb c", 100, ""), ("2", "B", "B", "", "", "a c", 100, "")]
    ours, theirs = _tiny(tmp_path, rows, 0, "text")
    assert theirs.select(PAIR).rows() == [("A", "B")]
    assert ours.select(PAIR).rows() == [("A", "B")]


def test_a_message_matching_on_two_urls_counts_once(tmp_path):
    """Per side, a message is one event however many of its URLs match; weight counts URLs."""
    rows = [
        ("1", "A", "A", "", "", "x", 0, "u v"),
        ("2", "B", "B", "", "", "y", 1, "u v"),
        ("3", "A", "A", "", "", "z", 10, "w"),
        ("4", "B", "B", "", "", "q", 14, "w"),
    ]
    ours, theirs = _tiny(tmp_path, rows, 60, "url")
    assert theirs.select("source_events", "target_events").rows() == [(2, 2)]
    # objects u, v, w with closest gaps 1, 1, 4
    assert ours.select(*PAIR, "weight", "source_events", "target_events", "median_gap_s").rows() == [
        ("A", "B", 3, 2, 2, 1.0)
    ]


def test_repeats_count_as_events_and_gap_is_the_closest(tmp_path):
    """Three shares by A and one by B on one post: the toolkit counts A's partnered shares."""
    rows = [
        ("1", "A", "A", "P", "", "", 0, ""),
        ("2", "A", "A", "P", "", "", 50, ""),
        ("3", "A", "A", "P", "", "", 61, ""),  # 11 s from B: outside a 10 s window
        ("4", "B", "B", "P", "", "", 48, ""),
    ]
    ours, theirs = _tiny(tmp_path, rows, 10, "share")
    assert theirs.select(*PAIR, "source_events", "target_events").rows() == [("A", "B", 1, 1)]
    assert ours.select(*PAIR, "weight", "source_events", "target_events", "median_gap_s").rows() == [
        ("A", "B", 1, 1, 1, 2.0)
    ]


@pytest.mark.parametrize("signal", SIGNAL_PARAMS)
@pytest.mark.parametrize("case", _params([CASES[2], CASES[5]]))
def test_chunked_pairing_equals_toolkit(case, signal, computed):
    """Forcing many small partitions (pairs_per_chunk) changes nothing, toolkit columns included."""
    got = computed(case)
    whole = _ours(got.events, signal, case.window_s)
    chunked = coaction_network(
        got.events, signal=signal, window_s=case.window_s, min_weight=1, normalize_urls=False, pairs_per_chunk=50
    ).edges
    assert_frame_equal(chunked, whole)
    cols = [*PAIR, "source_events", "target_events"]
    assert_frame_equal(chunked.select(cols), toolkit_pairs(got.toolkit[signal], signal).select(cols))
