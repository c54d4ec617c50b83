"""The detector end to end on a checked-in fixture with a known answer, plus metamorphic checks.

The fixture (``tests/fixtures/planted``, made by ``make_planted.py``) holds 60
organic accounts with a viral post, a pasted meme and a household behind one IP,
and one planted operator of six accounts ``ring_0``..``ring_5``.
"""

from __future__ import annotations

import hashlib
import random
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from detector.config import Config, build_config
from detector.io import read_dataset
from detector.pipeline import ACCOUNTS_OUT, CLUSTERS_OUT, EDGES_OUT, copy_events, detect, identity_pairs

FIXTURE = Path(__file__).parent / "fixtures" / "planted"
RING = {f"ring_{i}" for i in range(6)}


@pytest.fixture(scope="module")
def planted():
    data = read_dataset(FIXTURE / "events.csv", accounts_path=FIXTURE / "accounts.csv")
    return data.events, data.accounts


@pytest.fixture(scope="module")
def result(planted):
    return detect(*planted, Config())


def _flagged(accounts: pl.DataFrame) -> set[str]:
    return set(accounts.filter("flagged")["account_id"].to_list())


def _group_of(accounts: pl.DataFrame, account: str) -> set[str]:
    cluster = accounts.filter(pl.col("account_id") == account)["cluster_id"].item()
    assert cluster >= 0, f"{account} is in no cluster"
    return set(accounts.filter(pl.col("cluster_id") == cluster)["account_id"].to_list())


def test_the_planted_ring_is_exactly_the_flagged_set(result):
    assert _flagged(result.accounts) == RING
    assert _group_of(result.accounts, "ring_0") == RING
    flagged = result.clusters.filter("flagged")
    assert flagged.height == 1 and flagged["n_accounts"].item() == 6


def test_hard_negatives_are_not_flagged(result):
    accounts = result.accounts
    household = accounts.filter(pl.col("account_id").is_in(["user_57", "user_58", "user_59"]))
    assert not household["flagged"].any()
    # The viral post's 40 sharers and the meme's 12 pasters stay unflagged too.
    assert accounts.filter(pl.col("account_id").str.starts_with("user_"))["flagged"].sum() == 0


def test_outputs_follow_the_contract(result):
    assert result.accounts.schema == pl.Schema(ACCOUNTS_OUT)
    assert result.clusters.schema == pl.Schema(CLUSTERS_OUT)
    assert result.edges.schema == pl.Schema(EDGES_OUT)
    assert result.accounts.height == 66 and result.accounts["account_id"].is_unique().all()
    assert result.accounts["score"].is_between(0, 1).all() and result.clusters["score"].is_between(0, 1).all()
    assert (result.edges["source"] < result.edges["target"]).all()
    # flagged in accounts is true exactly for the members of flagged clusters
    joined = result.accounts.join(result.clusters.select("cluster_id", pl.col("flagged").alias("cf")), on="cluster_id", how="left")
    assert (joined["flagged"] == joined["cf"].fill_null(False)).all()
    assert (result.accounts.filter(pl.col("cluster_id") == -1)["flagged"] == False).all()  # noqa: E712


def test_evidence_says_why_with_figures(result):
    ring = result.accounts.filter(pl.col("account_id") == "ring_3")["evidence"].item()
    assert ring.startswith("flagged: cluster")
    assert "share: " in ring and "posts co-shared" in ring and "median gap" in ring
    assert "6 of 6 share a handle template" in ring
    loner = result.accounts.filter(pl.col("account_id") == "user_10")["evidence"].item()
    assert loner.startswith("not flagged")
    household = result.accounts.filter(pl.col("account_id") == "user_58")["evidence"].item()
    assert household.startswith("not flagged") and "IP address or device" in household


def test_same_input_gives_identical_output(planted, result):
    again = detect(*planted, Config())
    for name in ("accounts", "clusters", "edges"):
        assert getattr(again, name).equals(getattr(result, name)), name


