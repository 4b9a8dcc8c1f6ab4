"""The Textual App: one mode per area, a sources bar, help, remappable keys.

The only module in `app/` that imports textual. Workers do all I/O and post
messages; screens render what they are given (see screens/).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import ClassVar

from textual import on, work
from textual.app import App, ScreenStackError
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from app import __version__
from app.config import Config
from app.models import SourceStatus
from screens.base import SourcesChanged
from screens.containers import ContainersScreen
from screens.decisions import DecisionsScreen
from screens.health import HealthScreen, start_health_worker
from screens.help import HelpModal
from screens.integrations import IntegrationsScreen
from screens.ports import PortsScreen
from styles import stylesheets


class PortsideApp(App[int]):
    TITLE = "portside"
    SUB_TITLE = f"v{__version__}"
    CSS_PATH: ClassVar = stylesheets()  # type: ignore[misc]
    MODES: ClassVar = {
        "containers": ContainersScreen,
        "ports": PortsScreen,
        "integrations": IntegrationsScreen,
        "health": HealthScreen,
        "decisions": DecisionsScreen,
    }
    DEFAULT_MODE = "containers"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('containers')", "Containers", id="containers"),
        Binding("2", "switch_mode('ports')", "Ports", id="ports"),
        Binding("3", "switch_mode('integrations')", "Integrations", id="integrations"),
        Binding("4", "switch_mode('health')", "Health", id="health"),
        Binding("5", "switch_mode('decisions')", "Decisions", id="decisions"),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, config: Config | None = None, args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.config = config or Config()  # type: ignore[call-arg]
        self.args = args or argparse.Namespace()
        self.sources: dict[str, SourceStatus] = {}

    def on_mount(self) -> None:
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self.probe_engine()
        self.set_interval(15.0, self.probe_engine)
        start_health_worker(self)  # async worker: the poller's checks are asyncio I/O

    def action_help(self) -> None:
        self.push_screen(HelpModal())

    # ------------------------------------------------------------- workers

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False, description="probe Docker engine")
    def probe_engine(self) -> None:
        from app.sources.engine import probe, resolve_endpoint

        try:
            endpoint = resolve_endpoint(getattr(self.args, "host", None), getattr(self.args, "context", None))
            status = probe(endpoint)
        except Exception as exc:  # a bad context name, unreadable docker config
            status = SourceStatus(ok=False, error=str(exc))
        self.post_message(SourcesChanged({"docker": status}))

    @on(SourcesChanged)
    def _sources_changed(self, message: SourcesChanged) -> None:
        self.sources.update(message.sources)
        with contextlib.suppress(ScreenStackError):  # the app may be closing
            self.screen.post_message(SourcesChanged(dict(self.sources)))

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            err = event.worker.error
            self.notify(f"{event.worker.description or event.worker.name}: {err}", severity="error", timeout=8)


def make_app(config: Config | None = None, args: argparse.Namespace | None = None) -> PortsideApp:
    """The factory shared by the CLI and the tests."""
    return PortsideApp(config=config, args=args)
