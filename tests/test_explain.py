"""`coordetect explain` on the checked-in planted-group fixture: a flagged and unflagged accounts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "planted"


def run(*argv):
    return main([str(a) for a in argv])


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("explain") / "out"
    assert run("score", FIXTURE / "events.csv", "--accounts", FIXTURE / "accounts.csv", "--quiet", "--out", out) == 0
    return out


def test_flagged_account_shows_its_cluster_partners_and_shared_posts(scored, capsys):
    assert run("explain", scored, "ring_2") == 0
    text = capsys.readouterr().out
    assert text.startswith("account ring_2: FLAGGED")
    assert "cluster 0: 6 accounts" in text and "flagged" in text
    # its strongest partners are the other sharers, tied by co-shared posts with gaps in seconds
    partners = [line.split()[0] for line in text.splitlines() if line.startswith("  ring_")]
    assert set(partners[:4]) == {"ring_1", "ring_3", "ring_4", "ring_5"}
    assert "share: 'e" in text and "4 accounts acted on it" in text


def test_json_for_tools(scored, capsys):
    assert run("explain", scored, "ring_2", "--json") == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["account"]["flagged"] is True and facts["cluster"]["n_accounts"] == 6
    first = facts["links"][0]
    assert first["same_cluster"] and "share" in first["signals"] and first["shared"][0]["gap_s"] <= 90


def test_household_member_is_explained_as_below_threshold(scored, capsys):
    assert run("explain", scored, "user_58") == 0
    text = capsys.readouterr().out
    assert text.startswith("account user_58: not flagged")
    assert "below the threshold" in text and "ip" in text and "user_57" in text


def test_account_without_links_says_so(scored, capsys):
    assert run("explain", scored, "user_10") == 0
    assert "no links" in capsys.readouterr().out


def test_unknown_account_and_missing_folder_exit_2(scored, tmp_path, capsys):
    assert run("explain", scored, "nobody") == 2
    assert "nobody" in capsys.readouterr().err
    assert run("explain", tmp_path / "nothing", "ring_2") == 2
    assert "accounts.parquet" in capsys.readouterr().err


def test_behaviour_that_sets_an_account_apart(scored, capsys):
    assert run("explain", scored, "ring_2", "--json") == 0
    traits = json.loads(capsys.readouterr().out)["behaviour"]
    events = next(t for t in traits if t["feature"] == "timing__log_events")
    assert events["side"] == "above" and events["share"] >= 0.95 and events["cluster_median_share"] is not None
    assert run("explain", scored, "user_05") == 0
    assert "behaviour: nothing beyond the 95th percentile" in capsys.readouterr().out


def test_traits_rank_against_all_accounts_and_the_cluster():
    import polars as pl

    from detector.explain import _traits

    ids = [f"a{i:03d}" for i in range(100)]
    features = pl.DataFrame({"account_id": ids, "metadata__log_cohort_1h": [0.0] * 96 + [3.0] * 4, "timing__hour_entropy": [0.5 + i / 200 for i in range(100)]})
    accounts = pl.DataFrame({"account_id": ids, "cluster_id": [-1] * 96 + [7] * 4})
    cohort = _traits(features, "a099", accounts, 7)
    assert [(t["feature"], t["side"], t["share"], t["cluster_median_share"]) for t in cohort] == [
        ("timing__hour_entropy", "above", 0.99, 0.975),
        ("metadata__log_cohort_1h", "above", 0.96, 0.96),
    ]
    low = _traits(features, "a000", accounts, -1)
    assert [(t["feature"], t["side"], t["share"], t["cluster_median_share"]) for t in low] == [("timing__hour_entropy", "below", 0.99, None)]
    assert _traits(features, "a050", accounts, -1) == []


def test_a_site_or_an_account_on_one_day_reads_as_a_date():
    from detector.explain import render_text

    shared = [
        {"signal": "mention", "object": "reporter_x@19851", "gap_s": 162.0, "object_accounts": 4},
        {"signal": "domain", "object": "site.com@0", "gap_s": 5.0, "object_accounts": 2},
        {"signal": "hashtag", "object": "vote@2024", "gap_s": 5.0, "object_accounts": 9},  # a tag keeps its name
    ]
    facts = {
        "account": {"account_id": "a", "flagged": True, "evidence": "flagged"},
        "cluster": None,
        "links": [{"partner": "b", "strength": 1.5, "signals": ["mention"], "cluster_id": 0, "same_cluster": True, "shared": shared, "n_objects": 3}],
    }
    text = render_text(facts)
    assert "mention: 'reporter_x on 2024-05-08'" in text
    assert "domain: 'site.com on 1970-01-01'" in text
    assert "hashtag: 'vote@2024'" in text
