"""Parts of one operator that clustering cut apart are found by the main objects they share, and joined only when stronger."""

from __future__ import annotations

import polars as pl

from detector.exclusivity import ACTORS, COACTED, Audience, audience_of
from detector.families import FAMILIES, joined_families, sibling_families, stronger_families


def _ring_and_crowd() -> tuple[pl.DataFrame, pl.DataFrame, Audience | None]:
    """Clusters 0-2: three parts of one ring, each pushing the ring's eight seeds. Clusters 3-4: organic
    neighbours who met on one popular post in common. Clusters 5-6: a few tags in common among many."""
    labels, coacted, actors = [], [], []
    for part in range(3):
        members = [f"r{part}_{i}" for i in range(4)]
        labels += [(m, part) for m in members]
        coacted += [(part, "share", f"seed{s}") for s in range(8)]
        actors += [(f"seed{s}", m, "share") for s in range(8) for m in members]
    for cluster, posts in ((3, ("hit0", "hit1")), (4, ("hit1", "hit2"))):
        members = [f"o{cluster}_{i}" for i in range(4)]
        labels += [(m, cluster) for m in members]
        coacted += [(cluster, "share", post) for post in posts]
        actors += [(post, m, "share") for post in posts for m in members]
    actors += [(post, f"fan{i}", "share") for post in ("hit0", "hit1", "hit2") for i in range(50)]
    # Clusters 5 and 6 each push twelve tags of their own and five common ones: five shared, under half of either's.
    for cluster in (5, 6):
        members = [f"t{cluster}_{i}" for i in range(4)]
        tags = [f"tag{cluster}_{t}" for t in range(12)] + [f"common{t}" for t in range(5)]
        labels += [(m, cluster) for m in members]
        coacted += [(cluster, "hashtag", tag) for tag in tags]
        actors += [(tag, m, "hashtag") for tag in tags for m in members]
    return (
        pl.DataFrame(labels, schema={"account_id": pl.String(), "cluster_id": pl.Int64()}, orient="row"),
        pl.DataFrame(coacted, schema=COACTED, orient="row"),
        audience_of([pl.DataFrame(actors, schema=ACTORS, orient="row")]),
    )


def test_parts_sharing_their_main_objects_are_one_family_and_neighbours_are_not():
    families = sibling_families(*_ring_and_crowd())
    assert families.schema == pl.Schema(FAMILIES)
    assert families.rows() == [(0, 0), (1, 0), (2, 0)]


def test_no_family_without_enough_shared_main_objects():
    labels, coacted, actors = _ring_and_crowd()
    one_seed_each = coacted.filter((pl.col("cluster_id") < 2) & (pl.col("object") == "seed0"))
    assert sibling_families(labels, one_seed_each, actors).is_empty()
    assert sibling_families(labels, coacted.head(0), actors).is_empty()


def test_a_family_is_joined_under_its_lowest_id_and_only_when_stronger_than_its_parts():
    labels, coacted, actors = _ring_and_crowd()
    families = sibling_families(labels, coacted, actors)
    joined = joined_families(labels, families)
    assert joined.filter(pl.col("account_id").str.starts_with("r"))["cluster_id"].unique().to_list() == [0]
    assert joined.filter(~pl.col("account_id").str.starts_with("r")).equals(labels.filter(~pl.col("account_id").str.starts_with("r")))
    parts = pl.DataFrame({"cluster_id": [0, 1, 2], "score": [0.45, 0.48, 0.44]})
    assert stronger_families(families, parts, pl.DataFrame({"cluster_id": [0], "score": [0.7]}), threshold=0.5).equals(families)
    # Below the threshold, or no better than its best part: the parts stay apart.
    assert stronger_families(families, parts, pl.DataFrame({"cluster_id": [0], "score": [0.49]}), threshold=0.5).is_empty()
    flagged_part = parts.with_columns(pl.Series("score", [0.45, 0.8, 0.44]))
    assert stronger_families(families, flagged_part, pl.DataFrame({"cluster_id": [0], "score": [0.7]}), threshold=0.5).is_empty()
