"""A pydantic Settings model as a form: field specs, values to and from text, inline errors.

Pure (no Textual): the wizard screen renders these specs as widgets, and the
tests drive the conversion without a terminal. Complex fields (lists of
models, dicts) are edited as YAML; secret values nested in them are shown as
******** and restored from the previous settings when left unchanged.
"""

from __future__ import annotations

import enum
import typing
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticUndefined

from portside.integrators.base import REDACTED, _models_in, is_secret, redact

FieldKind = Literal["bool", "choice", "text", "secret", "list", "yaml"]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    title: str
    help: str
    kind: FieldKind
    required: bool
    choices: tuple[str, ...] = ()


def _choices(annotation: Any) -> tuple[str, ...]:
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, enum.Enum):
            return tuple(str(m.value) for m in arg)
    if typing.get_origin(annotation) is Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    return ()


def _is_list_of_scalars(annotation: Any) -> bool:
    for arg in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(arg) is list:
            inner = typing.get_args(arg)
            return bool(inner) and inner[0] in (str, int)
    return False


def form_fields(model: type[BaseModel]) -> list[FieldSpec]:
    out = []
    for name, info in model.model_fields.items():
        ann = info.annotation
        if is_secret(info):
            kind: FieldKind = "secret"
        elif ann is bool:
            kind = "bool"
        elif _choices(ann):
            kind = "choice"
        elif _is_list_of_scalars(ann):
            kind = "list"
        elif _models_in(ann) or typing.get_origin(ann) in (list, dict) or any(
            typing.get_origin(a) in (list, dict) for a in typing.get_args(ann)
        ):
            kind = "yaml"
        else:
            kind = "text"
        required = info.default is PydanticUndefined and info.default_factory is None
        out.append(FieldSpec(name, info.title or name.replace("_", " ").capitalize(),
                             info.description or "", kind, required, _choices(ann)))
    return out


def defaults(model: type[BaseModel]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if info.default is not PydanticUndefined:
            out[name] = info.default
        elif info.default_factory is not None:
            out[name] = info.default_factory()  # type: ignore[call-arg]
    return out


def to_form(spec: FieldSpec, value: Any, model: type[BaseModel]) -> str | bool:
    """The widget value for `value` (YAML text for complex fields, nested secrets redacted)."""
    if spec.kind == "bool":
        return bool(value)
    if value is None:
        return ""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, enum.Enum):
        return str(value.value)
    if spec.kind == "list":
        return ", ".join(str(v) for v in value)
    if spec.kind == "yaml":
        value = [v.model_dump(mode="json") if isinstance(v, BaseModel) else v for v in value] \
            if isinstance(value, list) else value
        red = redact(model, {spec.name: value})[spec.name]
        return yaml.safe_dump(red, sort_keys=False, default_flow_style=False, allow_unicode=True).strip()
    return str(value)


def _unredact(value: Any, old: Any) -> Any:
    """Put back secrets the form showed as ******** (matched by position / key)."""
    if value == REDACTED:
        return old
    if isinstance(value, dict) and isinstance(old, dict):
        return {k: _unredact(v, old.get(k)) for k, v in value.items()}
    if isinstance(value, list) and isinstance(old, list):
        by_name = {o.get("name"): o for o in old if isinstance(o, dict) and "name" in o}
        out = []
        for i, v in enumerate(value):
            match = by_name.get(v.get("name")) if isinstance(v, dict) and "name" in v else None
            out.append(_unredact(v, match if match is not None else (old[i] if i < len(old) else None)))
        return out
    return value


def from_form(specs: list[FieldSpec], raw: dict[str, str | bool], previous: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Widget values -> settings data (empty fields omitted), plus per-field parse errors."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for spec in specs:
        value = raw.get(spec.name)
        if spec.kind == "bool":
            data[spec.name] = bool(value)
            continue
        text = str(value or "").strip()
        if not text:
            continue
        if spec.kind == "list":
            data[spec.name] = [v.strip() for v in text.split(",") if v.strip()]
        elif spec.kind == "yaml":
            try:
                data[spec.name] = _unredact(yaml.safe_load(text), previous.get(spec.name))
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                errors[spec.name] = f"not valid YAML{f' (line {mark.line + 1})' if mark else ''}"
        else:
            data[spec.name] = text
    return data, errors


def validate(model: type[BaseModel], data: dict[str, Any]) -> tuple[BaseModel | None, dict[str, str]]:
    """The settings, or errors by top-level field name ('' for whole-model errors)."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            key = loc[0] if loc and loc[0] in model.model_fields else ""
            where = ".".join(loc[1:]) if len(loc) > 1 else ""
            msg = err["msg"].removeprefix("Value error, ")
            errors.setdefault(key, f"{where}: {msg}" if where else msg)
        return None, errors
