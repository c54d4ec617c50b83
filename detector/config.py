"""Typed, frozen configuration loaded from TOML.

Defaults live here, in code, so an installed package needs no data file;
``configs/default.toml`` restates every one of them with a comment on what it
trades off (a test keeps the two equal). ``load_config(path)`` overrides the
defaults key by key and refuses unknown keys and bad values with a message that
names the key, the file and the value seen.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from detector.errors import ConfigError

_Check = tuple[Callable[[Any], bool], str]


def _param(default: Any, check: _Check) -> Any:
    return field(default=default, metadata={"check": check})


def _int_at_least(low: int) -> _Check:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low, f"an int >= {low}")


def _number_in(low: float, high: float) -> _Check:
    return (
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high,
        f"a number in [{low}, {high}]",
    )


_BOOL: _Check = (lambda v: isinstance(v, bool), "true or false")
_STRINGS: _Check = (lambda v: isinstance(v, list) and all(isinstance(s, str) and s for s in v), "a list of non-empty strings")


@dataclass(frozen=True, kw_only=True)
class CoactionConfig:
    """How co-action networks are computed (``features.coaction``)."""

    window_s: int = _param(60, _int_at_least(0))
    min_weight: int = _param(1, _int_at_least(1))
    max_actors_per_window: int = _param(5000, _int_at_least(2))
    pairs_per_chunk: int = _param(5_000_000, _int_at_least(1))
    normalize_urls: bool = _param(True, _BOOL)
    tracking_params: tuple[str, ...] = _param(
        ("utm_*", "fbclid", "gclid", "igshid", "mc_cid", "mc_eid", "ref_src"), _STRINGS
    )


@dataclass(frozen=True, kw_only=True)
class DetectorConfig:
    """Which pair evidence the detector gathers (``detector.pipeline``)."""

    window_s: int = _param(3600, _int_at_least(0))
    max_object_accounts: int = _param(1000, _int_at_least(2))
    min_objects: int = _param(2, _int_at_least(1))
    fdr: float = _param(0.01, _number_in(1e-12, 1.0))
    min_lift: float = _param(5.0, _number_in(1.0, 1e9))
    min_text_chars: int = _param(25, _int_at_least(1))
    near_duplicate_threshold: float = _param(0.6, _number_in(0.05, 1.0))
    max_accounts_per_address: int = _param(50, _int_at_least(2))
    max_accounts_per_device: int = _param(1000, _int_at_least(2))
    address_pool_overlap: float = _param(0.5, _number_in(0.0, 1.0))
    infrastructure_strength: float = _param(0.5, _number_in(0.0, 100.0))
    cohort_s: int = _param(86400, _int_at_least(0))
    max_template_accounts: int = _param(500, _int_at_least(2))
    identity_strength: float = _param(0.5, _number_in(0.0, 100.0))
    coaction_strength_cap: float = _param(2.0, _number_in(0.01, 1e9))
    min_pair_strength: float = _param(0.0, _number_in(0.0, 1e9))
    group_rounds: int = _param(2, _int_at_least(0))
    group_min_share: float = _param(0.5, _number_in(0.0, 1.0))
    group_min_score: float = _param(0.7, _number_in(0.0, 1.0))
    group_coacted_only: bool = _param(True, _BOOL)
    group_member_level: float = _param(0.01, _number_in(0.0, 1.0))


@dataclass(frozen=True, kw_only=True)
class ClusterConfig:
    """HDBSCAN over the fused pair distances (``detector.cluster``)."""

    min_cluster_size: int = _param(3, _int_at_least(2))
    min_samples: int = _param(2, _int_at_least(1))
    split_density: float = _param(0.25, _number_in(0.0, 1.0))
    trim_share: float = _param(0.25, _number_in(0.0, 1.0))
    attach_share: float = _param(0.5, _number_in(0.0, 1.0))
    neighbourhood_overlap: bool = _param(True, _BOOL)
    content_signals: tuple[str, ...] = _param(("url", "domain", "hashtag", "copy"), _STRINGS)


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    """When a cluster is flagged (``detector.scoring``)."""

    threshold: float = _param(0.5, _number_in(0.0, 1.0))


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole resolved configuration of a run."""

    coaction: CoactionConfig = field(default_factory=CoactionConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain nested dict (tuples as lists), as recorded in ``run.json``."""
        return dataclasses.asdict(self, dict_factory=lambda items: {k: list(v) if isinstance(v, tuple) else v for k, v in items})


# Section name in TOML -> its dataclass. Explicit, like every registry here.
_SECTIONS: dict[str, type] = {"coaction": CoactionConfig, "detector": DetectorConfig, "cluster": ClusterConfig, "score": ScoreConfig}


def _where(path: Path | None) -> str:
    return str(path) if path is not None else "built-in defaults"


def build_config(overrides: dict[str, Any], *, source: Path | None = None) -> Config:
    """Validate ``overrides`` (parsed TOML) and apply them over the defaults."""
    sections = {}
    for section_name, values in overrides.items():
        if section_name not in _SECTIONS:
            known = ", ".join(f"[{s}]" for s in _SECTIONS)
            raise ConfigError(f"Unknown section [{section_name}] in {_where(source)}; known sections: {known}.")
        if not isinstance(values, dict):
            raise ConfigError(f"[{section_name}] in {_where(source)} must be a table. Got {values!r} instead.")
        cls = _SECTIONS[section_name]
        params = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in values.items():
            if key not in params:
                known = ", ".join(sorted(params))
                raise ConfigError(
                    f"Unknown key '{key}' in [{section_name}] of {_where(source)}; known keys: {known}."
                )
            check, expected = params[key].metadata["check"]
            if not check(value):
                raise ConfigError(
                    f"The '{key}' parameter of [{section_name}] must be {expected}. "
                    f"Got {value!r} instead ({_where(source)})."
                )
        # TOML arrays become tuples so the frozen config is immutable all the way down.
        sections[section_name] = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
    return Config(**sections)


def load_config(path: Path | str | None = None) -> Config:
    """The defaults, overridden key by key by the TOML file at ``path`` when given."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}.") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from None
    return build_config(data, source=path)
