"""Validated, frozen configuration models; YAML loading; ``--set a.b=c`` overrides.

Every protocol declares its configuration as a subclass of :class:`RunConfig`. Loading reads the
YAML file, applies overrides (values parsed as YAML scalars, so ``--set train.lr=0.1`` is a float),
picks the protocol's model from the ``protocol`` key and validates once at the boundary. Any
problem becomes a one-line :class:`~axionlab.errors.ConfigError` naming the dotted key:

    error: unknown key 'trian' in configs/x.yaml; did you mean 'train'?
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from axionlab.errors import ConfigError, UnknownNameError, did_you_mean
from axionlab.registry import Registry
from axionlab.repro import stable_hash

T = TypeVar("T")


class Section(BaseModel):
    """Base of every config block: unknown keys are errors; values are frozen after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ExecutorConfig(Section):
    """Which executor runs the units of a protocol."""

    kind: Literal["inprocess", "process", "ray"] = "inprocess"
    workers: int = Field(1, ge=1)
    threads_per_worker: int = Field(1, ge=1)
    """Torch threads in each worker process or Ray task (its CPU reservation on Ray)."""
    address: str | None = None
    """Ray only: None starts a local instance; "auto" or "ray://host:port" joins a cluster."""


class TrackerConfig(Section):
    """Where results are mirrored besides the run store (which always holds the primary copy)."""

    backend: Literal["local", "clearml", "mlflow"] = "local"
    project: str = "axionlab"
    offline: bool = True
    """ClearML: write an offline session zip instead of talking to a server."""
    tracking_uri: str | None = None
    """MLflow: defaults to ``sqlite:///<runs root>/mlflow.db``."""


class RunConfig(Section):
    """Fields shared by every protocol's config."""

    protocol: str
    name: str = ""
    seed: int = Field(0, ge=0)
    device: Literal["auto", "cpu", "cuda"] = "cpu"
    deterministic: bool = True
    torch_threads: int | None = Field(None, ge=1)
    executor: ExecutorConfig = ExecutorConfig()
    tracker: TrackerConfig = TrackerConfig()

    def config_hash(self) -> str:
        """Stable hash of the whole resolved config (names the run directory)."""
        return stable_hash(self.model_dump(mode="json"))

    def slice_hash(self, *fields: str) -> str:
        """Stable hash of some top-level fields: keys a phase by the config it depends on."""
        dumped = self.model_dump(mode="json")
        return stable_hash({name: dumped[name] for name in fields})


def registered_name(registry: Registry[Any]) -> Callable[[str], str]:
    """Pydantic ``AfterValidator`` body: accept only names registered in ``registry``."""

    def check(name: str) -> str:
        try:
            registry.get(name)
        except UnknownNameError as err:
            raise ValueError(str(err)) from None
        return name

    return check


# --- loading -------------------------------------------------------------------------------------


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O and syntax problems into one-line errors."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; pass a YAML file such as configs/exp01/quick.yaml"
        )
    try:
        data: Any = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}{where}: {problem}; fix the YAML syntax") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    mapping: dict[str, Any] = data
    return mapping


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b.c=value`` overrides applied (values parsed as YAML)."""
    result: dict[str, Any] = _deep_copy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' must look like key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        node: Any = result
        for i, part in enumerate(parts):
            where = ".".join(parts[: i + 1])
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(
                        f"override '{item}': '{where}' needs a list index below {len(node)}"
                    )
                part_key: Any = int(part)
            elif isinstance(node, dict):
                part_key = part
                if not last and node.get(part) is None:
                    node[part] = {}
            else:
                raise ConfigError(
                    f"override '{item}': '{'.'.join(parts[:i])}' is not a "
                    "mapping, so it has no sub-keys"
                )
            if last:
                node[part_key] = value
            else:
                node = node[part_key]
    return result


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def validate(model: type[T], data: Mapping[str, Any], *, source: str = "config") -> T:
    """Validate ``data`` into ``model``, raising a one-line ConfigError for the first problem."""
    try:
        return model.model_validate(data)  # type: ignore[attr-defined, no-any-return]
    except ValidationError as err:
        raise ConfigError(_describe(err, model, source)) from None


def _describe(err: ValidationError, model: type[Any], source: str) -> str:
    first = err.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc) or "<root>"
    kind = first["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        fields = _field_names(_model_at(model, loc[:-1]))
        hint = did_you_mean(loc[-1], fields).strip()
        hint = f"; {hint[0].lower()}{hint[1:]}" if hint else f"; valid keys: {', '.join(fields)}"
        return f"unknown key '{key}' in {source}{hint}"
    if kind == "missing":
        return f"missing required key '{key}' in {source}"
    message = first["msg"].removeprefix("Value error, ")
    given = first.get("input")
    shown = "" if isinstance(given, (dict, list)) or "Unknown" in message else f", got {given!r}"
    return f"{key}: {message}{shown} (in {source})"


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and (issubclass(obj, BaseModel) or dataclasses.is_dataclass(obj))


def _field_names(model: Any) -> list[str]:
    if model is None:
        return []
    if dataclasses.is_dataclass(model):
        return [f.name for f in dataclasses.fields(model)]
    return list(model.model_fields)


def _field_type(model: Any, name: str) -> Any:
    if dataclasses.is_dataclass(model):
        return typing.get_type_hints(model).get(name)
    field = model.model_fields.get(name)
    return None if field is None else field.annotation


def _model_at(model: type[Any], loc: list[str]) -> Any:
    """The config model (or dataclass) at dotted path ``loc``, for key suggestions."""
    current: Any = model
    for part in loc:
        if not _is_model(current):
            return None
        if part.isdigit():
            continue
        current = _inner_model(_field_type(current, part))
    return current if _is_model(current) else None


def _inner_model(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list, tuple, dict, typing.Annotated):
        for arg in typing.get_args(annotation):
            inner = _inner_model(arg)
            if _is_model(inner):
                return inner
        return None
    return annotation


def dump_yaml(config: BaseModel) -> str:
    """The resolved config as YAML (every default written out), as saved with each run."""
    text: str = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    return text
