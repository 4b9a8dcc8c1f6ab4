"""Helpers shared by the SSO, proxy and monitoring integrators (pure, no Textual).

How a service is reached: `network` mode uses the compose service (or
container) name and the container port, for a proxy/Prometheus on the same
Docker network; `host` mode uses 127.0.0.1 and the port Docker publishes for
that container port, for a proxy/Prometheus running on the host.
"""

from __future__ import annotations

import re
from typing import Literal

from portside.app.models import Snapshot
from portside.integrators.base import ServiceRef
from portside.integrators.catalog import Entry, entry_for

Reach = Literal["network", "host"]


def entry_of(ref: ServiceRef) -> Entry | None:
    return entry_for(ref.image, dict(ref.labels))


def short_name(ref: ServiceRef) -> str:
    """The service's own name: compose service, else container name."""
    return ref.service or ref.container or ref.name.rsplit("/", 1)[-1]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "service"


def matches(ref: ServiceRef, names: list[str]) -> bool:
    """Does `ref` answer to one of `names` (project/service, service or container name)?"""
    return bool({ref.name, short_name(ref), ref.container or ""} & set(names))


def select(refs: list[ServiceRef], include: list[str]) -> list[ServiceRef]:
    return [r for r in refs if matches(r, include)] if include else list(refs)


def published_port(snapshot: Snapshot, ref: ServiceRef, target: int) -> int | None:
    """The host port Docker (or the compose file) publishes for `target` of this service."""
    for b in snapshot.bindings:
        same = (ref.container and b.container == ref.container) or (
            ref.project and b.project == ref.project and b.service == ref.service
        )
        if same and b.target == target:
            return b.port
    for c in snapshot.containers:
        if ref.container and c.name == ref.container:
            for b in c.ports:
                if b.target == target:
                    return b.port
    return None


def address(snapshot: Snapshot, ref: ServiceRef, port: int, reach: Reach) -> str | None:
    """host:port the proxy / Prometheus uses to reach `port` (a container port) of `ref`."""
    if reach == "network":
        return f"{short_name(ref)}:{port}"
    host_port = published_port(snapshot, ref, port)
    return f"127.0.0.1:{host_port}" if host_port else None


def local_service(ref: ServiceRef, project: str | None, has_project_dir: bool) -> str | None:
    """The compose service name when `ref` belongs to the chosen project (its override can
    reach it), else None: services of other projects are never written for."""
    if has_project_dir and project and ref.project == project and ref.service:
        return ref.service
    return None


def fill(template: dict[str, str], **values: str) -> dict[str, str]:
    """Catalog env templates ({url}, {host}, ...) filled in; unknown braces are kept."""
    out = {}
    for key, value in template.items():
        text = str(value)
        for name, v in values.items():
            text = text.replace("{" + name + "}", v)
        out[key] = text
    return out
