"""The feature-builder contract, the registry of builders, and ``build_all``.

A builder turns canonical events (and, for some, the accounts table) into one
row per account: ``account_id`` plus Float64 columns named
``<builder>__<feature>``, never null, NaN or infinite, independent of the order
of input rows. Each builder says which value each feature takes when there is
nothing to measure (``neutral()``), so ``build_all`` can give an account that
one builder never saw that builder's neutral values.

Tunables follow scikit-learn's estimator contract: keyword-only constructor
arguments, stored as given; ``build`` validates them and raises ``ConfigError``
naming the parameter.

The registry is a dict literal, but it is resolved on first access (PEP 562
``__getattr__``): the builder modules import the helpers below, so importing
them from here at module level would be circular.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import polars as pl

from detector.errors import ConfigError, InputError
from detector.schema import ACCOUNTS, EVENTS, EVENTS_REQUIRED, check_frame, conform

SEPARATOR = "__"


@runtime_checkable
class FeatureBuilder(Protocol):
    """What every per-account feature builder offers."""

    name: str

    def neutral(self) -> dict[str, float]:
        """Every output column except ``account_id`` -> its value when there is nothing to measure."""
        ...

    def build(self, events: pl.DataFrame, accounts: pl.DataFrame | None) -> pl.DataFrame:
        """One row per account, keyed by ``account_id``; see the module docstring."""
        ...


# ---------------------------------------------------------------- helpers for builders


def columns(builder: str, features: Mapping[str, float]) -> dict[str, float]:
    """``{feature: neutral}`` -> ``{"<builder>__<feature>": neutral}``."""
    return {f"{builder}{SEPARATOR}{feature}": float(value) for feature, value in features.items()}


def schema_of(neutral: Mapping[str, float]) -> dict[str, pl.DataType]:
    """The output schema of a builder with these neutral values."""
    return {"account_id": pl.String(), **{name: pl.Float64() for name in neutral}}


def check_param(builder: str, param: str, value: Any, ok: Callable[[Any], bool], expected: str) -> None:
    """Raise ``ConfigError`` in the house template unless ``ok(value)``."""
    try:
        good = bool(ok(value))
    except TypeError:
        good = False
    if not good:
        raise ConfigError(f"The '{param}' parameter of [{builder}] must be {expected}. Got {value!r} instead.")


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def prepare_events(events: pl.DataFrame | pl.LazyFrame, *, builder: str) -> pl.DataFrame:
    """Canonical events: required columns checked, missing optional ones added as nulls, types checked."""
    if isinstance(events, pl.LazyFrame):
        events = events.collect()
    for name in EVENTS_REQUIRED:
        if name not in events.columns:
            raise InputError(f"events given to [{builder}]: missing required column '{name}' (expected {EVENTS[name]})")
    events = conform(events, EVENTS)
    check_frame(events, EVENTS, what=f"events given to [{builder}]")
    return events


def prepare_accounts(accounts: pl.DataFrame | pl.LazyFrame, *, builder: str) -> pl.DataFrame:
    """The accounts table with missing optional columns added as nulls, types checked."""
    if isinstance(accounts, pl.LazyFrame):
        accounts = accounts.collect()
    if "account_id" not in accounts.columns:
        raise InputError(f"accounts given to [{builder}]: missing required column 'account_id' (expected String)")
    accounts = conform(accounts, ACCOUNTS)
    check_frame(accounts, ACCOUNTS, what=f"accounts given to [{builder}]")
    return accounts


def finish(frame: pl.DataFrame | pl.LazyFrame, neutral: Mapping[str, float]) -> pl.DataFrame:
    """Select ``account_id`` and the builder's columns as Float64, neutral for null/NaN/inf, sorted by account.

    Sorting makes the result independent of input row order; the fill is a
    last guard (builders choose their neutral values explicitly upstream).
    """
    exprs = [pl.col("account_id").cast(pl.String)]
    for name, value in neutral.items():
        col = pl.col(name).cast(pl.Float64)
        exprs.append(pl.when(col.is_finite()).then(col).otherwise(pl.lit(value, dtype=pl.Float64)).alias(name))
    return frame.lazy().select(exprs).sort("account_id").collect()


# ---------------------------------------------------------------- registry and build_all


def _registry() -> dict[str, type]:
    from features.content import ContentBuilder
    from features.infra import InfraBuilder
    from features.metadata import MetadataBuilder
    from features.timing import TimingBuilder

    return {
        "timing": TimingBuilder,
        "content": ContentBuilder,
        "metadata": MetadataBuilder,
        "infra": InfraBuilder,
    }


def __getattr__(name: str) -> Any:
    # PEP 562: ``BUILDERS`` is built once, on first use (see the module docstring).
    if name == "BUILDERS":
        registry = _registry()
        globals()["BUILDERS"] = registry
        return registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_all(
    events: pl.DataFrame,
    accounts: pl.DataFrame | None = None,
    *,
    names: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> pl.DataFrame:
    """Every selected builder's features joined on ``account_id``, one row per account.

    The accounts are those in ``events`` and in ``accounts`` (when given),
    sorted. An account a builder did not return gets that builder's neutral
    values. ``names`` selects builders (default: all, in registry order);
    ``params`` maps a builder name to its keyword arguments.
    """
    registry: dict[str, type] = __getattr__("BUILDERS")
    chosen = list(registry) if names is None else list(names)
    for name in chosen:
        if name not in registry:
            raise ConfigError(f"Unknown feature builder '{name}'; known builders: {', '.join(registry)}.")
    params = dict(params or {})
    for name in params:
        if name not in chosen:
            raise ConfigError(f"Parameters given for feature builder '{name}', which is not selected ({', '.join(chosen)}).")
    events = prepare_events(events, builder="build_all")
    ids = [events.select("account_id")]
    if accounts is not None:
        accounts = prepare_accounts(accounts, builder="build_all")
        ids.append(accounts.select("account_id"))
    out = pl.concat(ids).filter(pl.col("account_id").is_not_null()).unique().sort("account_id")
    for name in chosen:
        builder = registry[name](**params.get(name, {}))
        neutral = builder.neutral()
        frame = builder.build(events, accounts)
        out = out.join(frame, on="account_id", how="left", maintain_order="left").with_columns(
            pl.col(col).fill_null(value) for col, value in neutral.items()
        )
    return out
