"""The help modal: every binding that is active, with its current key (after keymap)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


class HelpModal(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", id="help.close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static("[b]portside keys[/b]  (remap any of them with keymap: in portside.yaml)")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static("Ctrl+P opens the command palette. Esc closes this help.", classes="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "binding id")
        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else self.app.screen
        seen: set[tuple[str, str]] = set()
        for node in (below, self.app):
            for key, bindings in node._bindings.key_to_bindings.items():
                for b in bindings:
                    if not b.description or (b.description, key) in seen:
                        continue
                    seen.add((b.description, key))
                    table.add_row(self.app.get_key_display(b), b.description, b.id or "")
