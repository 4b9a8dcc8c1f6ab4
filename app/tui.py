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
from textual.worker import Worker, WorkerState, get_current_worker

from portside.app import __version__
from portside.app.config import Config
from portside.app.models import Conflict, Snapshot, SourceStatus
from portside.app.snapshot import LiveSnapshots
from portside.screens.base import SourcesChanged
from portside.screens.containers import ContainersScreen
from portside.screens.decisions import DecisionsScreen
from portside.screens.health import HealthScreen, start_health_worker
from portside.screens.help import HelpModal
from portside.screens.integrations import IntegrationsScreen
from portside.screens.live import DockerHostModal, SnapshotTaken
from portside.screens.ports import PortsScreen
from portside.styles import stylesheets


class PortsideApp(App[int]):
    TITLE = "portside"
    SUB_TITLE = f"v{__version__}"
    CSS_PATH: ClassVar = stylesheets()  # type: ignore[misc,assignment]
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
        Binding("H", "docker_host", "Docker host", id="docker_host"),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, config: Config | None = None, args: argparse.Namespace | None = None) -> None:
        super().__init__()
        self.config = config or Config()  # type: ignore[call-arg]
        self.args = args or argparse.Namespace()
        self.sources: dict[str, SourceStatus] = {}
        self.snapshot: Snapshot | None = None  # the latest discovery snapshot, and its conflicts
        self.conflicts: list[Conflict] = []
        self._live: LiveSnapshots | None = None

    def on_mount(self) -> None:
        if self.config.keymap:
            self.set_keymap(self.config.keymap)
        self.start_sources()

    def start_sources(self) -> None:
        """Start everything that feeds the screens (tests with fixed data replace this)."""
        self.probe_engine()  # a quick first word on the engine; discovery snapshots keep it current
        start_health_worker(self)  # the poller runs in a child process; this worker talks to it
        self.start_discovery()

    def action_help(self) -> None:
        self.push_screen(HelpModal())

    # ------------------------------------------------------------- workers

    @work(thread=True, exclusive=True, group="probe", exit_on_error=False, description="probe Docker engine")
    def probe_engine(self) -> None:
        from portside.app.sources.engine import probe, resolve_endpoint

        try:
            endpoint = resolve_endpoint(getattr(self.args, "host", None), getattr(self.args, "context", None))
            status = probe(endpoint)
        except Exception as exc:  # a bad context name, unreadable docker config
            status = SourceStatus(ok=False, error=str(exc))
        self.post_message(SourcesChanged({"docker": status}))

    # ------------------------------------------------------ discovery (live)

    def start_discovery(self) -> None:
        """(Re)start the snapshot loop and the Docker events pump for the current host."""
        from portside.app.snapshot import SnapshotOptions

        if self._live is not None:
            self._live.stop()
        self._live = live = LiveSnapshots(self.config, SnapshotOptions.from_args(self.args))
        self._snapshot_loop(live)
        self._docker_events(live)

    def refresh_snapshot(self) -> None:
        if self._live is not None:
            self._live.refresh()

    @work(thread=True, exclusive=True, group="snapshot", exit_on_error=False, description="discover ports")
    def _snapshot_loop(self, live: LiveSnapshots) -> None:
        from portside.app.ports.analysis import analyze
        from portside.app.snapshot import policy_for

        worker = get_current_worker()

        def publish(snap: Snapshot) -> None:
            if not worker.is_cancelled:
                self.post_message(SnapshotTaken(snap, analyze(snap, policy_for(self.config, snap))))

        live.run(publish, lambda: worker.is_cancelled)

    @work(thread=True, exclusive=True, group="docker-events", exit_on_error=False, description="Docker events")
    def _docker_events(self, live: LiveSnapshots) -> None:
        worker = get_current_worker()
        live.pump_events(lambda: worker.is_cancelled)

    @on(SnapshotTaken)
    def _snapshot_taken(self, message: SnapshotTaken) -> None:
        self.snapshot, self.conflicts = message.snapshot, message.conflicts
        self.post_message(SourcesChanged(dict(message.snapshot.sources)))
        with contextlib.suppress(ScreenStackError):
            self.screen.post_message(SnapshotTaken(message.snapshot, message.conflicts))

    def action_docker_host(self) -> None:
        from portside.app.sources.docker_src import docker_contexts
        from portside.app.sources.engine import resolve_endpoint

        try:
            current = resolve_endpoint(getattr(self.args, "host", None), getattr(self.args, "context", None)).describe()
        except Exception as exc:
            current = str(exc)

        def chosen(result: tuple[str | None, str | None] | None) -> None:
            if result is None:
                return
            self.args.host, self.args.context = result
            self.notify(f"Docker host: {result[0] or result[1] or 'default'}")
            self.probe_engine()
            self.start_discovery()

        self.push_screen(DockerHostModal(docker_contexts(), current), chosen)

    def on_unmount(self) -> None:
        if self._live is not None:
            self._live.stop()

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
