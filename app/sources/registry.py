"""The port registry (intended assignments, from the state store) and the config's reserved ports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from portside.app.models import BindingState, PortBinding, Protocol, Source


def registry_bindings(rows: Iterable[Mapping[str, Any]]) -> list[PortBinding]:
    """Bindings for `State.registry()` rows (key `project/service/target/protocol`)."""
    out = []
    for row in rows:
        key = str(row["key"])
        parts = key.split("/")
        target = parts[2] if len(parts) > 2 else None
        proto = str(row.get("protocol") or "tcp")
        out.append(
            PortBinding(
                source=Source.REGISTRY,
                owner=f"registry:{key}",
                project=row.get("project"),
                service=row.get("service"),
                port=int(row["port"]),
                port_end=row.get("port_end"),
                target=int(target) if target and target.isdigit() else None,
                protocol=Protocol(proto) if proto in ("tcp", "udp") else Protocol.TCP,
                state=BindingState.ASSIGNED,
                name=key,
            )
        )
    return out


def reserved_bindings(ports: Iterable[int]) -> list[PortBinding]:
    """A reserved port is reserved for TCP and UDP alike."""
    return [
        PortBinding(
            source=Source.RESERVED,
            owner=f"reserved:{port}",
            port=port,
            protocol=proto,
            state=BindingState.RESERVED,
        )
        for port in sorted(set(ports))
        for proto in Protocol
    ]
