"""Layout at the sizes we design for (80x24 over SSH, and 120x40), as SVG snapshots.

The live sources cannot give a screen that is the same twice, so these feed a
fixed Snapshot to the real app with discovery, health polling and the engine
probe switched off. Regenerate on purpose after a deliberate layout change:
`.venv/bin/python -m pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from portside.app.config import Config
from portside.app.models import (
    BindingState,
    ComposeProject,
    ContainerInfo,
    HealthState,
    PortBinding,
    PortOrigin,
    Snapshot,
    Source,
    SourceStatus,
)
from portside.app.ports.analysis import analyze
from portside.app.snapshot import policy_for
from portside.app.tui import PortsideApp
from portside.screens.live import SnapshotTaken

AT = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def world() -> Snapshot:
    def live(name: str, port: int, project: str | None = None) -> ContainerInfo:
        b = PortBinding(source=Source.DOCKER, owner=f"container:{name}", container=name, project=project,
                        service=name.split("-")[-1] if project else None, port=port, target=80,
                        state=BindingState.RUNNING)
        return ContainerInfo(id=name * 2, name=name, image="nginx:1.27", state="running", status="Up 2 hours",
                             health=HealthState.HEALTHY, project=project, ports=[b], created=AT)

    blog, grafana = live("blog", 8080), live("monitoring-grafana", 3000, "monitoring")
    declared = PortBinding(
        source=Source.COMPOSE, owner="compose:shop/web", project="shop", service="web", port=8080, target=80,
        state=BindingState.DECLARED,
        origin=PortOrigin(file="/srv/shop/compose.yaml", line=5, column=10, text="8080"),
    )
    host = PortBinding(source=Source.HOST, owner="pid:811", port=5432, state=BindingState.LISTENING,
                       pid=811, process="postgres")
    shop = ComposeProject(name="shop", project_dir="/srv/shop", compose_files=["/srv/shop/compose.yaml"])
    return Snapshot(
        taken_at=AT,
        containers=[blog, grafana],
        projects=[shop],
        bindings=[*blog.ports, *grafana.ports, declared, host],
        sources={n: SourceStatus(ok=True) for n in ("compose", "docker", "host", "registry", "swarm")},
    )


class FixedApp(PortsideApp):
    """The real app, fed one fixed snapshot instead of the live sources."""

    def start_sources(self) -> None:  # no engine probe, no health poller, no discovery
        snap = world()
        self.post_message(SnapshotTaken(snap, analyze(snap, policy_for(self.config, snap))))


def fixed_app() -> FixedApp:
    return FixedApp(config=Config(), args=argparse.Namespace())


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize("key", ["1", "2"])
def test_layout(snap_compare, key: str, size: tuple[int, int]) -> None:
    async def shown(pilot) -> None:
        """Press the area's key, then wait until its screen has rendered the fixed snapshot."""
        await pilot.press(key)
        for _ in range(500):
            if getattr(pilot.app.screen, "snapshot", None) is not None:
                break
            await pilot.pause(0.01)
        else:
            raise AssertionError("the screen never showed the snapshot")
        await pilot.pause()

    assert snap_compare(fixed_app(), run_before=shown, terminal_size=size)
