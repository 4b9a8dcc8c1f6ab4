"""What every portside screen shares: the header, the sources bar, the footer."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from portside.app.models import SourceStatus


class SourcesChanged(Message, bubble=False):
    """The reachability of the sources (Docker engine, compose, host, ...) changed.

    `bubble=False` must be a class keyword: Message.__init_subclass__ resets a
    `bubble = False` class attribute to True. The app re-posts this to the
    active screen; were it to bubble back, the two would ping-pong forever.
    """

    def __init__(self, sources: dict[str, SourceStatus]) -> None:
        super().__init__()
        self.sources = sources


class SourcesBar(Static):
    """One line: which sources are up, and why not."""

    def show(self, sources: dict[str, SourceStatus]) -> None:
        if not sources:
            self.update("sources: checking…")
            return
        parts = []
        for name, st in sorted(sources.items()):
            if st.ok:
                parts.append(f"[b green]●[/] {name}")
            else:
                parts.append(f"[b red]●[/] {name}: {st.error or 'unavailable'}")
        self.update("  ".join(parts))
        self.set_class(any(not s.ok for s in sources.values()), "-degraded")


class PortsideScreen(Screen[None]):
    """A top-level screen: header, sources bar, the body from `compose_body`, footer."""

    AREA = "portside"

    def compose(self) -> ComposeResult:
        yield Header()
        yield SourcesBar(id="sources-bar")
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.query_one(SourcesBar).show(getattr(self.app, "sources", {}))

    def on_screen_resume(self) -> None:
        self.query_one(SourcesBar).show(getattr(self.app, "sources", {}))

    def on_sources_changed(self, message: SourcesChanged) -> None:
        self.query_one(SourcesBar).show(message.sources)


class Pending(Static):
    """Says what a view will show before its data source exists. Never fake rows."""
