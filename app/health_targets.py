"""What to poll: health targets from a Snapshot, container labels, the catalog and the config.

Pure functions (no I/O besides reading the catalog data file), so they are
tested without Docker. Per running container, in order of preference:

1. an HTTP endpoint: the label `portside.health=/path` (or a full URL), else the
   service catalog's `health: {port, path}` for the image — on the container
   port named by `portside.port` / the catalog, reached through its published
   host port;
2. else Docker's own HEALTHCHECK status, when the container has one;
3. else a TCP connect check per published TCP port.

`portside.health=off` (or `none`, `false`) opts a container out. Entries under
`health.checks` in portside.yaml are added as they are written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from portside.app.config import Config, HealthCheck
from portside.app.models import ContainerInfo, PortBinding, Protocol, Snapshot

Kind = Literal["http", "tcp", "docker"]
OFF = ("off", "none", "false", "no", "0")


@dataclass(frozen=True)
class Target:
    """One thing to poll. `id` is stable across snapshots (the row key and the state-store key)."""

    id: str
    name: str
    kind: Kind
    interval: float
    timeout: float
    url: str | None = None  # http
    host: str | None = None  # tcp
    port: int | None = None  # tcp
    container: str | None = None  # container name (docker targets inspect it by id)
    container_id: str | None = None
    expect_status: int | None = None  # None: any 2xx
    body_contains: str | None = None
    source: str = "label"  # label | catalog | config | healthcheck | port

    def describe(self) -> str:
        if self.kind == "http":
            return str(self.url)
        if self.kind == "tcp":
            return f"tcp://{self.host}:{self.port}"
        return f"docker HEALTHCHECK of {self.container}"


def published_host() -> str:
    """Where published ports are reached: DOCKER_HOST's host for a remote engine, else loopback."""
    url = os.environ.get("DOCKER_HOST", "")
    if url.startswith(("tcp://", "ssh://", "http://", "https://")):
        host = urlsplit(url).hostname
        if host:
            return host
    return "127.0.0.1"


def _host_of(binding: PortBinding, default: str) -> str:
    if binding.is_wildcard or binding.host_ip in ("127.0.0.1", "::1"):
        return default
    return binding.host_ip


def _fmt_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _published(c: ContainerInfo) -> list[PortBinding]:
    """Running TCP bindings of the container, one per container port (IPv4 preferred)."""
    seen: dict[tuple[int | None, int], PortBinding] = {}
    for b in sorted(c.ports, key=lambda b: (b.target or 0, ":" in b.host_ip)):
        if b.protocol != Protocol.TCP or b.port == 0:
            continue
        seen.setdefault((b.target, b.port), b)
    return list(seen.values())


def catalog_health(c: ContainerInfo) -> tuple[int | None, str] | None:
    """(container port, path) of the service catalog's health endpoint for this container."""
    try:
        from portside.integrators.catalog import entry_for
    except ImportError:  # pragma: no cover - the catalog ships with portside
        return None
    entry = entry_for(c.image, c.labels)
    if entry is None or entry.health is None:
        return None
    return entry.health.port, entry.health.path


def _http_endpoint(c: ContainerInfo, host: str) -> tuple[str, str, int | None] | None:
    """(url, source, container port) of the container's HTTP health endpoint, if known."""
    label = c.labels.get("portside.health", "").strip()
    if label.lower() in OFF:
        return None
    if label.startswith(("http://", "https://")):
        return label, "label", None
    want: int | None = None
    if c.labels.get("portside.port", "").isdigit():
        want = int(c.labels["portside.port"])
    path, source = label, "label"
    if not label:
        found = catalog_health(c)
        if found is None:
            return None
        port, path = found
        want, source = want or port, "catalog"
    bindings = _published(c)
    chosen = [b for b in bindings if want is None or b.target == want]
    if not chosen:
        return None
    b = chosen[0]
    if not path.startswith("/"):
        path = "/" + path
    return f"http://{_fmt_host(_host_of(b, host))}:{b.port}{path}", source, b.target


def container_targets(c: ContainerInfo, config: Config, host: str | None = None) -> list[Target]:
    if not c.running or c.labels.get("portside.health", "").strip().lower() in OFF:
        return []
    host = host or published_host()
    opts = config.health
    common: dict[str, Any] = {
        "interval": opts.interval,
        "timeout": opts.timeout,
        "container": c.name,
        "container_id": c.id,
    }
    http = _http_endpoint(c, host)
    if http is not None:
        url, source, cport = http
        expect = c.labels.get("portside.health.status", "")
        return [
            Target(
                id=f"http:{c.name}",
                name=c.name,
                kind="http",
                url=url,
                source=source,
                expect_status=int(expect) if expect.isdigit() else None,
                **common,
            )
        ]
    if c.health is not None:
        return [
            Target(
                id=f"docker:{c.name}", name=c.name, kind="docker", source="healthcheck", **common
            )
        ]
    out = []
    for b in _published(c):
        out.append(
            Target(
                id=f"tcp:{c.name}:{b.target or b.port}",
                name=f"{c.name}:{b.target or b.port}",
                kind="tcp",
                host=_host_of(b, host),
                port=b.port,
                source="port",
                **common,
            )
        )
    return out


def check_target(check: HealthCheck) -> Target:
    if check.url:
        return Target(
            id=f"check:{check.name}",
            name=check.name,
            kind="http",
            url=check.url,
            expect_status=check.expect_status,
            body_contains=check.body_contains,
            interval=check.interval,
            timeout=check.timeout,
            source="config",
        )
    host, _, port = str(check.tcp).rpartition(":")
    return Target(
        id=f"check:{check.name}",
        name=check.name,
        kind="tcp",
        host=host.strip("[]") or "127.0.0.1",
        port=int(port),
        interval=check.interval,
        timeout=check.timeout,
        source="config",
    )


def build_targets(
    snapshot: Snapshot | None, config: Config, host: str | None = None
) -> list[Target]:
    """Every target, sorted by id; config checks first-class alongside container ones."""
    targets: dict[str, Target] = {}
    for c in snapshot.containers if snapshot else []:
        for t in container_targets(c, config, host):
            targets[t.id] = t
    for check in config.health.checks:
        t = check_target(check)
        targets[t.id] = t
    return sorted(targets.values(), key=lambda t: t.id)