def test_shuffled_rows_change_nothing(planted, result):
    events, accounts = planted
    shuffled = detect(events.sample(fraction=1.0, shuffle=True, seed=5), accounts.sample(fraction=1.0, shuffle=True, seed=6), Config())
    assert shuffled.accounts.equals(result.accounts)
    assert shuffled.clusters.equals(result.clusters)


def _noise_accounts(events: pl.DataFrame, n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n`` extra organic accounts: own posts and a few shares of random existing posts, at random times."""
    rng = random.Random(seed)
    posts = events.filter(pl.col("action") == "post").select("event_id", "timestamp").rows()
    start = events["timestamp"].min()
    rows, profiles = [], []
    for i in range(n):
        name = f"noise_{i:03d}"
        profiles.append({"account_id": name, "handle": f"walker_{rng.randint(1, 10**6)}x", "created_at": start - timedelta(days=rng.randint(50, 3000))})
        for k in range(rng.randint(3, 8)):
            t = start + timedelta(seconds=rng.randint(0, 30 * 86400))
            rows.append({"event_id": f"{name}_p{k}", "account_id": name, "timestamp": t, "action": "post", "target": None,
                         "text": f"note {rng.randint(0, 10**9)} from {name} about the weather"})
        for k in range(rng.randint(1, 5)):
            post, t0 = rng.choice(posts)
            rows.append({"event_id": f"{name}_s{k}", "account_id": name, "timestamp": t0 + timedelta(seconds=rng.randint(30, 3 * 86400)),
                         "action": "share", "target": post, "text": None})
    extra = pl.DataFrame(rows, schema={"event_id": pl.String, "account_id": pl.String, "timestamp": events.schema["timestamp"],
                                      "action": pl.String, "target": pl.String, "text": pl.String})
    return extra, pl.DataFrame(profiles)


@pytest.mark.parametrize("seed", [1, 2])
def test_adding_organic_noise_accounts_keeps_the_planted_group(planted, seed):
    events, accounts = planted
    extra, profiles = _noise_accounts(events, 80, seed)
    more_events = pl.concat([events, extra], how="diagonal_relaxed")
    more_accounts = pl.concat([accounts, profiles.cast({"created_at": accounts.schema["created_at"]})], how="diagonal_relaxed")
    out = detect(more_events, more_accounts, Config())
    assert _group_of(out.accounts, "ring_0") == RING
    assert _flagged(out.accounts) == RING


def test_renaming_accounts_changes_nothing_but_names(planted, result):
    events, accounts = planted

    def rename(name: str) -> str:
        return "a" + hashlib.sha256(name.encode()).hexdigest()[:12]

    mapping = {name: rename(name) for name in accounts["account_id"].to_list()}
    renamed = detect(
        events.with_columns(pl.col("account_id").replace_strict(mapping)),
        accounts.with_columns(pl.col("account_id").replace_strict(mapping)),
        Config(),
    )
    assert _flagged(renamed.accounts) == {mapping[a] for a in RING}
    before = result.accounts.with_columns(pl.col("account_id").replace_strict(mapping)).sort("account_id")
    after = renamed.accounts.sort("account_id")
    assert before["score"].to_list() == after["score"].to_list()
    assert before["flagged"].to_list() == after["flagged"].to_list()
    # Cluster ids are numbered by smallest member name, so only the partition must match.
    assert sorted(map(sorted, before.filter(pl.col("cluster_id") >= 0).group_by("cluster_id").agg("account_id")["account_id"].to_list())) == sorted(
        map(sorted, after.filter(pl.col("cluster_id") >= 0).group_by("cluster_id").agg("account_id")["account_id"].to_list())
    )


def test_a_stricter_threshold_flags_nothing(planted):
    out = detect(*planted, build_config({"score": {"threshold": 1.0}}))
    assert not out.accounts["flagged"].any() and not out.clusters["flagged"].any()


def test_without_accounts_table_the_sharers_are_still_found_on_co_action(planted):
    events, _ = planted
    out = detect(events, None, Config())
    # ring_0 only authors the posts (it co-acts with nobody); the five sharers are found by co-action alone.
    assert _flagged(out.accounts) == RING - {"ring_0"}


def test_a_ring_created_together_under_varied_names_is_a_sign_up_run(planted):
    """No handle template links the ring once its names vary, but its six accounts signed up within the hour."""
    events, accounts = planted
    names = {f"ring_{i}": name for i, name in enumerate(["marta.k", "JoeBloggs", "sunny_days", "QuietReader", "tomas", "birdwatcher_uk"])}
    renamed = accounts.with_columns(pl.col("account_id").replace_strict(names, default=pl.col("handle")).alias("handle"))
    assert identity_pairs(renamed, cohort_s=86_400, max_group=500).filter(pl.col("source").str.starts_with("ring")).is_empty()
    out = detect(events, renamed, Config())
    ring = out.clusters.filter(pl.col("cluster_id") == out.accounts.filter(pl.col("account_id") == "ring_3")["cluster_id"].item())
    # ring_0 only authors the posts: without the template nothing ties it to the sharers.
    assert _flagged(out.accounts) == RING - {"ring_0"}
    assert "5 of 5 were created within 24.0 h of other members, far beyond chance" in ring["evidence"].item()
    assert "share a handle template" not in ring["evidence"].item()
    # The household created years apart, and the organic accounts at large, are in no sign-up run.
    assert "created within" not in " ".join(out.clusters.filter(pl.col("cluster_id") != ring["cluster_id"].item())["evidence"].to_list())


def test_identity_pairs_need_template_and_cohort():
    created = pl.Series(["2024-01-01T00:00:00", "2024-01-01T05:00:00", "2024-03-01T00:00:00", "2024-01-01T01:00:00", "2024-01-01T02:00:00"]).str.to_datetime(time_zone="UTC")
    accounts = pl.DataFrame({
        "account_id": ["a", "b", "c", "d", "e"],
        "handle": ["NewsFan1234", "newsfan9876", "newsfan5555", "newsfan12", "river_cat"],
        "created_at": created,
    })
    pairs = identity_pairs(accounts, cohort_s=86400, max_group=10)
    # a, b: same stem and 4 digits within a day; c is months later; d has 2 digits (another template); e none.
    assert pairs.rows() == [("a", "b")]
    assert identity_pairs(accounts, cohort_s=86400, max_group=1).is_empty()


def test_copy_events_fold_small_edits_into_one_object():
    base = "the election was stolen and everybody in this city needs to hear about it today"
    events = pl.DataFrame({
        "account_id": ["a", "b", "c", "d"],
        "timestamp": pl.Series(["2024-01-01T00:00:00"] * 4).str.to_datetime(time_zone="UTC"),
        "action": ["post", "post", "share", "post"],
        "text": [base, base.replace("today", "now!!"), base, "a completely different message about cooking pasta at home tonight"],
    })
    copies = copy_events(events, min_text_chars=25, threshold=0.6)
    targets = dict(zip(copies["account_id"], copies["target"]))
    assert set(targets) == {"a", "b", "d"}  # the share is left out
    assert targets["a"] == targets["b"] != targets["d"]


def test_copy_events_compare_texts_without_their_links():
    """Twitter wraps each tweet's link in its own t.co address: a short text pasted twice still differs by it."""
    rng = random.Random(1)
    words = "river market garden train coffee rain music movie school city bread ocean summer winter bike book".split()
    # Among thousands of texts the shared "https://t.co/" shingles are too common to count, and the codes differ.
    others = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(3000)]
    pasted = "Stop the steal, everyone come out"
    texts = [f"{pasted} https://t.co/Xy12Ab34Cd", f"{pasted} https://t.co/Qr56St78Uv", "https://t.co/Zz99Yy88Xx", *others]
    events = pl.DataFrame({
        "account_id": ["a", "b", "c"] + [f"u{i}" for i in range(len(others))],
        "timestamp": pl.Series(["2024-01-01T00:00:00"] * len(texts)).str.to_datetime(time_zone="UTC"),
        "action": ["post"] * len(texts),
        "text": texts,
    })
    copies = copy_events(events, min_text_chars=25, threshold=0.6)
    targets = dict(zip(copies["account_id"], copies["target"]))
    assert "c" not in targets  # a link alone is no text to copy
    assert targets["a"] == targets["b"] == "stop the steal, everyone come out"


