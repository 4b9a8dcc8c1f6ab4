"""The Containers view's rows (pure): grouped by compose project, then swarm, then standalone; `/` filter."""

from __future__ import annotations

from portside.app.models import (
    BindingState,
    ContainerInfo,
    PortBinding,
    Snapshot,
    Source,
    SwarmService,
)
from portside.screens.containers import container_rows, detail_line


def ctr(name: str, project: str | None = None, state: str = "running", port: int | None = None,
        labels: dict[str, str] | None = None) -> ContainerInfo:
    ports = [PortBinding(source=Source.DOCKER, owner=f"container:{name}", port=port, target=80,
                         state=BindingState.RUNNING if state == "running" else BindingState.STOPPED)] if port else []
    return ContainerInfo(id=name, name=name, image=f"registry.example/{name}:1", state=state, project=project,
                         service="web" if project else None, working_dir="/srv/x" if project else None,
                         labels=labels or {}, ports=ports)


SNAP = Snapshot(
    containers=[ctr("solo", port=9000), ctr("shop-db", "shop", "exited", 5432), ctr("shop-web", "shop", port=8080),
                ctr("api.1.x", labels={"com.docker.swarm.service.name": "api"}), ctr("blog-web", "blog")],
    swarm_services=[SwarmService(id="s", name="api", image="api:1", replicas=2, running_tasks=1,
                                 ports=[PortBinding(source=Source.SWARM, owner="swarm:api", port=7000,
                                                    state=BindingState.RUNNING)])],
)


def test_rows_are_grouped_projects_then_swarm_then_standalone() -> None:
    rows = container_rows(SNAP)
    assert list(rows) == ["group:blog", "blog-web", "group:shop", "shop-db", "shop-web",
                          "group:swarm", "api.1.x", "swarm:api", "group:standalone", "solo"]
    assert rows["group:shop"][:2] == ("▾ shop", "1/2 up")
    assert rows["shop-db"] == ("  shop-db", "exited", "-", "5432/tcp*", "registry.example/shop-db:1")  # * = when started
    assert rows["swarm:api"][1] == "1/2"


def test_filter_keeps_matching_rows_under_their_group_header() -> None:
    assert list(container_rows(SNAP, "8080")) == ["group:shop", "shop-web"]
    assert list(container_rows(SNAP, "SHOP")) == ["group:shop", "shop-db", "shop-web"]  # the group name matches
    assert container_rows(SNAP, "nothing-like-it") == {}


def test_detail_line_shows_what_does_not_fit_80_columns() -> None:
    line = detail_line(SNAP, "shop-web")
    assert "registry.example/shop-web:1" in line and "shop/web in /srv/x" in line
    assert detail_line(SNAP, "group:shop") == ""
