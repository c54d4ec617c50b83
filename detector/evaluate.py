"""The contract's metrics: compare a scored output with ground truth.

``evaluate(accounts, truth)`` scores an accounts table (``OUT_ACCOUNTS``) against
a truth table (``TRUTH``); ``evaluate_dir(out_dir, truth_path)`` does the same for
files and is what ``coordetect evaluate DIR --truth FILE`` calls.

Conventions, fixed here so every release is scored the same way:

- The population is the truth file. A truth account missing from the output
  counts as unflagged and in no cluster (-1); output accounts not in the truth
  are ignored. A null ``flagged`` counts as false, a null ``cluster_id`` as -1.
- An account is *coordinated* when its ``operator_id`` is not null, *organic*
  otherwise.
- ``cluster_id == -1`` means "in no cluster": each such account is a cluster of
  its own (a singleton), both for ``operator_ari`` and, should a flagged account
  carry -1 (the contract says it should not), for ``operator_purity``.
- ``operator_purity`` looks at the truth accounts of each flagged cluster that
  are flagged; a cluster is pure when one operator holds at least 90% of them.
  Organic accounts belong to no operator, so a mostly organic cluster is impure.

Degenerate cases give JSON ``null`` (Python ``None``), never a made-up number:

- nothing flagged: ``precision`` and ``operator_purity`` are null; ``recall``
  and ``f1`` are 0.0 when there are coordinated accounts (finding nothing is a
  defined, bad result); ``organic_fpr`` is 0.0.
- no coordinated accounts (an organic-only scenario): ``recall``, ``f1`` and
  ``operator_ari`` are null; ``precision`` is 0.0 when anything is flagged;
  ``organic_fpr`` is the metric that matters there.
- no organic accounts: ``organic_fpr`` is null.
- no flagged clusters: ``operator_purity`` is null.

``f1`` is ``2·TP / (2·TP + FP + FN)``, equal to the harmonic mean of precision
and recall whenever both are defined.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sklearn.metrics import adjusted_rand_score

from detector.errors import InputError

PURITY_SHARE = 0.9

METRIC_KEYS = (
    "precision",
    "recall",
    "f1",
    "organic_fpr",
    "operator_ari",
    "operator_purity",
    "n_accounts",
    "n_coordinated",
    "n_flagged",
    "n_flagged_clusters",
)

_INTEGER_TYPES = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def _check_columns(frame: pl.DataFrame, *, what: str, strings: tuple[str, ...] = (), integers: tuple[str, ...] = (),
                   booleans: tuple[str, ...] = ()) -> None:
    """Raise ``InputError`` naming ``what`` and the column unless the needed columns exist with usable types."""
    wanted = [(c, "string", lambda t: t == pl.String) for c in strings]
    wanted += [(c, "an integer type", lambda t: isinstance(t, _INTEGER_TYPES)) for c in integers]
    wanted += [(c, "boolean", lambda t: t == pl.Boolean) for c in booleans]
    for name, expected, ok in wanted:
        if name not in frame.columns:
            raise InputError(f"{what}: missing column '{name}' (expected {expected})")
        if not ok(frame.schema[name]):
            raise InputError(f"{what}: column '{name}' has type {frame.schema[name]}, expected {expected}")


def _check_unique(frame: pl.DataFrame, *, what: str) -> None:
    dup = frame.filter(pl.col("account_id").is_duplicated()).select("account_id").head(1)
    if dup.height:
        raise InputError(f"{what}: column 'account_id' repeats '{dup.item()}' (expected one row per account)")
    if frame["account_id"].null_count():
        raise InputError(f"{what}: column 'account_id' has nulls (expected an id on every row)")


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def evaluate(accounts: pl.DataFrame, truth: pl.DataFrame, *, accounts_name: str = "accounts",
             truth_name: str = "truth") -> dict[str, float | None]:
    """The contract's metrics of ``accounts`` (an output accounts table) against ``truth``.

    Returns a dict with exactly the keys of ``METRIC_KEYS``; undefined metrics are
    ``None`` (see the module docstring). ``accounts_name``/``truth_name`` only
    label error messages. Raises ``InputError`` on missing columns, wrong types,
    repeated account ids or an empty truth table.
    """
    if truth.schema.get("operator_id") == pl.Null:
        # An all-organic truth table built without a schema has a Null-typed column.
        truth = truth.with_columns(pl.col("operator_id").cast(pl.String))
    _check_columns(accounts, what=accounts_name, strings=("account_id",), integers=("cluster_id",),
                   booleans=("flagged",))
    _check_columns(truth, what=truth_name, strings=("account_id", "operator_id"))
    _check_unique(accounts, what=accounts_name)
    _check_unique(truth, what=truth_name)
    if truth.height == 0:
        raise InputError(f"{truth_name}: no rows (expected at least one account)")

    joined = truth.select("account_id", "operator_id").join(
        accounts.select("account_id", pl.col("cluster_id").cast(pl.Int64), "flagged"),
        on="account_id",
        how="left",
    ).with_columns(
        pl.col("flagged").fill_null(False),
        pl.col("cluster_id").fill_null(-1),
        coordinated=pl.col("operator_id").is_not_null(),
    ).with_columns(
        # Accounts in no cluster become singletons: a key no real cluster can have.
        cluster_key=pl.when(pl.col("cluster_id") == -1)
        .then(pl.lit("single:") + pl.col("account_id"))
        .otherwise(pl.lit("cluster:") + pl.col("cluster_id").cast(pl.String)),
    )

    counts = joined.select(
        n_accounts=pl.len(),
        n_coordinated=pl.col("coordinated").sum(),
        n_flagged=pl.col("flagged").sum(),
        tp=(pl.col("flagged") & pl.col("coordinated")).sum(),
        fp=(pl.col("flagged") & ~pl.col("coordinated")).sum(),
    ).row(0, named=True)
    n, n_coord, n_flagged, tp, fp = (int(counts[k]) for k in ("n_accounts", "n_coordinated", "n_flagged", "tp", "fp"))
    fn = n_coord - tp
    n_organic = n - n_coord

    coordinated = joined.filter(pl.col("coordinated"))
    ari = (
        float(adjusted_rand_score(coordinated["operator_id"].to_numpy(), coordinated["cluster_key"].to_numpy()))
        if n_coord
        else None
    )

    flagged_clusters = (
        joined.filter(pl.col("flagged"))
        .group_by("cluster_key")
        .agg(size=pl.len(), top=pl.col("operator_id").drop_nulls().value_counts(sort=True).first().struct.field("count"))
        .with_columns(pl.col("top").fill_null(0))
    )
    n_clusters = flagged_clusters.height
    n_pure = flagged_clusters.filter(pl.col("top") >= PURITY_SHARE * pl.col("size")).height

    return {
        "precision": _ratio(tp, n_flagged),
        "recall": _ratio(tp, n_coord),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn) if n_coord else None,
        "organic_fpr": _ratio(fp, n_organic),
        "operator_ari": ari,
        "operator_purity": _ratio(n_pure, n_clusters),
        "n_accounts": n,
        "n_coordinated": n_coord,
        "n_flagged": n_flagged,
        "n_flagged_clusters": n_clusters,
    }


def _read_table(path: Path, *, what: str) -> pl.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: file not found (expected {what})")
    try:
        if path.suffix == ".csv":
            return pl.read_csv(path, schema_overrides={"account_id": pl.String, "operator_id": pl.String})
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"{path}: unreadable ({first_line}); expected {what}") from exc


def evaluate_dir(out_dir: Path, truth_path: Path) -> dict[str, float | None]:
    """``evaluate`` on ``out_dir/accounts.parquet`` against the truth file (Parquet, or CSV by extension)."""
    accounts_path = Path(out_dir) / "accounts.parquet"
    truth_path = Path(truth_path)
    accounts = _read_table(accounts_path, what="the accounts table of a scored output folder")
    truth = _read_table(truth_path, what="a truth table (account_id, operator_id, role)")
    return evaluate(accounts, truth, accounts_name=str(accounts_path), truth_name=str(truth_path))
