"""Remap policy and plan building (pure: a snapshot, conflicts and the config in, a Plan out).

Which side moves: only a compose-declared port can be edited; a service that is
pinned (config `pinned:` or a pinned registry entry) or whose port is the
registry's assignment never moves; among the rest the one that is not running
moves before a running one, otherwise the newer (compose file modified last).
Only the host port changes; the container-side port stays; ranges move whole.

File contents are read through `read` (default: from disk) so the plan carries
the sha256 of exactly the text it edited; the executor refuses if it changed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portside.app.compose_edit import port_text, replace_many, set_env_var
from portside.app.config import Config
from portside.app.executor import sha256_text
from portside.app.models import (
    BindingState,
    Conflict,
    DockerAction,
    DockerActionKind,
    FileEdit,
    Plan,
    PortBinding,
    PortMove,
    Severity,
    Snapshot,
    Source,
    registry_key,
)
from portside.app.ports.allocator import Allocator, NoFreePort


def _read_disk(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


@dataclass
class RemapContext:
    """What the policy needs beyond the snapshot."""

    config: Config
    registry: list[Mapping[str, Any]] = field(default_factory=list)  # State.registry() rows
    mtimes: Mapping[str, float] = field(default_factory=dict)  # compose file -> mtime (newer moves)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    read: Callable[[str], str | None] = _read_disk
    recreate: bool = False

    def pinned(self, b: PortBinding) -> bool:
        if f"{b.project}/{b.service}" in self.config.pinned:
            return True
        key = registry_key(b.project or "", b.service or "", b.target, b.protocol.value)
        return any(r["key"] == key and (r.get("pinned") or r["port"] == b.port) for r in self.registry)


def binding_id(b: PortBinding) -> tuple[object, ...]:
    return (b.owner, b.host_ip, b.port, b.protocol, b.target)


def movable(b: PortBinding, ctx: RemapContext) -> str | None:
    """None when portside may move `b`, else why not."""
    if b.source is not Source.COMPOSE or b.origin is None:
        return f"{b.label()} is not a compose file portside can edit"
    if ctx.pinned(b):
        return f"{b.label()} is pinned (or holds its registry assignment)"
    o = b.origin
    if o.env_var and o.env_file is None and o.env_var in ctx.environ:
        return f"{b.label()} takes its port from ${o.env_var} in the environment; change it there"
    return None


def choose_mover(conflict: Conflict, snapshot: Snapshot, ctx: RemapContext) -> PortBinding | None:
    """The party that should move, or None when no party may."""
    running = {
        (b.project, b.service)
        for b in snapshot.bindings
        if b.source is Source.DOCKER and b.state is BindingState.RUNNING and b.project
    }
    cands = [p for p in conflict.parties if movable(p, ctx) is None]
    if not cands:
        return None

    def rank(b: PortBinding) -> tuple[int, float, str]:
        mtime = ctx.mtimes.get(b.origin.file if b.origin else "", 0.0)
        return (int((b.project, b.service) in running), -mtime, b.owner)

    return sorted(cands, key=rank)[0]


def registry_updates(plan: Plan) -> dict[str, PortMove]:
    """Registry keys the plan's moves assign (for `apply_plan(registry=...)`)."""
    return {
        registry_key(m.project or "", m.service or "", m.target, m.protocol.value): m
        for m in plan.moves
        if m.project and m.service
    }


# --------------------------------------------------------------------- planning


def plan_remap(
    snapshot: Snapshot,
    conflicts: Iterable[Conflict],
    ctx: RemapContext,
    *,
    choices: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
) -> Plan:
    """Resolve every error-severity conflict. `choices`/`ports`: conflict key -> owner to move / port."""
    alloc = allocator_for(snapshot, ctx.config)
    moved: set[tuple[object, ...]] = set()
    moves: list[tuple[PortBinding, int, str]] = []
    warnings: list[str] = []
    for c in conflicts:
        if c.severity is not Severity.ERROR:
            continue
        if any(binding_id(p) in moved for p in c.parties):
            continue  # an earlier move already resolved it
        mover = None
        if choices and c.key in choices:
            mover = next((p for p in c.parties if p.owner == choices[c.key]), None)
            why = movable(mover, ctx) if mover else "no such party"
            if why:
                warnings.append(f"{c.message}: cannot move the chosen side ({why})")
                continue
        else:
            mover = choose_mover(c, snapshot, ctx)
        if mover is None:
            reasons = "; ".join(filter(None, (movable(p, ctx) for p in c.parties)))
            warnings.append(f"{c.message}: nothing portside may move ({reasons}); {c.fix or ''}".rstrip("; "))
            continue
        count = mover.last_port - mover.port + 1
        try:
            if ports and c.key in ports:
                why = alloc.why_not(ports[c.key], count)
                if why:
                    warnings.append(f"{c.message}: port {ports[c.key]} cannot be used ({why})")
                    continue
                new = ports[c.key]
                alloc.take(new, count)
            else:
                new = alloc.allocate(mover.port, count)
        except NoFreePort as exc:
            warnings.append(f"{c.message}: {exc}")
            continue
        moved.add(binding_id(mover))
        moves.append((mover, new, c.message))
    return build_plan(snapshot, moves, ctx, warnings=warnings)


