"""Integration settings: where they come from and how they validate (no Textual).

Layers, lowest first: the integrator's suggestions from the stacks, the last
applied settings (kept with the secrets in the state store, key `__settings__`),
`portside.yaml` `integrations.KIND`, then `--set` / the wizard form. Secret
fields may be literal, `${ENV_VAR}` or `file:/path`. A validation error is one
line naming the key, with secrets shown as ********.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from portside.app.config import Config, resolve_secret
from portside.app.errors import ConfigError, PortsideError
from portside.app.models import Snapshot
from portside.app.state import State
from portside.integrators.base import Integrator, PlanContext, _models_in, is_secret

RESERVED_KEYS = ("enabled", "project_dir", "output_dir")
SETTINGS_KEY = "__settings__"  # the last applied settings, kept with the secrets (state store)
GLOBAL = "global"


class SettingsError(ConfigError):
    """Settings for an integration do not validate."""




def parse_sets(items: list[str] | None) -> dict[str, Any]:
    """`--set a.b=v` pairs -> nested dict; `[...]`/`{...}` values are YAML, the rest strings."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise PortsideError(f"--set {item!r}: expected key=value (e.g. --set port=587)")
        parsed: Any = value
        if value[:1] in ("[", "{"):
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError as exc:
                raise PortsideError(f"--set {key}: not valid YAML ({exc.__class__.__name__})") from None
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = parsed
    return out


def deep_merge(*layers: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layer in layers:
        for k, v in layer.items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = deep_merge(out[k], v)
            else:
                out[k] = v
    return out


def _resolve_secret_refs(model_cls: type[BaseModel], data: Any, where: str) -> Any:
    """`${ENV}` / `file:/path` in secret fields -> their values (see app.config.resolve_secret)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, info in model_cls.model_fields.items():
        value = out.get(name)
        if value is None:
            continue
        if is_secret(info) and isinstance(value, str):
            out[name] = resolve_secret(value, where=f"{where}.{name}")
        for sub in _models_in(info.annotation):
            if isinstance(value, list):
                out[name] = [_resolve_secret_refs(sub, v, f"{where}.{name}") for v in value]
            elif isinstance(value, dict):
                out[name] = _resolve_secret_refs(sub, value, f"{where}.{name}")
    return out


def config_section(config: Config, kind: str) -> dict[str, Any]:
    return dict(config.integrations.get(kind) or {})


def stored_settings(state: State, kind: str, scope: str) -> dict[str, Any]:
    for sc in (scope, GLOBAL) if scope != GLOBAL else (GLOBAL,):
        raw = state.integration_secrets(kind, sc).get(SETTINGS_KEY)
        if raw:
            return dict(json.loads(raw))
    return {}


def validate_settings(integrator: Integrator, data: dict[str, Any], where: str) -> BaseModel:
    cls = integrator.Settings
    data = {k: v for k, v in data.items() if k not in RESERVED_KEYS}
    data = _resolve_secret_refs(cls, data, where)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(settings)"
        msg = re.sub(r"^Value error, ", "", err["msg"])
        shown = "********" if _is_secret_path(cls, err["loc"]) else repr(err.get("input"))
        raise SettingsError(f"{where}.{loc}: {msg} (got {shown})") from None


def _is_secret_path(cls: type[BaseModel], loc: tuple[Any, ...]) -> bool:
    for part in loc:
        info = cls.model_fields.get(str(part)) if isinstance(part, str) else None
        if info is None:
            continue
        if is_secret(info):
            return True
        subs = _models_in(info.annotation)
        if not subs:
            return False
        cls = subs[0]
    return False


def resolve_settings(
    integrator: Integrator,
    config: Config,
    state: State,
    scope: str,
    sets: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> BaseModel:
    """`base` (suggestions) < stored (last applied) < portside.yaml `integrations.KIND` < `sets`, validated."""
    kind = integrator.kind
    src = str(config.source_path) if config.source_path else "portside.yaml"
    merged = deep_merge(base or {}, stored_settings(state, kind, scope), config_section(config, kind), sets or {})
    return validate_settings(integrator, merged, f"{src}: integrations.{kind}")


def scoped_snapshot(snapshot: Snapshot, scope: str) -> Snapshot:
    """What an integration may see: only the chosen compose project (everything for `global`).

    Another project on the same engine may run services of the same names; its
    containers, declarations and published ports never reach a project's plan or verify.
    """
    if scope == GLOBAL:
        return snapshot
    containers = [c for c in snapshot.containers if c.project == scope]
    names = {c.name for c in containers}
    return snapshot.model_copy(update={
        "containers": containers,
        "swarm_services": [],
        "projects": [p for p in snapshot.projects if p.name == scope],
        "bindings": [b for b in snapshot.bindings if b.project == scope or (b.container and b.container in names)],
    })


def suggestions(integrator: Integrator, snapshot: Snapshot, ctx: PlanContext) -> dict[str, Any]:
    """Defaults an integrator derives from the stacks (optional `suggest` method), e.g. a Mailpit host."""
    suggest = getattr(integrator, "suggest", None)
    return dict(suggest(scoped_snapshot(snapshot, ctx.scope), ctx)) if callable(suggest) else {}


def initial_settings(integrator: Integrator, snapshot: Snapshot, config: Config, state: State,
                     ctx: PlanContext) -> dict[str, Any]:
    """What the wizard form starts from (not validated): suggestions < stored < config."""
    data = deep_merge(suggestions(integrator, snapshot, ctx), stored_settings(state, integrator.kind, ctx.scope),
                      config_section(config, integrator.kind))
    return {k: v for k, v in data.items() if k not in RESERVED_KEYS}


def default_project_dir(integrator: Integrator, snapshot: Snapshot) -> str | None:
    """The project of the first detected provider/consumer (the wizard's default scope)."""
    found = integrator.detect(snapshot)
    return next((r.project_dir for r in [*found.providers, *found.consumers] if r.project_dir), None)
