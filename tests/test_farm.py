"""The ``farm`` strand (detector.scoring): many accounts behind shared infrastructure that act together.

A hand-built world: organic accounts posting tags from a large pool, each from
its own address; thirty of them behind one carrier NAT (unrelated, shared
address); and a farm of thirty accounts behind three proxies that push forty
campaign tags, each tag by a few members hours apart, so no member pair meets
often enough inside the co-action window for the pair test.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

from detector.config import Config
from detector.exclusivity import EXCLUSIVITY
from detector.pipeline import detect
from detector.scoring import cluster_facts, score_clusters
from features.groups import own_objects_beyond_chance

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = 30
N_ORGANIC = 300
NAT = [f"user_{i:03d}" for i in range(30)]
FARM = [f"farm_{i:02d}" for i in range(30)]


def _world(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, datetime, str, str]] = []
    pool = [f"tag{k}" for k in range(3000)]
    weight = 1.0 / np.arange(1, len(pool) + 1) ** 0.8
    weight /= weight.sum()

    def chatter(account: str, address: str, n: int) -> None:
        for t, tag in zip(rng.uniform(0, DAYS * 86400, n), rng.choice(len(pool), n, p=weight)):
            rows.append((account, START + timedelta(seconds=float(t)), pool[tag], address))

    for i in range(N_ORGANIC):
        account = f"user_{i:03d}"
        chatter(account, "nat" if account in NAT else f"home_{i}", int(rng.integers(15, 45)))
    proxies = ["proxy_a", "proxy_b", "proxy_c"]
    for j, account in enumerate(FARM):
        chatter(account, proxies[j % 3], int(rng.integers(15, 45)))
    for k in range(40):  # each campaign tag: four members, hours apart
        t0 = rng.uniform(0, (DAYS - 2) * 86400)
        for step, member in enumerate(rng.choice(len(FARM), 4, replace=False)):
            t = t0 + step * 3 * 3600 + rng.uniform(0, 1800)
            rows.append((FARM[member], START + timedelta(seconds=float(t)), f"campaign{k}", proxies[(member + step) % 3]))
    return pl.DataFrame(rows, schema=["account_id", "timestamp", "hashtags", "ip"], orient="row").with_columns(
        pl.lit("post").alias("action"), pl.col("hashtags").map_elements(lambda h: [h], return_dtype=pl.List(pl.String))
    )


@pytest.fixture(scope="module")
def world() -> pl.DataFrame:
    return _world()


@pytest.fixture(scope="module")
def result(world):
    return detect(world, None, Config())


def _flagged(accounts: pl.DataFrame) -> set[str]:
    return set(accounts.filter("flagged")["account_id"].to_list())


@pytest.mark.slow
def test_a_farm_behind_shared_proxies_is_flagged_and_a_nat_is_not(result):
    flagged = _flagged(result.accounts)
    assert len(flagged & set(FARM)) >= 27
    assert not flagged & set(NAT)
    assert flagged <= set(FARM)


@pytest.mark.slow
def test_both_crowds_are_clustered_on_their_shared_addresses(result):
    # The NAT is clustered too (its accounts share an address): it is the score that tells them apart.
    accounts = result.accounts
    nat = accounts.filter(pl.col("account_id").is_in(NAT))
    assert (nat["cluster_id"] >= 0).mean() > 0.9
    assert nat["score"].max() < Config().score.threshold


@pytest.mark.slow
def test_the_farm_needs_its_own_objects_not_only_its_proxies(world):
    # The same farm without its campaign tags is thirty accounts behind three proxies: not flagged.
    quiet = world.filter(~pl.col("hashtags").list.first().str.starts_with("campaign"))
    assert not _flagged(detect(quiet, None, Config()).accounts)


def test_unrelated_accounts_own_about_as_many_objects_as_chance_predicts():
    rng = np.random.default_rng(1)
    n_accounts, n_objects = 400, 1500
    acts = {(f"a{a}", f"o{o}") for a in range(n_accounts) for o in rng.integers(0, n_objects, 8)}
    incidences = pl.DataFrame(sorted(acts), schema=["account_id", "object"], orient="row").with_columns(pl.lit("hashtag").alias("signal"))
    labels = pl.DataFrame({"account_id": [f"a{a}" for a in range(n_accounts)], "cluster_id": [a // 40 for a in range(n_accounts)]})
    own = own_objects_beyond_chance(incidences, labels, max_object_accounts=1000, min_lift=5.0, min_share=0.5)
    assert own.height == 10
    # Summed over ten random groups, the count is within a few standard deviations of the expectation.
    total, expected = own["own_objects"].sum(), own["expected_own"].sum()
    assert abs(total - expected) <= 4 * np.sqrt(expected) + 2


def test_a_group_that_shares_objects_owns_far_more_than_chance():
    rng = np.random.default_rng(2)
    acts = {(f"a{a}", f"o{o}") for a in range(1000) for o in rng.integers(0, 5000, 8)}
    acts |= {(f"a{a}", f"camp{k}") for k in range(20) for a in rng.choice(10, 3, replace=False)}
    incidences = pl.DataFrame(sorted(acts), schema=["account_id", "object"], orient="row").with_columns(pl.lit("hashtag").alias("signal"))
    labels = pl.DataFrame({"account_id": [f"a{a}" for a in range(10)], "cluster_id": [0] * 10})
    own = own_objects_beyond_chance(incidences, labels, max_object_accounts=1000, min_lift=5.0, min_share=0.5).row(0, named=True)
    assert own["own_objects"] >= 20 and own["expected_own"] < 2


def _farm_only_score(infra_group: int, own: int, expected: float) -> float:
    """Score of a cluster whose members all share infrastructure and that has no co-action evidence."""
    labels = pl.DataFrame({"account_id": [f"m{i}" for i in range(infra_group)], "cluster_id": [0] * infra_group})
    empty_pairs = pl.DataFrame(schema={"source": pl.String, "target": pl.String, "strength": pl.Float64, "signals": pl.List(pl.String)})
    empty_coaction = pl.DataFrame(schema={"source": pl.String, "target": pl.String, "rarity": pl.Float64, "coaction_strength": pl.Float64, "tie": pl.Float64})
    flags = labels.select("account_id", identity=pl.lit(0.0), infrastructure=pl.lit(1.0), copy=pl.lit(0.0))
    farm = pl.DataFrame({"cluster_id": [0], "infra_group": [infra_group], "own_objects": [own], "expected_own": [expected], "reading": ["inside"]})
    facts = cluster_facts(labels, empty_pairs, empty_coaction, flags, pl.DataFrame(schema=EXCLUSIVITY), farm)
    return score_clusters(facts, threshold=0.5)["score"].item()


def test_a_hashtag_farm_owning_a_few_tags_far_beyond_chance_is_flagged_and_one_extra_object_is_not():
    # Forty accounts behind shared addresses that own their three campaign tags, where chance
    # gives 0.65 (p = 0.03): a farm. The count per account (3 / 40) would call it nothing.
    assert _farm_only_score(40, 3, 0.65) >= 0.5
    # One object where chance gives 0.57 is what strangers behind a campus network reach.
    assert _farm_only_score(40, 1, 0.57) < 0.45
    # No more than chance: the infrastructure strand alone.
    assert _farm_only_score(40, 1, 1.2) == pytest.approx(0.35)


def test_a_small_proxy_ring_owning_a_dozen_objects_is_a_farm_and_a_household_is_not():
    # Eight accounts behind shared proxies owning twelve objects where chance gives 0.01:
    # twice a household's size, overwhelming evidence (simulated large_operator seed 1 had one).
    assert _farm_only_score(8, 12, 0.01) >= 0.5
    # A household's worth of accounts never counts, however much its members share.
    assert _farm_only_score(4, 12, 0.01) == pytest.approx(0.35)
    # Five accounts, one past a household, with the same evidence: not enough size to flag.
    assert _farm_only_score(5, 12, 0.01) < 0.5


def _pairs(accounts):
    return [(a, b) for i, a in enumerate(accounts) for b in accounts[i + 1 :]]


def _farm_facts(labels: pl.DataFrame, infrastructure: pl.DataFrame | None, incidences: pl.DataFrame, identity: pl.DataFrame | None = None) -> pl.DataFrame:
    """``farm_facts`` with the ties and whole groups the pipeline builds once from these pairs."""
    from detector.farms import farm_facts, tie_pairs, whole_groups

    return farm_facts(labels, tie_pairs(infrastructure, identity), whole_groups(infrastructure, identity, incidences, Config()), incidences, Config())


def _farm_cut_in_two():
    """Labels, infrastructure pairs and incidences of a 40-account farm cut into clusters 0 and 1, and 10 bystanders (2)."""
    rng = np.random.default_rng(5)
    farm = [f"f{i:02d}" for i in range(40)]
    left, right = farm[:20], farm[20:]
    crowd = [f"o{i:03d}" for i in range(400)]
    bystanders = [f"b{i}" for i in range(10)]  # an organic cluster, three of them share a household with the farm
    # Devices link the farm across the cut only: no pair inside either half, one group of forty.
    infra = [(a, b) for a in left for b in right if rng.random() < 0.3] + [("b0", "f00"), ("b1", "f00"), ("b2", "f00")]
    infrastructure = pl.DataFrame(
        [(min(a, b), max(a, b), "device", 1) for a, b in infra], schema=["source", "target", "signal", "n_shared"], orient="row"
    ).unique()
    # The farm pushes six campaign objects; everyone acts on ordinary objects at random.
    acts = {(a, f"campaign{k}") for k in range(6) for a in rng.choice(farm, 25, replace=False)}
    acts |= {(a, f"o{o}") for a in farm + crowd + bystanders for o in rng.integers(0, 3000, 10)}
    incidences = pl.DataFrame(sorted(acts), schema=["account_id", "object"], orient="row").with_columns(
        pl.col("account_id").cast(pl.Categorical), pl.lit("url").alias("signal")  # as the pipeline holds them
    )
    labels = pl.DataFrame(
        {"account_id": farm + bystanders, "cluster_id": [0] * 20 + [1] * 20 + [2] * 10}
    )
    return labels, infrastructure, incidences


def test_a_farm_cut_into_two_clusters_is_judged_whole_and_a_household_link_does_not_lend_it():
    labels, infrastructure, incidences = _farm_cut_in_two()
    facts = {row["cluster_id"]: row for row in _farm_facts(labels, infrastructure, incidences).iter_rows(named=True)}
    for half in (0, 1):
        assert facts[half]["infra_group"] >= 40 and facts[half]["own_objects"] >= 5
    assert 2 not in facts  # three of ten bystanders in the farm's group is not the group behind their cluster


def test_the_flagged_parts_of_one_farm_are_reported_as_one_cluster():
    from detector.farms import farm_parts

    labels, infrastructure, incidences = _farm_cut_in_two()
    farm = _farm_facts(labels, infrastructure, incidences)
    every_part_flagged = pl.DataFrame({"cluster_id": [0, 1, 2], "n_accounts": [20, 20, 10], "flagged": [True, True, True]})
    assert farm_parts(every_part_flagged, farm, labels, infrastructure).rows() == [(0, 0), (1, 0)]  # the bystanders stay apart
    # A part that is not flagged on its own evidence is not pulled in by the other's flag.
    one_part_flagged = every_part_flagged.with_columns(pl.Series("flagged", [True, False, True]))
    assert farm_parts(one_part_flagged, farm, labels, infrastructure).is_empty()


def test_two_farms_that_one_household_address_connects_stay_two_clusters():
    from detector.farms import farm_parts

    rng = np.random.default_rng(6)
    farms = [[f"{name}{i:02d}" for i in range(25)] for name in ("f", "g")]
    crowd = [f"o{i:03d}" for i in range(400)]
    # Each farm is tied inside (one device per five accounts); one address joins an account of each.
    tied = [(a, b) for farm in farms for i, a in enumerate(farm) for b in farm[i + 1 :] if farm.index(b) // 5 == i // 5]
    tied += [(a, b) for farm in farms for a, b in zip(farm[::5], farm[5::5])]
    tied.append(("f00", "g00"))
    infrastructure = pl.DataFrame(tied, schema=["source", "target"], orient="row")
    acts = {(a, f"{farm[0][0]}camp{k}") for farm in farms for k in range(6) for a in rng.choice(farm, 15, replace=False)}
    acts |= {(a, f"o{o}") for a in farms[0] + farms[1] + crowd for o in rng.integers(0, 3000, 10)}
    incidences = pl.DataFrame(sorted(acts), schema=["account_id", "object"], orient="row").with_columns(
        pl.col("account_id").cast(pl.Categorical), pl.lit("url").alias("signal")
    )
    labels = pl.DataFrame({"account_id": farms[0] + farms[1], "cluster_id": [0] * 25 + [1] * 25})
    farm = _farm_facts(labels, infrastructure, incidences)
    assert farm.filter(pl.col("reading") == "everywhere").height == 2  # both judged by the one connected group...
    flagged = pl.DataFrame({"cluster_id": [0, 1], "n_accounts": [25, 25], "flagged": [True, True]})
    assert farm_parts(flagged, farm, labels, infrastructure).is_empty()  # ...yet one shared address does not make them one farm


def test_the_rim_of_a_joined_farm_is_attached_by_the_test_its_members_pass():
    from detector.farms import farm_rim

    rng = np.random.default_rng(8)
    farm = [f"f{i:02d}" for i in range(60)]
    links = [(a, b) for a, b in _pairs(farm) if rng.random() < 0.2]  # a sparse farm: each member linked to ~12 others
    links += [("f00", "rim"), *((f, "rim") for f in farm[1:8])]  # left as noise, linked to 8 members
    links += [("f00", "fan"), ("f01", "fan")]  # an organic account that reshared two of its posts
    fused = pl.DataFrame([(min(a, b), max(a, b)) for a, b in links], schema=["source", "target"], orient="row").unique()
    labels = pl.DataFrame({"account_id": farm + ["rim", "fan"], "cluster_id": [3] * 60 + [-1, -1]})
    out = dict(farm_rim(labels, fused, pl.Series([3]), share=0.25).iter_rows())
    assert out["rim"] == 3 and out["fan"] == -1
    assert all(out[f] == 3 for f in farm)
    # Only joined farms take in their rim.
    assert dict(farm_rim(labels, fused, pl.Series([], dtype=pl.Int64), share=0.25).iter_rows())["rim"] == -1


def _farm_among_organic():
    """A cluster (0) of 25 accounts tied by one template that own six campaign objects, and 35 organic accounts."""
    rng = np.random.default_rng(9)
    farm = [f"f{i:02d}" for i in range(25)]
    organic = [f"o{i:03d}" for i in range(35)]
    crowd = [f"c{i:03d}" for i in range(400)]
    identity = pl.DataFrame(_pairs(farm), schema=["source", "target"], orient="row")
    acts = {(a, f"campaign{k}") for k in range(6) for a in rng.choice(farm, 15, replace=False)}
    acts |= {(a, f"o{o}") for a in farm + organic + crowd for o in rng.integers(0, 400, 10)}  # a dozen actors each
    incidences = pl.DataFrame(sorted(acts), schema=["account_id", "object"], orient="row").with_columns(
        pl.col("account_id").cast(pl.Categorical), pl.lit("url").alias("signal")
    )
    labels = pl.DataFrame({"account_id": farm + organic, "cluster_id": [0] * 60})
    return labels, identity, incidences


def _scored(coaction: float, infrastructure: float = 0.0, broad_exclusivity: float = 0.8) -> pl.DataFrame:
    strands = {"coaction": coaction, "agreement": 0.0, "identity": 25 / 60, "infrastructure": infrastructure, "copy": 0.0, "farm": 0.99}
    shares = {"exclusivity": 0.8, "broad_exclusivity": broad_exclusivity}
    return pl.DataFrame({"cluster_id": [0], "n_accounts": [60], **{name: [value] for name, value in (strands | shares).items()}})


def test_a_farm_that_carries_its_cluster_is_split_off_from_the_accounts_around_it():
    from detector.farms import farm_carve

    labels, identity, incidences = _farm_among_organic()
    farm = _farm_facts(labels, None, incidences, identity)
    assert farm.row(0, named=True)["infra_group"] == 25  # the template's group, inside the cluster
    carved = dict(farm_carve(labels, _scored(coaction=0.1), farm, identity, threshold=0.5).iter_rows())
    assert {carved[f"f{i:02d}"] for i in range(25)} == {1} and {carved[f"o{i:03d}"] for i in range(35)} == {0}
    # A cluster flagged on its co-action alone stands on its own evidence: nothing is split.
    assert farm_carve(labels, _scored(coaction=0.9), farm, identity, threshold=0.5).equals(labels)


def test_the_shares_of_members_the_group_ties_are_not_evidence_about_the_rest():
    from detector.farms import farm_carve

    labels, identity, incidences = _farm_among_organic()
    farm = _farm_facts(labels, None, incidences, identity)
    # Co-action 0.4 with the template's and the devices' shares (25 of 60) scores 0.52 without the farm strand;
    # without what the tied group says about itself it is 0.34, so the group is split off the 35 around it.
    scored = _scored(coaction=0.4, infrastructure=25 / 60)
    carved = dict(farm_carve(labels, scored, farm, identity, threshold=0.5).iter_rows())
    assert {carved[f"f{i:02d}"] for i in range(25)} == {1} and {carved[f"o{i:03d}"] for i in range(35)} == {0}


def test_co_action_on_the_main_objects_alone_does_not_keep_a_farm_from_being_carved():
    from detector.farms import farm_carve

    labels, identity, incidences = _farm_among_organic()
    farm = _farm_facts(labels, None, incidences, identity)
    # Co-action 0.7 over the objects most members act on (the farm's), but over everything the 60 co-acted on,
    # where the 35 organic accounts' own objects count, its share is a quarter as high: the farm is split off.
    carved = dict(farm_carve(labels, _scored(coaction=0.7, broad_exclusivity=0.2), farm, identity, threshold=0.5).iter_rows())
    assert {carved[f"f{i:02d}"] for i in range(25)} == {1} and {carved[f"o{i:03d}"] for i in range(35)} == {0}
    assert farm_carve(labels, _scored(coaction=0.7), farm, identity, threshold=0.5).equals(labels)


def test_a_split_whose_halves_are_both_flagged_is_put_back():
    from detector.farms import both_flagged_rejoined

    before = pl.DataFrame({"account_id": ["a", "b", "c", "d", "e", "f"], "cluster_id": [0, 0, 0, 0, 5, 5]})
    carved = pl.DataFrame({"account_id": ["a", "b", "c", "d", "e", "f"], "cluster_id": [0, 0, 7, 7, 5, 8]})
    scored = pl.DataFrame({"cluster_id": [0, 5, 7, 8], "flagged": [True, False, True, True]})
    # Cluster 0's two halves are both flagged: one operator, one cluster again. Cluster 5's rest is not: the split stays.
    assert dict(both_flagged_rejoined(before, carved, scored).iter_rows()) == {"a": 0, "b": 0, "c": 0, "d": 0, "e": 5, "f": 8}


def test_the_member_check_spares_an_account_tied_to_most_of_its_cluster():
    from detector.farms import tied_to_most

    farm = [f"f{i}" for i in range(8)]
    labels = pl.DataFrame({"account_id": [*farm, "quiet", "guest", "x", "y", "z", "hh"], "cluster_id": [0] * 10 + [1, 1, 1, 2]})
    ties = pl.DataFrame(
        [(m, "quiet") for m in farm[:5]]  # the quiet account shares the farm's devices with 5 of its 9 co-members
        + [(farm[0], "guest"), (farm[1], "guest")]  # a guest on two members' address: pulled in, not tied to most
        + [("x", "z"), ("y", "z")]  # most of a 3-account cluster, but only two ties
        + [("hh", "f0")],  # an address shared across clusters does not count inside either
        schema=["source", "target"],
        orient="row",
    )
    spared = tied_to_most(ties, labels, [0, 1, 2])["account_id"].to_list()
    assert spared == ["quiet"]
    # Only the clusters asked about are looked at.
    assert tied_to_most(ties, labels, [1])["account_id"].to_list() == []


def _batch(n: int, band: int = 3) -> tuple[list[str], pl.DataFrame]:
    """``n`` accounts of one sign-up batch, each tied to its ``band`` neighbours in creation order (as ``features.cohorts`` pairs them)."""
    batch = [f"s{i:03d}" for i in range(n)]
    pairs = [(batch[i], batch[j]) for i in range(n) for j in range(i + 1, min(n, i + 1 + band))]
    return batch, pl.DataFrame(pairs, schema=["source", "target"], orient="row")


def _batch_world(split: int, organic_in_part: int, band: int = 3):
    """Labels, identity pairs and incidences: a 40-account batch owning six campaign objects, cut at ``split``
    into clusters 0 and 1; ``organic_in_part`` organic accounts filed in cluster 1 with the batch's rest."""
    rng = np.random.default_rng(5)
    batch, identity = _batch(40, band)
    organic = [f"o{i:03d}" for i in range(organic_in_part)]
    crowd = [f"c{i:03d}" for i in range(400)]
    acts = {(a, f"campaign{k}") for k in range(6) for a in rng.choice(batch, 25, replace=False)}
    acts |= {(a, f"x{o}") for a in batch + organic + crowd for o in rng.integers(0, 300, 10)}  # a dozen actors each
    incidences = pl.DataFrame(sorted(acts), schema=["account_id", "object"], orient="row").with_columns(
        pl.col("account_id").cast(pl.Categorical), pl.lit("url").alias("signal")
    )
    labels = pl.DataFrame({"account_id": batch + organic, "cluster_id": [0] * split + [1] * (40 - split + organic_in_part)})
    return labels, identity, incidences