def _with_late_member(events: pl.DataFrame, *, shares: int) -> pl.DataFrame:
    """The fixture plus ``late_ring``: it reshares ``shares`` of ring_1's shared posts five hours later (outside the window)."""
    copied = (
        events.filter((pl.col("account_id") == "ring_1") & (pl.col("action") == "share"))
        .sort("timestamp")
        .head(shares)
        .with_columns(
            pl.lit("late_ring").alias("account_id"),
            (pl.col("timestamp") + timedelta(hours=5)).alias("timestamp"),
            ("late_" + pl.col("event_id")).alias("event_id"),
        )
    )
    return pl.concat([events, copied], how="vertical_relaxed")


def test_the_group_test_attaches_a_late_member_the_window_misses(planted):
    events, accounts = planted
    late = _with_late_member(events, shares=8)
    on = detect(late, accounts, Config())
    assert _flagged(on.accounts) == RING | {"late_ring"}
    assert _group_of(on.accounts, "late_ring") == RING | {"late_ring"}
    assert "joined by the group test" in on.accounts.filter(pl.col("account_id") == "late_ring")["evidence"].item()
    assert on.clusters.filter("flagged")["n_accounts"].item() == 7
    off = detect(late, accounts, build_config({"detector": {"group_rounds": 0}}))
    assert _flagged(off.accounts) == RING


