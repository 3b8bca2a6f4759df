from dataclasses import dataclass, field
from typing import Literal

import pytest

from rlcore.config import ConfigError, config_to_dict, load_config, parse_overrides
from rlcore.errors import DataError, DataFileNotFound, ModelNotFound


@dataclass
class Optim:
    lr: float = 1e-6
    steps: int = 10


@dataclass
class Config:
    model: str = "tiny:qwen2"
    optim: Optim = field(default_factory=Optim)
    stages: tuple[str, ...] = ("sft", "rl")
    mode: Literal["paper", "code"] = "paper"
    temperature: float | None = None
    use_vllm: bool = False

    def __post_init__(self):
        if self.optim.steps < 0:
            raise ConfigError(f"optim.steps must be >= 0, got {self.optim.steps}")


def test_error_classes():
    assert issubclass(ConfigError, ValueError)
    assert issubclass(DataError, ValueError)
    assert issubclass(DataFileNotFound, DataError) and issubclass(DataFileNotFound, FileNotFoundError)
    assert issubclass(ModelNotFound, LookupError)


def test_defaults_yaml_and_overrides(tmp_path):
    assert load_config(Config) == Config()
    recipe = tmp_path / "r.yaml"
    recipe.write_text("model: embedded:smollm2-135m-instruct\noptim:\n  lr: 1\nstages: [rl]\n")
    cfg = load_config(Config, recipe, ["optim.steps=3", "mode=code", "temperature=0.7", "use_vllm=true"])
    assert cfg.model == "embedded:smollm2-135m-instruct"
    assert cfg.optim == Optim(lr=1.0, steps=3)
    assert isinstance(cfg.optim.lr, float)
    assert cfg.stages == ("rl",)
    assert (cfg.mode, cfg.temperature, cfg.use_vllm) == ("code", 0.7, True)
    assert config_to_dict(cfg)["stages"] == ["rl"]


def test_parse_overrides():
    assert parse_overrides(["a.b=1", "a.c=x", "d=[1, 2]", "e="]) == {
        "a": {"b": 1, "c": "x"},
        "d": [1, 2],
        "e": "",
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_unknown_key_names_key_and_file(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("optim:\n  learning_rate: 1\n")
    with pytest.raises(ConfigError, match=r"optim\.learning_rate.*bad\.yaml"):
        load_config(Config, recipe)
    with pytest.raises(ConfigError, match="'nope'"):
        load_config(Config, None, ["nope=1"])


def test_type_errors(tmp_path):
    recipe = tmp_path / "t.yaml"
    recipe.write_text("optim:\n  steps: many\n")
    with pytest.raises(ConfigError, match=r"optim\.steps.*integer.*t\.yaml"):
        load_config(Config, recipe)
    with pytest.raises(ConfigError, match="mode"):
        load_config(Config, None, ["mode=other"])
    with pytest.raises(ConfigError, match="use_vllm"):
        load_config(Config, None, ["use_vllm=3"])
    with pytest.raises(ConfigError, match="optim.steps must be >= 0"):
        load_config(Config, None, ["optim.steps=-1"])


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_config(Config, tmp_path / "missing.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("model: [unclosed\nmode: x\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml.*line"):
        load_config(Config, bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(Config, scalar)