def test_the_parts_of_a_sign_up_batch_are_judged_by_the_whole_batch_but_not_joined_by_it():
    from detector.farms import farm_parts

    labels, identity, incidences = _batch_world(split=20, organic_in_part=0, band=12)  # 78 ties across the cut
    # Each part is judged by the whole batch, which owns the six objects that 25 of its 40 push.
    facts = {row["cluster_id"]: row for row in _farm_facts(labels, None, incidences, identity).iter_rows(named=True)}
    for part in (0, 1):
        assert facts[part]["reading"] == "batch" and facts[part]["infra_group"] == 40 and facts[part]["own_objects"] >= 6
    # Two operators' batches named from one shape at one time are one group too: the parts are not joined by it.
    flagged = pl.DataFrame({"cluster_id": [0, 1], "n_accounts": [20, 20], "flagged": [True, True]})
    assert farm_parts(flagged, _farm_facts(labels, None, incidences, identity), labels, identity).is_empty()


def test_a_batch_part_filed_with_organic_accounts_is_split_off_them_when_the_whole_batch_carries_the_flag():
    from detector.farms import farm_carve, whole_groups

    labels, identity, incidences = _batch_world(split=27, organic_in_part=10)  # cluster 1: 13 of the batch, 10 organic
    farm = _farm_facts(labels, None, incidences, identity)
    assert farm.filter(pl.col("cluster_id") == 1).row(0, named=True)["reading"] == "batch"
    scored = pl.DataFrame(
        {"cluster_id": [0, 1], "n_accounts": [27, 23], "coaction": [0.1, 0.05], "agreement": [0.0, 0.0], "identity": [1.0, 13 / 23],
         "infrastructure": [0.0, 0.0], "copy": [0.0, 0.0], "farm": [0.99, 0.99], "exclusivity": [0.5, 0.5], "broad_exclusivity": [0.5, 0.5]}
    )
    carved = dict(farm_carve(labels, scored, farm, identity, threshold=0.5, wholes=whole_groups(None, identity, incidences, Config())).iter_rows())
    assert {carved[f"s{i:03d}"] for i in range(27, 40)} == {2} and {carved[f"o{i:03d}"] for i in range(10)} == {1}
    assert {carved[f"s{i:03d}"] for i in range(27)} == {0}  # the part that is all batch stays as it is
    # Without the whole groups only the inside reading carves, and the batch reading carried this cluster.
    assert farm_carve(labels, scored, farm, identity, threshold=0.5).equals(labels)


