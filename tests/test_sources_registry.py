"""Registry and reserved ports as bindings."""

from __future__ import annotations

from portside.app.models import BindingState, Protocol, Source
from portside.app.sources.registry import registry_bindings, reserved_bindings
from portside.app.state import State


def test_registry_rows_become_assigned_bindings(tmp_path) -> None:
    with State(tmp_path) as st:
        st.set_assignment("shop/web/80/tcp", 8080)
        st.set_assignment("shop/dns/53/udp", 8053, protocol="udp")
        rows = st.registry()
    by_key = {b.name: b for b in registry_bindings(rows)}
    web = by_key["shop/web/80/tcp"]
    assert (web.source, web.owner, web.project, web.service, web.target, web.port, web.state) == (
        Source.REGISTRY, "registry:shop/web/80/tcp", "shop", "web", 80, 8080, BindingState.ASSIGNED)
    assert by_key["shop/dns/53/udp"].protocol is Protocol.UDP


def test_reserved_ports_cover_tcp_and_udp() -> None:
    out = reserved_bindings([8443, 8443, 9000])
    assert [(b.port, b.protocol.value, b.owner) for b in out] == [
        (8443, "tcp", "reserved:8443"), (8443, "udp", "reserved:8443"),
        (9000, "tcp", "reserved:9000"), (9000, "udp", "reserved:9000")]
