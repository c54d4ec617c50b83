"""detector.evaluate: the contract's metrics on hand-made outputs with hand-computed answers."""

from __future__ import annotations

import json

import polars as pl
import pytest

from detector.errors import InputError
from detector.evaluate import METRIC_KEYS, evaluate, evaluate_dir
from detector.schema import OUT_ACCOUNTS, TRUTH


def accounts_frame(rows: list[tuple[str, int, bool]]) -> pl.DataFrame:
    """An output accounts table from (account_id, cluster_id, flagged) rows."""
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "cluster_id": [r[1] for r in rows],
            "score": [1.0 if r[2] else 0.0 for r in rows],
            "flagged": [r[2] for r in rows],
            "evidence": ["" for _ in rows],
        },
        schema=OUT_ACCOUNTS,
    )


def truth_frame(rows: list[tuple[str, str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_id": [r[0] for r in rows],
            "operator_id": [r[1] for r in rows],
            "role": ["amplifier" if r[1] else "organic" for r in rows],
        },
        schema=TRUTH,
    )


# Operators X = {a, b}, Y = {d, f}; organic c, e, g.
TRUTH_7 = truth_frame([("a", "X"), ("b", "X"), ("c", None), ("d", "Y"), ("e", None), ("f", "Y"), ("g", None)])


def test_mixed_output_matches_hand_computed_metrics():
    # Cluster 1 = {a, b, c} and cluster 2 = {d, e} flagged; f in no cluster; g missing from the output.
    out = accounts_frame([("a", 1, True), ("b", 1, True), ("c", 1, True), ("d", 2, True), ("e", 2, True), ("f", -1, False)])
    m = evaluate(out, TRUTH_7)
    assert tuple(m) == METRIC_KEYS
    # TP = a, b, d; FP = c, e; FN = f.
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))
    assert m["organic_fpr"] == pytest.approx(2 / 3)
    # Truth {a,b}{d,f} vs prediction {a,b}{d}{f}: sum C(n_ij,2)=1, rows 2, cols 1, pairs 6
    # -> (1 - 2*1/6) / ((2+1)/2 - 2*1/6) = 4/7.
    assert m["operator_ari"] == pytest.approx(4 / 7)
    # Cluster 1 is 2/3 X, cluster 2 is 1/2 Y: both below 90%.
    assert m["operator_purity"] == 0.0
    assert (m["n_accounts"], m["n_coordinated"], m["n_flagged"], m["n_flagged_clusters"]) == (7, 4, 5, 2)


def test_perfect_output_scores_one_everywhere():
    out = accounts_frame([("a", 0, True), ("b", 0, True), ("d", 1, True), ("f", 1, True), ("c", -1, False)])
    m = evaluate(out, TRUTH_7)
    assert m["precision"] == m["recall"] == m["f1"] == m["operator_ari"] == m["operator_purity"] == 1.0
    assert m["organic_fpr"] == 0.0


def test_unclustered_accounts_are_singletons_not_one_cluster():
    # If -1 were one shared cluster, {d, f} would look perfectly recovered (ARI 1).
    out = accounts_frame([("a", 7, True), ("b", 7, True), ("d", -1, False), ("f", -1, False)])
    assert evaluate(out, TRUTH_7)["operator_ari"] == pytest.approx(4 / 7)


def test_all_coordinated_unclustered_gives_zero_ari():
    # Every prediction a singleton: no agreeing pair, expected index 0 -> ARI 0.
    assert evaluate(accounts_frame([]), TRUTH_7)["operator_ari"] == pytest.approx(0.0)


def test_nothing_flagged():
    m = evaluate(accounts_frame([("a", -1, False), ("c", -1, False)]), TRUTH_7)
    assert m["precision"] is None
    assert m["operator_purity"] is None
    assert m["recall"] == 0.0 and m["f1"] == 0.0
    assert m["organic_fpr"] == 0.0
    assert m["n_flagged"] == 0 and m["n_flagged_clusters"] == 0


def test_organic_only_truth():
    truth = pl.DataFrame({"account_id": ["a", "b", "c", "d"], "operator_id": [None] * 4, "role": ["organic"] * 4})
    assert truth.schema["operator_id"] == pl.Null  # built without a schema, as a user might
    m = evaluate(accounts_frame([("a", 3, True), ("b", 3, True)]), truth)
    assert m["recall"] is None and m["f1"] is None and m["operator_ari"] is None
    assert m["precision"] == 0.0
    assert m["organic_fpr"] == pytest.approx(0.5)
    assert m["operator_purity"] == 0.0  # a fully organic cluster has no operator at all
    assert m["n_coordinated"] == 0


