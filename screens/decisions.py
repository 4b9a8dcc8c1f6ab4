"""The Decisions screen: every applied plan (who, when, what moved, why), its diff, and undo."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from portside.app.models import Decision
from portside.screens.base import PortsideScreen

COLUMNS = ("id", "when", "who", "what")


class DecisionsLoaded(Message):
    def __init__(self, decisions: list[Decision], error: str | None = None) -> None:
        super().__init__()
        self.decisions, self.error = decisions, error


class DecisionUndone(Message):
    def __init__(self, text: str, error: bool) -> None:
        super().__init__()
        self.text, self.error = text, error


def what(d: Decision) -> str:
    from portside.app.commands.decisions import summary

    text = summary(d).split(f"{d.kind}: ", 1)[-1]
    return f"{d.kind}: {text}"


class DecisionsScreen(PortsideScreen):
    AREA = "decisions"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("u", "undo_decision", "Undo", id="undo_decision"),
        Binding("f5", "reload", "Reload", id="decisions_reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.decisions: dict[int, Decision] = {}

    def compose_body(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="decisions-table", cursor_type="row")
        for col in COLUMNS:
            table.add_column(col, key=col)
        yield table
        with VerticalScroll(id="decision-detail-box"):
            yield Static("no decisions yet: remap a port (Ports screen, r) or apply an integration",
                         id="decision-detail", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.load()

    def _state_dir(self) -> str | None:
        return getattr(getattr(self.app, "args", None), "state_dir", None)

    @work(thread=True, exclusive=True, group="decisions", exit_on_error=False, description="load decisions")
    def load(self) -> None:
        from portside.app.state import State

        try:
            with State(self._state_dir()) as state:
                self.post_message(DecisionsLoaded(state.decisions(limit=500)))
        except Exception as exc:
            self.post_message(DecisionsLoaded([], str(exc)))

    def action_reload(self) -> None:
        self.load()

    @on(DecisionsLoaded)
    def _loaded(self, message: DecisionsLoaded) -> None:
        if message.error:
            self.notify(f"decisions: {message.error}", severity="error")
            return
        table = self.query_one(DataTable)
        with self.app.batch_update():
            for d in message.decisions:
                assert d.id is not None
                key = str(d.id)
                row = (f"#{d.id}", f"{d.at:%Y-%m-%d %H:%M}", d.actor, what(d))
                if d.id in self.decisions:
                    for col, value in zip(COLUMNS, row, strict=True):
                        table.update_cell(key, col, value)
                else:
                    table.add_row(*row, key=key)
                self.decisions[d.id] = d
        if message.decisions:
            self._show_current()

    def _current(self) -> Decision | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.decisions.get(int(key)) if key else None

    @on(DataTable.RowHighlighted)
    def _show_current(self) -> None:
        d = self._current()
        if d is None:
            return
        lines = [f"#{d.id} {d.title}", f"why: {d.reason or '-'}", f"who: {d.actor}  when: {d.at:%Y-%m-%d %H:%M:%S}"]
        lines += [f"backup: {p} <- {b or '(new file)'}" for p, b in d.backups.items()]
        lines += [f"action: {a}" for a in d.actions]
        if d.undone_by:
            lines.append(f"undone by #{d.undone_by}")
        self.query_one("#decision-detail", Static).update("\n".join(lines) + "\n\n" + d.diff)

    def action_undo_decision(self) -> None:
        d = self._current()
        if d is None or d.id is None:
            self.notify("no decision selected", severity="warning")
            return
        self.undo_worker(d.id)

    @work(thread=True, exclusive=True, group="decisions-undo", exit_on_error=False, description="undo decision")
    def undo_worker(self, decision_id: int) -> None:
        from portside.app.remapping import undo
        from portside.app.state import State

        try:
            with State(self._state_dir()) as state:
                r = undo(state, getattr(self.app, "config", None) or _default_config(), decision_id)
            self.post_message(DecisionUndone(f"undid #{decision_id} as #{r.decision.id}", False))
        except Exception as exc:
            self.post_message(DecisionUndone(str(exc), True))

    @on(DecisionUndone)
    def _undone(self, message: DecisionUndone) -> None:
        self.notify(message.text, severity="error" if message.error else "information", timeout=8)
        self.load()


def _default_config():  # type: ignore[no-untyped-def]
    from portside.app.config import Config

    return Config()  # type: ignore[call-arg]