def _batches_world(batches: int, households: int = 0):
    """Labels, identity pairs and incidences: one cluster (0) of ``batches`` sign-up batches of ten, each tied only
    inside, pushing six campaign objects together, plus ``households`` households of three tied by a home address."""
    rng = np.random.default_rng(3)
    members, pairs = [], []
    for b in range(batches):
        batch = [f"s{b}_{i}" for i in range(10)]
        members += batch
        pairs += [(batch[i], batch[j]) for i in range(10) for j in range(i + 1, 10)]
    for h in range(households):
        home = [f"h{h}_{i}" for i in range(3)]
        members += home
        pairs += [(home[i], home[j]) for i in range(3) for j in range(i + 1, 3)]
    crowd = [f"c{i:03d}" for i in range(400)]
    ring = [m for m in members if m.startswith("s")]
    acts = {(a, f"campaign{k}") for k in range(6) for a in rng.choice(ring, int(0.7 * len(ring)), replace=False)}
    acts |= {(a, f"x{o}") for a in members + crowd for o in rng.integers(0, 300, 10)}
    incidences = pl.DataFrame(sorted(acts), schema=["account_id", "object"], orient="row").with_columns(
        pl.col("account_id").cast(pl.Categorical), pl.lit("url").alias("signal")
    )
    labels = pl.DataFrame({"account_id": members, "cluster_id": [0] * len(members)})
    return labels, pl.DataFrame(pairs, schema=["source", "target"], orient="row"), incidences


