"""Swarm services and the ports they publish.

An ingress-published port is held by the routing mesh on *every* node, so it
is a claim on this host whether or not a task runs here. A host-mode port is
held only on the nodes that run a task of the service: it is reported when a
task runs on this node.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from portside.app.models import BindingState, PortBinding, Protocol, Source, SwarmService


def swarm_active(client: Any, info: Mapping[str, Any] | None = None) -> tuple[bool, str | None]:
    """(is this engine a swarm node, its node id); `info`: the engine's /info when already fetched."""
    sw = (info if info is not None else client.info()).get("Swarm") or {}
    return sw.get("LocalNodeState") == "active" and bool(sw.get("ControlAvailable")), sw.get("NodeID")


def list_services(client: Any, info: Mapping[str, Any] | None = None) -> list[SwarmService]:
    """Swarm services with their port claims on this node ([] when not a swarm manager)."""
    active, node_id = swarm_active(client, info)
    if not active:
        return []
    tasks = client.api.tasks(filters={"desired-state": "running"})
    running = Counter(t.get("ServiceID") for t in tasks if (t.get("Status") or {}).get("State") == "running")
    local = {
        t.get("ServiceID")
        for t in tasks
        if t.get("NodeID") == node_id and (t.get("Status") or {}).get("State") == "running"
    }
    return [service_from_api(s, running.get(s["ID"], 0), s["ID"] in local) for s in client.api.services()]


def service_from_api(raw: Mapping[str, Any], running_tasks: int, runs_here: bool) -> SwarmService:
    spec = raw.get("Spec") or {}
    name = spec.get("Name") or raw["ID"][:12]
    mode = spec.get("Mode") or {}
    replicas = (mode.get("Replicated") or {}).get("Replicas") if "Replicated" in mode else None
    image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
    # Endpoint.Ports is what the swarm allocated; the spec is the fallback while it converges.
    ports_raw = (raw.get("Endpoint") or {}).get("Ports") or (spec.get("EndpointSpec") or {}).get("Ports") or []
    bindings = []
    for p in ports_raw:
        published, proto = p.get("PublishedPort"), p.get("Protocol") or "tcp"
        if not published or proto not in ("tcp", "udp"):
            continue
        ingress = (p.get("PublishMode") or "ingress") == "ingress"
        if not ingress and not runs_here:
            continue  # host mode: held only on the nodes that run a task
        # model_construct: the engine's own answer, typed here field by field, is not re-validated
        bindings.append(
            PortBinding.model_construct(
                source=Source.SWARM,
                owner=f"swarm:{name}",
                service=name,
                port=int(published),
                target=int(p["TargetPort"]) if p.get("TargetPort") else None,
                protocol=Protocol(proto),
                state=BindingState.RUNNING,
                name="ingress" if ingress else "host",
            )
        )
    return SwarmService.model_construct(
        id=raw["ID"],
        name=name,
        image=image.split("@", 1)[0],
        mode="global" if "Global" in mode else "replicated",
        replicas=int(replicas) if replicas is not None else None,
        running_tasks=running_tasks,
        ports=bindings,
        labels=dict(spec.get("Labels") or {}),
    )
