"""Host listeners: sockets that processes on this machine hold.

On Linux they come from /proc (app.sources.procnet: only listening sockets
are decoded, and the process scan stops once every one has its owner);
elsewhere, or when /proc cannot be read, from psutil.

Docker's own listeners are not host processes: `docker-proxy` holds a port for
a container, and dockerd (or rootlesskit) holds ports for swarm ingress or when
the userland proxy is off. `attribute()` drops those when a container or swarm
service publishes the same port, so a container's port is reported once, by
its container. Without root, psutil may not name other users' processes (or on
some systems not list sockets at all): those listeners keep their port with an
unknown owner rather than vanishing.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterable
from typing import Any

from portside.app.models import BindingState, PortBinding, Protocol, Source
from portside.app.sources import early, procnet

# psutil names are the kernel's 15-character `comm` unless the command line gives more.
DOCKER_PROXIES = frozenset({"docker-proxy", "rootlesskit-docker-proxy", "rootlesskit-doc"})
DOCKER_DAEMONS = frozenset({"dockerd", "rootlesskit"})


def list_listeners() -> tuple[list[PortBinding], str | None]:
    """(listening sockets as bindings, a note when the view is partial)."""
    note = None
    raw: list[procnet.Listener] | None = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            started = early.take("listeners")  # a headless command may have begun the scan already
            raw = started.result() if started is not None else procnet.listeners()
    if raw is None:
        raw, note = _psutil_listeners()
    out: dict[tuple[Any, ...], PortBinding] = {}
    for proto, ip, port, pid, name in raw:
        b = PortBinding(
            source=Source.HOST,
            owner=f"pid:{pid}" if pid is not None else "pid:?",
            host_ip=ip,
            port=port,
            protocol=Protocol(proto),
            state=BindingState.LISTENING,
            pid=pid,
            process=name or ("unknown process" if pid is None else f"pid {pid}"),
        )
        out.setdefault((b.owner, b.host_ip, b.port, b.protocol), b)  # SO_REUSEPORT: one per owner
    if any(b.pid is None for b in out.values()) and note is None:
        note = "some listeners have no visible process (another user or PID namespace)"
    return list(out.values()), note


def _psutil_listeners() -> tuple[list[procnet.Listener], str | None]:
    """The portable way (and the fallback): psutil's connection table, every socket decoded."""
    import psutil  # only here: the /proc path does not need it (13 ms of every `portside ports`)

    note = None
    out: list[procnet.Listener] = []
    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        conns, note = _own_process_connections(), "access denied: only this user's processes are shown"
    names: dict[int, str | None] = {}
    for c in conns:
        proto = _protocol(c)
        if proto is None or not c.laddr:
            continue
        if proto is Protocol.TCP and c.status != psutil.CONN_LISTEN:
            continue
        if proto is Protocol.UDP and c.raddr:
            continue  # a connected UDP socket is a client, not a server
        pid = c.pid
        if pid is not None and pid not in names:
            names[pid] = _process_name(pid)
        out.append((proto, c.laddr.ip, c.laddr.port, pid, names.get(pid) if pid is not None else None))
    return out, note


def _protocol(c: Any) -> Protocol | None:
    if c.type == socket.SOCK_STREAM:
        return Protocol.TCP
    if c.type == socket.SOCK_DGRAM:
        return Protocol.UDP
    return None


def _process_name(pid: int) -> str | None:
    import psutil

    try:
        return psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def _own_process_connections() -> list[Any]:
    """Fallback where the system-wide table is denied (macOS without root): our own processes."""
    import psutil

    conns: list[Any] = []
    for proc in psutil.process_iter():
        try:
            for c in proc.net_connections(kind="inet"):
                conns.append(_WithPid(c, proc.pid))
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return conns


class _WithPid:
    """A per-process connection (which has no pid field) seen as a system-wide one."""

    def __init__(self, conn: Any, pid: int) -> None:
        self._c, self.pid = conn, pid

    def __getattr__(self, name: str) -> Any:
        return getattr(self._c, name)


def attribute(listeners: Iterable[PortBinding], docker_bindings: Iterable[PortBinding]) -> list[PortBinding]:
    """Host listeners minus Docker's own: docker-proxy always, dockerd when it forwards a published port."""
    published = set()
    for b in docker_bindings:
        if b.state is BindingState.RUNNING:
            for port in range(b.port, b.last_port + 1):
                published.add((b.protocol, port))
    kept = []
    for b in listeners:
        if b.process in DOCKER_PROXIES:
            continue
        if b.process in DOCKER_DAEMONS and (b.protocol, b.port) in published:
            continue
        kept.append(b)
    return kept
