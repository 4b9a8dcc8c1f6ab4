"""An aiosmtpd handler that keeps every message it receives (the real SMTP server in tests)."""

from __future__ import annotations

from typing import Any


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"
