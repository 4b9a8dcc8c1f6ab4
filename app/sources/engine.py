"""Connecting to the Docker engine: DOCKER_HOST, --host, docker contexts (ssh:// too).

`connect()` returns a docker SDK client or raises EngineUnavailable with a
one-line reason a person can act on ("permission denied on /var/run/docker.sock:
add yourself to the docker group").
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from portside.app.errors import PortsideError

if TYPE_CHECKING:
    import docker

    from portside.app.models import SourceStatus


class EngineUnavailable(PortsideError):
    pass


@dataclass(frozen=True)
class Endpoint:
    host: str | None  # None: the SDK default (DOCKER_HOST or the local socket)
    context: str | None = None

    def describe(self) -> str:
        where = self.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        return f"{where} (context {self.context})" if self.context else where


def docker_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def context_host(name: str) -> str | None:
    """The docker endpoint of a named context (None for `default`)."""
    if name == "default":
        return None
    meta = docker_config_dir() / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    try:
        data = json.loads(meta.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineUnavailable(
            f"docker context '{name}' not found (see `docker context ls`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise EngineUnavailable(f"{meta}: cannot read docker context ({exc})") from None
    host = data.get("Endpoints", {}).get("docker", {}).get("Host")
    return str(host) if host else None


def resolve_endpoint(host: str | None = None, context: str | None = None) -> Endpoint:
    """--host beats --context beats DOCKER_HOST beats DOCKER_CONTEXT beats the current context."""
    if host:
        return Endpoint(host)
    if context:
        return Endpoint(context_host(context), context)
    if os.environ.get("DOCKER_HOST"):
        return Endpoint(None)
    ctx = os.environ.get("DOCKER_CONTEXT")
    if not ctx:
        try:
            cfg = json.loads((docker_config_dir() / "config.json").read_text(encoding="utf-8"))
            ctx = cfg.get("currentContext")
        except (OSError, ValueError):
            ctx = None
    if ctx and ctx != "default":
        return Endpoint(context_host(ctx), ctx)
    return Endpoint(None)


def connect(endpoint: Endpoint | None = None, timeout: float = 10.0) -> docker.DockerClient:
    import docker
    from docker.errors import DockerException

    endpoint = endpoint or resolve_endpoint()
    try:
        if endpoint.host:
            ssh = endpoint.host.startswith("ssh://")
            client = docker.DockerClient(base_url=endpoint.host, timeout=int(timeout), use_ssh_client=ssh)
        else:
            client = docker.from_env(timeout=int(timeout))
        client.ping()
    except DockerException as exc:
        raise EngineUnavailable(f"Docker engine at {endpoint.describe()} unreachable: {explain(exc)}") from None
    return client


def explain(exc: BaseException) -> str:
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text:
        return "permission denied on the socket (add your user to the docker group, or use sudo)"
    if "No such file" in text or "FileNotFoundError" in text or "ConnectionRefused" in text:
        return "not running (start it: `sudo systemctl start docker`)"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def probe(endpoint: Endpoint | None = None, timeout: float = 3.0) -> SourceStatus:
    """Is the engine reachable? Never raises."""
    from portside.app.models import SourceStatus

    endpoint = endpoint or resolve_endpoint()
    try:
        client = connect(endpoint, timeout=timeout)
    except EngineUnavailable as exc:
        return SourceStatus(ok=False, error=str(exc))
    try:
        version = client.version().get("Version", "?")
    except Exception as exc:  # pragma: no cover - ping worked, version did not
        return SourceStatus(ok=False, error=explain(exc))
    finally:
        client.close()
    return SourceStatus(ok=True, detail=f"{endpoint.describe()} (engine {version})")
