"""The Containers screen: live containers and swarm services, grouped by compose project.

The table is keyed by container name (swarm services by `swarm:<name>`) and
diffed on every snapshot: rows are added, updated cell by cell, or removed,
so the cursor stays put. The `health` column shows the HEALTHCHECK status
until a health poller says more through `set_health(name, state)`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from app.models import HealthState, Snapshot
from screens.base import PortsideScreen
from screens.live import SnapshotTaken, diff_rows

COLUMNS = ("name", "project", "state", "health", "image", "ports")
STATE_STYLE = {"running": "green", "exited": "dim", "created": "dim", "dead": "red", "restarting": "yellow"}
HEALTH_STYLE = {"healthy": "green", "unhealthy": "red", "degraded": "yellow", "starting": "yellow"}


def _ports_text(bindings) -> str:
    seen: list[str] = []
    for b in bindings:
        text = b.port_text() + ("" if b.state.value == "running" or b.source.value == "swarm" else "*")
        if text not in seen:  # IPv4 and IPv6 of one port: shown once
            seen.append(text)
    return ", ".join(seen)


def container_rows(snapshot: Snapshot) -> dict[str, tuple[str, ...]]:
    """Row key -> cell texts, in COLUMNS order (pure, so it is tested without a terminal)."""
    rows: dict[str, tuple[str, ...]] = {}
    for c in snapshot.containers:
        health = c.health.value if c.health else "-"
        rows[c.name] = (c.name, c.project or "-", c.state, health, c.image, _ports_text(c.ports))
    for s in snapshot.swarm_services:
        tasks = f"{s.running_tasks or 0}/{s.replicas if s.replicas is not None else 'global'} tasks"
        rows[f"swarm:{s.name}"] = (s.name, "(swarm)", tasks, "-", s.image, _ports_text(s.ports))
    return rows


def _styled(column: str, text: str) -> str:
    style = (STATE_STYLE if column == "state" else HEALTH_STYLE if column == "health" else {}).get(text)
    return f"[{style}]{text}[/]" if style else text


class ContainersScreen(PortsideScreen):
    AREA = "containers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", id="containers.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, tuple[str, ...]] = {}
        self._health: dict[str, str] = {}  # container name -> health set by a poller

    def compose_body(self) -> ComposeResult:
        yield Static("waiting for the first snapshot…", id="containers-summary")
        table: DataTable[str] = DataTable(id="containers-table", cursor_type="row", zebra_stripes=True)
        for col in COLUMNS:
            table.add_column(col, key=col)
        yield table

    def on_mount(self) -> None:
        super().on_mount()
        snap = getattr(self.app, "snapshot", None)
        if snap is not None:
            self.show(snap)

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        snap = getattr(self.app, "snapshot", None)
        if snap is not None:
            self.show(snap)

    def on_snapshot_taken(self, message: SnapshotTaken) -> None:
        self.show(message.snapshot)

    def action_refresh(self) -> None:
        refresh = getattr(self.app, "refresh_snapshot", None)
        if refresh:
            refresh()

    # ------------------------------------------------------------- rendering

    def show(self, snapshot: Snapshot) -> None:
        rows = container_rows(snapshot)
        for key, health in self._health.items():
            if key in rows:
                rows[key] = (*rows[key][:3], health, *rows[key][4:])
        table = self.query_one("#containers-table", DataTable)
        with self.app.batch_update():
            diff_rows(table, COLUMNS, self._rows, rows, _styled, lambda t: t.sort("project", "name"))
        self._rows = rows
        running = sum(1 for c in snapshot.containers if c.running)
        swarm = f", {len(snapshot.swarm_services)} swarm services" if snapshot.swarm_services else ""
        docker = snapshot.sources.get("docker")
        why = "" if docker is None or docker.ok else f"  [red]Docker: {docker.error}[/]"
        self.query_one("#containers-summary", Static).update(
            f"{len(snapshot.containers)} containers ({running} running){swarm}  "
            f"[dim]ports with * are claimed when started[/]{why}"
        )

    def set_health(self, name: str, state: HealthState | str) -> None:
        """A health poller's verdict for container `name` (overrides the HEALTHCHECK text)."""
        text = state.value if isinstance(state, HealthState) else str(state)
        self._health[name] = text
        if name in self._rows:
            self._rows[name] = (*self._rows[name][:3], text, *self._rows[name][4:])
            self.query_one("#containers-table", DataTable).update_cell(name, "health", _styled("health", text))
