"""Config: defaults documented in configs/default.toml, overrides key by key, bad input refused clearly."""

import dataclasses
import tomllib
from pathlib import Path

import pytest

from detector.config import Config, load_config
from detector.errors import ConfigError

DEFAULT_TOML = Path(__file__).resolve().parents[1] / "configs" / "default.toml"


def test_default_toml_states_every_default_exactly():
    assert load_config(DEFAULT_TOML) == Config()
    data = tomllib.loads(DEFAULT_TOML.read_text())
    for section in dataclasses.fields(Config):
        names = {f.name for f in dataclasses.fields(getattr(Config(), section.name))}
        assert set(data[section.name]) == names, f"[{section.name}] in default.toml must list every key"


def test_every_default_key_has_a_comment():
    lines = DEFAULT_TOML.read_text().splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"no comment above: {line}"


def test_override_is_key_by_key(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[coaction]\nwindow_s = 10\n")
    config = load_config(path)
    assert config.coaction.window_s == 10
    assert config.coaction.max_actors_per_window == Config().coaction.max_actors_per_window


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().coaction.window_s = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[coaction]\nwindow_s = -1\n", "'window_s' parameter of [coaction] must be an int >= 0. Got -1"),
        ("[coaction]\nwindow_s = 1.5\n", "Got 1.5"),
        ("[coaction]\nwindow_s = true\n", "Got True"),
        ("[coaction]\nnormalize_urls = 'yes'\n", "'normalize_urls' parameter of [coaction] must be true or false"),
        ("[coaction]\nwindw = 3\n", "Unknown key 'windw' in [coaction]"),
        ("[nope]\nx = 1\n", "Unknown section [nope]"),
        ("coaction = 3\n", "[coaction]"),
        ("[coaction\n", "not valid TOML"),
    ],
)
def test_bad_config_is_refused_naming_key_file_and_value(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read config file"):
        load_config(tmp_path / "absent.toml")


def test_to_dict_is_json_ready():
    import json

    assert json.loads(json.dumps(Config().to_dict()))["coaction"]["window_s"] == 60