def test_no_organic_accounts_gives_null_fpr():
    truth = truth_frame([("a", "X"), ("b", "X")])
    m = evaluate(accounts_frame([("a", 0, True), ("b", 0, True)]), truth)
    assert m["organic_fpr"] is None
    assert m["precision"] == 1.0


@pytest.mark.parametrize(
    ("n_x", "n_other", "pure"),
    [(9, 1, True), (8, 1, False), (10, 0, True)],  # 9/10 = 90% is pure; 8/9 < 90% is not
)
def test_purity_threshold_is_ninety_percent(n_x, n_other, pure):
    xs = [(f"x{i}", "X") for i in range(n_x)]
    others = [(f"o{i}", None) for i in range(n_other)]
    truth = truth_frame(xs + others)
    out = accounts_frame([(aid, 5, True) for aid, _ in xs + others])
    assert evaluate(out, truth)["operator_purity"] == (1.0 if pure else 0.0)


def test_purity_counts_a_cluster_split_between_two_operators_as_impure():
    truth = truth_frame([("a", "X"), ("b", "X"), ("c", "Y"), ("d", "Y"), ("e", "Z"), ("f", "Z")])
    out = accounts_frame([("a", 0, True), ("b", 0, True), ("c", 0, True), ("d", 0, True), ("e", 1, True), ("f", 1, True)])
    m = evaluate(out, truth)
    assert m["operator_purity"] == pytest.approx(1 / 2)
    assert m["n_flagged_clusters"] == 2


def test_output_accounts_outside_truth_are_ignored():
    base = accounts_frame([("a", 0, True), ("b", 0, True)])
    extra = pl.concat([base, accounts_frame([("zz1", 0, True), ("zz2", 9, True)])])
    assert evaluate(extra, TRUTH_7) == evaluate(base, TRUTH_7)


@pytest.mark.parametrize(
    ("mutate", "column"),
    [
        (lambda f: f.drop("flagged"), "flagged"),
        (lambda f: f.with_columns(pl.col("cluster_id").cast(pl.Float64)), "cluster_id"),
        (lambda f: f.with_columns(pl.col("flagged").cast(pl.Int64)), "flagged"),
    ],
)
def test_bad_accounts_columns_are_named(mutate, column):
    with pytest.raises(InputError, match=f"'{column}'"):
        evaluate(mutate(accounts_frame([("a", 0, True)])), TRUTH_7)


def test_repeated_accounts_are_rejected():
    with pytest.raises(InputError, match="repeats 'a'"):
        evaluate(accounts_frame([("a", 0, True), ("a", 1, True)]), TRUTH_7)


def test_empty_truth_is_rejected():
    with pytest.raises(InputError, match="no rows"):
        evaluate(accounts_frame([]), truth_frame([]))


def test_evaluate_dir_reads_files_and_result_is_json(tmp_path):
    out = accounts_frame([("a", 0, True), ("b", 0, True), ("c", -1, False)])
    out.write_parquet(tmp_path / "accounts.parquet")
    TRUTH_7.write_parquet(tmp_path / "truth.parquet")
    m = evaluate_dir(tmp_path, tmp_path / "truth.parquet")
    assert m == evaluate(out, TRUTH_7)
    assert json.loads(json.dumps(m)) == m  # None -> null round-trips


def test_evaluate_dir_missing_accounts_names_the_file(tmp_path):
    TRUTH_7.write_parquet(tmp_path / "truth.parquet")
    with pytest.raises(InputError, match="accounts.parquet: file not found"):
        evaluate_dir(tmp_path, tmp_path / "truth.parquet")


def test_evaluate_dir_bad_column_names_file_and_column(tmp_path):
    accounts_frame([("a", 0, True)]).drop("cluster_id").write_parquet(tmp_path / "accounts.parquet")
    TRUTH_7.write_parquet(tmp_path / "truth.parquet")
    with pytest.raises(InputError, match=r"accounts\.parquet: missing column 'cluster_id'") as info:
        evaluate_dir(tmp_path, tmp_path / "truth.parquet")
    assert "\n" not in str(info.value)


def test_evaluate_dir_unreadable_file_is_one_line(tmp_path):
    (tmp_path / "accounts.parquet").write_text("not parquet\n")
    TRUTH_7.write_parquet(tmp_path / "truth.parquet")
    with pytest.raises(InputError, match="unreadable") as info:
        evaluate_dir(tmp_path, tmp_path / "truth.parquet")
    assert "\n" not in str(info.value)
