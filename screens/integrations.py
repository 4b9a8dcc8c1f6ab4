"""The Integrations screen: each integrator with its detected providers/consumers and record status.

A worker loads the integrators, the snapshot (the app's latest, else a fresh
one), detection and the records with drift; the table updates by row key.
Enter opens the generic wizard (screens/wizard.py) for the selected kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Static

from portside.app.models import Snapshot
from portside.screens.base import PortsideScreen

COLUMNS = (("kind", "Kind", 8), ("title", "Integration", 18), ("providers", "Providers", 16),
           ("consumers", "Consumers", 16), ("status", "Status", 14))
STATUS_STYLE = {"active": "bold green", "configuring": "cyan", "drifted": "bold yellow",
                "error": "bold red", "inactive": "dim"}


@dataclass(frozen=True)
class IntegrationRow:
    kind: str
    title: str
    providers: list[str]
    consumers: list[str]
    statuses: list[tuple[str, str]]  # (scope, status)
    detail: str


class IntegrationsLoaded(Message):
    def __init__(self, rows: list[IntegrationRow], snapshot: Snapshot, error: str | None = None) -> None:
        super().__init__()
        self.rows, self.snapshot, self.error = rows, snapshot, error


def screen_snapshot(app: Any) -> Snapshot:
    """The app's latest snapshot when discovery keeps one, else a fresh one (call from a worker)."""
    snap = getattr(app, "snapshot", None)
    if isinstance(snap, Snapshot):
        return snap
    from portside.app.snapshot import SnapshotOptions, take_snapshot

    return take_snapshot(app.config, SnapshotOptions.from_args(getattr(app, "args", None)))


def load_rows(snapshot: Snapshot, state_dir: str | None) -> list[IntegrationRow]:
    from portside.app.state import State
    from portside.integrators import engine
    from portside.integrators.base import load_integrators

    rows = []
    with State(state_dir) as state:
        records = state.integrations()
        for kind, integ in sorted(load_integrators().items()):
            found = integ.detect(snapshot)
            statuses, lines = [], []
            for rec in records:
                if rec.kind != kind or (not rec.files and rec.version == 0):
                    continue
                rec, drift = engine.with_drift(rec, state)
                statuses.append((rec.scope, rec.status.value))
                lines.append(f"[b]{rec.scope}[/b]: {rec.status.value}, version {rec.version}, "
                             f"{len(rec.files)} file(s){' — ' + rec.health if rec.health else ''}")
                lines += [f"  {d.change}: {d.path}" for d in drift]
                if rec.error:
                    lines.append(f"  [red]{rec.error}[/red]")
            prov = [r.name for r in found.providers]
            cons = [r.name for r in found.consumers]
            detail = "\n".join([
                f"[b]{integ.title}[/b]  providers: {', '.join(prov) or '-'}  consumers: {', '.join(cons) or '-'}",
                *(lines or ["not applied yet — press Enter to open the wizard"]),
            ])
            rows.append(IntegrationRow(kind, integ.title, prov, cons, statuses, detail))
    return rows


def _names(items: list[str]) -> str:
    if not items:
        return "-"
    return items[0] if len(items) == 1 else f"{items[0]} +{len(items) - 1}"


def _status(statuses: list[tuple[str, str]]) -> Text:
    if not statuses:
        return Text("not applied", style="dim")
    worst = next((s for s in ("error", "drifted", "configuring", "inactive", "active")
                  if any(st == s for _, st in statuses)), statuses[0][1])
    extra = f" +{len(statuses) - 1}" if len(statuses) > 1 else ""
    return Text(worst + extra, style=STATUS_STYLE.get(worst, ""))


class IntegrationsScreen(PortsideScreen):
    AREA = "integrations"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_wizard", "Wizard", id="integration_wizard", priority=True),
        Binding("r", "refresh", "Refresh", id="integrations_refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, IntegrationRow] = {}
        self.snapshot: Snapshot | None = None

    def compose_body(self) -> ComposeResult:
        yield DataTable(id="integrations-table", cursor_type="row", zebra_stripes=True)
        yield Static("loading integrations…", id="integration-detail")

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one(DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.load()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self.rows:
            self.load()

    def action_refresh(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="integrations", description="load integrations")
    def load(self) -> None:
        app: Any = self.app
        try:
            snap = screen_snapshot(app)
            rows = load_rows(snap, getattr(app.args, "state_dir", None))
        except Exception as exc:  # show why instead of an empty table
            self.post_message(IntegrationsLoaded([], Snapshot(), f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(IntegrationsLoaded(rows, snap))

    @on(IntegrationsLoaded)
    def _loaded(self, message: IntegrationsLoaded) -> None:
        detail = self.query_one("#integration-detail", Static)
        if message.error:
            detail.update(f"[red]cannot load integrations: {message.error}[/red]")
            return
        self.snapshot = message.snapshot
        table = self.query_one(DataTable)
        new = {r.kind: r for r in message.rows}
        with self.app.batch_update():
            for kind in [k for k in self.rows if k not in new]:
                table.remove_row(kind)
            for kind, row in new.items():
                cells = {"kind": kind, "title": row.title, "providers": _names(row.providers),
                         "consumers": _names(row.consumers), "status": _status(row.statuses)}
                if kind in self.rows:
                    for col, value in cells.items():
                        table.update_cell(kind, col, value)
                else:
                    table.add_row(*cells.values(), key=kind)
        self.rows = new
        self._show_detail()

    @on(DataTable.RowHighlighted)
    def _highlighted(self, _event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _selected_kind(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        key = table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value
        return key if key in self.rows else None

    def _show_detail(self) -> None:
        kind = self._selected_kind()
        if kind:
            self.query_one("#integration-detail", Static).update(self.rows[kind].detail)

    def action_open_wizard(self) -> None:
        kind = self._selected_kind()
        if kind is None or self.snapshot is None:
            self.notify("nothing selected yet (still loading?)", severity="warning")
            return
        from portside.integrators.base import load_integrators
        from portside.screens.wizard import WizardScreen

        app: Any = self.app
        self.app.push_screen(WizardScreen(load_integrators()[kind], self.snapshot, app.config,
                                          getattr(app.args, "state_dir", None)))
