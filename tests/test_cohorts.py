"""Template bursts: a sign-up batch named from one recipe is paired; an organic sign-up wave is not."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from features.cohorts import handle_shape, template_burst_pairs

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
