"""The generic integration flow, shared by `portside integrate`, `--auto` and the wizard.

    settings (stored < portside.yaml `integrations.KIND` < --set / wizard form)
      -> scope (compose project of --project-dir, else "global") -> PlanContext
      -> integrator.plan (pure) -> unchanged files dropped -> preview (diff)
      -> app.executor.apply_plan (kind "integration:KIND") -> IntegrationRecord
      -> integrator.verify -> record status active / error

Re-applying identical settings produces no edits and writes nothing. Every
non-secret file written is also kept (content-addressed) under
`<state_dir>/integrations/blobs/`, so a hand edit shows as `drifted` with a
diff; secret files show as drifted without contents. No Textual import.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from portside.app.config import Config
from portside.app.errors import PortsideError
from portside.app.executor import apply_plan, check_plan, render_diff, sha256_file, sha256_text
from portside.app.models import (
    FileEdit,
    IntegrationRecord,
    IntegrationStatus,
    Plan,
    Snapshot,
    WrittenFile,
    utcnow,
)
from portside.app.state import State
from portside.integrators.base import (
    Check,
    Integrator,
    PlanContext,
    load_integrators,
    redacted_settings,
)
from portside.integrators.override import project_compose_files
from portside.integrators.settings import (  # noqa: F401  (re-exported: the engine is the one entry point)
    GLOBAL,
    RESERVED_KEYS,
    SETTINGS_KEY,
    SettingsError,
    config_section,
    deep_merge,
    default_project_dir,
    initial_settings,
    parse_sets,
    resolve_settings,
    scoped_snapshot,
    stored_settings,
    suggestions,
    validate_settings,
)


@dataclass
class Prepared:
    """Everything between settings and apply: the plan (unchanged files dropped) and its preview."""

    integrator: Integrator
    settings: BaseModel
    ctx: PlanContext
    plan: Plan
    owned: list[WrittenFile]  # every file the integration owns (changed or not)
    secrets: dict[str, str]
    blobs: dict[str, str] = field(default_factory=dict)  # sha256 -> text of non-secret owned files

    @property
    def kind(self) -> str:
        return self.integrator.kind

    @property
    def diff(self) -> str:
        return render_diff(self.plan)


@dataclass
class Outcome:
    record: IntegrationRecord
    noop: bool
    written: list[str] = field(default_factory=list)
    decision_id: int | None = None
    live: list[str] = field(default_factory=list)  # what an integrator's live_apply did (e.g. Keycloak API)


@dataclass(frozen=True)
class FileDrift:
    path: str
    change: str  # "changed" | "missing"
    diff: str = ""  # empty for secret files


# ------------------------------------------------------------------ integrators


def get_integrator(kind: str) -> Integrator:
    found = load_integrators()
    if kind not in found:
        known = ", ".join(sorted(found)) or "none"
        raise PortsideError(f"unknown integration '{kind}' (known: {known})")
    return found[kind]


# ------------------------------------------------------------------------ scope


def compose_project_name(project_dir: Path) -> str:
    env = project_dir / ".env"
    if env.is_file():
        m = re.search(r"^\s*COMPOSE_PROJECT_NAME\s*=\s*['\"]?([^'\"\s]+)", env.read_text(), re.M)
        if m:
            return m.group(1)
    return re.sub(r"[^a-z0-9_-]", "", project_dir.name.lower())


def make_context(
    integrator: Integrator,
    snapshot: Snapshot,
    state: State,
    config: Config,
    project_dir: str | Path | None = None,
) -> PlanContext:
    """Scope and output dir: the compose project of `project_dir` (or config's), else global."""
    kind = integrator.kind
    section = config_section(config, kind)
    pdir = project_dir or section.get("project_dir")
    compose_files: tuple[str, ...] = ()
    if pdir:
        p = Path(os.path.expanduser(str(pdir))).resolve()
        if not p.is_dir():
            raise PortsideError(f"{p}: project directory not found (check --project-dir)")
        proj = next((pr for pr in snapshot.projects if Path(pr.project_dir).resolve() == p), None)
        scope = proj.name if proj else compose_project_name(p)
        compose_files = tuple(proj.compose_files) if proj else tuple(project_compose_files(p))
        default_out = p / "portside"
    else:
        p, scope, default_out = None, GLOBAL, state.dir / "integrations" / kind
    out = section.get("output_dir")
    output_dir = Path(os.path.expanduser(str(out))).resolve() if out else default_out
    secrets = {k: v for k, v in state.integration_secrets(kind, scope).items() if k != SETTINGS_KEY}
    others = {}
    for other in config.integrations:
        if other != kind:
            others[other] = deep_merge(stored_settings(state, other, scope), config_section(config, other))
    return PlanContext(scope=scope, output_dir=output_dir, secrets=secrets, project_dir=p,
                       other_settings=others, compose_files=compose_files)


# ------------------------------------------------------------------- plan/apply


def prepare(integrator: Integrator, snapshot: Snapshot, settings: BaseModel, ctx: PlanContext) -> Prepared:
    """Run the integrator's plan on the scope's snapshot; drop edits whose file already has
    that content. Refuses (ApplyError) what apply would refuse, so a dry run refuses it too."""
    plan, secrets = integrator.plan(scoped_snapshot(snapshot, ctx.scope), settings, ctx)
    plan = _owners_we_can_set(plan)
    check_plan(plan)
    owned: list[WrittenFile] = []
    blobs: dict[str, str] = {}
    changed = []
    out_dir = str(ctx.output_dir)
    for edit in plan.edits:
        new_hash = sha256_text(edit.new_text)
        if edit.path.startswith(out_dir + os.sep) and not edit.delete:  # a deleted file is no longer owned
            owned.append(WrittenFile(path=edit.path, sha256=new_hash, secret=edit.secret))
            if not edit.secret:
                blobs[new_hash] = edit.new_text
        if edit.delete or sha256_file(edit.path) != new_hash or _meta_differs(edit):
            changed.append(edit)
    plan = plan.model_copy(update={"edits": changed, "kind": f"integration:{integrator.kind}"})
    return Prepared(integrator, settings, ctx, plan, owned, {**ctx.secrets, **secrets}, blobs)


def _meta_differs(edit: FileEdit) -> bool:
    if not os.path.exists(edit.path):
        return False
    st = os.stat(edit.path)
    return ((edit.mode is not None and (st.st_mode & 0o7777) != edit.mode)
            or (edit.uid is not None and st.st_uid != edit.uid)
            or (edit.gid is not None and st.st_gid != edit.gid))


def _owners_we_can_set(plan: Plan) -> Plan:
    """Only root may give a file to a container's user: otherwise keep our own owner and say
    what the user has to run so the container can read it."""
    euid = os.geteuid()
    if euid == 0 or all(e.uid in (None, euid) for e in plan.edits):
        return plan
    edits, warnings = [], list(plan.warnings)
    for e in plan.edits:
        if e.uid not in (None, euid):
            warnings.append(f"{e.path}: the container reads it as uid {e.uid}; portside is not root, so run "
                            f"`sudo chown {e.uid}:{e.gid if e.gid is not None else e.uid} {e.path}` after applying")
            e = e.model_copy(update={"uid": None, "gid": None})
        edits.append(e)
    return plan.model_copy(update={"edits": edits, "warnings": warnings})


def apply(
    prepared: Prepared,
    state: State,
    progress: Callable[[str], None] | None = None,
    config: Config | None = None,
) -> Outcome:
    """Apply through the one executor and write the record; no edits -> no-op."""
    kind, scope = prepared.kind, prepared.ctx.scope
    say = progress or (lambda _msg: None)
    prev = state.integration(kind, scope)
    settings_json = json.dumps(prepared.settings.model_dump(mode="json"), sort_keys=True)
    keep = {**prepared.secrets, SETTINGS_KEY: settings_json}
    if keep != state.integration_secrets(kind, scope):
        state.put_integration_secrets(kind, scope, keep)
    redacted = redacted_settings(prepared.settings)
    if prepared.plan.empty and prev is not None and prev.files == prepared.owned and prev.settings == redacted:
        say("no changes")
        return Outcome(record=prev, noop=True, live=_live_apply(prepared, say))
    _keep_blobs(state, prepared.blobs)
    decision_id = None
    written: list[str] = []
    if not prepared.plan.empty:
        say(f"writing {len(prepared.plan.edits)} file(s)")
        result = apply_plan(prepared.plan, state, run_actions=False)
        decision_id, written = result.decision.id, result.written
    live = _live_apply(prepared, say)
    say("recording")
    files_changed = prev is None or prev.files != prepared.owned or bool(written)
    record = IntegrationRecord(
        kind=kind,
        scope=scope,
        status=IntegrationStatus.CONFIGURING if files_changed or prev is None else prev.status,
        settings=redacted,
        files=prepared.owned,
        health=None if files_changed else (prev.health if prev else None),
        applied_at=utcnow() if files_changed or prev is None else prev.applied_at,
        version=(prev.version if prev else 0) + (1 if files_changed else 0),
    )
    state.put_integration(record)
    if written:
        from portside.app.events import INTEGRATION_APPLIED, record_event

        record_event(
            state,
            config,
            INTEGRATION_APPLIED,
            message=f"{kind} applied to {scope} (version {record.version}, {len(written)} file(s))",
            integration=kind,
            scope=scope,
            version=record.version,
            files=written,
        )
    return Outcome(record=record, noop=False, written=written, decision_id=decision_id, live=live)


def _live_apply(prepared: Prepared, say: Callable[[str], None]) -> list[str]:
    """An integrator's optional `live_apply(settings, ctx) -> [what it did]`: changes made
    through a running service's API (not files), after the files are written. Idempotent."""
    hook = getattr(prepared.integrator, "live_apply", None)
    if hook is None:
        return []
    say("applying through the service's API")
    try:
        return list(hook(prepared.settings, prepared.ctx))
    except PortsideError:
        raise
    except Exception as exc:
        raise PortsideError(f"{prepared.kind}: live apply failed: {exc}; the files were written") from None


def verify(prepared: Prepared, snapshot: Snapshot, state: State) -> list[Check]:
    """Run the integrator's checks and set the record's status (active / error) and health."""
    ctx = prepared.ctx
    ctx = PlanContext(scope=ctx.scope, output_dir=ctx.output_dir, secrets=prepared.secrets,
                      project_dir=ctx.project_dir, other_settings=ctx.other_settings,
                      compose_files=ctx.compose_files)
    try:
        checks = prepared.integrator.verify(scoped_snapshot(snapshot, ctx.scope), prepared.settings, ctx)
    except Exception as exc:  # a verify that crashes is a failed check, not a crash
        checks = [Check("verify", False, f"{type(exc).__name__}: {exc}")]
    record = state.integration(prepared.kind, ctx.scope)
    if record is not None and record.files:
        ok = all(c.ok for c in checks)
        failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
        record = record.model_copy(update={
            "status": IntegrationStatus.ACTIVE if ok else IntegrationStatus.ERROR,
            "health": f"{sum(c.ok for c in checks)}/{len(checks)} checks ok at {utcnow():%Y-%m-%d %H:%M}Z",
            "error": "; ".join(failed)[:500] or None,
        })
        state.put_integration(record)
    return checks


# ------------------------------------------------------------------------ drift


def _blob_dir(state: State) -> Path:
    return state.dir / "integrations" / "blobs"


def _keep_blobs(state: State, blobs: dict[str, str]) -> None:
    d = _blob_dir(state)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    for sha, text in blobs.items():
        p = d / sha
        if not p.exists():
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)


