"""Swarm services on the real engine: ingress ports occupy every node, host-mode ports where a task runs."""

from __future__ import annotations

import time
import uuid

from docker.types import EndpointSpec

from portside.app.config import Config
from portside.app.models import ConflictKind, Source
from portside.app.ports.analysis import analyze
from portside.app.snapshot import take_snapshot
from portside.app.sources.swarm import list_services
from tests.conftest import LABELS, free_port


def _wait(pred, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.25)  # polling dockerd: no event says "task running" more cheaply
    raise AssertionError("condition not reached")


def test_ingress_and_host_mode_ports(swarm, test_image, run_container) -> None:
    ingress_port, host_port = free_port(), free_port()
    name = f"pst-{uuid.uuid4().hex[:6]}"
    swarm.services.create(test_image, name=f"{name}-in", labels=LABELS,
                          endpoint_spec=EndpointSpec(ports={ingress_port: 80}))
    swarm.services.create(test_image, name=f"{name}-host", labels=LABELS,
                          endpoint_spec=EndpointSpec(ports={host_port: (80, "tcp", "host")}))

    def ours():
        svcs = {s.name: s for s in list_services(swarm) if s.name.startswith(name)}
        host_svc = svcs.get(f"{name}-host")
        return svcs if host_svc and host_svc.ports and svcs[f"{name}-in"].ports else None

    svcs = _wait(ours)
    [ing] = svcs[f"{name}-in"].ports
    assert (ing.source, ing.owner, ing.port, ing.target, ing.name) == (
        Source.SWARM, f"swarm:{name}-in", ingress_port, 80, "ingress")
    [hm] = svcs[f"{name}-host"].ports
    assert (hm.port, hm.name) == (host_port, "host")

    # a container publishing the ingress port collides with the routing mesh
    clash = run_container(start=False, ports={"80/tcp": ingress_port})
    snap = take_snapshot(Config(), client=swarm)
    kinds = {(c.kind, tuple(sorted(p.owner for p in c.parties))) for c in analyze(snap)}
    assert (ConflictKind.SWARM_INGRESS, tuple(sorted([f"container:{clash.name}", f"swarm:{name}-in"]))) in kinds
    # the host-mode task's own container is the service's claim, not a second owner
    assert not any(f"swarm:{name}-host" in {p.owner for p in c.parties} for c in analyze(snap))
    # dockerd's listener for the ingress port is attributed to swarm, not reported as a host process
    assert not [b for b in snap.bindings if b.source is Source.HOST and b.port == ingress_port]
