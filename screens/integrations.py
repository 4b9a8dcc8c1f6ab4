"""The Integrations screen."""

from __future__ import annotations

from textual.app import ComposeResult

from screens.base import Pending, PortsideScreen


class IntegrationsScreen(PortsideScreen):
    AREA = "integrations"

    def compose_body(self) -> ComposeResult:
        yield Pending(
            "[b]Integrations[/b]\n\nThis view will show: Integration wizards (email, MQTT, SSO, reverse proxy, monitoring), their detected providers and consumers, and what was applied.\n\n"
            "It is not built yet; nothing here is sample data.",
            classes="pending",
        )