def test_several_batches_in_one_cluster_are_read_together_and_households_are_not_added():
    # Three batches of ten each hold a third of the campaign objects' actors: none owns them, together they do.
    labels, identity, incidences = _batches_world(batches=3, households=2)
    [row] = _farm_facts(labels, identity, incidences).rows(named=True)
    assert row["reading"] == "farms" and row["infra_group"] == 30 and row["own_objects"] == 6
    # One batch and two households: the households are no farm to add, so the batch is read alone.
    labels, identity, incidences = _batches_world(batches=1, households=2)
    [row] = _farm_facts(labels, identity, incidences).rows(named=True)
    assert row["reading"] == "inside" and row["infra_group"] == 10


def test_the_evidence_names_the_group_that_carried_the_farm_strand():
    from detector.evidence import cluster_evidence

    labels = pl.DataFrame({"account_id": ["a", "b", "c", "d"], "cluster_id": [0, 1, 2, 3]})
    scored = pl.DataFrame(
        {"cluster_id": [0, 1, 2, 3], "n_accounts": [1, 1, 1, 1], "infra_group": [40, 62, 5, 40], "own_objects": [6, 25, 3, 6],
         "expected_own": [0.2, 3.8, 0.1, 0.2], "reading": ["everywhere", "batch", "inside", "farms"]}
    )

    text = dict(cluster_evidence(scored, labels, [], None, None, None).iter_rows())
    assert text[0].startswith("members of 40 accounts linked through shared addresses or devices")
    assert text[1].startswith("members of a sign-up batch of 62 accounts named from one template, which are most of the actors of 25 objects")
    assert text[2].startswith("the 5 linked through shared addresses, devices or a handle template are most")
    assert text[3].startswith("the 40 in several groups linked through shared addresses, devices or handle templates are most")


