"""Content features and near-duplicate pairs on tiny hand-made posts."""

import math
import time
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest

from detector.schema import EVENTS, conform
from features.content import ContentBuilder, minhash_signatures, near_duplicate_pairs

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)
BASE = "the city council voted to close the old library on main street next month without asking residents"


def _events(**cols):
    n = len(cols["account_id"])
    cols.setdefault("action", ["post"] * n)
    frame = pl.DataFrame({"timestamp": [T0] * n, **cols}, schema_overrides={k: v for k, v in EVENTS.items() if k in cols and k != "timestamp"})
    return conform(frame.with_columns(pl.col("timestamp").dt.cast_time_unit("us")), EVENTS)


def _row(out, account):
    return {k.split("__")[1]: v for k, v in out.filter(pl.col("account_id") == account).row(0, named=True).items() if k != "account_id"}


def _jaccard(a, b, k):
    sa = {a[i : i + k] for i in range(len(a) - k + 1)}
    sb = {b[i : i + k] for i in range(len(b) - k + 1)}
    return len(sa & sb) / len(sa | sb)


def test_one_word_edit_is_a_near_duplicate_and_other_text_is_not():
    events = _events(
        account_id=["a", "b", "c"],
        text=[BASE, BASE.replace("library", "museum"), "my cat knocked a glass of water off the kitchen table again this morning"],
    )
    pairs = near_duplicate_pairs(events)
    assert pairs.to_dicts() == [{"source": "a", "target": "b", "n_texts": 1}]
    out = ContentBuilder().build(events)
    assert _row(out, "a")["near_dup_share"] == 1.0
    assert _row(out, "a")["log_near_dup_accounts"] == pytest.approx(math.log(2))
    assert _row(out, "c")["near_dup_share"] == 0.0


def test_texts_that_differ_only_by_their_links_are_copies():
    """Twitter wraps each tweet's link in its own t.co address: the detector's copy signal compares texts without links, and so do the features."""
    pasted = "Stop the steal, everyone come out"
    events = _events(
        account_id=["a", "a", "b", "c"],
        text=[f"{pasted} https://t.co/Xy12Ab34Cd", f"{pasted} https://t.co/Qr56St78Uv", f"{pasted} https://t.co/Mn90Op12Qr", "https://t.co/Zz99Yy88Xx"],
    )
    assert near_duplicate_pairs(events).to_dicts() == [{"source": "a", "target": "b", "n_texts": 1}]
    out = ContentBuilder().build(events)
    assert _row(out, "a")["dup_text_ratio"] == pytest.approx(0.5)  # the same text twice, with two links
    assert _row(out, "b")["near_dup_share"] == 1.0
    assert _row(out, "c")["near_dup_share"] == 0.0  # a link alone is no text


def test_identical_text_by_two_accounts_counts_once_and_own_repeats_do_not_pair():
    events = _events(account_id=["a", "b", "b", "c", "c"], text=[BASE, BASE, "@x " + BASE.upper(), BASE + " !!", BASE + " !!"])
    pairs = near_duplicate_pairs(events, threshold=0.85)
    # a and b share the identical normalised text; c's own two copies are one text, near to it
    assert pairs.to_dicts() == [
        {"source": "a", "target": "b", "n_texts": 1},
        {"source": "a", "target": "c", "n_texts": 1},
        {"source": "b", "target": "c", "n_texts": 1},
    ]
    out = ContentBuilder().build(events)
    assert _row(out, "b")["dup_text_ratio"] == pytest.approx(0.5)
    assert _row(out, "a")["dup_text_ratio"] == 0.0


def test_short_texts_are_left_out():
    events = _events(account_id=["a", "b"], text=["good morning all", "good morning all"])
    assert near_duplicate_pairs(events).height == 0


def test_signature_agreement_estimates_jaccard():
    rng = np.random.default_rng(0)
    words = np.array("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split())
    base = " ".join(rng.choice(words, 40))
    edits = [base[:100] + "xyz" + base[103:], base[:50] + " omega omega " + base[60:], " ".join(rng.choice(words, 40))]
    sig, valid = minhash_signatures(pl.Series([base, *edits]), n_bins=512, shingle_size=8)
    assert valid.all()
    for i, other in enumerate(edits, start=1):
        assert (sig[0] == sig[i]).mean() == pytest.approx(_jaccard(base, other, 8), abs=0.08)


def test_action_mix_links_and_clients():
    events = _events(
        account_id=["a"] * 4,
        action=["post", "share", "like", "boost"],
        text=[None] * 4,
        urls=[["https://www.Ex.com/x?utm_source=t", "https://ex.com/x"], [], ["https://other.org/y"], []],
        hashtags=[["#Vote", "vote"], [], ["#news"], []],
        client=["web", "web", "android", None],
    )
    r = _row(ContentBuilder().build(events), "a")
    assert (r["action_post"], r["action_share"], r["action_like"], r["action_other"], r["action_reply"]) == (0.25, 0.25, 0.25, 0.25, 0.0)
    # non-share events: 3; two with URLs; URLs ex.com/x twice (normalised) + other.org/y
    assert r["url_share"] == pytest.approx(2 / 3)
    assert r["url_diversity"] == pytest.approx(2 / 3)
    assert r["domain_diversity"] == pytest.approx(2 / 3)
    assert r["hashtag_diversity"] == pytest.approx(2 / 3)
    assert r["log_clients"] == pytest.approx(math.log(3))
    assert r["top_client_share"] == pytest.approx(2 / 3)


def test_operator_variants_found_among_random_texts():
    rng = np.random.default_rng(1)
    vocab = np.array(["".join(rng.choice(list("abcdefghij"), rng.integers(2, 8))) for _ in range(2000)])
    texts = [" ".join(rng.choice(vocab, 15)) for _ in range(400)]
    template = " ".join(rng.choice(vocab, 15))
    variants = [template + " " + w for w in rng.choice(vocab, 6)]
    events = _events(account_id=[f"o{i}" for i in range(400)] + [f"x{i}" for i in range(6)], text=texts + variants)
    pairs = near_duplicate_pairs(events)
    assert set(zip(pairs["source"], pairs["target"])) == {(f"x{i}", f"x{j}") for i in range(6) for j in range(i + 1, 6)}


@pytest.mark.slow
def test_speed_smoke_100k_events():
    rng = np.random.default_rng(2)
    vocab = np.array(["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), rng.integers(2, 10))) for _ in range(20000)])
    p = 1 / np.arange(1, len(vocab) + 1) ** 1.1
    words = pl.Series(vocab[rng.choice(len(vocab), (100_000, 14), p=p / p.sum()).ravel()]).reshape((100_000, 14)).arr.join(" ")
    events = _events(account_id=pl.Series(rng.integers(0, 5000, 100_000)).cast(pl.String).to_list(), text=words.to_list())
    start = time.perf_counter()
    near_duplicate_pairs(events)
    assert time.perf_counter() - start < 60
