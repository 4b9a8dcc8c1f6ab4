"""The Health screen."""

from __future__ import annotations

from textual.app import ComposeResult

from screens.base import Pending, PortsideScreen


class HealthScreen(PortsideScreen):
    AREA = "health"

    def compose_body(self) -> ComposeResult:
        yield Pending(
            "[b]Health[/b]\n\nThis view will show: Health of every service endpoint, polled in the background, with latency history.\n\n"
            "It is not built yet; nothing here is sample data.",
            classes="pending",
        )
