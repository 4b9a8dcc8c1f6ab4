"""The integrator protocol, the registry of integrators, and small helpers for plans.

An integrator declares its `kind`, a `title`, a pydantic `Settings` model (the
wizard form is generated from it: field titles, descriptions, defaults,
validation; mark secret fields with `secret_field(...)`), and three methods:

- `detect(snapshot)`: providers and consumers found among the stacks
  (use `integrators.catalog.services(snapshot)`);
- `plan(snapshot, settings, ctx)`: a pure Plan (file edits built with
  `file_edit`) plus the generated secrets to keep; applied by
  `integrators.engine` through `app.executor.apply_plan`, never written here;
- `verify(snapshot, settings, ctx)`: checks against the running service.

Built-in integrators are listed in `BUILTINS`; third-party ones register
through the entry-point group `portside.integrators` (the entry point names a
class). No Textual import here.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from portside.app.executor import sha256_file
from portside.app.models import FileEdit, Plan, Snapshot

ENTRY_POINT_GROUP = "portside.integrators"
REDACTED = "********"
LOAD_ERRORS: dict[str, str] = {}  # "module:Class" or entry point -> why it did not load

# Built-in integrator classes, imported lazily: "module:Class".
BUILTINS: list[str] = [
    "portside.integrators.sso:SsoIntegrator",
    "portside.integrators.proxy:ProxyIntegrator",
    "portside.integrators.monitoring:MonitoringIntegrator",
    "portside.integrators.email:EmailIntegrator",
    "portside.integrators.mqtt:MqttIntegrator",
]


@dataclass(frozen=True)
class ServiceRef:
    """A service found in the stacks (compose declaration and/or container)."""

    name: str  # "project/service" or container name
    catalog_id: str | None  # e.g. "grafana"; None when neither catalog nor labels know it
    project: str | None = None
    service: str | None = None
    project_dir: str | None = None
    image: str | None = None
    ports: tuple[int, ...] = ()  # published host ports
    container: str | None = None  # container name when one exists
    running: bool = False
    provides: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Detection:
    providers: list[ServiceRef] = field(default_factory=list)
    consumers: list[ServiceRef] = field(default_factory=list)


@dataclass(frozen=True)
class PlanContext:
    """What a plan may read besides the snapshot: where to write, kept secrets."""

    scope: str  # compose project name or "global"
    output_dir: Path  # default <project_dir>/portside/
    secrets: dict[str, str]  # generated secrets kept across re-runs (state store)
    project_dir: Path | None = None
    other_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # e.g. email for SSO
    compose_files: tuple[str, ...] = ()  # the project's compose files (for the override)

    def path(self, name: str) -> Path:
        """A file in the output directory."""
        return self.output_dir / name


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@runtime_checkable
class Integrator(Protocol):
    kind: ClassVar[str]
    title: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]

    def detect(self, snapshot: Snapshot) -> Detection: ...

    def plan(self, snapshot: Snapshot, settings: Any, ctx: PlanContext) -> tuple[Plan, dict[str, str]]:
        """The plan, plus the secrets to keep (generated once, stable across re-runs)."""
        ...

    def verify(self, snapshot: Snapshot, settings: Any, ctx: PlanContext) -> list[Check]: ...


def load_integrators() -> dict[str, Integrator]:
    """Every integrator by kind: built-ins first, then entry points (which may not shadow)."""
    from importlib import import_module

    found: dict[str, Integrator] = {}
    LOAD_ERRORS.clear()
    for spec in BUILTINS:
        mod_name, _, cls_name = spec.partition(":")
        try:
            inst = getattr(import_module(mod_name), cls_name)()
        except Exception as exc:  # one broken integrator must not take the others down
            LOAD_ERRORS[spec] = f"{type(exc).__name__}: {exc}"
            continue
        found[inst.kind] = inst
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            inst = ep.load()()
        except Exception as exc:  # a broken plugin must not take portside down
            LOAD_ERRORS[f"{ep.name} = {ep.value}"] = f"{type(exc).__name__}: {exc}"
            continue
        if isinstance(inst, Integrator) and inst.kind not in found:
            found[inst.kind] = inst
        elif not isinstance(inst, Integrator):
            LOAD_ERRORS[f"{ep.name} = {ep.value}"] = "not an integrator (needs kind, title, Settings, detect, plan, verify)"
    return found


# ------------------------------------------------------------------ plan helpers


def file_edit(
    path: Path | str, text: str, *, secret: bool = False, mode: int | None = None, description: str = "",
    owner: tuple[int, int] | None = None,
) -> FileEdit:
    """Create-or-replace `path` with `text` (the old hash read now; secret files 0600).

    `owner` (uid, gid): a container's documented user reads the file (`container_user`), so it
    is owned by that user, 0640, or 0600 when secret: never readable by anybody else."""
    default = (0o600 if secret else (0o640 if owner else None))
    return FileEdit(
        path=str(path),
        old_sha256=sha256_file(path),
        new_text=text,
        mode=mode if mode is not None else default,
        secret=secret,
        description=description,
        uid=owner[0] if owner else None,
        gid=owner[1] if owner else None,
    )


def container_user(catalog_id: str) -> tuple[int, int] | None:
    """The (uid, gid) an app's official image runs as (catalog `runs_as`, from the app's docs)."""
    from portside.integrators.catalog import catalog

    entry = catalog().get(catalog_id)
    runs_as = entry.extra("runs_as") if entry else None
    return (int(runs_as["uid"]), int(runs_as.get("gid", 0))) if runs_as else None


# ---------------------------------------------------------------------- secrets


def secret_field(default: Any = None, **kwargs: Any) -> Any:
    """A pydantic Field that is a secret: redacted in records, reports and the wizard."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra["secret"] = True
    return Field(default, json_schema_extra=extra, **kwargs)


def is_secret(info: Any) -> bool:
    extra = info.json_schema_extra
    return isinstance(extra, dict) and bool(extra.get("secret"))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def redact(model_cls: type[BaseModel], data: Any) -> Any:
    """`data` (a dumped `model_cls`) with every secret field replaced by ********."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, info in model_cls.model_fields.items():
        if name not in out:
            continue
        if is_secret(info):
            out[name] = REDACTED if out[name] else out[name]
            continue
        for sub in _models_in(info.annotation):
            value = out[name]
            if isinstance(value, list):
                out[name] = [redact(sub, v) for v in value]
            elif isinstance(value, dict):
                out[name] = redact(sub, value)
    return out


def redacted_settings(settings: BaseModel) -> dict[str, Any]:
    return dict(redact(type(settings), settings.model_dump(mode="json")))


def is_optional(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    return origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)
