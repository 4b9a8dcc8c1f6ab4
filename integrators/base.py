"""The integrator protocol and the registry of integrators.

An integrator declares its `kind`, a pydantic `Settings` model (the wizard form
is generated from it: field titles, descriptions, defaults, validation), and
three functions:

- `detect(snapshot)`: providers and consumers found among the stacks;
- `plan(snapshot, settings, ctx)`: a pure Plan (file edits) — applied by
  `app.executor.apply_plan`, never written here;
- `verify(snapshot, settings, ctx)`: checks against the running service.

Built-in integrators live in this package; third-party ones register through
the entry-point group `portside.integrators` (the entry point names a class).
No Textual import here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from app.models import Plan, Snapshot

ENTRY_POINT_GROUP = "portside.integrators"

# Built-in integrator modules, imported lazily: "module:Class".
BUILTINS: list[str] = []


@dataclass(frozen=True)
class ServiceRef:
    """A service found in the stacks (running container or compose declaration)."""

    name: str  # "project/service" or container name
    catalog_id: str | None  # e.g. "grafana"; None when the catalog does not know it
    project: str | None = None
    service: str | None = None
    project_dir: str | None = None
    image: str | None = None
    ports: tuple[int, ...] = ()


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

    def plan(self, snapshot: Snapshot, settings: BaseModel, ctx: PlanContext) -> tuple[Plan, dict[str, str]]:
        """The plan, plus the secrets to keep (generated once, stable across re-runs)."""
        ...

    def verify(self, snapshot: Snapshot, settings: BaseModel, ctx: PlanContext) -> list[Check]: ...


def load_integrators() -> dict[str, Integrator]:
    """Every integrator by kind: built-ins first, then entry points (which may not shadow)."""
    from importlib import import_module

    found: dict[str, Integrator] = {}
    for spec in BUILTINS:
        mod_name, _, cls_name = spec.partition(":")
        cls = getattr(import_module(mod_name), cls_name)
        found[cls.kind] = cls()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # a broken plugin must not take portside down
            continue
        inst = cls()
        if isinstance(inst, Integrator) and inst.kind not in found:
            found[inst.kind] = inst
    return found
