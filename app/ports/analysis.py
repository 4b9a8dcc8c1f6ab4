"""Port conflicts: a pure function of bindings (a snapshot) and the user's policy.

Two bindings collide when the protocol matches, the port ranges overlap and
the addresses overlap (a wildcard 0.0.0.0 / :: overlaps every address;
127.0.0.1 and 127.0.0.2 do not). Bindings that are the same *claim* never
collide: one owner on IPv4 and IPv6, or a compose-declared port and the
container that compose already started for that project/service.

Per protocol the bindings are sorted by first port and swept once, keeping
only the ranges still open (dropped once they end), so the cost is
O(n log n + overlapping pairs).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from portside.app.models import (
    BindingState,
    Conflict,
    ConflictKind,
    PortBinding,
    Protocol,
    Snapshot,
    Source,
)
from portside.app.models import Severity as Sev

K = ConflictKind
LIVE = frozenset({BindingState.RUNNING, BindingState.LISTENING})
WILL_START = frozenset({BindingState.DECLARED, BindingState.STOPPED})
WILDCARDS = frozenset({"", "0.0.0.0", "::", "*"})  # as PortBinding.is_wildcard
SEVERITY_ORDER = {Sev.ERROR: 0, Sev.WARNING: 1, Sev.INFO: 2}


@dataclass(frozen=True)
class Policy:
    """What the analysis needs from the config (and the engine)."""

    port_range: tuple[int, int] | None = None
    rootless: bool = False
    pinned: frozenset[str] = frozenset()  # "project/service"


def claim(b: PortBinding) -> str:
    """Identity of the claim: a compose service, its containers and its registry entries are one."""
    if b.project and b.service and b.source in (Source.COMPOSE, Source.DOCKER, Source.REGISTRY):
        return f"service:{b.project}/{b.service}"
    return b.owner


def is_ingress(b: PortBinding) -> bool:
    return b.source is Source.SWARM and b.name != "host"


def addresses_overlap(a: PortBinding, b: PortBinding) -> bool:
    return a.is_wildcard or b.is_wildcard or a.host_ip == b.host_ip


def analyze(snapshot: Snapshot, policy: Policy | None = None) -> list[Conflict]:
    return find_conflicts(snapshot.bindings, policy or Policy())


def find_conflicts(bindings: Sequence[PortBinding], policy: Policy | None = None) -> list[Conflict]:
    # The sweep allocates ~2 tuples per binding; the cyclic GC would rescan every live model
    # (100,000 bindings) several times over for nothing: nothing built here forms a cycle.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _find_conflicts(bindings, policy or Policy())
    finally:
        if was_enabled:
            gc.enable()


def _find_conflicts(bindings: Sequence[PortBinding], policy: Policy) -> list[Conflict]:
    found: dict[tuple[object, ...], Conflict] = {}
    # One pass pulls plain tuples out of the models: (first, last, claim, wildcard, address, binding),
    # and the few bindings the single checks look at. Attribute access on pydantic models and
    # enum lookups would dominate otherwise.
    by_proto: dict[str, list[tuple[Any, ...]]] = {p.value: [] for p in Protocol}
    claimants, wildcards, reg_src = _CLAIMANTS, WILDCARDS, Source.REGISTRY
    low = 1024 if policy.rootless else 0
    registry: list[PortBinding] = []
    singles: list[PortBinding] = []
    for b in bindings:
        project, service, src, port = b.project, b.service, b.source, b.port
        c = f"service:{project}/{service}" if project and service and src in claimants else b.owner
        end, ip = b.port_end, b.host_ip
        by_proto[b.protocol].append((port, port if end is None else end, c, ip in wildcards, ip, b))
        if src is reg_src:
            registry.append(b)
            singles.append(b)
        elif port < low:
            singles.append(b)
    for p, items in by_proto.items():
        items.sort(key=_first)
        open_: list[tuple[Any, ...]] = []  # items whose range may still overlap what comes next
        max_last = min_last = -1  # over open_
        for item in items:
            port, last, c, wild, ip, b = item
            if port > max_last:  # everything open ended before this port (the common case)
                open_ = []
                max_last = min_last = last
            else:
                if port > min_last:  # some ended: drop them (costs what the pair loop costs anyway)
                    open_ = [o for o in open_ if o[1] >= port]
                    min_last = min(o[1] for o in open_) if open_ else last
                for _, _, o_claim, o_wild, o_ip, other in open_:
                    if o_claim == c or not (wild or o_wild or ip == o_ip):
                        continue
                    kind_sev = _kind(other, b)
                    if kind_sev is None:
                        continue
                    # One owner's IPv4 and IPv6 bindings against another's: one conflict, not four.
                    key = (kind_sev[0], p, port, *sorted((c, o_claim)))
                    if key not in found:
                        found[key] = pair_conflict(other, b, kind_sev)  # type: ignore[assignment]
                max_last, min_last = max(max_last, last), min(min_last, last)
            open_.append(item)
    for conflict in (*registry_drift(bindings, registry), *single_checks(singles, policy)):
        found.setdefault((conflict.kind, conflict.protocol, conflict.port, conflict.parties[0].owner), conflict)
    rank = {sev.value: i for i, sev in enumerate(SEVERITY_ORDER)}
    return [c for _, c in sorted(found.items(), key=lambda kv: (rank[kv[1].severity], kv[1].port, kv[0]))]


_CLAIMANTS = frozenset({Source.COMPOSE, Source.DOCKER, Source.REGISTRY})  # as in `claim`
_CONFLICT_FIELDS = frozenset(Conflict.model_fields)


def new_conflict(**fields: Any) -> Conflict:
    """A Conflict from fields built (and typed) right here, without re-validating them.

    What `Conflict.model_construct` does, minus its per-field bookkeeping, which
    dominated the analysis of 100,000 bindings. Every field must be given;
    tests/test_analysis.py checks the result equals the validated model.
    """
    assert fields.keys() == _CONFLICT_FIELDS, fields.keys() ^ _CONFLICT_FIELDS
    c = Conflict.__new__(Conflict)
    object.__setattr__(c, "__dict__", fields)
    object.__setattr__(c, "__pydantic_fields_set__", set(_CONFLICT_FIELDS))
    object.__setattr__(c, "__pydantic_extra__", None)
    object.__setattr__(c, "__pydantic_private__", None)
    return c


def _first(item: tuple[Any, ...]) -> int:
    return item[0]  # type: ignore[no-any-return]


# ------------------------------------------------------------------ pairs


def _kind(a: PortBinding, b: PortBinding) -> tuple[ConflictKind, Sev] | None:
    states = {a.state, b.state}
    if BindingState.PROFILE_GATED in states:
        return None  # taken only once its profile is enabled: shown, not a conflict yet
    sources = {a.source, b.source}
    if Source.RESERVED in sources:
        return None if sources == {Source.RESERVED} else (K.RESERVED, Sev.WARNING)
    if Source.REGISTRY in sources:
        return K.REGISTRY_DRIFT, Sev.WARNING
    if is_ingress(a) or is_ingress(b):
        return K.SWARM_INGRESS, Sev.ERROR
    if Source.HOST in sources:
        if sources == {Source.HOST}:
            return None  # the kernel let both bind (SO_REUSEPORT, forked workers)
        other = a if b.source is Source.HOST else b
        return K.HOST_PROCESS, (Sev.ERROR if other.state in WILL_START else Sev.WARNING)
    if states <= LIVE:
        return None  # the engine already runs both: nothing will fail
    if BindingState.DECLARED in states and states & LIVE:
        return K.DECLARED_VS_LIVE, Sev.ERROR
    if states == {BindingState.DECLARED}:
        return K.DECLARED_VS_DECLARED, Sev.ERROR
    if states == {BindingState.STOPPED}:
        return K.STOPPED_VS_LIVE, Sev.INFO
    return K.STOPPED_VS_LIVE, Sev.WARNING  # stopped vs running, or stopped vs declared


def pair_conflict(
    a: PortBinding, b: PortBinding, kind_sev: tuple[ConflictKind, Sev] | None = None
) -> Conflict | None:
    kind_sev = kind_sev or _kind(a, b)
    if kind_sev is None:
        return None
    kind, sev = kind_sev
    first, last = max(a.port, b.port), min(a.last_port, b.last_port)
    parties = sorted((a, b), key=_party_order)
    x, y = parties
    port = f"{first}-{last}/{a.protocol.value}" if last != first else f"{first}/{a.protocol.value}"
    message, fix = _describe(kind, x, y, port, first)
    return new_conflict(
        kind=kind,
        severity=sev,
        protocol=a.protocol,
        port=first,
        port_end=last if last != first else None,
        host_ip=b.host_ip if a.is_wildcard else a.host_ip,
        parties=parties,
        message=message,
        fix=fix,
    )


_ORDER = {
    BindingState.DECLARED: 0,
    BindingState.STOPPED: 1,
    BindingState.ASSIGNED: 2,
    BindingState.RUNNING: 3,
    BindingState.LISTENING: 4,
    BindingState.RESERVED: 5,
    BindingState.PROFILE_GATED: 6,
}


def _party_order(b: PortBinding) -> tuple[int, str]:
    """The party that has to move comes first: declared, stopped, then what already runs."""
    return _ORDER[b.state], b.owner


def _who(b: PortBinding) -> str:
    if b.source is Source.HOST:
        return f"{b.process or 'a process'} (pid {b.pid if b.pid is not None else '?'})"
    if b.source is Source.SWARM:
        return f"swarm service {b.service}"
    return f"{b.label()} ({b.state.value})"


def _describe(kind: ConflictKind, x: PortBinding, y: PortBinding, port: str, first: int) -> tuple[str, str]:
    if kind is K.DECLARED_VS_LIVE:
        return (f"{port}: {_who(x)} wants the port {_who(y)} holds; `up` will fail",
                f"remap {x.label()} to a free port, or stop {y.label()}")
    if kind is K.DECLARED_VS_DECLARED:
        return (f"{port}: {_who(x)} and {_who(y)} both declare it; the second `up` will fail",
                f"remap one of them (e.g. {y.label()})")
    if kind is K.STOPPED_VS_LIVE:
        verb = "will fail to start" if y.state in LIVE else "cannot run at the same time as the other"
        return (f"{port}: {_who(x)} {verb}: {_who(y)} claims it",
                f"remap {x.label()}, or remove the stopped container if it is obsolete")
    if kind is K.HOST_PROCESS:
        host, other = (x, y) if x.source is Source.HOST else (y, x)
        return (f"{port}: {_who(host)} holds the port {_who(other)} publishes",
                f"stop {host.process or 'the process'} or remap {other.label()}")
    if kind is K.SWARM_INGRESS:
        ing, other = (x, y) if is_ingress(x) else (y, x)
        return (f"{port}: swarm ingress of {ing.service} holds it on every node; {_who(other)} collides",
                f"remap {other.label()}, or publish {ing.service} in host mode")
    if kind is K.REGISTRY_DRIFT:
        reg, other = (x, y) if x.source is Source.REGISTRY else (y, x)
        return (f"{port}: the registry assigns it to {reg.name}, but {_who(other)} claims it",
                f"remap {other.label()}, or change the registry entry {reg.name}")
    res, other = (x, y) if x.source is Source.RESERVED else (y, x)  # RESERVED
    return (f"{port}: reserved in portside.yaml, but {_who(other)} claims it",
            f"remap {other.label()}, or drop {first} from reserved_ports")


# --------------------------------------------------------------- singles


def registry_drift(bindings: Iterable[PortBinding], registry: list[PortBinding] | None = None) -> list[Conflict]:
    """A service whose live or declared port differs from the port the registry assigns it.

    `registry`: the registry bindings among `bindings`, when the caller already has them.
    """
    if registry is None:
        registry = [b for b in bindings if b.source is Source.REGISTRY]
    if not registry:
        return []
    wanted = {(r.project, r.service) for r in registry}
    actual: dict[tuple[str, str, int | None, Protocol], list[PortBinding]] = {}
    for b in bindings:
        if (b.project, b.service) in wanted and b.source in (Source.COMPOSE, Source.DOCKER):
            actual.setdefault((b.project or "", b.service or "", b.target, b.protocol), []).append(b)
    out = []
    for r in registry:
        seen = actual.get((r.project or "", r.service or "", r.target, r.protocol), [])
        if seen and all(s.port != r.port for s in seen):
            now = sorted({s.port for s in seen})
            out.append(
                new_conflict(
                    kind=K.REGISTRY_DRIFT,
                    severity=Sev.WARNING,
                    protocol=r.protocol,
                    port=r.port,
                    host_ip=r.host_ip,
                    parties=[r, seen[0]],
                    message=f"{r.port_text()}: registry assigns {r.name} port {r.port}, "
                    f"but it uses {', '.join(map(str, now))}",
                    fix=f"move {r.project}/{r.service} back to {r.port}, or update the registry entry",
                    port_end=None,
                )
            )
    return out


def single_checks(bindings: Iterable[PortBinding], policy: Policy) -> list[Conflict]:
    """Registry assignments outside the managed range; privileged ports under rootless Docker.

    Only the registry is held to `port_range`: it is what portside manages. A
    compose file publishing 80/443 for a proxy is a choice, not a finding.
    """
    out = []
    seen: set[tuple[str, int, Protocol]] = set()
    lo_hi = policy.port_range
    reg_src, rootless = Source.REGISTRY, policy.rootless
    for b in bindings:
        registry = b.source is reg_src
        if not (registry or (rootless and b.port < 1024)):
            continue
        if (b.owner, b.port, b.protocol) in seen:
            continue
        seen.add((b.owner, b.port, b.protocol))
        if registry and lo_hi and f"{b.project}/{b.service}" not in policy.pinned and not (
            lo_hi[0] <= b.port and b.last_port <= lo_hi[1]
        ):
            out.append(_single(K.OUT_OF_RANGE, Sev.INFO, b,
                               f"{b.port_text()}: {_who(b)} is outside the managed range {lo_hi[0]}-{lo_hi[1]}",
                               "remap it into the range, pin it, or widen port_range"))
        if policy.rootless and b.port < 1024 and b.state in WILL_START and b.source is not Source.HOST:
            out.append(_single(K.PRIVILEGED, Sev.ERROR, b,
                               f"{b.port_text()}: {_who(b)} needs a privileged port, which rootless Docker cannot bind",
                               "remap it to a port >= 1024, or lower net.ipv4.ip_unprivileged_port_start"))
    return out


def _single(kind: ConflictKind, sev: Sev, b: PortBinding, message: str, fix: str) -> Conflict:
    return new_conflict(kind=kind, severity=sev, protocol=b.protocol, port=b.port, port_end=b.port_end,
                        host_ip=b.host_ip, parties=[b], message=message, fix=fix)


def conflicting_owners(conflicts: Iterable[Conflict]) -> dict[str, Sev]:
    """owner -> worst severity, for flagging rows in a bindings table."""
    worst: dict[str, Sev] = {}
    for c in conflicts:
        for p in c.parties:
            if p.owner not in worst or SEVERITY_ORDER[c.severity] < SEVERITY_ORDER[worst[p.owner]]:
                worst[p.owner] = c.severity
    return worst
