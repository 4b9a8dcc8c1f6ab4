"""Pure parts of health: which targets a snapshot yields, and how checks become a status."""

from __future__ import annotations

from portside.app.config import Config
from portside.app.health import Check, TargetStatus, classify
from portside.app.health_targets import Target, build_targets
from portside.app.models import (
    BindingState,
    ContainerInfo,
    HealthState,
    PortBinding,
    Snapshot,
    Source,
)


def container(
    name: str, *, labels=None, image="busybox", health=None, ports=((8080, 80),), state="running"
):
    binds = [
        PortBinding(
            source=Source.DOCKER,
            owner=f"container:{name}",
            container=name,
            port=p,
            target=t,
            state=BindingState.RUNNING,
        )
        for p, t in ports
    ]
    return ContainerInfo(
        id=name * 4,
        name=name,
        image=image,
        state=state,
        labels=labels or {},
        health=health,
        ports=binds,
    )


def targets(*containers, **cfg):
    return {
        t.id: t
        for t in build_targets(Snapshot(containers=list(containers)), Config.model_validate(cfg))
    }


def test_label_gives_an_http_target_on_the_published_port():
    t = targets(container("web", labels={"portside.health": "/healthz"}))["http:web"]
    assert t.url == "http://127.0.0.1:8080/healthz" and t.source == "label"


def test_label_port_picks_which_container_port():
    c = container(
        "app",
        labels={"portside.health": "/ok", "portside.port": "9000"},
        ports=((8080, 80), (9001, 9000)),
    )
    assert targets(c)["http:app"].url == "http://127.0.0.1:9001/ok"


def test_catalog_knows_grafana():
    c = container("graf", image="grafana/grafana:11.2.0", ports=((3300, 3000),))
    t = targets(c)["http:graf"]
    assert t.url == "http://127.0.0.1:3300/api/health" and t.source == "catalog"


def test_healthcheck_then_tcp_then_opt_out():
    ts = targets(
        container("hc", health=HealthState.STARTING),
        container("db", ports=((5432, 5432),)),
        container("quiet", labels={"portside.health": "off"}),
        container("stopped", state="exited"),
    )
    assert set(ts) == {"docker:hc", "tcp:db:5432"}
    assert ts["tcp:db:5432"].port == 5432


def test_config_checks_are_targets():
    ts = targets(
        health={
            "checks": [
                {
                    "name": "site",
                    "url": "https://example.org/",
                    "expect_status": 204,
                    "body_contains": "ok",
                },
                {"name": "mqtt", "tcp": "10.0.0.5:1883", "interval": 60},
            ]
        }
    )
    assert ts["check:site"].expect_status == 204 and ts["check:site"].body_contains == "ok"
    assert (ts["check:mqtt"].host, ts["check:mqtt"].port, ts["check:mqtt"].interval) == (
        "10.0.0.5",
        1883,
        60,
    )


def _status(*results: tuple[bool, float]) -> HealthState:
    st = TargetStatus(target=Target(id="x", name="x", kind="tcp", interval=1, timeout=1))
    state = HealthState.UNKNOWN
    for ok, ms in results:
        st.oks.append(ok)
        state, _ = classify(st, Check(ok, ms), slow_ms=500)
    return state


def test_classify():
    assert _status((True, 10)) == HealthState.HEALTHY
    assert _status((True, 10), (False, 10)) == HealthState.UNHEALTHY
    assert _status((True, 900)) == HealthState.DEGRADED  # slow
    assert _status((True, 1), (False, 1), (True, 1)) == HealthState.HEALTHY  # one blip
    assert (
        _status((True, 1), (False, 1), (True, 1), (False, 1), (True, 1)) == HealthState.DEGRADED
    )  # flapping
