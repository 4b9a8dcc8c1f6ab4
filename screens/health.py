"""The Health screen: one row per target, updated in place, and the poller that feeds it.

The poller (app.health.Poller) runs in a child process, app.health_worker
(in a thread of this process its checks' Python time made key presses take
seconds during a 1,000-endpoint cycle; see benchmarks/bench_health.py). A
thread worker mirrors the child's batches of changed statuses (at most one
every PUBLISH_EVERY seconds) into one `HealthChanged` message for the active
screen each; `app.health_statuses` keeps
the latest status per target for screens that mount or resume later (the
Containers screen reads it too, keyed by container name).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker, get_current_worker

from portside.app.health import TargetStatus
from portside.app.health_targets import Target, build_targets
from portside.app.health_worker import PUBLISH_EVERY, HealthProcess, Mirror
from portside.app.models import HealthState, Snapshot
from portside.screens.base import PortsideScreen

RETARGET_EVERY = 30.0  # seconds between target refreshes when the app has no live snapshot
BARS = "▁▂▃▄▅▆▇█"
STYLE = {
    HealthState.HEALTHY: "bold green",
    HealthState.DEGRADED: "bold yellow",
    HealthState.UNHEALTHY: "bold red",
    HealthState.STARTING: "cyan",
    HealthState.UNKNOWN: "dim",
}
COLUMNS = (
    ("status", "Status", 9),
    ("target", "Target", 22),
    ("latency", "Latency", 8),
    ("trend", "Recent", 12),
    ("detail", "Detail", 40),
)


class HealthChanged(Message, bubble=False):  # a class keyword: see SourcesChanged
    """Statuses of some targets changed (and some targets went away)."""

    def __init__(self, changed: dict[str, TargetStatus], removed: list[str]) -> None:
        super().__init__()
        self.changed = changed
        self.removed = removed


def sparkline(values: list[float | None], width: int = 12) -> str:
    vals = values[-width:]
    top = max((v for v in vals if v is not None), default=0.0) or 1.0
    return "".join(
        " " if v is None else BARS[min(int(v / top * (len(BARS) - 1)), len(BARS) - 1)] for v in vals
    )


def latency_text(st: TargetStatus) -> str:
    return "-" if st.latency_ms is None else f"{st.latency_ms:.0f} ms"


def row_cells(st: TargetStatus) -> dict[str, Any]:
    why = st.last_error if st.status == HealthState.UNHEALTHY else st.detail
    return {
        "status": Text(st.status.value, style=STYLE.get(st.status, "")),
        "target": st.target.name,
        "latency": latency_text(st),
        "trend": sparkline([s.latency_ms for s in st.history]),
        "detail": why or st.target.describe(),
    }


class HealthScreen(PortsideScreen):
    AREA = "health"
    selected: str | None = None  # the target whose history the detail pane shows
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "poll_now", "Poll now", id="health-poll-now"),
    ]

    def compose_body(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="health-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        yield Static("", id="health-empty")
        yield Static("Select a row (Enter) for its history and last error.", id="health-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self._cells: dict[str, dict[str, str]] = {}  # what each row shows, by column
        self._show(dict(statuses_of(self.app)), [])

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        current = statuses_of(self.app)
        table = self.query_one(DataTable)
        gone = [str(k.value) for k in list(table.rows) if k.value not in current]
        self._show(dict(current), gone)

    def on_health_changed(self, message: HealthChanged) -> None:
        self._show(message.changed, message.removed)

    def _show(self, changed: dict[str, TargetStatus], removed: list[str]) -> None:
        table = self.query_one(DataTable)
        with self.app.batch_update():
            for tid in removed:
                if tid in table.rows:
                    table.remove_row(tid)
            for tid in removed:
                self._cells.pop(tid, None)
            for tid, st in sorted(changed.items()):
                cells = row_cells(st)
                shown = self._cells.setdefault(tid, {})
                if tid in table.rows:
                    for col, value in cells.items():
                        if shown.get(col) != str(value):  # untouched cells cost nothing
                            table.update_cell(tid, col, value)
                else:
                    table.add_row(*cells.values(), key=tid)
                shown.update((col, str(value)) for col, value in cells.items())
        empty = self.query_one("#health-empty", Static)
        empty.display = table.row_count == 0
        empty.update(
            "No health targets yet: label a container portside.health=/path, run a service the "
            "catalog knows, or add health.checks to portside.yaml."
        )
        if self.selected in changed:
            self._detail(changed[self.selected])

    @on(DataTable.RowSelected)
    @on(DataTable.RowHighlighted)
    def _row_chosen(self, event: DataTable.RowSelected | DataTable.RowHighlighted) -> None:
        self.selected = str(event.row_key.value) if event.row_key is not None else None
        st = statuses_of(self.app).get(self.selected or "")
        if st is not None:
            self._detail(st)

    def _detail(self, st: TargetStatus) -> None:
        lines = [f"[b]{st.target.name}[/b]  {st.target.describe()}  ({st.target.source})"]
        lines.append(f"last error: {st.last_error or '-'}")
        recent = list(st.history)[-6:]
        lines.append(
            "  ".join(
                f"{s.at:%H:%M:%S} {s.status.value} {'-' if s.latency_ms is None else f'{s.latency_ms:.0f}ms'}"
                for s in reversed(recent)
            )
            or "no checks yet"
        )
        self.query_one("#health-detail", Static).update("\n".join(lines))

    def action_poll_now(self) -> None:
        poll_now = getattr(self.app, "health_poll_now", None)
        if poll_now is not None:
            poll_now()
            self.notify("polling every target now")


# ----------------------------------------------------------------- the worker


def statuses_of(app: App[Any]) -> dict[str, TargetStatus]:
    """The latest status per target id (owned by the UI thread)."""
    if not hasattr(app, "health_statuses"):
        app.health_statuses = {}  # type: ignore[attr-defined]
    return app.health_statuses  # type: ignore[attr-defined]


def health_by_container(app: App[Any]) -> dict[str, HealthState]:
    """The worst status per container name: the Containers screen's `health` column."""
    rank = [
        HealthState.HEALTHY,
        HealthState.UNKNOWN,
        HealthState.STARTING,
        HealthState.DEGRADED,
        HealthState.UNHEALTHY,
    ]
    out: dict[str, HealthState] = {}
    for st in statuses_of(app).values():
        name = st.target.container
        if name and (name not in out or rank.index(st.status) > rank.index(out[name])):
            out[name] = st.status
    return out


