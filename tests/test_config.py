import math
import re
from pathlib import Path
from typing import Annotated, Literal

import pytest
from pydantic import AfterValidator, Field

from axionlab import config as config_module
from axionlab.config import (
    MAX_ALIASES,
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    NAME_PATTERN,
    Options,
    RunConfig,
    SafeLabel,
    SafeName,
    Section,
    apply_overrides,
    check_memory,
    dump_yaml,
    format_bytes,
    is_safe_name,
    machine_memory,
    read_yaml,
    registered_name,
    validate,
)
from axionlab.errors import ConfigError
from axionlab.registry import Registry
from axionlab.train import TrainConfig

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
    assert validate(Demo, __import__("yaml").safe_load(dump_yaml(c))) == c


def test_overrides_index_lists():
    data = apply_overrides({"protocol": "demo", "models": ["mlp", "mlp"]}, ["models.1=cnn"])
    assert data["models"] == ["mlp", "cnn"]
    with pytest.raises(ConfigError, match=r"'models\.5' needs a list index below 2"):
        apply_overrides(data, ["models.5=cnn"])


# --- issue 14: names, finite values, memory, hostile YAML ----------------------------------------


class Named(RunConfig):
    unit: SafeName = "a"
    label: SafeLabel = ""
    options: Options = {}
    train: TrainConfig = TrainConfig()
    bound: float = Field(1.0, allow_inf_nan=True)
    ratios: list[float] = [0.5]


@pytest.mark.parametrize("name", ["mlp", "mlp_2", "A.b-c", "0", "x" * 128, "digits__mlp__s0"])
def test_safe_names_accepted(name):
    assert is_safe_name(name)
    assert validate(Named, {"protocol": "n", "unit": name, "label": name}).unit == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        ".hidden",
        "x/../../victim",
        "/abs",
        "a\\b",
        "a b",
        "a\n",
        "-x",
        "_x",
        "é",
        "x" * 129,
    ],
)
def test_unsafe_names_refused_naming_the_field(name):
    assert not is_safe_name(name)
    if name:  # an empty label means "use the name"
        with pytest.raises(ConfigError, match=r"^label: must be at most 128 ASCII letters"):
            validate(Named, {"protocol": "n", "label": name})
    with pytest.raises(ConfigError, match=r"^unit: must be .*got"):
        validate(Named, {"protocol": "n", "unit": name})


def test_name_pattern_is_the_issue_pattern():
    issue = re.compile(r"^[A-Za-z0-9][\w.-]*$", re.ASCII)
    for name in ["ok", "a.b", "_a", "a/b", "a\n", "..", "é", "a-"]:
        assert (re.fullmatch(NAME_PATTERN, name) is not None) == (issue.fullmatch(name) is not None)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"train": {"lr": math.inf}}, r"^train\.lr: Input should be a finite number, got inf"),
        ({"train": {"momentum": math.nan}}, r"^train\.momentum: .*finite number, got nan"),
        ({"train": {"step_milestones": [0.5, math.nan]}}, r"^train\.step_milestones\.1: "),
        ({"ratios": [-math.inf]}, r"^ratios\.0: .*finite number"),
        ({"options": {"strength": math.nan}}, r"^options: 'strength' must be a finite number"),
        ({"options": {"a": {"b": [1.0, math.inf]}}}, r"^options: 'a\.b\.1' must be a finite"),
    ],
)
def test_non_finite_floats_refused_naming_the_key(data, key):
    with pytest.raises(ConfigError, match=key):
        validate(Named, {"protocol": "n", **data})


