"""Template bursts: a sign-up batch named from one recipe is paired; an organic sign-up wave is not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.cohorts import handle_shape, sign_up_runs, template_burst_pairs

START = datetime(2022, 1, 1, tzinfo=timezone.utc)
FIRST = ["anna", "ben", "chloe", "dmitri", "emma", "farid", "grace", "hana", "ivan", "julia"]
LAST = ["smith", "howard", "gray", "novak", "okafor", "reed", "silva", "tanaka", "ward", "young"]


@pytest.mark.parametrize(
    ("handle", "shape"),
    [("ChloeHoward579", "AaAa999"), ("bluefox4821", "a9999"), ("anna_smith12", "a_a99"), ("NASA_fan", "A_a"), ("Émile2001", "Aa9999")],
)
def test_a_handle_shape_keeps_letter_case_runs_and_every_digit(handle, shape):
    assert pl.select(handle_shape(pl.lit(handle))).item() == shape


def _organic(rng, n, *, wave_share=0.0):
    """Handles in mixed styles created over four years; ``wave_share`` of them in one 10-hour sign-up wave."""
    rows = []
    for i in range(n):
        first, last = FIRST[rng.integers(10)], LAST[rng.integers(10)]
        style = rng.integers(4)
        handle = [
            f"{first}{last}",
            f"{first.title()}{last.title()}{rng.integers(1, 100)}",
            f"{first.title()}{rng.integers(10**7, 10**8)}",  # a platform's default suggestion
            f"{first}_{last}{rng.integers(0, 10)}",
        ][style]
        in_wave = rng.random() < wave_share
        created = START + (timedelta(days=900, seconds=int(rng.integers(0, 36_000))) if in_wave else timedelta(seconds=int(rng.integers(0, 4 * 365 * 86_400))))
        rows.append((f"o{i:05d}", f"{handle}{i}" if style == 0 else handle, created))
    return rows


def _frame(rows):
    return pl.DataFrame(rows, schema={"account_id": pl.String, "handle": pl.String, "created_at": pl.Datetime("us", "UTC")}, orient="row")


def test_a_batch_named_from_one_recipe_is_paired_and_ordinary_signups_are_not():
    rng = np.random.default_rng(3)
    batch = [
        (f"b{i:03d}", f"{FIRST[rng.integers(10)].title()}{LAST[rng.integers(10)].title()}{rng.integers(100, 1000)}", START + timedelta(days=500, minutes=4 * i))
        for i in range(40)
    ]
    accounts = _frame(_organic(rng, 3000) + batch)
    pairs = template_burst_pairs(accounts, window_s=86_400, fdr=0.01)
    linked = set(pairs["source"]) | set(pairs["target"])
    assert linked == {row[0] for row in batch}
    # One group, in a band of nearest neighbours rather than every pair.
    names = sorted(linked)
    index = {name: i for i, name in enumerate(names)}
    graph = coo_matrix((np.ones(pairs.height), ([index[s] for s in pairs["source"]], [index[t] for t in pairs["target"]])), shape=(40, 40))
    assert connected_components(graph, directed=False)[0] == 1
    assert pairs.height < 40 * 39 // 2


def test_an_organic_signup_wave_full_of_default_names_is_not_a_template_burst():
    # A platform migration: 400 sign-ups in ten hours, a quarter of them with the default suggestion.
    # As many default names as on any other day's sign-ups, so nothing beyond chance.
    rng = np.random.default_rng(4)
    accounts = _frame(_organic(rng, 4000, wave_share=0.1))
    assert template_burst_pairs(accounts, window_s=86_400, fdr=0.01).is_empty()
    # A batch registered during the wave is still one recipe among its sign-ups.
    batch = [(f"b{i:03d}", f"{FIRST[i % 10].title()}{LAST[i // 10 % 10].title()}{100 + i}", START + timedelta(days=900, minutes=10 * i)) for i in range(30)]
    pairs = template_burst_pairs(_frame(_organic(np.random.default_rng(4), 4000, wave_share=0.1) + batch), window_s=86_400, fdr=0.01)
    assert set(pairs["source"]) | set(pairs["target"]) == {row[0] for row in batch}


def test_no_handles_or_creation_times_give_no_pairs():
    empty = _frame([])
    assert template_burst_pairs(empty, window_s=86_400, fdr=0.01).is_empty()
    blank = _frame([("a", None, START), ("b", "x", None)])
    assert template_burst_pairs(blank, window_s=86_400, fdr=0.01).is_empty()


def _created(rows):
    """``account_id, t`` (epoch seconds) of ``(account_id, handle, created_at)`` rows, as the pipeline gives ``sign_up_runs``."""
    return _frame(rows).select("account_id", pl.col("created_at").dt.epoch("s").alias("t"))


def _labels(groups):
    return pl.DataFrame(
        [(a, cid) for cid, members in groups.items() for a in members], schema={"account_id": pl.String, "cluster_id": pl.Int64}, orient="row"
    )


def test_members_created_together_far_beyond_chance_are_a_sign_up_run_whatever_their_names():
    rng = np.random.default_rng(5)
    organic = _organic(rng, 3000)
    # Bought in bulk and named by hand: no recipe, but eight of a twenty-account cluster signed up within three hours.
    batch = [(f"b{i:02d}", f"{FIRST[i % 10]}_{LAST[(3 * i) % 10]}", START + timedelta(days=700, minutes=20 * i)) for i in range(8)]
    aged = [row[0] for row in organic[:12]]
    labels = _labels({1: [row[0] for row in batch] + aged, 2: [row[0] for row in organic[100:130]]})
    runs = sign_up_runs(labels, _created(organic + batch), window_s=86_400, fdr=0.01)
    assert runs.rows() == [(row[0], 1) for row in batch]  # the organic cluster has none
    assert template_burst_pairs(_frame(organic + batch), window_s=86_400, fdr=0.01).is_empty()  # no template to pair them by


def test_a_few_members_created_together_or_on_a_crowded_day_are_no_run():
    rng = np.random.default_rng(6)
    organic = _organic(rng, 3000)
    # A household: two of three created the same hour.
    household = [("h0", "mum", START + timedelta(days=300)), ("h1", "dad", START + timedelta(days=300, minutes=30)), ("h2", "kid", START + timedelta(days=1000))]
    # A placeholder date a tenth of all accounts carry (an import, a data default): four members on it is chance.
    placeholder = [(f"p{i:03d}", f"user{i}", START) for i in range(330)]
    labels = _labels({1: ["h0", "h1", "h2"], 2: [row[0] for row in placeholder[:4]] + [row[0] for row in organic[:2]]})
    assert sign_up_runs(labels, _created(organic + household + placeholder), window_s=86_400, fdr=0.01).is_empty()


def test_sign_up_runs_are_read_inside_each_cluster_and_need_creation_times():
    rng = np.random.default_rng(7)
    organic = _organic(rng, 2000)
    batch = [(f"b{i:02d}", f"name{i}", START + timedelta(days=400, minutes=5 * i)) for i in range(8)]
    # The same batch split over two clusters of four: each part is a run far beyond chance.
    split = _labels({1: ["b00", "b01", "b02", "b03"], 2: ["b04", "b05", "b06", "b07"], -1: [row[0] for row in organic[:50]]})
    assert sign_up_runs(split, _created(organic + batch), window_s=86_400, fdr=0.01)["cluster_id"].to_list() == [1] * 4 + [2] * 4
    # Three of them in a cluster of three: about 8 of the 2,000 accounts were created within a day of each,
    # so chance gives such a trio 1.6e-5 of the time, not beyond 0.01 over 2,008 accounts.
    trio = _labels({1: ["b00", "b01", "b02"]})
    assert sign_up_runs(trio, _created(organic + batch), window_s=86_400, fdr=0.01).is_empty()
    # With one member in each of eight clusters nothing is shared inside a cluster.
    apart = _labels({i: [row[0]] for i, row in enumerate(batch)})
    assert sign_up_runs(apart, _created(organic + batch), window_s=86_400, fdr=0.01).is_empty()
    assert sign_up_runs(split, _created(organic + batch).head(0), window_s=86_400, fdr=0.01).is_empty()
