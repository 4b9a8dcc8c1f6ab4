"""The Decisions screen."""

from __future__ import annotations

from textual.app import ComposeResult

from screens.base import Pending, PortsideScreen


class DecisionsScreen(PortsideScreen):
    AREA = "decisions"

    def compose_body(self) -> ComposeResult:
        yield Pending(
            "[b]Decisions[/b]\n\nThis view will show: The audit log: every applied plan with who, when, why and its diff, and undo.\n\n"
            "It is not built yet; nothing here is sample data.",
            classes="pending",
        )
