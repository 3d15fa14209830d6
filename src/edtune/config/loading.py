"""Loading a RunConfig with the source of every value: defaults < preset < base < YAML < env < `--set`.

A *preset* is a named set of values that a harness (or a platform team) registers for its own models, e.g. the
offline harness's tiny student (`edtune.shapes.preset`). The product never imports a harness: the harness calls
`register_preset` when its commands are registered, or passes its `Preset` to `load_config` directly. A config
selects one by name (`preset: NAME` in YAML, `EDTUNE_PRESET`, `--set preset=NAME`). Once resolved, the config
holds every value explicitly, so a KFP component rebuilding it from JSON needs no preset registry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from edtune.config.schema import RunConfig
from edtune.errors import ConfigError, Problem

ENV_PREFIX = "EDTUNE_"
SECRET_ENV = ("EDTUNE_TEACHER_TOKEN", "EDTUNE_MILVUS_TOKEN")


@dataclass(frozen=True)
class Preset:
    """Values for one kind of model/harness, applied above the product defaults and below everything else."""

    name: str
    values: dict[str, Any]
    doc: str = ""


@dataclass
class Resolved:
    """A resolved config and, for every setting given anywhere, where it came from (dotted key -> source)."""

    config: RunConfig
    sources: dict[str, str] = field(default_factory=dict)

    def source(self, dotted: str) -> str:
        """The source of `dotted` (its own, else that of the nearest section set whole), else `default (...)`."""
        from edtune.config.defaults import source_of_default

        key = dotted
        while key:
            if key in self.sources:
                return self.sources[key]
            key = key.rpartition(".")[0]
        return source_of_default(dotted)


_PRESETS: dict[str, Preset] = {}
#: installed packages declare presets here (pyproject: [project.entry-points."edtune.presets"]), so a config
#: naming one resolves in any process, e.g. a child process that never imported the harness
PRESET_ENTRY_POINTS = "edtune.presets"


def register_preset(preset: Preset) -> None:
    """Make `preset` selectable by name (idempotent; a different preset under a taken name is refused)."""
    known = _PRESETS.get(preset.name)
    if known is not None and known != preset:
        raise ConfigError(f"preset {preset.name!r} is already registered with other values")
    RunConfig.model_validate(preset.values)  # a preset must itself be a valid partial config
    _PRESETS[preset.name] = preset


def registered_presets() -> dict[str, Preset]:
    """Presets registered in this process, plus those installed packages declare (entry points `edtune.presets`)."""
    from importlib.metadata import entry_points

    out = dict(_PRESETS)
    for ep in entry_points(group=PRESET_ENTRY_POINTS):
        if ep.name not in out:
            try:
                found = ep.load()
            except Exception as exc:  # a broken plugin must not hide the others; its name is reported
                raise ConfigError(f"preset {ep.name!r} ({ep.value}) failed to load: {exc}") from None
            if isinstance(found, Preset):
                out[ep.name] = found
    return out


def _merge(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    """Section by section: a section given in `high` updates the same section of `low` key by key."""
    out = dict(low)
    for k, v in high.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_path(data: dict[str, Any], dotted: str, value: Any, sources: dict[str, str], source: str) -> None:
    keys = dotted.split(".")
    if not all(k.strip() for k in keys):
        raise ConfigError(f"{source}: {dotted!r}: expected a dotted key such as teacher.url")
    node = data
    for k in keys[:-1]:
        nxt = node.setdefault(k, {})
        if not isinstance(nxt, dict):
            raise ConfigError(f"{source}: {dotted}: {k!r} is not a section")
        node = nxt
    node[keys[-1]] = value
    sources[dotted] = source


def _walk(data: dict[str, Any], prefix: str, sources: dict[str, str], source: str) -> None:
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _walk(v, key + ".", sources, source)
        else:
            sources[key] = source


def _parse_scalar(text: str) -> Any:
    """`--set` and env values are YAML scalars: 3 -> int, 0.5 -> float, true -> bool, [a,b] -> list."""
    try:
        return yaml.safe_load(text) if text != "" else ""
    except yaml.YAMLError:
        return text


def _text_kind(dotted: str) -> Literal["str", "optional"] | None:
    """Whether `dotted` names a plain string setting (`str` or `str | None`), whose value is kept verbatim.

    Without this, `--set student.base=2024` or `--set teacher.model=1.5` would arrive as int/float and be
    refused, and `--set task.name=a: b` would become a mapping.
    """
    import types
    import typing

    model: Any = RunConfig
    ann: Any = None
    for k in dotted.split("."):
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or k not in model.model_fields:
            return None
        ann = model = model.model_fields[k].annotation
    if ann is str:
        return "str"
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and set(typing.get_args(ann)) == {
        str,
        type(None),
    }:
        return "optional"
    return None


def _env_value(dotted: str, text: str) -> Any:
    """Parse an env/`--set` value: verbatim for string settings (`null` clears an optional one), else YAML."""
    kind = _text_kind(dotted)
    if kind == "str":
        return text
    if kind == "optional":
        return None if text in ("null", "~") else text
    return _parse_scalar(text)


def secret_from_env(*names: str) -> str | None:
    """Read a secret (token, key) from the environment; never store it in a config object."""
    for n in names:
        v = os.environ.get(n)
        if v:
            return v
    return None


def _read_yaml(path: str | Path) -> dict[str, Any]:
    from edtune.io import read_text

    text = read_text(str(path))
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        ctx = getattr(exc, "context", None)
        msg = f"{what} ({ctx})" if ctx else what
        raise ConfigError("invalid YAML", [Problem(f"file {path}", line, None, msg)]) from None
    if loaded is None:  # an empty file (or only comments): all defaults
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping, got {type(loaded).__name__}")
    return loaded


def _apply_preset(data: dict[str, Any], sources: dict[str, str], preset: Preset | None) -> dict[str, Any]:
    """Put the preset under everything already given; the name in `data` wins over the `preset` argument."""
    name = data.get("preset") or (preset.name if preset else "")
    if not name:
        return data
    if not isinstance(name, str):
        problem = Problem(sources.get("preset", "?"), None, "preset", "expected a preset name")
        raise ConfigError("invalid configuration", [problem])
    chosen = preset if preset is not None and preset.name == name else _PRESETS.get(name)
    if chosen is None:
        chosen = registered_presets().get(name)
    if chosen is None:
        known = ", ".join(sorted(registered_presets())) or "none"
        where = sources.get("preset", "argument")
        raise ConfigError(
            "invalid configuration",
            [Problem(where, None, "preset", f"unknown preset {name!r} (registered: {known})")],
        )
    preset_sources: dict[str, str] = {}
    _walk(chosen.values, "", preset_sources, f"preset {chosen.name}")
    for k, v in preset_sources.items():
        sources.setdefault(k, v)
    sources.setdefault("preset", "argument")
    return _merge(chosen.values, {**data, "preset": chosen.name})


def resolve_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    env: dict[str, str] | None = None,
    base: dict[str, Any] | None = None,
    preset: Preset | None = None,
    base_source: str = "base",
) -> Resolved:
    """Build a RunConfig and the source of each value: defaults < preset < `base` < YAML < env < `--set`.

    `base` is a caller's dict of values (the harness builds one per shapes task); `preset` a Preset object, used
    when the config names no other. Errors name the field and where its value came from.
    """
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if base:
        data = _merge(data, base)
        _walk(base, "", sources, base_source)
    if path is not None:
        loaded = _read_yaml(path)
        data = _merge(data, loaded)
        _walk(loaded, "", sources, f"file {path}")
    environ = os.environ if env is None else env
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_PREFIX) and name not in SECRET_ENV:
            dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            if dotted.split(".")[0] not in RunConfig.model_fields:
                # process settings and secrets (EDTUNE_DEBUG, EDTUNE_HF_TOKEN, ...) are not run config; a
                # typo inside a section (EDTUNE_TEACHER__URLL) still names a section and is refused below
                continue
            _set_path(data, dotted, _env_value(dotted, value), sources, f"env {name}")
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key.sub=value")
        key, value = item.split("=", 1)
        key = key.strip()
        _set_path(data, key, _env_value(key, value), sources, f"flag --set {key}")
    data = _apply_preset(data, sources, preset)
    try:
        return Resolved(RunConfig.model_validate(data), sources)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            dotted = ".".join(str(p) for p in e["loc"])
            # a section set whole by a nested key (`--set seed.x=1`) takes the source of that key
            src = sources.get(dotted) or next(
                (v for k, v in sources.items() if k.startswith(dotted + ".")), "default"
            )
            problems.append(Problem(src, None, dotted, e["msg"]))
        raise ConfigError("invalid configuration", problems) from None


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    env: dict[str, str] | None = None,
    base: dict[str, Any] | None = None,
    preset: Preset | None = None,
) -> RunConfig:
    """Build a RunConfig from defaults < preset < `base` < YAML file < env (`EDTUNE_SECTION__KEY`) < `--set k=v`."""
    return resolve_config(path, overrides, env, base, preset).config
