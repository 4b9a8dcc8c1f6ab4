"""Conflict analysis: pure, no Docker. Each conflict kind, the overlap rules, and sweep == brute force."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from portside.app.models import BindingState as S
from portside.app.models import ConflictKind as K
from portside.app.models import PortBinding, Protocol, Severity, Source
from portside.app.ports.analysis import Policy, claim, find_conflicts, pair_conflict


def b(owner: str, port: int, *, source: Source = Source.DOCKER, state: S = S.RUNNING, ip: str = "0.0.0.0",
      end: int | None = None, proto: Protocol = Protocol.TCP, **kw) -> PortBinding:
    return PortBinding(source=source, owner=owner, port=port, port_end=end, host_ip=ip, protocol=proto,
                       state=state, **kw)


def declared(project: str, service: str, port: int, **kw) -> PortBinding:
    return b(f"compose:{project}/{service}", port, source=Source.COMPOSE, state=S.DECLARED,
             project=project, service=service, **kw)


def kinds(bindings, **policy) -> list[tuple[K, Severity]]:
    return [(c.kind, c.severity) for c in find_conflicts(bindings, Policy(**policy))]


def test_declared_port_held_by_a_running_container_means_up_will_fail() -> None:
    [c] = find_conflicts([declared("shop", "web", 8080), b("container:nginx", 8080, container="nginx")])
    assert (c.kind, c.severity, c.port) == (K.DECLARED_VS_LIVE, Severity.ERROR, 8080)
    assert "shop/web" in c.message and "nginx" in c.message and "fail" in c.message
    assert c.fix and "remap shop/web" in c.fix
    assert c.parties[0].owner == "compose:shop/web"  # the party that should move comes first


def test_compose_service_and_its_own_container_are_one_claim() -> None:
    running = b("container:shop-web-1", 8080, project="shop", service="web", container="shop-web-1")
    assert find_conflicts([declared("shop", "web", 8080), running]) == []


def test_same_owner_on_ipv4_and_ipv6_is_not_a_conflict_and_pairs_are_reported_once() -> None:
    a4, a6 = b("container:a", 9000, ip="0.0.0.0"), b("container:a", 9000, ip="::")
    assert find_conflicts([a4, a6]) == []
    d4 = declared("p", "s", 9000, ip="0.0.0.0")
    d6 = declared("p", "s", 9000, ip="::")
    assert len(find_conflicts([a4, a6, d4, d6])) == 1


def test_addresses_wildcards_overlap_everything_specific_ones_only_themselves() -> None:
    live = b("container:a", 7000, ip="127.0.0.1")
    assert kinds([live, declared("p", "s", 7000, ip="127.0.0.2")]) == []
    assert kinds([live, declared("p", "s", 7000, ip="127.0.0.1")]) == [(K.DECLARED_VS_LIVE, Severity.ERROR)]
    assert kinds([live, declared("p", "s", 7000, ip="0.0.0.0")]) == [(K.DECLARED_VS_LIVE, Severity.ERROR)]
    assert kinds([b("container:x", 7000, ip="::"), declared("p", "s", 7000, ip="10.0.0.1")])


def test_protocols_never_collide_and_ranges_overlap_partially() -> None:
    assert kinds([b("container:a", 53, proto=Protocol.UDP), declared("p", "dns", 53)]) == []
    [c] = find_conflicts([b("container:a", 8000, end=8010), declared("p", "s", 8005, end=8020)])
    assert (c.port, c.port_end) == (8005, 8010)
    assert kinds([b("container:a", 8000, end=8010), declared("p", "s", 8011, end=8020)]) == []


def test_declared_vs_declared_stopped_and_host_processes() -> None:
    assert kinds([declared("a", "x", 80), declared("b", "y", 80)]) == [(K.DECLARED_VS_DECLARED, Severity.ERROR)]
    stopped = b("container:old", 81, state=S.STOPPED)
    assert kinds([stopped, b("container:new", 81)]) == [(K.STOPPED_VS_LIVE, Severity.WARNING)]
    assert kinds([stopped, b("container:older", 81, state=S.STOPPED)]) == [(K.STOPPED_VS_LIVE, Severity.INFO)]
    proc = b("pid:42", 82, source=Source.HOST, state=S.LISTENING, pid=42, process="python3")
    [c] = find_conflicts([proc, declared("a", "x", 82)])
    assert (c.kind, c.severity) == (K.HOST_PROCESS, Severity.ERROR)
    assert "python3 (pid 42)" in c.message and "stop python3" in c.fix
    # two host processes sharing a port (forked workers, SO_REUSEPORT) are the kernel's business
    assert kinds([proc, b("pid:43", 82, source=Source.HOST, state=S.LISTENING)]) == []


def test_swarm_ingress_collides_with_anything_on_the_port() -> None:
    ingress = b("swarm:api", 8500, source=Source.SWARM, service="api", name="ingress")
    assert kinds([ingress, declared("a", "x", 8500)]) == [(K.SWARM_INGRESS, Severity.ERROR)]
    host_mode = b("swarm:api", 8501, source=Source.SWARM, service="api", name="host")
    task = b("swarm:api", 8501, container="api.1.xyz")  # the task container's own publish
    assert kinds([host_mode, task]) == []


def test_registry_drift_reserved_out_of_range_and_privileged() -> None:
    reg = b("registry:shop/web/80/tcp", 8080, source=Source.REGISTRY, state=S.ASSIGNED,
            project="shop", service="web", target=80, name="shop/web/80/tcp")
    moved = declared("shop", "web", 8090, target=80)
    assert kinds([reg, moved]) == [(K.REGISTRY_DRIFT, Severity.WARNING)]
    assert kinds([reg, declared("shop", "web", 8080, target=80)]) == []  # matches the registry
    assert (K.REGISTRY_DRIFT, Severity.WARNING) in kinds([reg, declared("blog", "web", 8080, target=80)])

    reserved = b("reserved:8443", 8443, source=Source.RESERVED, state=S.RESERVED)
    [c] = find_conflicts([reserved, b("container:x", 8443, container="x")])
    assert c.kind is K.RESERVED and "reserved_ports" in c.fix

    far = b("registry:a/x/80/tcp", 5000, source=Source.REGISTRY, state=S.ASSIGNED, project="a",
            service="x", target=80, name="a/x/80/tcp")
    out = find_conflicts([far], Policy(port_range=(8000, 9000)))
    assert [(c.kind, c.severity) for c in out] == [(K.OUT_OF_RANGE, Severity.INFO)]
    assert find_conflicts([far], Policy(port_range=(8000, 9000), pinned=frozenset({"a/x"}))) == []
    # a compose file publishing 80 for a proxy is a choice, not a finding
    assert find_conflicts([declared("a", "x", 80)], Policy(port_range=(8000, 9000))) == []

    assert kinds([declared("a", "x", 80)], rootless=True) == [(K.PRIVILEGED, Severity.ERROR)]
    assert kinds([declared("a", "x", 80)], rootless=False) == []


def test_errors_sort_first() -> None:
    out = find_conflicts([b("container:old", 81, state=S.STOPPED), b("container:new", 81),
                          declared("a", "x", 9999), b("container:y", 9999)])
    assert [c.severity for c in out] == [Severity.ERROR, Severity.WARNING]


# ------------------------------------------------------- sweep == brute force

_states = [(Source.DOCKER, S.RUNNING), (Source.DOCKER, S.STOPPED), (Source.COMPOSE, S.DECLARED),
           (Source.HOST, S.LISTENING)]


@st.composite
def bindings(draw):
    out = []
    for _ in range(draw(st.integers(0, 25))):
        source, state = draw(st.sampled_from(_states))
        port = draw(st.integers(1, 40))
        end = port + draw(st.integers(0, 3)) if draw(st.booleans()) else None
        owner = f"o{draw(st.integers(0, 6))}"
        out.append(b(f"{source.value}:{owner}", port, end=end, source=source, state=state,
                     ip=draw(st.sampled_from(["0.0.0.0", "::", "127.0.0.1", "127.0.0.2"])),
                     proto=draw(st.sampled_from(list(Protocol)))))
    return out


@settings(max_examples=150, deadline=None)
@given(bindings())
def test_sweep_finds_exactly_the_pairs_brute_force_finds(bs) -> None:
    def overlap(x, y):
        return (x.protocol == y.protocol and x.port <= y.last_port and y.port <= x.last_port
                and (x.is_wildcard or y.is_wildcard or x.host_ip == y.host_ip) and claim(x) != claim(y))

    expected = set()
    for x, y in itertools.combinations(bs, 2):
        if overlap(x, y) and (c := pair_conflict(x, y)) is not None:
            expected.add((c.kind, c.protocol, c.port, tuple(sorted(claim(p) for p in c.parties))))
    got = {(c.kind, c.protocol, c.port, tuple(sorted(claim(p) for p in c.parties))) for c in find_conflicts(bs)}
    assert got == expected


def test_conflicts_built_without_validation_equal_validated_ones() -> None:
    """`new_conflict` skips pydantic's validation for speed: its result must be the same model."""
    import gc

    from portside.app.models import Conflict

    bs = [declared("shop", "web", 8080), b("container:x", 8080, container="x"),
          b("registry:a", 5000, source=Source.REGISTRY, state=S.ASSIGNED, project="a", service="x"),
          b("container:y", 5001, project="a", service="x", target=None)]
    found = find_conflicts(bs, Policy(port_range=(8000, 9000), rootless=True))
    assert {c.kind for c in found} >= {K.DECLARED_VS_LIVE, K.OUT_OF_RANGE, K.REGISTRY_DRIFT}
    for c in found:
        again = Conflict.model_validate(c.model_dump())
        assert again == c and again.model_fields_set == c.model_fields_set and again.key == c.key
    assert gc.isenabled()  # the analysis turns the cyclic GC off only while it runs
