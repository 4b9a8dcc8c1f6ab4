"""The Ports screen: conflicts on top (worst first, with the fix), every binding below.

`r` on a conflicting row (in either table) opens the remap modal; `m` swaps the
bindings table for the port map of the managed range.

Both tables are keyed (conflicts by `Conflict.key`, bindings by owner/protocol/
address/port) and diffed on each snapshot, so the cursor stays where it is.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Static

from portside.app.models import Conflict, PortBinding, Snapshot
from portside.app.ports.analysis import conflicting_owners
from portside.screens.live import LiveScreen, diff_rows
from portside.screens.portmap import PortMapView

CONFLICT_COLUMNS = ("severity", "kind", "port", "message")
PORT_COLUMNS = ("port", "address", "source", "state", "owner", "conflict")
SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "dim"}
SEV_RANK = {"error": 0, "warning": 1, "info": 2}


def binding_key(b: PortBinding) -> str:
    return f"{b.owner}|{b.protocol.value}|{b.host_ip}|{b.port}"


def conflict_rows(conflicts: list[Conflict]) -> dict[str, tuple[str, ...]]:
    rows: dict[str, tuple[str, ...]] = {}
    for c in conflicts:
        port = f"{c.port}-{c.port_end}" if c.port_end else str(c.port)
        rows[c.key] = (c.severity.value, c.kind.value, f"{port}/{c.protocol.value}", c.message)
    return rows


def port_rows(snapshot: Snapshot, conflicts: list[Conflict], only_conflicts: bool = False) -> dict[str, tuple[str, ...]]:
    flagged = conflicting_owners(conflicts)
    rows: dict[str, tuple[str, ...]] = {}
    for b in sorted(snapshot.bindings, key=lambda b: (b.port, b.protocol.value, b.host_ip, b.owner)):
        sev = flagged.get(b.owner)
        if only_conflicts and sev is None:
            continue
        target = f" → {b.target}" if b.target is not None else ""
        rows[binding_key(b)] = (b.port_text(), b.host_ip, b.source.value, b.state.value, b.label() + target,
                                sev.value if sev else "")
    return rows


def _plain(cell: object) -> str:
    """A cell's text without its markup (cells of styled columns are `[style]text[/]`)."""
    text = str(cell)
    return text.split("]", 1)[1].rsplit("[/]", 1)[0] if text.startswith("[") else text


def _styled(column: str, text: str) -> str:
    style = SEV_STYLE.get(text) if column in ("severity", "conflict") else None
    return f"[{style}]{text}[/]" if style else text


def _port_num(text: str) -> int:
    """`8000-8010/tcp` -> 8000."""
    return int(text.split("/")[0].split("-")[0])


def _port_order(row: tuple[str, str, str]) -> tuple[int, str, str]:
    port, address, owner = row
    return _port_num(port), address, owner


def _cursor_key(table: DataTable) -> str | None:
    if not table.row_count or not table.is_valid_row_index(table.cursor_row):
        return None
    return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value


def _conflict_order(row: tuple[str, str]) -> tuple[int, int]:
    severity, port = row
    return SEV_RANK.get(_plain(severity), 9), _port_num(port)


class PortsScreen(LiveScreen):
    AREA = "ports"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "remap_port", "Remap", id="ports.remap"),
        Binding("m", "toggle_map", "Port map", id="ports.map"),
        Binding("c", "toggle_conflicts_only", "Only conflicting", id="ports.only_conflicts"),
        Binding("f5", "refresh", "Refresh", id="ports.refresh"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: Snapshot | None = None
        self.conflicts: list[Conflict] = []
        self.only_conflicts = False
        self._conflict_rows: dict[str, tuple[str, ...]] = {}
        self._port_rows: dict[str, tuple[str, ...]] = {}

    def compose_body(self) -> ComposeResult:
        yield Static("waiting for the first snapshot…", id="ports-summary")
        conflicts: DataTable[str] = DataTable(id="conflicts-table", cursor_type="row")
        for col in CONFLICT_COLUMNS:
            conflicts.add_column(col, key=col)
        yield conflicts
        yield Static("", id="conflict-fix")
        ports: DataTable[str] = DataTable(id="ports-table", cursor_type="row", zebra_stripes=True)
        for col in PORT_COLUMNS:
            ports.add_column(col, key=col)
        yield ports
        yield PortMapView(id="port-map")

    def action_remap_port(self) -> None:
        from portside.screens.remap import open_remap

        c = self.selected_conflict()
        if c is None or self.snapshot is None:
            self.notify("select a conflicting row first", severity="warning")
            return

        def done(decision: object) -> None:
            if decision:
                self.action_refresh()

        open_remap(self, self.snapshot, c, done)

    def action_toggle_map(self) -> None:
        self.toggle_class("-map")
        if self.has_class("-map"):
            self.query_one("#conflicts-table", DataTable).focus()  # the bindings table is hidden now
            self._show_map()

    def _show_map(self) -> None:
        if self.snapshot is None or not self.has_class("-map"):
            return
        rng = getattr(getattr(self.app, "config", None), "port_range", None)
        span = (rng.start, rng.end) if rng is not None else (8000, 9000)
        self.query_one(PortMapView).show(self.snapshot.bindings, self.conflicts, span)

    def action_toggle_conflicts_only(self) -> None:
        self.only_conflicts = not self.only_conflicts
        if self.snapshot is not None:
            self.show(self.snapshot, self.conflicts)

    def selected_conflict(self) -> Conflict | None:
        """The conflict under the cursor (for actions such as remap).

        In the bindings table: the worst conflict the highlighted binding takes part in.
        """
        ports = self.query_one("#ports-table", DataTable)
        if ports.has_focus and not self.has_class("-map"):
            key = _cursor_key(ports)
            return next((c for c in self.conflicts if any(binding_key(p) == key for p in c.parties)), None)
        key = _cursor_key(self.query_one("#conflicts-table", DataTable))
        return next((c for c in self.conflicts if c.key == key), None)

    @on(DataTable.RowHighlighted, "#conflicts-table")
    def _conflict_highlighted(self) -> None:
        c = self.selected_conflict()
        self.query_one("#conflict-fix", Static).update(f"[b]fix:[/b] {c.fix}" if c and c.fix else "")

    # ------------------------------------------------------------- rendering

    def show(self, snapshot: Snapshot, conflicts: list[Conflict]) -> None:
        self.snapshot, self.conflicts = snapshot, conflicts
        new_conflicts = conflict_rows(conflicts)
        new_ports = port_rows(snapshot, conflicts, self.only_conflicts)
        with self.app.batch_update():
            ctable = self.query_one("#conflicts-table", DataTable)
            diff_rows(ctable, CONFLICT_COLUMNS, self._conflict_rows, new_conflicts, _styled,
                      lambda t: t.sort("severity", "port", key=_conflict_order))
            ptable = self.query_one("#ports-table", DataTable)
            diff_rows(ptable, PORT_COLUMNS, self._port_rows, new_ports, _styled,
                      lambda t: t.sort("port", "address", "owner", key=_port_order))
        self._conflict_rows, self._port_rows = new_conflicts, new_ports
        errors = sum(1 for c in conflicts if c.severity.value == "error")
        scope = "  [dim](only conflicting; c shows all)[/]" if self.only_conflicts else ""
        self.query_one("#ports-summary", Static).update(
            f"{len(snapshot.bindings)} bindings, {len(conflicts)} conflicts"
            f"{f' ([bold red]{errors} errors[/])' if errors else ''}{scope}"
        )
        self.set_class(not conflicts, "-no-conflicts")
        self._conflict_highlighted()
        self._show_map()
