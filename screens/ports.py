"""The Ports screen."""

from __future__ import annotations

from textual.app import ComposeResult

from screens.base import Pending, PortsideScreen


class PortsScreen(PortsideScreen):
    AREA = "ports"

    def compose_body(self) -> ComposeResult:
        yield Pending(
            "[b]Ports[/b]\n\nThis view will show: Every port binding from every source (containers, swarm, compose files, host processes, registry), with conflicts flagged and a map of the managed range.\n\n"
            "It is not built yet; nothing here is sample data.",
            classes="pending",
        )
