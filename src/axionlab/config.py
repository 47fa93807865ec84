"""Validated, frozen configuration models; YAML loading; ``--set a.b=c`` overrides.

Every protocol declares its configuration as a subclass of :class:`RunConfig`. Loading reads the
YAML file, applies overrides (values parsed as YAML scalars, so ``--set train.lr=0.1`` is a float),
picks the protocol's model from the ``protocol`` key and validates once at the boundary. Any
problem becomes a one-line :class:`~axionlab.errors.ConfigError` naming the dotted key:

    error: unknown key 'trian' in configs/x.yaml; did you mean 'train'?
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from axionlab.errors import ConfigError, UnknownNameError, did_you_mean
from axionlab.registry import Registry
from axionlab.repro import stable_hash

T = TypeVar("T")


class Section(BaseModel):
    """Base of every config block: unknown keys are errors; values are frozen after validation.

    Float fields refuse NaN and ±inf (``allow_inf_nan=False``, which pydantic also applies to the
    dataclasses used as fields, e.g. :class:`axionlab.train.TrainConfig`); a field that means to
    accept them says so with ``Field(allow_inf_nan=True)``. Free option mappings use
    :data:`Options`, which applies the same rule to every float inside them.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )


# --- names that become paths ---------------------------------------------------------------------

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
"""Every config name that becomes a path component (a label, a unit id, a folder) matches this in
full: ``^[A-Za-z0-9][\\w.-]*$`` with ASCII ``\\w``, so no name climbs out of its directory
(``..``, ``/``) or hides as a dot-file."""
MAX_NAME_LENGTH = 128
"""Longest such name (unit ids join several names; file systems stop at 255 bytes)."""
_NAME = re.compile(NAME_PATTERN)
_NAME_RULE = (
    f"at most {MAX_NAME_LENGTH} ASCII letters, digits, '_', '.' or '-', starting with a letter "
    "or digit (it becomes a folder name)"
)