def find_binding(snapshot: Snapshot, target: str, port: int) -> PortBinding:
    """The compose binding of PROJECT/SERVICE whose host port (else container port) is `port`."""
    project, _, service = target.partition("/")
    mine = [b for b in snapshot.bindings if b.source is Source.COMPOSE
            and b.project == project and b.service == service]
    if not mine:
        known = sorted({f"{b.project}/{b.service}" for b in snapshot.bindings if b.source is Source.COMPOSE})
        raise LookupError(f"{target}: no such compose service (known: {', '.join(known) or 'none'})")
    for pick in (lambda b: b.port <= port <= b.last_port, lambda b: b.target == port):
        hit = [b for b in mine if pick(b)]
        if hit:
            return hit[0]
    have = ", ".join(b.port_text() for b in mine)
    raise LookupError(f"{target}: no published port {port} (it publishes {have})")


def plan_move(snapshot: Snapshot, target: str, port: int, to: int | None, ctx: RemapContext,
              reason: str = "") -> Plan:
    """Move one binding (`portside remap PROJECT/SERVICE --port N --to M`)."""
    b = find_binding(snapshot, target, port)
    why = movable(b, ctx)
    if why and not (b.origin and "pinned" in why):  # an explicit request may move a pinned port
        raise ValueError(why)
    count = b.last_port - b.port + 1
    alloc = allocator_for(snapshot, ctx.config, ignore=b)
    if to is None:
        to = alloc.allocate(b.port, count)
    else:
        problem = alloc.why_not(to, count)
        if problem:
            raise ValueError(f"{target}: cannot move to {to}: {problem}")
    return build_plan(snapshot, [(b, to, reason or f"requested: {b.port_text()} -> {to}")], ctx)


def allocator_for(snapshot: Snapshot, config: Config, ignore: PortBinding | None = None) -> Allocator:
    used = [b for b in snapshot.bindings if ignore is None or binding_id(b) != binding_id(ignore)]
    return Allocator(used, (config.port_range.start, config.port_range.end),
                     config.reserved_ports, config.allocation)


def build_plan(snapshot: Snapshot, moves: list[tuple[PortBinding, int, str]], ctx: RemapContext,
               warnings: list[str] | None = None) -> Plan:
    """File edits for moving each binding to its new first port."""
    compose_ops: dict[str, list[tuple[int, int, str, str]]] = {}
    env_ops: dict[str, list[tuple[str, str, str | None]]] = {}
    pmoves: list[PortMove] = []
    warnings = list(warnings or [])
    projects = {p.name: p for p in snapshot.projects}
    for b, new, reason in moves:
        o = b.origin
        assert o is not None
        new_end = new + (b.last_port - b.port) if b.port_end is not None else None
        old_t, new_t = port_text(b.port, b.port_end), port_text(new, new_end)
        if o.env_var is None:
            compose_ops.setdefault(o.file, []).append((o.line, o.column, o.text, new_t))
        elif o.env_file:
            env_ops.setdefault(o.env_file, []).append((o.env_var, new_t, old_t))
        else:  # only a default existed: add the variable to the project's .env
            proj = projects.get(b.project or "")
            env_path = str(Path(proj.project_dir if proj else Path(o.file).parent) / ".env")
            d = o.default or ""
            value = d.replace(old_t, new_t, 1) if d not in ("", old_t) and old_t in d else new_t
            env_ops.setdefault(env_path, []).append((o.env_var, value, None))
        pmoves.append(PortMove(owner=b.owner, project=b.project, service=b.service, target=b.target,
                               protocol=b.protocol, old_port=b.port, old_port_end=b.port_end,
                               new_port=new, new_port_end=new_end, reason=reason))
    edits: list[FileEdit] = []
    for path, ops in compose_ops.items():
        old = ctx.read(path)
        if old is None:
            raise ValueError(f"{path}: the compose file is gone; re-run to plan again")
        edits.append(FileEdit(path=path, old_sha256=sha256_text(old), new_text=replace_many(old, ops),
                              description=f"{len(ops)} port(s) in {Path(path).name}"))
    for path, eops in env_ops.items():
        old_env = ctx.read(path)
        text = old_env or ""  # set_env_var treats a missing .env as empty
        for var, value, old_value in eops:
            text = set_env_var(text, var, value, old_text=old_value)
        edits.append(FileEdit(path=path, old_sha256=sha256_text(old_env) if old_env is not None else None,
                              new_text=text, description=f"set {', '.join(v for v, _, _ in eops)}"))
    actions: list[DockerAction] = []
    if ctx.recreate:
        by_project: dict[str, list[str]] = {}
        for m in pmoves:
            if m.project and m.service and m.service not in by_project.setdefault(m.project, []):
                by_project[m.project].append(m.service)
        for name, services in by_project.items():
            proj = projects.get(name)
            if proj:
                actions.append(DockerAction(kind=DockerActionKind.COMPOSE_UP, project_dir=proj.project_dir,
                                            compose_files=proj.compose_files, services=services))
    title = (f"Remap {len(pmoves)} port(s): " + ", ".join(
        f"{m.project}/{m.service} {port_text(m.old_port, m.old_port_end)}->{port_text(m.new_port, m.new_port_end)}"
        for m in pmoves)) if pmoves else "Nothing to remap"
    return Plan(kind="remap", title=title, reason="; ".join(m.reason for m in pmoves),
                edits=edits, actions=actions, moves=pmoves, warnings=warnings)