def _scattered_farm(flagged: tuple[int, ...] = ()):
    """The template farm of ``_farm_among_organic`` filed 2-3 to a cluster among seven organic clusters (0-6), five as noise."""
    from detector.farms import whole_groups

    _, identity, incidences = _farm_among_organic()
    farm = [f"f{i:02d}" for i in range(25)]
    organic = [f"o{i:03d}" for i in range(35)]
    home = {**{o: i % 7 for i, o in enumerate(organic)}, **{f: (i % 7 if i < 20 else -1) for i, f in enumerate(farm)}}
    labels = pl.DataFrame({"account_id": sorted(home), "cluster_id": [home[a] for a in sorted(home)]})
    scored = pl.DataFrame({"cluster_id": list(range(7)), "flagged": [c in flagged for c in range(7)]})
    return labels, scored, whole_groups(None, identity, incidences, Config()), farm, organic


def test_a_farm_scattered_over_organic_clusters_and_noise_is_gathered_in_a_cluster_of_its_own():
    from detector.farms import scattered_farms

    labels, scored, wholes, farm, organic = _scattered_farm()
    gathered = dict(scattered_farms(labels, scored, wholes, Config()).iter_rows())
    # No cluster holds half its members, so farm_facts never reads the batch; alone it owns 6 objects beyond chance.
    assert {gathered[f] for f in farm} == {7}
    assert all(gathered[o] == dict(labels.iter_rows())[o] for o in organic)


