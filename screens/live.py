"""Live discovery in the TUI: the snapshot message, keyed table diffs, the Docker host modal."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from portside.app.models import Conflict, Snapshot
from portside.screens.base import PortsideScreen


class SnapshotTaken(Message, bubble=False):
    """A fresh snapshot of the world and its conflicts (posted by the discovery worker).

    `bubble=False` is a class keyword on purpose (a `bubble = False` attribute is
    reset by Message.__init_subclass__): the app re-posts this to the active
    screen, and a copy bubbling back would make the two ping-pong forever.
    """

    def __init__(self, snapshot: Snapshot, conflicts: list[Conflict]) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.conflicts = conflicts


def diff_rows(
    table: DataTable,
    columns: tuple[str, ...],
    old: dict[str, tuple[str, ...]],
    new: dict[str, tuple[str, ...]],
    style: Callable[[str, str], str] = lambda _col, text: text,
    sort: Callable[[DataTable], object] | None = None,
) -> None:
    """Bring `table` from `old` rows to `new` rows by key: remove, update changed cells, add.

    Never clears the table, so the cursor and scroll position survive a refresh;
    when rows were added, `sort` re-orders; when rows were added or removed the
    cursor follows its row (a removed row above it would otherwise shift it).
    """
    added = False
    current = None
    if table.row_count and table.is_valid_row_index(table.cursor_row):
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    removed = [k for k in old if k not in new]
    for key in removed:
        table.remove_row(key)
    for key, cells in new.items():
        before = old.get(key)
        if before is None:
            table.add_row(*(style(c, v) for c, v in zip(columns, cells, strict=True)), key=key)
            added = True
        elif before != cells:
            for col, a, b in zip(columns, before, cells, strict=True):
                if a != b:
                    table.update_cell(key, col, style(col, b))
    if added and sort is not None:
        sort(table)
    if (added or removed) and current is not None and current in table.rows:
        table.move_cursor(row=table.get_row_index(current), animate=False)


class LiveScreen(PortsideScreen):
    """A screen that renders the app's discovery snapshot: on mount, on resume, on every new one."""

    def show(self, snapshot: Snapshot, conflicts: list[Conflict]) -> None:
        raise NotImplementedError

    def on_mount(self) -> None:
        super().on_mount()
        self._show_app_snapshot()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self._show_app_snapshot()

    def _show_app_snapshot(self) -> None:
        snap = getattr(self.app, "snapshot", None)
        if snap is not None:
            self.show(snap, getattr(self.app, "conflicts", []))

    def on_snapshot_taken(self, message: SnapshotTaken) -> None:
        self.show(message.snapshot, message.conflicts)

    def action_refresh(self) -> None:
        refresh = getattr(self.app, "refresh_snapshot", None)
        if refresh:
            refresh()


class DockerHostModal(ModalScreen[tuple[str | None, str | None] | None]):
    """Pick a docker context, or type a host URL. Dismisses with (host, context) or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel", id="docker_host.cancel"),
    ]

    def __init__(self, contexts: list[tuple[str, str | None]], current: str) -> None:
        super().__init__()
        self.contexts = contexts
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="host-body"):
            yield Static(f"[b]Docker host[/b]  now: {self.current}")
            yield OptionList(
                *(Option(f"{name}  [dim]{host or 'local socket'}[/]", id=name) for name, host in self.contexts),
                id="host-contexts",
            )
            yield Input(placeholder="or a host: ssh://user@server, tcp://10.0.0.5:2376, unix:///path", id="host-url")
            yield Static("Enter picks a context or connects to the typed host. Esc cancels.", classes="host-hint")

    @on(OptionList.OptionSelected, "#host-contexts")
    def _context_chosen(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        self.dismiss((None, None if name == "default" else name))

    @on(Input.Submitted, "#host-url")
    def _host_entered(self, event: Input.Submitted) -> None:
        url = event.value.strip()
        if "://" not in url:
            self.notify("give a URL with a scheme, e.g. ssh://user@server", severity="warning")
            return
        self.dismiss((url, None))