def is_safe_name(value: object) -> bool:
    """Whether ``value`` is a string that matches :data:`NAME_PATTERN` and is short enough."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_NAME_LENGTH
        and _NAME.fullmatch(value) is not None
    )


def safe_name(value: str) -> str:
    """Pydantic ``AfterValidator`` body: ``value`` if :func:`is_safe_name`, else a ValueError."""
    if not is_safe_name(value):
        raise ValueError(f"must be {_NAME_RULE}")  # validate() appends the value given
    return value


def _safe_label(value: str) -> str:
    return value if value == "" else safe_name(value)


SafeName = Annotated[str, AfterValidator(safe_name)]
"""A config string that becomes a path component; validated with :func:`safe_name`."""
SafeLabel = Annotated[str, AfterValidator(_safe_label)]
"""An optional display label that names folders: empty (use the name) or a :data:`SafeName`."""


# --- finite values and memory --------------------------------------------------------------------


def _non_finite(value: Any, where: str) -> str | None:
    """Dotted path of the first NaN/inf float inside ``value`` (None: all finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _non_finite(item, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _non_finite(item, f"{where}.{i}" if where else str(i))
            if found is not None:
                return found
    return None


def finite_options(options: dict[str, Any]) -> dict[str, Any]:
    """Pydantic ``AfterValidator`` body: refuse a NaN or infinite float anywhere in ``options``."""
    found = _non_finite(options, "")
    if found is not None:
        raise ValueError(f"'{found}' must be a finite number, got {_lookup(options, found)!r}")
    return options


def _lookup(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[int(part)] if isinstance(data, (list, tuple)) else data[part]
    return data


Options = Annotated[dict[str, Any], AfterValidator(finite_options)]
"""Free keyword options (a model's, a strategy's, a dataset's): any keys, finite floats only."""


def machine_memory() -> int | None:
    """Total physical memory of this machine in bytes (None where the OS does not say)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None
    return total if total > 0 else None


def format_bytes(n_bytes: float) -> str:
    """``n_bytes`` in binary units, e.g. ``7.3 TiB``."""
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(value) < 1024 or unit == "PiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def check_memory(field: str, n_bytes: float, what: str) -> None:
    """Refuse a size-driven allocation that cannot fit this machine's memory.

    Call it from a config validator (or a protocol's ``check_inputs``) with an estimate of what
    the configured sizes will allocate, so an absurd size fails at ``check`` time, before a run
    directory exists, rather than dying in numpy or the OOM killer hours later.

    Parameters
    ----------
    field
        The dotted config key that drives the allocation, e.g. ``"landscape.steps"``.
    n_bytes
        Estimated bytes (a float, so huge products do not need exact integers).
    what
        What is allocated, e.g. ``"the 1000001x1000001 loss grid"``.

    Raises
    ------
    ConfigError
        When ``n_bytes`` exceeds the total physical memory (unknown memory: never).
    """
    total = machine_memory()
    if total is not None and n_bytes > total:
        raise ConfigError(
            f"{field}: {what} needs about {format_bytes(n_bytes)}, more than this machine's "
            f"{format_bytes(total)} of memory; lower {field}"
        )


MAX_THREADS = 1024
"""Upper bound of thread counts (more threads than any machine has cores only slows down)."""
MAX_WORKERS = 4096
"""Upper bound of executor workers (each is a process or a Ray task)."""


class ExecutorConfig(Section):
    """Which executor runs the units of a protocol."""

    kind: Literal["inprocess", "process", "ray"] = "inprocess"
    workers: int = Field(1, ge=1, le=MAX_WORKERS)
    threads_per_worker: int = Field(1, ge=1, le=MAX_THREADS)
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
    torch_threads: int | None = Field(None, ge=1, le=MAX_THREADS)
    executor: ExecutorConfig = ExecutorConfig()
    tracker: TrackerConfig = TrackerConfig()

    def config_hash(self) -> str:
        """Stable hash of the whole resolved config (names the run directory)."""
        return stable_hash(self.model_dump(mode="json"))


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


MAX_CONFIG_BYTES = 1_000_000
"""Largest config file read (configs are a few KiB; this refuses data passed off as a config)."""
MAX_ALIASES = 100
"""Most ``*alias`` references in one YAML document."""
MAX_NODES = 100_000
"""Most values a YAML document may hold once its aliases are expanded (refuses alias bombs)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences in a YAML document."""


class _Refused(Exception):
    """A YAML document the loader will not build; ``line`` is 1-based (0: unknown)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class _ConfigLoader(yaml.SafeLoader):  # type: ignore[misc]  # yaml ships no types
    """``yaml.SafeLoader`` that bounds aliases, nesting and size and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _Refused(
                    f"more than {MAX_ALIASES} aliases; write the values out", mark.line + 1
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys merged in with `<<` may be overridden; that is their purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:
                    raise _Refused(
                        f"duplicate key '{key}' (first at line {seen[key]}); keep one", line
                    )
                seen[key] = line
            except TypeError:
                continue  # an unhashable key; the base constructor reports it
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int]) -> int:
    """Number of values ``node`` holds with aliases expanded; refuses recursive aliases."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise _Refused("a recursive alias (a value contains itself)", node.start_mark.line + 1)
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [n for pair in node.value for n in pair]
    else:
        memo[key] = 1
        return 1
    open_.add(key)
    total = 1
    for child in children:
        total += _expanded_size(child, memo, open_)
        if total > MAX_NODES:
            raise _Refused(
                f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)",
                node.start_mark.line + 1,
            )
    open_.discard(key)
    memo[key] = total
    return total


def _load(text: str) -> Any:
    """Parse one YAML document with :class:`_ConfigLoader` (raises yaml.YAMLError, _Refused)."""
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, turning I/O, encoding and syntax problems into one-line errors.

    The file must be UTF-8, at most :data:`MAX_CONFIG_BYTES`, nested at most :data:`MAX_DEPTH`
    deep, with at most :data:`MAX_ALIASES` aliases, :data:`MAX_NODES` values once they are
    expanded, and no key twice in one mapping.

    Raises
    ------
    ConfigError
        Naming the file (and line) and the fix.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; pass a YAML file inside it")
    if not path.exists():
        raise ConfigError(
            f"config file {path} does not exist; pass a YAML file such as configs/exp01/quick.yaml"
        )
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ConfigError(
            f"cannot read config file {path}: {reason}; check that it exists and is readable"
        ) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes; a config is a short "
            "YAML mapping, pass that instead"
        )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in raw:
        raise ConfigError(
            f"config file {path} must be UTF-8 text, got UTF-16 or binary data (NUL bytes); "
            "re-save it as UTF-8"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config file {path} must be UTF-8 text, got an invalid byte at offset {err.start}; "
            "re-save it as UTF-8"
        ) from None
    data = _parse(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    mapping: dict[str, Any] = data
    return mapping


def _parse(text: str, source: str) -> Any:
    """:func:`_load` with every refusal and syntax error as a one-line ConfigError."""
    try:
        return _load(text)
    except _Refused as err:
        where = f" line {err.line}" if err.line else ""
        raise ConfigError(f"{source}{where}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or getattr(err, "reason", None) or "invalid YAML"
        raise ConfigError(f"{source}{where}: {problem}; fix the YAML syntax") from None
    except RecursionError:
        raise ConfigError(
            f"{source}: nested too deeply to read; flatten it below {MAX_DEPTH} levels"
        ) from None


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``a.b.c=value`` overrides applied (values parsed as YAML)."""
    result: dict[str, Any] = _deep_copy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override '{item}' must look like key.sub=value")
        try:
            value = _load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        except _Refused as err:
            raise ConfigError(f"override '{key.strip()}=...': {err}") from None
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