def test_a_scattered_farms_unflagged_members_join_the_flagged_cluster_holding_most_of_it():
    from detector.farms import scattered_farms

    labels, scored, wholes, farm, organic = _scattered_farm(flagged=(3, 5))
    before = dict(labels.iter_rows())
    gathered = dict(scattered_farms(labels, scored, wholes, Config()).iter_rows())
    # Clusters 3 and 5 hold three members each; the lower id wins the tie. Members in either stay put.
    assert all(gathered[f] == (before[f] if before[f] in (3, 5) else 3) for f in farm)
    assert all(gathered[o] == before[o] for o in organic)


def test_strangers_behind_one_address_are_not_gathered():
    from detector.farms import scattered_farms, whole_groups

    labels, scored, _, farm, _ = _scattered_farm()
    _, _, incidences = _farm_among_organic()
    # The same 25 accounts tied by one shared address but owning nothing: the campaign objects are left out.
    everyday = incidences.filter(~pl.col("object").str.starts_with("campaign"))
    address = pl.DataFrame(_pairs(farm), schema=["source", "target"], orient="row")
    assert scattered_farms(labels, scored, whole_groups(address, None, everyday, Config()), Config()).equals(labels)
    # With its objects it is a farm again (the test above by the other kind of tie).
    assert not scattered_farms(labels, scored, whole_groups(address, None, incidences, Config()), Config()).equals(labels)


def test_cluster_evidence_names_members_in_a_sign_up_run():
    from detector.evidence import cluster_evidence

    labels = pl.DataFrame({"account_id": ["a", "b", "c", "d"], "cluster_id": [1, 1, 1, 1]})
    scored = pl.DataFrame({"cluster_id": [1], "n_accounts": [4]})
    runs = pl.DataFrame({"account_id": ["a", "b", "c"], "cluster_id": [1, 1, 1]})
    text = dict(cluster_evidence(scored, labels, [], None, None, None, runs=runs, run_window_s=3 * 3600).iter_rows())
    assert text[1] == "3 of 4 were created within 3.0 h of other members, far beyond chance"
