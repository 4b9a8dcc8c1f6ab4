"""RemapModal: fix one conflict from the keyboard: the side that moves, the new port, the diff, apply.

The suggestion comes from the same policy as `portside remap` (app.ports.remap);
the port is validated live against every source (app.ports.allocator); the plan
is built and applied in worker threads through app.remapping (the one executor).
The modal dismisses with the Decision, or None when cancelled.

Open it with `open_remap(app_or_screen, snapshot, conflict)`; the Ports screen
binds it to `r` on a conflicting row.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from portside.app.config import Config
from portside.app.models import Conflict, Decision, Plan, PortBinding, Snapshot


class PlanReady(Message):
    def __init__(self, plan: Plan | None, diff: str, error: str | None) -> None:
        super().__init__()
        self.plan, self.diff, self.error = plan, diff, error


class RemapApplied(Message):
    def __init__(self, decision: Decision | None, error: str | None, note: str = "") -> None:
        super().__init__()
        self.decision, self.error, self.note = decision, error, note


class RemapModal(ModalScreen[Decision | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Apply", id="remap_apply", priority=True),
        Binding("ctrl+t", "switch_side", "Switch side", id="remap_switch_side", priority=True),
        Binding("ctrl+r", "toggle_recreate", "Recreate", id="remap_recreate", priority=True),
        Binding("escape", "cancel", "Cancel", id="remap_cancel"),
    ]

    def __init__(self, snapshot: Snapshot, conflict: Conflict, config: Config,
                 state_dir: str | None = None) -> None:
        super().__init__()
        from portside.app.ports.remap import RemapContext, choose_mover, movable

        self.snapshot, self.conflict, self.config, self.state_dir = snapshot, conflict, config, state_dir
        ctx = RemapContext(config=config, environ={})
        self.sides: list[PortBinding] = [p for p in conflict.parties if movable(p, ctx) is None] or [
            p for p in conflict.parties if p.origin is not None]
        first = choose_mover(conflict, snapshot, ctx)
        self.side = self.sides.index(first) if first in self.sides else 0
        self._allocators: dict[int, Any] = {}  # side -> allocator (built once, not per keystroke)
        self.recreate = False
        self.plan: Plan | None = None

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        with Vertical(id="remap-body"):
            yield Label(f"[b]Remap[/b]  {self.conflict.message}", id="remap-title")
            yield Label("", id="remap-side")
            with Horizontal(id="remap-port-row"):
                yield Label("New host port: ", classes="remap-label")
                yield Input(id="remap-port", type="integer", max_length=5)
            yield Label("", id="remap-valid")
            with VerticalScroll(id="remap-diff-box"):
                yield Static("", id="remap-diff", markup=False)
            with Horizontal(id="remap-buttons"):
                yield Button("Apply", id="remap-apply-btn", variant="primary")
                yield Button("Cancel", id="remap-cancel-btn")
        yield Footer()

    def on_mount(self) -> None:
        if not self.sides:
            self.query_one("#remap-side", Label).update("No side of this conflict is a compose file portside can edit.")
            self.query_one("#remap-port", Input).disabled = True
            return
        self._show_side()
        self.query_one("#remap-port", Input).focus()

    @property
    def mover(self) -> PortBinding | None:
        return self.sides[self.side] if self.sides else None

    def _allocator(self) -> Any:
        """Every port in use except the mover's own: fixed for a side, so built once per side."""
        from portside.app.ports.remap import allocator_for

        if self.side not in self._allocators:
            self._allocators[self.side] = allocator_for(self.snapshot, self.config, ignore=self.mover)
        return self._allocators[self.side]

    def _show_side(self) -> None:
        m = self.mover
        assert m is not None
        other = len(self.sides) > 1
        where = (f"${m.origin.env_var}" if m.origin and m.origin.env_var else
                 f"{m.origin.file}:{m.origin.line}" if m.origin else "?")
        self.query_one("#remap-side", Label).update(
            f"Moving [b]{m.label()}[/b] {m.port_text()} ({where})"
            + ("  — ctrl+t: move the other side" if other else "")
            + f"  — recreate: {'on' if self.recreate else 'off'}")
        count = m.last_port - m.port + 1
        try:
            suggestion = self._allocator().peek(m.port, count)
        except Exception as exc:
            self.query_one("#remap-valid", Label).update(f"[red]{exc}[/]")
            return
        inp = self.query_one("#remap-port", Input)
        inp.value = str(suggestion)
        self._validate(inp.value)

    # ------------------------------------------------------------ validation

    @on(Input.Changed, "#remap-port")
    def _changed(self, event: Input.Changed) -> None:
        self._validate(event.value)

    def _validate(self, value: str) -> int | None:
        label = self.query_one("#remap-valid", Label)
        m = self.mover
        if m is None:
            return None
        if not value.isdigit():
            label.update("[red]type a port number[/]")
            self.plan = None
            return None
        port = int(value)
        why = self._allocator().why_not(port, m.last_port - m.port + 1)
        if why:
            label.update(f"[red]✗ {port}: {why}[/]")
            self.plan = None
            self.query_one("#remap-diff", Static).update("")
            return None
        label.update(f"[green]✓ {port} is free in every source[/]")
        self.build_plan(m, port)
        return port

    @work(thread=True, exclusive=True, group="remap-plan", exit_on_error=False, description="plan remap")
    def build_plan(self, mover: PortBinding, port: int) -> None:
        from portside.app.executor import render_diff
        from portside.app.ports.remap import build_plan
        from portside.app.remapping import remap_context

        try:
            rctx = remap_context(self.config, None, self.snapshot, recreate=self.recreate)
            plan = build_plan(self.snapshot, [(mover, port, self.conflict.message)], rctx)
            self.post_message(PlanReady(plan, render_diff(plan), None))
        except Exception as exc:
            self.post_message(PlanReady(None, "", str(exc)))

    @on(PlanReady)
    def _plan_ready(self, message: PlanReady) -> None:
        value = self.query_one("#remap-port", Input).value
        if message.plan and message.plan.moves and str(message.plan.moves[0].new_port) != value:
            return  # a plan for a port the user has typed over since
        self.plan = message.plan
        self.query_one("#remap-diff", Static).update(message.error or message.diff)

    # --------------------------------------------------------------- actions

    def action_switch_side(self) -> None:
        if len(self.sides) > 1:
            self.side = (self.side + 1) % len(self.sides)
            self._show_side()

    def action_toggle_recreate(self) -> None:
        self.recreate = not self.recreate
        if self.mover is not None:
            self._show_side()

    @on(Input.Submitted, "#remap-port")
    @on(Button.Pressed, "#remap-apply-btn")
    def action_apply(self) -> None:
        if self.plan is None or self.plan.empty:
            self.notify("nothing to apply: pick a free port first", severity="warning")
            return
        self.apply_worker(self.plan)

    @on(Button.Pressed, "#remap-cancel-btn")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="remap-apply", exit_on_error=False, description="apply remap")
    def apply_worker(self, plan: Plan) -> None:
        from portside.app.remapping import apply_remap
        from portside.app.state import State

        try:
            with State(self.state_dir) as state:
                result = apply_remap(plan, state, self.config, run_actions=True)
            failed = [a for a, ok, _ in result.action_results if not ok]
            note = ("recreated" if result.action_results and not failed else
                    "recreate failed" if failed else "restart required")
            self.post_message(RemapApplied(result.decision, None, note))
        except Exception as exc:
            self.post_message(RemapApplied(None, str(exc)))

    @on(RemapApplied)
    def _applied(self, message: RemapApplied) -> None:
        if message.error:
            self.notify(message.error, severity="error", timeout=10)
            return
        d = message.decision
        assert d is not None
        self.notify(f"decision {d.id}: {d.title} ({message.note})")
        self.dismiss(d)


def open_remap(host: Any, snapshot: Snapshot, conflict: Conflict, callback: Any = None) -> None:
    """Push the modal from a screen or the app; `callback(decision | None)` runs on close."""
    app = getattr(host, "app", host)
    config = getattr(app, "config", None) or Config()  # type: ignore[call-arg]
    state_dir = getattr(getattr(app, "args", None), "state_dir", None)
    app.push_screen(RemapModal(snapshot, conflict, config, state_dir), callback)
