"""The few Docker Engine API reads a headless snapshot needs, with the standard library only.

`portside ports` / `conflicts` make four GET requests (containers, /info, and
for a swarm manager tasks and services). The docker SDK with requests and
urllib3 costs ~75 ms to import, about as much as listing 1,000 containers;
a Go `docker ps` pays neither. So when the engine is a local unix socket (or
plain `tcp://` without TLS), each read is one HTTP/1.0 GET on a fresh socket
(even http.client costs ~15 ms to import, with the email package).

`RawEngine` answers the subset of the SDK client's interface that
app.sources.docker_src and app.sources.swarm call (`client.api.containers(all=True)`,
`client.api.inspect_container`, `client.info()`, `client.api.tasks`,
`client.api.services`), so the sources have one code path for both clients.
Paths are unversioned: the engine answers them in its own (newest) API
version, as the SDK's version negotiation would pick. Anything unusual
(ssh://, TLS, an HTTP error, an answer that is not JSON) raises RawEngineError
and the caller falls back to the SDK, which also explains failures in words.
"""

from __future__ import annotations

import json
import os
import socket
from concurrent.futures import Future
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from portside.app.sources.engine import Endpoint

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class RawEngineError(Exception):
    """The raw client could not answer; the SDK should try (and explain)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code  # as docker.errors.APIError has it (404: not found)


def raw_url(endpoint: Endpoint) -> str | None:
    """The endpoint as `unix:///path` or `tcp://host:port` when the raw client can speak to it, else None.

    None for ssh://, https, npipe, TLS (DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, which the
    SDK turns into https), and tcp:// endpoints of a docker context (it may carry TLS material).
    """
    url = endpoint.host or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    parts = urlsplit(url)
    if parts.scheme == "unix" and parts.path:
        return url
    if parts.scheme in ("tcp", "http") and parts.hostname and not endpoint.context:
        if os.environ.get("DOCKER_TLS_VERIFY") or os.environ.get("DOCKER_CERT_PATH"):
            return None
        return url
    return None


class RawEngine:
    """GET-only Engine API client; a new connection per request, so threads may share it."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self.url, self.timeout = url, timeout
        self._unix = parts.path if parts.scheme == "unix" else None
        self._addr = (parts.hostname or "localhost", parts.port or 2375)
        self.api = self  # the SDK's low-level calls live on `client.api`

    @classmethod
    def for_endpoint(cls, endpoint: Endpoint, timeout: float = 10.0) -> RawEngine | None:
        url = raw_url(endpoint)
        return cls(url, timeout) if url else None

    def get(self, path: str, query: dict[str, Any] | None = None) -> Any:
        """GET `path` and decode its JSON; RawEngineError for anything but 200 + JSON.

        HTTP/1.0 on a fresh connection: the engine answers with a plain body and closes
        (no chunking, no keep-alive), so reading to the end is the whole protocol.
        """
        target = path + ("?" + urlencode(query) if query else "")
        try:
            with self._connect() as sock:
                sock.sendall(f"GET {target} HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n".encode())
                chunks = []
                while data := sock.recv(1 << 18):
                    chunks.append(data)
        except OSError as exc:
            raise RawEngineError(f"GET {path}: {type(exc).__name__}: {exc}") from exc
        status, headers, body = _parse_response(b"".join(chunks), path)
        if status != 200:
            raise RawEngineError(f"GET {path}: HTTP {status}: {_message(body)}", status)
        if "chunked" in headers.get("transfer-encoding", ""):
            raise RawEngineError(f"GET {path}: chunked answer to an HTTP/1.0 request")
        try:
            return json.loads(body)
        except ValueError as exc:
            raise RawEngineError(f"GET {path}: not JSON ({exc})") from exc

    def _connect(self) -> socket.socket:
        if self._unix is None:
            return socket.create_connection(self._addr, timeout=self.timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._unix)
        except BaseException:
            sock.close()
            raise
        return sock

    # ---- the SDK client's interface, as far as the sources use it

    def containers(self, all: bool = False) -> list[dict[str, Any]]:  # noqa: A002 - the SDK's name
        return list(self.get("/containers/json", {"all": "1"} if all else None))

    def inspect_container(self, cid: str) -> dict[str, Any]:
        return dict(self.get(f"/containers/{quote(cid, safe='')}/json"))

    def info(self) -> dict[str, Any]:
        return dict(self.get("/info"))

    def tasks(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self.get("/tasks", {"filters": _filters(filters)} if filters else None))

    def services(self) -> list[dict[str, Any]]:
        return list(self.get("/services"))

    def close(self) -> None:
        pass  # no connection outlives a request


class Reads:
    """The container list and /info, requested at once in background threads (an engine answers
    1,000 containers in ~120 ms: Python imports the rest of portside meanwhile)."""

    def __init__(self, client: RawEngine) -> None:
        self.client = client
        from portside.app.sources.early import background

        self.containers: Future[list[dict[str, Any]]] = background(client.containers, all=True)
        self.info: Future[dict[str, Any]] = background(client.info)


def reads(endpoint: Endpoint, timeout: float = 10.0) -> Reads | None:
    """Reads for a snapshot: those app.sources.early started for this endpoint (used once), else
    new ones. None when the endpoint needs the SDK (ssh://, TLS)."""
    from portside.app.sources import early

    started = early.take("engine")
    url = raw_url(endpoint)
    if url is None:
        return None
    if started is not None and started.client.url == url:
        return started
    return Reads(RawEngine(url, timeout))


def _filters(filters: dict[str, Any]) -> str:
    """`{"desired-state": "running"}` -> `{"desired-state": ["running"]}` as JSON, like the SDK sends."""
    out = {}
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        out[key] = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
    return json.dumps(out)


def _parse_response(raw: bytes, path: str) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of a complete HTTP/1.x response."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(None, 2)
    if not sep or len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise RawEngineError(f"GET {path}: not an HTTP answer ({lines[0][:80]!r})")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length", "")
    if length.isdigit() and len(body) < int(length):
        raise RawEngineError(f"GET {path}: answer cut short")
    return int(parts[1]), headers, body


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message") or "")[:200]
    except (ValueError, AttributeError):
        return body[:200].decode(errors="replace").strip()
