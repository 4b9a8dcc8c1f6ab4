"""Host listeners (psutil): real sockets, docker-proxy attribution, AccessDenied."""

from __future__ import annotations

import os
import socket

import psutil

from portside.app.models import Source
from portside.app.sources import host
from portside.app.sources.docker_src import list_containers
from tests.conftest import free_port


def test_a_listening_socket_is_reported_with_its_process() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        found, _ = host.list_listeners()
    [b] = [b for b in found if b.port == port]
    assert (b.source, b.pid, b.owner, b.host_ip) == (Source.HOST, os.getpid(), f"pid:{os.getpid()}", "127.0.0.1")
    assert b.process and "python" in b.process


def test_docker_proxy_listeners_are_the_containers_not_host_processes(docker_client, run_container) -> None:
    port = free_port()
    run_container({"80/tcp": port})
    listeners, _ = host.list_listeners()
    docker_bindings = [b for c in list_containers(docker_client) for b in c.ports]
    raw = [b for b in listeners if b.port == port]
    kept = [b for b in host.attribute(listeners, docker_bindings) if b.port == port]
    assert kept == []
    assert raw == [] or all(b.process == "docker-proxy" for b in raw)  # userland proxy may be off


def test_access_denied_falls_back_to_own_processes(monkeypatch) -> None:
    def denied(kind: str = "inet"):
        raise psutil.AccessDenied()

    def unreadable(proc: str = "/proc"):
        raise PermissionError("/proc/net/tcp")

    monkeypatch.setattr(host.procnet, "listeners", unreadable)  # /proc not readable: psutil's way
    monkeypatch.setattr(psutil, "net_connections", denied)
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        found, note = host.list_listeners()
    assert note and "access denied" in note
    assert any(b.port == port and b.pid == os.getpid() for b in found)


def test_proc_fast_path_agrees_with_psutil(run_container) -> None:
    """Linux reads /proc directly (only listeners decoded, docker-proxy known by its command line)."""
    from portside.app.sources import procnet

    tcp, udp, published = free_port(), free_port(kind=socket.SOCK_DGRAM), free_port()
    run_container({"80/tcp": published})
    with socket.socket() as t, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u:
        t.bind(("127.0.0.1", tcp))
        t.listen()
        u.bind(("::1", udp))
        ours = {tcp, udp, published}
        fast = {x for x in procnet.listeners() if x[2] in ours}
        slow = {x for x in host._psutil_listeners()[0] if x[2] in ours}
    assert fast == slow
    assert {(str(x[0]), x[1], x[2], x[3]) for x in fast} >= {("tcp", "127.0.0.1", tcp, os.getpid()),
                                                              ("udp", "::1", udp, os.getpid())}
    assert all(x[4] == "docker-proxy" for x in fast if x[2] == published)


def test_owners_are_remembered_and_new_sockets_still_found(monkeypatch) -> None:
    """The dashboard asks every 15 s: known sockets skip the process scan, new ones get their owner."""
    from portside.app.sources import procnet

    a, b = free_port(), free_port()
    with socket.socket() as s1:
        s1.bind(("127.0.0.1", a))
        s1.listen()
        assert any(x[2] == a and x[3] == os.getpid() for x in procnet.listeners())
        scanned: list[int] = []
        real = procnet._find_owners
        monkeypatch.setattr(procnet, "_find_owners", lambda proc, socks: scanned.extend(socks) or real(proc, socks))
        with socket.socket() as s2:
            s2.bind(("127.0.0.1", b))
            s2.listen()
            again = procnet.listeners()
            assert os.fstat(s2.fileno()).st_ino in scanned  # looked up
        assert os.fstat(s1.fileno()).st_ino not in scanned  # from memory
        assert any(x[2] == a and x[3] == os.getpid() for x in again)
        assert any(x[2] == b and x[3] == os.getpid() for x in again)
    assert not any(x[2] == a for x in procnet.listeners())  # closed: gone


def test_a_socket_with_no_visible_owner_is_not_searched_again_for_a_while(monkeypatch, tmp_path) -> None:
    """Proving "no visible owner" scans every descriptor on the host; the next run reuses the verdict."""
    from portside.app.sources import procnet

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real = procnet._find_owners
    looked_up: list[int] = []

    def hiding(port: int):  # as if the socket's process were in another PID namespace
        def find(proc: str, socks: procnet.Socks) -> dict[int, tuple[int | None, str | None]]:
            looked_up.extend(socks)
            return {i: (None, None) if socks[i][2] == port else o for i, o in real(proc, socks).items()}
        return find

    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        inode = os.fstat(s.fileno()).st_ino
        monkeypatch.setattr(procnet, "_find_owners", hiding(port))
        monkeypatch.setattr(procnet, "_OWNERS", {})  # a fresh process, as every `portside ports` is
        assert ("tcp", "127.0.0.1", port, None, None) in procnet.listeners()
        assert inode in looked_up
        looked_up.clear()
        monkeypatch.setattr(procnet, "_OWNERS", {})
        assert ("tcp", "127.0.0.1", port, None, None) in procnet.listeners()
        assert inode not in looked_up  # the verdict came from the cache
        monkeypatch.setattr(procnet, "UNSEEN_TTL", 0.0)  # expired: searched again, and found
        monkeypatch.setattr(procnet, "_find_owners", real)
        monkeypatch.setattr(procnet, "_OWNERS", {})
        assert any(x[2] == port and x[3] == os.getpid() for x in procnet.listeners())
