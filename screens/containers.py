"""The Containers screen."""

from __future__ import annotations

from textual.app import ComposeResult

from screens.base import Pending, PortsideScreen


class ContainersScreen(PortsideScreen):
    AREA = "containers"

    def compose_body(self) -> ComposeResult:
        yield Pending(
            "[b]Containers[/b]\n\nThis view will show: Live containers and swarm services grouped by compose project, with state, health, image and published ports.\n\n"
            "It is not built yet; nothing here is sample data.",
            classes="pending",
        )
