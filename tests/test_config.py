from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import AfterValidator

from axionlab.config import (
    RunConfig,
    Section,
    apply_overrides,
    dump_yaml,
    read_yaml,
    registered_name,
    validate,
)
from axionlab.errors import ConfigError
from axionlab.registry import Registry

SHAPES: Registry[int] = Registry("model")
SHAPES.add("mlp", 1)
SHAPES.add("cnn", 2)


class Train(Section):
    lr: float = 0.1
    epochs: int = 1
    normalization: Literal["filter", "layer", "none"] = "filter"


class Demo(RunConfig):
    train: Train = Train()
    models: list[Annotated[str, AfterValidator(registered_name(SHAPES))]] = ["mlp"]


def test_defaults_resolved_and_frozen():
    cfg = validate(Demo, {"protocol": "demo"})
    assert cfg.train.lr == 0.1 and cfg.seed == 0 and cfg.executor.kind == "inprocess"
    with pytest.raises(Exception, match="frozen"):
        cfg.seed = 3  # type: ignore[misc]


def test_unknown_key_suggests_nearest():
    with pytest.raises(ConfigError, match=r"unknown key 'trian' in x.yaml; did you mean 'train'\?"):
        validate(Demo, {"protocol": "demo", "trian": {}}, source="x.yaml")
    with pytest.raises(ConfigError, match=r"unknown key 'train.lrr'.*did you mean 'lr'"):
        validate(Demo, {"protocol": "demo", "train": {"lrr": 1}})


def test_wrong_type_names_key_and_value():
    with pytest.raises(ConfigError, match=r"train.lr: .*valid number.*got 'fast'"):
        validate(Demo, {"protocol": "demo", "train": {"lr": "fast"}})
    with pytest.raises(ConfigError, match=r"train.normalization: .*'filter', 'layer' or 'none'"):
        validate(Demo, {"protocol": "demo", "train": {"normalization": "filters"}})
    with pytest.raises(ConfigError, match=r"seed: .*greater than or equal to 0, got -1"):
        validate(Demo, {"protocol": "demo", "seed": -1})


def test_unknown_registry_name():
    with pytest.raises(ConfigError, match=r"models.0: Unknown model 'mpl'. Did you mean 'mlp'\?"):
        validate(Demo, {"protocol": "demo", "models": ["mpl"]})


def test_missing_key():
    with pytest.raises(ConfigError, match="missing required key 'protocol'"):
        validate(Demo, {})


def test_overrides_are_typed_and_nested():
    data = apply_overrides(
        {"protocol": "demo"},
        ["train.lr=0.5", "train.epochs=3", "seed=7", "models=[mlp, cnn]", "name=run one"],
    )
    cfg = validate(Demo, data)
    assert cfg.train.lr == 0.5 and isinstance(cfg.train.epochs, int) and cfg.seed == 7
    assert cfg.models == ["mlp", "cnn"] and cfg.name == "run one"
    with pytest.raises(ConfigError, match=r"must look like key\.sub=value"):
        apply_overrides({}, ["train.lr"])
    with pytest.raises(ConfigError, match="'seed' is not a mapping"):
        apply_overrides({"seed": 1}, ["seed.x=1"])


def test_read_yaml_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+"):
        read_yaml(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_yaml(scalar)


def test_hash_stable_and_sensitive():
    a = validate(Demo, {"protocol": "demo"})
    b = validate(Demo, {"protocol": "demo", "train": {"lr": 0.1}})
    c = validate(Demo, {"protocol": "demo", "train": {"lr": 0.2}})
    assert a.config_hash() == b.config_hash() != c.config_hash()
    assert a.slice_hash("seed") == c.slice_hash("seed")
    assert validate(Demo, __import__("yaml").safe_load(dump_yaml(c))) == c


def test_overrides_index_lists():
    data = apply_overrides({"protocol": "demo", "models": ["mlp", "mlp"]}, ["models.1=cnn"])
    assert data["models"] == ["mlp", "cnn"]
    with pytest.raises(ConfigError, match=r"'models\.5' needs a list index below 2"):
        apply_overrides(data, ["models.5=cnn"])
