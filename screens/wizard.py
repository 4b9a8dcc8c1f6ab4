"""WizardScreen: one generic wizard for any integrator — form, diff preview, apply, verify.

The form is generated from the integrator's pydantic `Settings` (integrators.forms):
labels from field titles, help from descriptions, errors inline as you type.
Ctrl+N previews every file as a diff (secret files summarised, never shown),
Ctrl+S applies through the one executor with a progress bar and then runs the
integrator's verify; Ctrl+T verifies again. All I/O runs in thread workers.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.syntax import Syntax
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Checkbox,
    ContentSwitcher,
    Footer,
    Input,
    Label,
    ProgressBar,
    Select,
    Static,
    TextArea,
)

from portside.app.config import Config
from portside.app.models import Snapshot
from portside.integrators import engine, forms
from portside.integrators.base import Check, Integrator

PROJECT = "__project_dir"
STEPS = ("form", "preview", "result")
APPLY_STEPS = 4  # plan checked, files written, record kept, verified


class FormLoaded(Message):
    def __init__(self, data: dict[str, Any], project_dir: str | None) -> None:
        super().__init__()
        self.data, self.project_dir = data, project_dir


class PreviewReady(Message):
    def __init__(self, prepared: engine.Prepared | None, error: str | None) -> None:
        super().__init__()
        self.prepared, self.error = prepared, error


class ApplyProgressed(Message):
    def __init__(self, text: str, advance: int = 1) -> None:
        super().__init__()
        self.text, self.advance = text, advance


class VerifyFinished(Message):
    def __init__(self, checks: list[Check], error: str | None = None) -> None:
        super().__init__()
        self.checks, self.error = checks, error


class WizardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "preview", "Preview", id="wizard_preview", priority=True),
        Binding("ctrl+s", "apply", "Apply", id="wizard_apply", priority=True),
        Binding("ctrl+t", "verify", "Verify", id="wizard_verify", priority=True),
        Binding("ctrl+b", "back", "Back", id="wizard_back", priority=True),
        Binding("escape", "close", "Close", id="wizard_close"),
    ]

    def __init__(self, integrator: Integrator, snapshot: Snapshot, config: Config,
                 state_dir: str | None = None) -> None:
        super().__init__()
        self.integrator, self.snapshot, self.config, self.state_dir = integrator, snapshot, config, state_dir
        self.specs = forms.form_fields(integrator.Settings)
        self.previous: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.prepared: engine.Prepared | None = None
        self.busy = False

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(self._title("form"), id="wizard-title")
        with ContentSwitcher(initial="form", id="wizard-steps"):
            with VerticalScroll(id="form"):
                yield Label("Project directory (empty: global scope)", classes="field-label")
                yield Input(id=f"f-{PROJECT}", placeholder="/srv/stacks/myproject")
                yield Static("Files go to <dir>/portside/ and the compose override is picked up via .env.",
                             classes="field-help")
                for spec in self.specs:
                    yield from self._field(spec)
                yield Static("", id="e-", classes="field-error")
            with Vertical(id="preview"):
                yield Static("", id="preview-summary")
                with VerticalScroll(id="preview-scroll"):
                    yield Static("", id="preview-diff")
            with Vertical(id="result"):
                yield ProgressBar(total=APPLY_STEPS, id="apply-progress", show_eta=False)
                yield Static("", id="apply-status")
                with VerticalScroll(id="verify-scroll"):
                    yield Static("", id="verify-results")
        yield Footer()

    def _field(self, spec: forms.FieldSpec) -> ComposeResult:
        fid = f"f-{spec.name}"
        star = " *" if spec.required else ""
        if spec.kind == "bool":
            yield Checkbox(spec.title, id=fid)
        else:
            yield Label(spec.title + star, classes="field-label")
            if spec.kind == "choice":
                yield Select([(c, c) for c in spec.choices], id=fid, allow_blank=not spec.required)
            elif spec.kind == "yaml":
                yield TextArea("", id=fid, classes="field-yaml", tab_behavior="focus")
            else:
                yield Input(id=fid, password=spec.kind == "secret",
                            placeholder="a, b, c" if spec.kind == "list" else "")
        if spec.help:
            yield Static(spec.help, classes="field-help")
        yield Static("", id=f"e-{spec.name}", classes="field-error")

    def _title(self, step: str) -> str:
        names = ("settings", "preview", "apply + verify")
        marks = [f"[reverse] {i + 1} {n} [/]" if STEPS[i] == step else f" {i + 1} {n} "
                 for i, n in enumerate(names)]
        return f"[b]{self.integrator.title}[/b]  " + "›".join(marks)

    def _step(self, step: str) -> None:
        self.query_one(ContentSwitcher).current = step
        self.query_one("#wizard-title", Static).update(self._title(step))

    @property
    def step(self) -> str:
        return self.query_one(ContentSwitcher).current or "form"

    # -------------------------------------------------------------------- form

    def on_mount(self) -> None:
        self.load_form()

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard-load", description="load settings")
    def load_form(self) -> None:
        from portside.app.state import State

        with State(self.state_dir) as state:
            pdir = engine.default_project_dir(self.integrator, self.snapshot)
            ctx = engine.make_context(self.integrator, self.snapshot, state, self.config, pdir)
            data = engine.initial_settings(self.integrator, self.snapshot, self.config, state, ctx)
        self.post_message(FormLoaded({**forms.defaults(self.integrator.Settings), **data}, pdir))

    @on(FormLoaded)
    def _form_loaded(self, message: FormLoaded) -> None:
        self.previous = message.data
        self.query_one(f"#f-{PROJECT}", Input).value = message.project_dir or ""
        for spec in self.specs:
            value = forms.to_form(spec, message.data.get(spec.name), self.integrator.Settings)
            w = self.query_one(f"#f-{spec.name}")
            if isinstance(w, Checkbox):
                w.value = bool(value)
            elif isinstance(w, Select):
                w.value = value if value in spec.choices else Select.BLANK
            elif isinstance(w, TextArea):
                w.load_text(str(value))
            elif isinstance(w, Input):
                w.value = str(value)
        self.validate_form()
        self.query_one(f"#f-{PROJECT}", Input).focus()

    def raw_values(self) -> dict[str, str | bool]:
        raw: dict[str, str | bool] = {}
        for spec in self.specs:
            w = self.query_one(f"#f-{spec.name}")
            if isinstance(w, Checkbox):
                raw[spec.name] = w.value
            elif isinstance(w, Select):
                raw[spec.name] = "" if w.value is Select.BLANK else str(w.value)
            elif isinstance(w, TextArea):
                raw[spec.name] = w.text
            elif isinstance(w, Input):
                raw[spec.name] = w.value
        return raw

    def validate_form(self) -> dict[str, Any] | None:
        """Inline validation: every field's error under it; the data when all is well."""
        data, errors = forms.from_form(self.specs, self.raw_values(), self.previous)
        if not errors:
            _, errors = forms.validate(self.integrator.Settings, data)
        self.errors = errors
        for spec in self.specs:
            self.query_one(f"#e-{spec.name}", Static).update(errors.get(spec.name, ""))
        self.query_one("#e-", Static).update(errors.get("", ""))
        return None if errors else data

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(Select.Changed)
    @on(TextArea.Changed)
    def _changed(self) -> None:
        if self.previous or self.specs:
            self.prepared = None
            self.validate_form()

    # ----------------------------------------------------------------- preview

    def action_preview(self) -> None:
        if self.busy:
            return
        data = self.validate_form()
        if data is None:
            first = next((s.name for s in self.specs if s.name in self.errors), None)
            self.notify("fix the highlighted settings first", severity="warning")
            if first:
                self.query_one(f"#f-{first}").focus()
            return
        self._step("preview")
        self.query_one("#preview-summary", Static).update("planning…")
        self.query_one("#preview-diff", Static).update("")
        self.make_preview(data, self.query_one(f"#f-{PROJECT}", Input).value.strip() or None)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard-plan", description="plan integration")
    def make_preview(self, data: dict[str, Any], project_dir: str | None) -> None:
        from portside.app.errors import PortsideError
        from portside.app.state import State

        try:
            with State(self.state_dir) as state:
                ctx = engine.make_context(self.integrator, self.snapshot, state, self.config, project_dir)
                settings = engine.validate_settings(self.integrator, data, f"integrations.{self.integrator.kind}")
                prepared = engine.prepare(self.integrator, self.snapshot, settings, ctx)
        except PortsideError as exc:
            self.post_message(PreviewReady(None, str(exc)))
            return
        self.post_message(PreviewReady(prepared, None))

    @on(PreviewReady)
    def _preview_ready(self, message: PreviewReady) -> None:
        summary = self.query_one("#preview-summary", Static)
        if message.error or message.prepared is None:
            summary.update(f"[red]{message.error}[/red]  (Ctrl+B: back to the settings)")
            return
        self.prepared = p = message.prepared
        lines = [f"[b]{p.plan.title}[/b]", f"scope [b]{p.ctx.scope}[/b] · files in {p.ctx.output_dir}"]
        lines += [f"[yellow]warning:[/yellow] {w}" for w in p.plan.warnings]
        lines.append(f"{len(p.plan.edits)} file(s) change — Ctrl+S applies" if p.plan.edits
                     else "no changes: already applied with these settings — Ctrl+S records it, Ctrl+T verifies")
        summary.update("\n".join(lines))
        diff = self.query_one("#preview-diff", Static)
        diff.update(Syntax(p.diff, "diff", word_wrap=True, theme="ansi_dark") if p.diff else "")
        self.query_one("#preview-scroll").focus()

    # ------------------------------------------------------------ apply/verify

    def action_apply(self) -> None:
        if self.busy:
            return
        if self.step != "preview" or self.prepared is None:
            self.notify("preview first (Ctrl+N)", severity="warning")
            return
        self.busy = True
        self._step("result")
        bar = self.query_one(ProgressBar)
        bar.update(total=APPLY_STEPS, progress=0)
        self.query_one("#verify-results", Static).update("")
        self.apply_and_verify(self.prepared)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard-apply", description="apply integration")
    def apply_and_verify(self, prepared: engine.Prepared, apply: bool = True) -> None:
        from portside.app.errors import PortsideError
        from portside.app.state import State

        try:
            with State(self.state_dir) as state:
                if apply:
                    self.post_message(ApplyProgressed("plan checked"))
                    def progress(text: str) -> None:
                        self.post_message(ApplyProgressed(text))

                    outcome = engine.apply(prepared, state, progress=progress, config=self.config)
                    self.post_message(ApplyProgressed(
                        "no changes: already applied" if outcome.noop else
                        f"applied: {len(outcome.written)} file(s), record version {outcome.record.version}; verifying…",
                        APPLY_STEPS - 1 if outcome.noop else 0))
                checks = engine.verify(prepared, self.snapshot, state)
        except PortsideError as exc:
            self.post_message(VerifyFinished([], str(exc)))
            return
        self.post_message(VerifyFinished(checks))

    @on(ApplyProgressed)
    def _progressed(self, message: ApplyProgressed) -> None:
        self.query_one(ProgressBar).advance(message.advance)
        self.query_one("#apply-status", Static).update(message.text)

    @on(VerifyFinished)
    def _verified(self, message: VerifyFinished) -> None:
        self.busy = False
        bar = self.query_one(ProgressBar)
        bar.update(progress=APPLY_STEPS)
        out = self.query_one("#verify-results", Static)
        if message.error:
            out.update(f"[red]{message.error}[/red]")
            return
        lines = [f"[green]✓[/green] {c.name}: {c.detail}" if c.ok else f"[red]✗ {c.name}[/red]: {c.detail}"
                 for c in message.checks]
        ok = all(c.ok for c in message.checks)
        lines.append("[b green]verified[/]" if ok else "[b red]checks failed[/] — fix and Ctrl+T to verify again")
        out.update("\n".join(lines))

    def action_verify(self) -> None:
        if self.busy:
            return
        if self.prepared is None:
            self.notify("preview first (Ctrl+N): verify uses those settings", severity="warning")
            return
        self.busy = True
        self._step("result")
        self.query_one("#apply-status", Static).update("verifying…")
        self.apply_and_verify(self.prepared, apply=False)

    def action_back(self) -> None:
        if not self.busy and self.step != "form":
            self._step("form")

    def action_close(self) -> None:
        if not self.busy:
            self.dismiss(None)