def start_health_worker(app: App[Any]) -> Worker[None]:
    """Run the poller in a child process (app.health_worker) and mirror its statuses.

    Measured (benchmarks/bench_health.py): in a thread of this process, the
    checks' Python time shared the GIL with the UI and a key press took up to
    seconds to show during a 1,000-endpoint cycle. This thread worker only
    keeps the child's targets in step and turns its batches into one
    `HealthChanged` message each. `app.health_targets` (a callable) overrides
    discovery.
    """
    ui_loop = asyncio.get_running_loop()
    return app.run_worker(
        partial(_poll_thread, app, ui_loop),
        thread=True,
        group="health",
        exclusive=True,
        exit_on_error=False,
        description="health poller",
    )


def _publish(
    app: App[Any],
    changed: dict[str, TargetStatus],
    removed: list[str],
    sent: dict[int, dict[str, str]],
) -> None:
    """On the UI thread: keep app.health_statuses, tell the active screen."""
    statuses = statuses_of(app)
    for tid in removed:
        statuses.pop(tid, None)
    statuses.update(changed)
    with contextlib.suppress(Exception):  # no screen while the app closes
        app.screen.post_message(HealthChanged(changed, removed))
    _feed_health_column(app, sent)


def _own_snapshot_targets(app: App[Any]) -> list[Target]:
    """Targets from a snapshot of our own (an app without a discovery worker)."""
    from portside.app.snapshot import SnapshotOptions, take_snapshot

    config = app.config  # type: ignore[attr-defined]
    return build_targets(
        take_snapshot(config, SnapshotOptions.from_args(getattr(app, "args", None))), config
    )


def _poll_thread(app: App[Any], ui_loop: asyncio.AbstractEventLoop) -> None:
    """Keep the child's targets in step with the app's snapshots; publish its batches."""
    worker = get_current_worker()
    config = app.config  # type: ignore[attr-defined]
    child = HealthProcess(config, getattr(getattr(app, "args", None), "state_dir", None))
    app.health_worker = child  # type: ignore[attr-defined]  # tests and benchmarks read its pid
    app.health_poll_now = child.poll_now  # type: ignore[attr-defined]
    mirror = Mirror()
    provider: Callable[[], list[Target]] | None = getattr(app, "health_targets", None)
    if provider is None and not hasattr(app, "snapshot"):
        provider = lambda: _own_snapshot_targets(app)  # noqa: E731
    next_targets, seen_snapshot, restart_at = 0.0, None, 0.0
    sent: dict[int, dict[str, str]] = {}  # id(screen) -> container health last handed to it
    changed: dict[str, TargetStatus] = {}
    removed: list[str] = []

    def retarget(targets: list[Target]) -> None:
        new, gone = mirror.set_targets(targets)
        child.set_targets(targets)
        changed.update(new)
        for tid in gone:
            changed.pop(tid, None)
        removed.extend(gone)

    try:
        child.start()
        retarget(build_targets(None, config))  # the config's checks need no snapshot
        while not worker.is_cancelled:
            now = time.monotonic()
            if provider is not None and now >= next_targets:
                retarget(provider())
                next_targets = now + RETARGET_EVERY
            elif provider is None and now >= next_targets:
                snap = getattr(app, "snapshot", None)  # the discovery worker's latest
                if isinstance(snap, Snapshot) and snap is not seen_snapshot:
                    seen_snapshot = snap
                    retarget(build_targets(snap, config))
                    next_targets = now + 2.0  # snapshots can come in bursts
            batches, ended = child.get(PUBLISH_EVERY)
            for batch in batches:
                changed.update(mirror.apply(batch))
            if changed or removed:
                ui_loop.call_soon_threadsafe(_publish, app, dict(changed), list(removed), sent)
                changed.clear()
                removed.clear()
            if ended and not worker.is_cancelled:  # the child died: say so, start another
                why = child.error or f"exit code {child.proc.poll() if child.proc else '?'}"
                ui_loop.call_soon_threadsafe(
                    partial(
                        app.notify, f"health poller stopped ({why}); restarting", severity="warning"
                    )
                )
                child.close(timeout=1.0)
                restart_at = time.monotonic() + 2.0
            if not child.alive() and child.proc is None and time.monotonic() >= restart_at:
                child.start()
    finally:
        child.close()


def _feed_health_column(app: App[Any], sent: dict[int, dict[str, str]]) -> None:
    """Hand the active screen (if it has a health column, e.g. Containers) what it lacks."""
    with contextlib.suppress(Exception):
        screen = app.screen
        set_health = getattr(screen, "set_health", None)
        if set_health is None:
            return
        mine = sent.setdefault(id(screen), {})
        for name, state in health_by_container(app).items():
            if mine.get(name) != state.value:
                set_health(name, state)
                mine[name] = state.value