def drift(record: IntegrationRecord, state: State) -> list[FileDrift]:
    """Files whose content on disk differs from what the record says was written."""
    out = []
    for f in record.files:
        current = sha256_file(f.path)
        if current == f.sha256:
            continue
        if current is None:
            out.append(FileDrift(f.path, "missing"))
            continue
        diff = ""
        blob = _blob_dir(state) / f.sha256
        if not f.secret and blob.exists():
            old = blob.read_text(encoding="utf-8")
            new = Path(f.path).read_text(encoding="utf-8", errors="replace")
            diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                f"portside/{Path(f.path).name}", f.path))
        out.append(FileDrift(f.path, "changed", diff))
    return out


def with_drift(record: IntegrationRecord, state: State) -> tuple[IntegrationRecord, list[FileDrift]]:
    """The record as it stands now: status `drifted` when any written file changed."""
    d = drift(record, state)
    if d:
        record = record.model_copy(update={"status": IntegrationStatus.DRIFTED})
    return record, d


# ------------------------------------------------------------------ convenience


def enabled_kinds(config: Config) -> list[str]:
    """Kinds the config enables: every `integrations:` section unless `enabled: false`."""
    return [k for k, v in config.integrations.items() if (v or {}).get("enabled", True) is not False]


def prepare_kind(
    kind: str,
    snapshot: Snapshot,
    config: Config,
    state: State,
    *,
    project_dir: str | Path | None = None,
    sets: dict[str, Any] | None = None,
) -> Prepared:
    """Settings + scope + plan for `kind` in one call (what the CLI and --auto use)."""
    integrator = get_integrator(kind)
    ctx = make_context(integrator, snapshot, state, config, project_dir)
    settings = resolve_settings(integrator, config, state, ctx.scope, sets, suggestions(integrator, snapshot, ctx))
    return prepare(integrator, snapshot, settings, ctx)
