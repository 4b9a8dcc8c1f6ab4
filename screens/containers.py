"""The Containers screen: live containers and swarm services, grouped by compose project.

One table, keyed by container name (swarm services by `swarm:<name>`, group
headers by `group:<name>`), diffed on every snapshot: rows are added, updated
cell by cell, or removed, so the cursor stays put. Groups: each compose
project, then `swarm` (services and their tasks), then standalone containers.
Name, state, health and ports fit 80 columns; the image (and compose details)
of the highlighted row show in the line below the table. `/` filters.
The `health` column shows the HEALTHCHECK status until a health poller says
more through `set_health(name, state)`.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, Static

from portside.app.models import Conflict, ContainerInfo, HealthState, Snapshot, SwarmService
from portside.app.sources.docker_src import SWARM_SERVICE
from portside.screens.live import LiveScreen, diff_rows

COLUMNS = ("name", "state", "health", "ports", "image")
WIDTHS = {"name": 25, "state": 9, "health": 9, "ports": 23, "image": 40}  # the first four: 76 of 80 columns
HEALTH = COLUMNS.index("health")
STATE_STYLE = {"running": "green", "exited": "dim", "created": "dim", "dead": "red", "restarting": "yellow"}
HEALTH_STYLE = {"healthy": "green", "unhealthy": "red", "degraded": "yellow", "starting": "yellow"}
SWARM, STANDALONE = "swarm", "standalone"
HEADER = "▾ "


def _ports_text(bindings) -> str:
    seen: list[str] = []
    for b in bindings:
        text = b.port_text() + ("" if b.state.value == "running" or b.source.value == "swarm" else "*")
        if text not in seen:  # IPv4 and IPv6 of one port: shown once
            seen.append(text)
    return ", ".join(seen)


def group_of(c: ContainerInfo) -> str:
    if c.project:
        return c.project
    return SWARM if c.labels.get(SWARM_SERVICE) else STANDALONE


def _group_order(name: str) -> tuple[int, str]:
    return (2 if name == STANDALONE else 1 if name == SWARM else 0), name


def container_rows(snapshot: Snapshot, needle: str = "") -> dict[str, tuple[str, ...]]:
    """Row key -> cell texts in COLUMNS order, grouped and ordered (pure: tested without a terminal).

    `needle` keeps only rows whose name, group, image or ports contain it (case-insensitive);
    a group header stays while one of its rows does.
    """
    groups: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for c in snapshot.containers:
        health = c.health.value if c.health else "-"
        groups.setdefault(group_of(c), []).append(
            (c.name, ("  " + c.name, c.state, health, _ports_text(c.ports), c.image)))
    for s in snapshot.swarm_services:
        tasks = f"{s.running_tasks or 0}/{s.replicas if s.replicas is not None else 'global'}"
        groups.setdefault(SWARM, []).append(
            (f"swarm:{s.name}", ("  " + s.name, tasks, "-", _ports_text(s.ports), s.image)))
    needle = needle.strip().lower()
    rows: dict[str, tuple[str, ...]] = {}
    for group in sorted(groups, key=_group_order):
        members = sorted(groups[group])
        if needle:
            members = [(k, cells) for k, cells in members
                       if needle in group.lower() or any(needle in cell.lower() for cell in cells)]
        if not members:
            continue
        up = sum(1 for _, cells in members if cells[1] == "running")
        rows[f"group:{group}"] = (f"{HEADER}{group}", f"{up}/{len(members)} up" if group != SWARM else "", "", "", "")
        rows.update(members)
    return rows


def _styled(column: str, text: str) -> str:
    if column == "name" and text.startswith(HEADER):
        return f"[b]{text}[/]"
    style = (STATE_STYLE if column == "state" else HEALTH_STYLE if column == "health" else {}).get(text)
    return f"[{style}]{text}[/]" if style else text


def detail_line(snapshot: Snapshot | None, key: str | None) -> str:
    """What does not fit the row: image, status, compose service and directory."""
    if snapshot is None or key is None or key.startswith("group:"):
        return ""
    if key.startswith("swarm:"):
        s: SwarmService | None = next((s for s in snapshot.swarm_services if f"swarm:{s.name}" == key), None)
        return f"[b]{s.name}[/] swarm service  image {s.image}" if s else ""
    c = next((c for c in snapshot.containers if c.name == key), None)
    if c is None:
        return ""
    where = f"  {c.project}/{c.service} in {c.working_dir}" if c.project and c.working_dir else ""
    return f"[b]{c.image}[/]  {c.status}{where}"


class ContainersScreen(LiveScreen):
    AREA = "containers"
    AUTO_FOCUS = "#containers-table"  # not the (hidden) filter box
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="containers.filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear filter", id="containers.clear_filter", show=False),
        Binding("f5", "refresh", "Refresh", id="containers.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: Snapshot | None = None
        self.needle = ""
        self._rows: dict[str, tuple[str, ...]] = {}
        self._health: dict[str, str] = {}  # container name -> health set by a poller

    def compose_body(self) -> ComposeResult:
        yield Static("waiting for the first snapshot…", id="containers-summary")
        yield Input(placeholder="filter: name, project, image or port (Enter keeps it, Esc clears)",
                    id="containers-filter")
        table: DataTable[str] = DataTable(id="containers-table", cursor_type="row", zebra_stripes=True)
        for col in COLUMNS:
            table.add_column(col, key=col, width=WIDTHS[col])
        yield table
        yield Static("", id="containers-detail")

    # ----------------------------------------------------------------- filter

    def action_filter(self) -> None:
        box = self.query_one("#containers-filter", Input)
        self.add_class("-filtering")
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#containers-filter", Input)
        box.value = ""
        self.remove_class("-filtering")
        self.query_one("#containers-table", DataTable).focus()

    @on(Input.Changed, "#containers-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.needle = event.value
        if self.snapshot is not None:
            self.show(self.snapshot)

    @on(Input.Submitted, "#containers-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.remove_class("-filtering")
        self.query_one("#containers-table", DataTable).focus()

    @on(DataTable.RowHighlighted, "#containers-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = event.row_key.value if event.row_key is not None else None
        self.query_one("#containers-detail", Static).update(detail_line(self.snapshot, key))

    # ------------------------------------------------------------- rendering

    def show(self, snapshot: Snapshot, conflicts: list[Conflict] | None = None) -> None:
        self.snapshot = snapshot
        rows = container_rows(snapshot, self.needle)
        for key, health in self._health.items():
            if key in rows:
                rows[key] = (*rows[key][:HEALTH], health, *rows[key][HEALTH + 1:])
        table = self.query_one("#containers-table", DataTable)
        order = {cells[0]: i for i, cells in enumerate(rows.values())}  # the name cell is unique per row
        with self.app.batch_update():
            diff_rows(table, COLUMNS, self._rows, rows, _styled,
                      lambda t: t.sort("name", key=lambda cell: order.get(_plain(cell), len(order))))
        self._rows = rows
        running = sum(1 for c in snapshot.containers if c.running)
        swarm = f", {len(snapshot.swarm_services)} swarm services" if snapshot.swarm_services else ""
        docker = snapshot.sources.get("docker")
        why = "" if docker is None or docker.ok else f"  [red]Docker: {docker.error}[/]"
        shown = f"  [b]filter:[/] {self.needle}" if self.needle else "  [dim]* claimed when started[/]"
        self.query_one("#containers-summary", Static).update(
            f"{len(snapshot.containers)} containers ({running} running){swarm}{shown}{why}"
        )

    def set_health(self, name: str, state: HealthState | str) -> None:
        """A health poller's verdict for container `name` (overrides the HEALTHCHECK text)."""
        text = state.value if isinstance(state, HealthState) else str(state)
        self._health[name] = text
        if name in self._rows:
            self._rows[name] = (*self._rows[name][:HEALTH], text, *self._rows[name][HEALTH + 1:])
            self.query_one("#containers-table", DataTable).update_cell(name, "health", _styled("health", text))


def _plain(cell: object) -> str:
    """A cell's text without the markup `_styled` added."""
    text = str(cell)
    return text[3:-3] if text.startswith("[b]") and text.endswith("[/]") else text