def test_one_late_reshare_is_not_enough_to_join(planted):
    events, accounts = planted
    assert _flagged(detect(_with_late_member(events, shares=1), accounts, Config()).accounts) == RING


def test_a_member_dropped_by_the_member_check_is_told_why():
    from detector.evidence import account_evidence

    accounts = pl.DataFrame({"account_id": ["a", "b"]})
    labels = pl.DataFrame({"account_id": ["a", "b"], "cluster_id": [-1, -1]})
    clusters = pl.DataFrame(schema=CLUSTERS_OUT)
    fused = pl.DataFrame({"source": ["a"], "target": ["b"], "strength": [1.0], "signals": [["share"]]})
    dropped = pl.DataFrame({"account_id": ["a"], "cluster_id": [3], "objects": [1], "expected": [12.34]})
    out = account_evidence(accounts, labels, clusters, fused, threshold=0.5, dropped=dropped)
    text = dict(zip(out["account_id"].to_list(), out["evidence"].to_list()))
    assert text["a"] == "not flagged: linked into a flagged group but acted on 1 of its own objects where its members' rate predicts 12.3"
    assert text["b"].startswith("not flagged: linked to 1 account(s)")


def test_a_link_co_posted_counts_once_not_as_two_agreeing_signals():
    """``url`` and ``domain`` read the same links: a pair keeps its stronger reading, so one act is not two signals."""
    from detector.cluster import PAIR_EVIDENCE, fuse
    from detector.pipeline import LINK_READINGS, one_reading_per_pair

    def frame(rows):
        return pl.DataFrame(rows, schema=PAIR_EVIDENCE, orient="row")

    shares = frame([("a", "b", "share", 0.8)])
    urls = frame([("a", "b", "url", 1.5), ("a", "c", "url", 0.5)])
    sites = frame([("a", "b", "domain", 1.0), ("b", "c", "domain", 0.7), ("a", "c", "domain", 0.9)])
    merged = one_reading_per_pair([shares, urls, sites], LINK_READINGS, by="strength")
    fused = {(r["source"], r["target"]): (r["strength"], r["signals"]) for r in fuse(merged, min_strength=0.0).iter_rows(named=True)}
    assert fused == {("a", "b"): (pytest.approx(2.3), ["share", "url"]), ("a", "c"): (pytest.approx(0.9), ["domain"]), ("b", "c"): (pytest.approx(0.7), ["domain"])}
    alone = one_reading_per_pair([shares, urls], LINK_READINGS, by="strength")  # one reading alone: untouched
    assert [f.rows() for f in alone] == [shares.rows(), urls.rows()]
