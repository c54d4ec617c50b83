"""The simulator: contract schemas, realism of the organic crowd, operators and hard negatives, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from detector import schema
from detector.errors import ConfigError
from detector.simulate import SCENARIOS, TACTICS, Simulation, simulate, write_simulation

SMALL = 1500
NEGATIVES = ("organic-viral", "organic-fandom", "organic-meme", "organic-hyperactive", "organic-household")


@pytest.fixture(scope="module")
def baseline() -> Simulation:
    return simulate("baseline", n_accounts=SMALL, seed=3)


@pytest.fixture(scope="module")
def mixed() -> Simulation:
    return simulate("mixed", n_accounts=SMALL, seed=5)


def _with_truth(sim: Simulation) -> pl.DataFrame:
    return sim.events.join(sim.truth, on="account_id", how="left")


def test_registry_has_the_required_scenarios() -> None:
    assert {"baseline", "stealth", "viral_noise", "many_small", "large_operator", "organic_only", "mixed"} <= set(SCENARIOS)


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="known scenarios: .*baseline.*mixed"):
        simulate("nope")


@pytest.mark.parametrize("n", [0, 10, -5])
def test_too_few_accounts_is_a_config_error(n: int) -> None:
    with pytest.raises(ConfigError, match="n_accounts"):
        simulate("baseline", n_accounts=n)


def test_schemas_match_exactly(baseline: Simulation) -> None:
    assert dict(baseline.events.schema) == schema.EVENTS
    assert dict(baseline.accounts.schema) == schema.ACCOUNTS
    assert dict(baseline.truth.schema) == schema.TRUTH


def test_events_sorted_by_time_then_id_with_unique_ids(baseline: Simulation) -> None:
    e = baseline.events
    assert e.equals(e.sort(["timestamp", "event_id"]))
    assert e["event_id"].n_unique() == e.height
    assert e.select(pl.col("account_id", "timestamp", "action").is_null().any()).row(0) == (False, False, False)


def test_targets_resolve_to_earlier_posts_or_accounts(baseline: Simulation) -> None:
    e = baseline.events
    posts = e.select(target="event_id", t_target="timestamp", target_action="action")
    reactions = e.filter(pl.col("action").is_in(["share", "like", "reply", "quote"])).join(posts, on="target", how="left")
    assert reactions["t_target"].null_count() == 0
    assert (reactions["timestamp"] >= reactions["t_target"]).all()
    assert set(reactions["target_action"].unique()) <= {"post", "quote", "reply"}
    follows = e.filter(pl.col("action") == "follow")
    assert follows["target"].is_in(baseline.accounts["account_id"].implode()).all()
    assert (follows["target"] != follows["account_id"]).all()


def test_accounts_truth_and_events_agree(baseline: Simulation) -> None:
    ids = set(baseline.accounts["account_id"])
    assert ids == set(baseline.truth["account_id"])
    assert set(baseline.events["account_id"].unique()) <= ids
    assert baseline.accounts["handle"].n_unique() == baseline.accounts.height
    created = baseline.events.group_by("account_id").agg(first=pl.col("timestamp").min()).join(baseline.accounts, on="account_id")
    assert (created["created_at"] < created["first"]).all()


def test_shares_copy_the_original_with_rt_prefix(baseline: Simulation) -> None:
    e = baseline.events
    shares = e.filter(pl.col("action") == "share").join(
        e.select(target="event_id", orig_urls="urls", orig_text="text"), on="target"
    )
    assert shares["text"].str.starts_with("RT @").all()
    assert (shares["urls"] == shares["orig_urls"]).all()
    assert shares.select((pl.col("text").str.ends_with(pl.col("orig_text"))).all()).item()


def test_top_one_percent_of_accounts_make_over_ten_percent_of_events(baseline: Simulation) -> None:
    counts = baseline.events.group_by("account_id").len()["len"].sort(descending=True).to_numpy()
    top = counts[: max(1, baseline.accounts.height // 100)].sum()
    assert top / counts.sum() > 0.10
    # ... while the typical account posts a little.
    assert np.median(counts) < counts.mean()


def test_post_popularity_is_heavy_tailed_and_delays_span_minutes_to_days(baseline: Simulation) -> None:
    e = _with_truth(baseline).filter(pl.col("role") == "organic")
    shares = e.filter(pl.col("action") == "share")
    per_post = shares.group_by("target").len()["len"].sort(descending=True).to_numpy()
    assert per_post[: max(1, len(per_post) // 100)].sum() / per_post.sum() > 0.05
    delays = shares.join(baseline.events.select(target="event_id", t0="timestamp"), on="target").select(
        (pl.col("timestamp") - pl.col("t0")).dt.total_seconds()
    ).to_series()
    assert delays.quantile(0.1) < 15 * 60
    assert delays.quantile(0.98) > 24 * 3600


def test_daily_rhythm_is_visible(baseline: Simulation) -> None:
    hours = baseline.events["timestamp"].dt.hour().value_counts()["count"].to_numpy()
    assert hours.max() / hours.min() > 1.5


def test_no_operator_only_client_and_digits_in_organic_handles(baseline: Simulation) -> None:
    e = _with_truth(baseline)
    op_clients = set(e.filter(pl.col("operator_id").is_not_null())["client"].unique())
    organic_clients = set(e.filter(pl.col("operator_id").is_null())["client"].unique())
    assert op_clients <= organic_clients
    acc = baseline.accounts.join(baseline.truth, on="account_id")
    organic = acc.filter(pl.col("operator_id").is_null())
    assert organic["handle"].str.contains(r"\d").mean() > 0.2


def test_some_organic_accounts_are_created_minutes_apart(baseline: Simulation) -> None:
    acc = baseline.accounts.join(baseline.truth, on="account_id").filter(pl.col("operator_id").is_null())
    t = np.sort(acc["created_at"].dt.epoch("s").to_numpy())
    assert (np.diff(t) < 300).sum() >= 20


def test_ids_and_row_order_do_not_reveal_operators(baseline: Simulation) -> None:
    truth = baseline.truth.with_columns(coord=pl.col("operator_id").is_not_null())
    lengths = truth.group_by("coord").agg(pl.col("account_id").str.len_chars().mean())["account_id"].to_numpy()
    assert abs(lengths[0] - lengths[1]) < 3
    rows = baseline.events.with_row_index().join(truth, on="account_id")
    mean_pos = rows.group_by("coord").agg(pl.col("index").mean())["index"].to_numpy() / baseline.events.height
    assert abs(mean_pos[0] - mean_pos[1]) < 0.1


def test_every_tactic_and_infrastructure_variant_appears_in_mixed(mixed: Simulation) -> None:
    roles = mixed.truth.filter(pl.col("operator_id").is_not_null())["role"]
    seen = {t for r in roles for t in r.split("+")}
    assert set(TACTICS) <= seen
    ops = mixed.operators
    for flag in ("batch_created", "templated_handles", "shared_ip", "shared_device"):
        assert set(ops[flag]) == {True, False}, flag


def test_operators_act_on_common_objects_with_only_part_of_the_ring(mixed: Simulation) -> None:
    e = _with_truth(mixed).filter(pl.col("operator_id").is_not_null() & (pl.col("action") == "share"))
    per_target = e.group_by("operator_id", "target").agg(n=pl.col("account_id").n_unique())
    sizes = mixed.operators.select("operator_id", "n_accounts")
    joined = per_target.join(sizes, on="operator_id").filter(pl.col("n_accounts") >= 20)
    assert (joined["n"] >= 5).any()
    assert (joined["n"] < joined["n_accounts"]).all()


def test_copypasters_post_near_identical_texts(mixed: Simulation) -> None:
    e = _with_truth(mixed).filter(pl.col("role").str.contains("copypaster") & (pl.col("action") == "post"))
    words = e.select("operator_id", w=pl.col("text").str.split(" ").list.slice(1, 5).list.join(" "))
    repeated = words.group_by("operator_id", "w").len().filter(pl.col("len") >= 3)
    assert repeated.height > 0


def test_viral_noise_has_crowds_sharing_one_object_within_a_minute() -> None:
    sim = simulate("viral_noise", n_accounts=2000, seed=1)
    e = _with_truth(sim).filter(pl.col("operator_id").is_null() & (pl.col("action") == "share"))
    top = e.group_by("target").len().sort("len", descending=True).head(5)["target"]
    best = 0
    for target in top:
        t = np.sort(e.filter(pl.col("target") == target)["timestamp"].dt.epoch("s").to_numpy())
        best = max(best, int((np.searchsorted(t, t + 60, side="right") - np.arange(len(t))).max()))
    assert best >= 50


def test_organic_only_has_no_operator() -> None:
    sim = simulate("organic_only", n_accounts=800, seed=2)
    assert sim.truth["operator_id"].null_count() == sim.truth.height
    assert sim.operators.height == 0
    assert not sim.truth["role"].str.contains("pusher|amplifier|copypaster|stealth").any()


def test_stealth_scenario_is_mostly_stealthy() -> None:
    sim = simulate("stealth", n_accounts=SMALL, seed=4)
    coordinated = sim.truth.filter(pl.col("operator_id").is_not_null())
    assert coordinated["role"].str.contains("stealth").mean() > 0.5


@pytest.mark.slow
def test_operator_sizes_span_three_to_hundreds() -> None:
    sizes = simulate("baseline", seed=0).operators["n_accounts"]
    assert sizes.min() == 3
    assert sizes.max() >= 100


@pytest.mark.slow
def test_large_operator_has_one_operator_of_about_two_thousand() -> None:
    sim = simulate("large_operator", seed=0)
    sizes = sim.truth.group_by("operator_id").len().drop_nulls("operator_id")["len"]
    assert 1900 <= sizes.max() <= 2100
    assert (sizes >= 1000).sum() == 1


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_scenario_runs_with_every_hard_negative(scenario: str) -> None:
    sim = simulate(scenario, n_accounts=600, seed=7)
    assert sim.events.height > 5000
    roles = set(sim.truth["role"])
    assert set(NEGATIVES) <= roles, set(NEGATIVES) - roles
    assert dict(sim.events.schema) == schema.EVENTS


def test_same_seed_gives_identical_files_and_other_seeds_differ(tmp_path: Path) -> None:
    paths = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        write_simulation(simulate("many_small", n_accounts=400, seed=seed), tmp_path / name)
        paths[name] = tmp_path / name
    for f in ("events.parquet", "accounts.parquet", "truth.parquet"):
        assert (paths["a"] / f).read_bytes() == (paths["b"] / f).read_bytes(), f
        assert (paths["a"] / f).read_bytes() != (paths["c"] / f).read_bytes(), f
    back = pl.read_parquet(paths["a"] / "events.parquet")
    assert dict(back.schema) == schema.EVENTS


def test_write_replaces_a_previous_simulation_and_refuses_foreign_folders(tmp_path: Path) -> None:
    sim = simulate("organic_only", n_accounts=300, seed=1)
    out = tmp_path / "out"
    write_simulation(sim, out)
    write_simulation(sim, out)
    assert sorted(p.name for p in out.iterdir()) == ["accounts.parquet", "events.parquet", "truth.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary folders left behind
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="notes.txt"):
        write_simulation(sim, foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


def test_hyperactive_accounts_react_to_posts_the_crowd_found_popular(baseline: Simulation) -> None:
    """They share "everything popular": the posts they pick draw large audiences from everyone else too."""
    reactions = _with_truth(baseline).filter(pl.col("target").is_not_null() & (pl.col("action") != "follow"))
    others = reactions.filter(pl.col("role") != "organic-hyperactive").group_by("target").agg(pl.col("account_id").n_unique().alias("audience"))
    picked = reactions.filter(pl.col("role") == "organic-hyperactive").select("target").unique()
    audience = picked.join(others, on="target", how="left").with_columns(pl.col("audience").fill_null(0))["audience"]
    typical = others["audience"].median()
    assert audience.median() >= 5 * typical, (audience.median(), typical)