def test_non_finite_from_yaml_and_overrides(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text("protocol: n\ntrain: {lr: .inf}\n")
    with pytest.raises(ConfigError, match=r"train\.lr: .*finite"):
        validate(Named, read_yaml(path))
    data = apply_overrides({"protocol": "n"}, ["options.strength=.nan"])
    with pytest.raises(ConfigError, match=r"options: 'strength' must be a finite number"):
        validate(Named, data)


def test_a_field_may_opt_in_to_inf():
    assert validate(Named, {"protocol": "n", "bound": math.inf}).bound == math.inf


@pytest.mark.parametrize("threads", [0, 10**20, 1e20, "1e20"])
def test_torch_threads_bounded(threads):
    with pytest.raises(ConfigError, match=r"^torch_threads: .*got"):
        validate(Demo, {"protocol": "demo", "torch_threads": threads})
    with pytest.raises(ConfigError, match=r"^executor\.workers: "):
        validate(Demo, {"protocol": "demo", "executor": {"workers": threads}})


def test_check_memory(monkeypatch):
    total = machine_memory()
    assert total is not None and total > 2**20
    check_memory("grid.steps", 1024.0, "a small grid")
    with pytest.raises(
        ConfigError,
        match=r"^landscape\.steps: the grid needs about 7\.3 TiB, more than this machine's .* of "
        r"memory; lower landscape\.steps$",
    ):
        check_memory("landscape.steps", 8e12, "the grid")
    monkeypatch.setattr(config_module, "machine_memory", lambda: 1000)
    with pytest.raises(ConfigError, match=r"about 2\.0 KiB, more than this machine's 1000 B"):
        check_memory("x", 2048, "y")
    monkeypatch.setattr(config_module, "machine_memory", lambda: None)
    check_memory("x", 1e30, "unknown memory never refuses")
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(3 * 2**50 * 1024) == "3072.0 PiB"


def _bomb(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "protocol: demo\n" + "\n".join(lines) + "\n"


def test_alias_bomb_refused(tmp_path: Path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())  # 9 levels x 9 aliases = 81 aliases, 9**9 values expanded
    with pytest.raises(ConfigError, match=r"bomb\.yaml line \d+: more than 100000 values once"):
        read_yaml(path)
    many = tmp_path / "many.yaml"
    many.write_text("a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n")
    with pytest.raises(ConfigError, match=rf"many\.yaml line 2: more than {MAX_ALIASES} aliases"):
        read_yaml(many)
    loop = tmp_path / "loop.yaml"
    loop.write_text("a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="recursive alias"):
        read_yaml(loop)
    with pytest.raises(ConfigError, match=r"override 'options=\.\.\.': more than 100000 values"):
        apply_overrides({}, ["options=" + _bomb().replace("\n", ", ").join("{}")[:-2] + "}"])


def test_anchors_and_merge_keys_still_work(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {lr: 0.1, epochs: 2}\ntrain:\n  <<: *b\n  lr: 0.5\nlist: [*b]\n")
    data = read_yaml(path)
    assert data["train"] == {"lr": 0.5, "epochs": 2} and data["list"] == [{"lr": 0.1, "epochs": 2}]


def test_duplicate_keys_refused_with_line(tmp_path: Path):
    path = tmp_path / "dup.yaml"
    path.write_text("protocol: demo\ntrain:\n  lr: 0.1\n  epochs: 1\n  lr: 0.2\n")
    with pytest.raises(
        ConfigError, match=r"dup\.yaml line 5: duplicate key 'lr' \(first at line 3\); keep one"
    ):
        read_yaml(path)
    top = tmp_path / "top.yaml"
    top.write_text("seed: 1\nseed: 2\n")
    with pytest.raises(ConfigError, match="line 2: duplicate key 'seed'"):
        read_yaml(top)


def test_deep_nesting_refused(tmp_path: Path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(ConfigError, match=rf"deep\.yaml line 1: nested deeper than {MAX_DEPTH}"):
        read_yaml(path)
    block = tmp_path / "block.yaml"
    block.write_text("".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n")
    with pytest.raises(ConfigError, match="nested deeper than"):
        read_yaml(block)


@pytest.mark.parametrize(
    "raw",
    [
        "protocol: demo\n".encode("utf-16"),
        "protocol: demo\n".encode("utf-16-be"),
        b"protocol: d\xe9mo\n",  # latin-1
    ],
)
def test_non_utf8_config_refused(tmp_path: Path, raw: bytes):
    path = tmp_path / "enc.yaml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError, match=r"config file .*enc\.yaml must be UTF-8 text"):
        read_yaml(path)


def test_utf8_bom_accepted(tmp_path: Path):
    path = tmp_path / "bom.yaml"
    path.write_bytes("protocol: démo\n".encode("utf-8-sig"))
    assert read_yaml(path) == {"protocol": "démo"}


def test_oversized_directory_and_unreadable_configs(tmp_path: Path, monkeypatch):
    big = tmp_path / "big.yaml"
    big.write_text("protocol: demo\n" + "#" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=rf"larger than {MAX_CONFIG_BYTES} bytes"):
        read_yaml(big)
    with pytest.raises(ConfigError, match="is a directory; pass a YAML file"):
        read_yaml(tmp_path)
    locked = tmp_path / "locked.yaml"
    locked.write_text("protocol: demo\n")

    def denied(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)  # chmod 0 does not stop root
    with pytest.raises(
        ConfigError, match=r"cannot read config file .*locked\.yaml: Permission denied; check"
    ):
        read_yaml(locked)


def test_control_characters_are_one_line(tmp_path: Path):
    path = tmp_path / "ctl.yaml"
    path.write_text("protocol: \x07\n")
    with pytest.raises(ConfigError, match=r"ctl\.yaml: special characters are not allowed"):
        read_yaml(path)


def test_architecture_check_builds_shape_only_and_names_the_options():
    from axionlab.protocols.sections import ArchitectureSpec

    spec = validate(ArchitectureSpec, {"name": "mlp", "options": {"width": 8, "depth": 1}})
    assert spec.check((1, 8, 8), 10, "architectures.0") == 64 * 8 + 8 + 8 * 10 + 10
    for options, message in [
        ({"width": -3}, r"^architectures\.2\.options: mlp needs width >= 1"),
        ({"widht": 3}, r"^architectures\.2\.options: model 'mlp' has no option 'widht'"),
        ({"width": 2.5}, r"^architectures\.2\.options: model 'mlp' cannot be built .*fix the"),
        ({"width": 10**9}, r"^architectures\.2\.options: training model 'mlp' .* needs about"),
    ]:
        bad = validate(ArchitectureSpec, {"name": "mlp", "options": options})
        with pytest.raises(ConfigError, match=message):
            bad.check((1, 8, 8), 10, "architectures.2")
