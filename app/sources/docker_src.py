"""Containers from the Docker engine: running and stopped, their published ports, labels, health.

One low-level list call (`client.api.containers(all=True)`) gives every container
with the ports a *running* one publishes (IPv4 and IPv6 separately, ranges as
one entry per port). A stopped container publishes nothing yet, but it will
claim `HostConfig.PortBindings` when it starts, so those (and only those) are
read with one inspect each.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from portside.app.models import (
    BindingState,
    ContainerInfo,
    HealthState,
    PortBinding,
    Protocol,
    Source,
)

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_WORKDIR = "com.docker.compose.project.working_dir"
COMPOSE_FILES = "com.docker.compose.project.config_files"
SWARM_SERVICE = "com.docker.swarm.service.name"

_HEALTH_RE = re.compile(r"\((?:health: )?(healthy|unhealthy|starting)\)")
_HEALTH = {"healthy": HealthState.HEALTHY, "unhealthy": HealthState.UNHEALTHY, "starting": HealthState.STARTING}


def health_from_status(status: str) -> HealthState | None:
    """`Up 3 minutes (healthy)` -> HEALTHY; `(health: starting)` -> STARTING; no HEALTHCHECK -> None."""
    m = _HEALTH_RE.search(status or "")
    return _HEALTH[m.group(1)] if m else None


def container_owner(name: str, labels: Mapping[str, str]) -> str:
    """Owner id of a container's ports; a swarm task's ports belong to its service."""
    svc = labels.get(SWARM_SERVICE)
    return f"swarm:{svc}" if svc else f"container:{name}"


def list_containers(client: Any, listed: list[dict[str, Any]] | None = None) -> list[ContainerInfo]:
    """Every container (stopped ones too) with its published ports.

    `listed`: the answer of `client.api.containers(all=True)` when the caller already has it.
    """
    out = []
    for raw in client.api.containers(all=True) if listed is None else listed:
        bindings_spec = None
        if raw.get("State") != "running" and not raw.get("Ports"):
            bindings_spec = _stopped_port_bindings(client, raw["Id"])
        out.append(container_from_api(raw, bindings_spec))
    return out


# A container's PortBindings never change while it exists (`docker update` cannot touch
# them), so one inspect per stopped container per process is enough: the next snapshot
# of 1,000 stopped containers costs no inspect at all.
_PORT_BINDINGS: dict[str, dict[str, Any] | None] = {}


def _stopped_port_bindings(client: Any, cid: str) -> dict[str, Any] | None:
    if cid in _PORT_BINDINGS:
        return _PORT_BINDINGS[cid]
    try:
        info = client.api.inspect_container(cid)
    except Exception as exc:  # the SDK's NotFound or the raw client's error: both carry the status
        if getattr(exc, "status_code", None) == 404:
            return None  # removed between list and inspect
        raise
    if len(_PORT_BINDINGS) > 20_000:
        _PORT_BINDINGS.clear()
    found = _PORT_BINDINGS[cid] = (info.get("HostConfig") or {}).get("PortBindings") or None
    return found


def container_from_api(raw: Mapping[str, Any], port_bindings: Mapping[str, Any] | None = None) -> ContainerInfo:
    """A ContainerInfo from one entry of `GET /containers/json` (+ PortBindings if stopped)."""
    name = (raw.get("Names") or ["/" + raw["Id"][:12]])[0].lstrip("/")
    labels = dict(raw.get("Labels") or {})
    state = raw.get("State") or "unknown"
    project, service = labels.get(COMPOSE_PROJECT), labels.get(COMPOSE_SERVICE)
    common = {
        "source": Source.DOCKER,
        "owner": container_owner(name, labels),
        "container": name,
        "container_id": raw["Id"],
        "project": project,
        "service": service,
    }
    if raw.get("Ports"):
        running = state in ("running", "restarting", "paused")
        bstate = BindingState.RUNNING if running else BindingState.STOPPED
        ports = _published(raw["Ports"], common, bstate)
    else:
        ports = _declared(port_bindings or {}, common)
    created = raw.get("Created")
    files = labels.get(COMPOSE_FILES)
    # model_construct: the engine's own answer, typed here field by field, is not re-validated
    # (validating would build every model's schema on the headless path).
    return ContainerInfo.model_construct(
        id=raw["Id"],
        name=name,
        image=raw.get("Image") or "",
        state=state,
        status=raw.get("Status") or "",
        health=health_from_status(raw.get("Status") or ""),
        project=project,
        service=service,
        working_dir=labels.get(COMPOSE_WORKDIR),
        config_files=[f for f in files.split(",") if f] if files else [],
        labels=labels,
        ports=ports,
        created=datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else None,
    )


def _published(entries: Iterable[Mapping[str, Any]], common: dict[str, Any], state: BindingState) -> list[PortBinding]:
    """Published ports of a running container; consecutive ports collapse into one range."""
    singles = sorted(
        (e.get("IP") or "0.0.0.0", e.get("Type") or "tcp", int(e["PublicPort"]), int(e["PrivatePort"]))
        for e in entries
        if e.get("PublicPort") and (e.get("Type") or "tcp") in ("tcp", "udp")  # sctp: not modelled
    )
    out: list[PortBinding] = []
    run: list[Any] | None = None  # [ip, proto, first, last, target_first, target_last]
    for ip, proto, port, target in singles:
        if run and run[:2] == [ip, proto] and port == run[3] + 1 and target == run[5] + 1:
            run[3], run[5] = port, target
            continue
        if run:
            out.append(_binding(common, state, *run))
        run = [ip, proto, port, port, target, target]
    if run:
        out.append(_binding(common, state, *run))
    return out


def _declared(port_bindings: Mapping[str, Any], common: dict[str, Any]) -> list[PortBinding]:
    """Ports a stopped container will claim when it starts (`HostConfig.PortBindings`)."""
    out = []
    for spec, hosts in sorted(port_bindings.items()):
        target_text, _, proto = spec.partition("/")
        if (proto or "tcp") not in ("tcp", "udp"):
            continue
        for h in hosts or []:
            host_port = (h or {}).get("HostPort") or ""
            if not host_port or host_port == "0":
                continue  # an ephemeral port: nothing fixed to collide with
            first, _, last = host_port.partition("-")
            t_first, _, t_last = target_text.partition("-")
            out.append(
                _binding(
                    common,
                    BindingState.STOPPED,
                    (h or {}).get("HostIp") or "0.0.0.0",
                    proto or "tcp",
                    int(first),
                    int(last or first),
                    int(t_first),
                    int(t_last or t_first),
                )
            )
    return out


def _binding(
    common: dict[str, Any], state: BindingState, ip: str, proto: str, port: int, last: int, target: int, target_last: int
) -> PortBinding:
    return PortBinding.model_construct(
        **common,
        host_ip=ip,
        port=port,
        port_end=last if last != port else None,
        target=target,
        target_end=target_last if target_last != target else None,
        protocol=Protocol(proto),
        state=state,
    )


def detect_rootless(client: Any, info: Mapping[str, Any] | None = None) -> bool:
    """Rootless Docker says so in `SecurityOptions` (`name=rootless`) of /info (fetched unless given)."""
    opts = (info if info is not None else client.info()).get("SecurityOptions") or []
    return any("rootless" in str(o) for o in opts)


def docker_contexts() -> list[tuple[str, str | None]]:
    """(name, docker host) of every docker context, `default` first (None: the local default)."""
    import json

    from portside.app.sources.engine import docker_config_dir

    out: list[tuple[str, str | None]] = [("default", None)]
    for meta in sorted((docker_config_dir() / "contexts" / "meta").glob("*/meta.json")):
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        host = (data.get("Endpoints", {}).get("docker") or {}).get("Host")
        if data.get("Name") and data["Name"] != "default":
            out.append((str(data["Name"]), str(host) if host else None))
    return out
