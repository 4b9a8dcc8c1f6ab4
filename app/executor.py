"""The one executor: every Plan (remap, integration, undo) is applied here.

Guarantees (each one is exercised by tests/test_executor*.py and tests/test_crash.py):
- refuses when any file changed since it was read (sha256 of the old text);
- writes each file through temp file + fsync + rename, preserving mode and owner;
  a symlink stays a symlink: its target is written (refused outside the watched
  stacks unless `symlinks_outside_stacks: allow`);
- keeps a backup of every file it replaces, in the state directory;
- write-ahead decision: the decision is stored as "pending" before the first file
  is replaced and marked "applied" (with the registry) after the last; a state
  store that cannot take it refuses before any file is touched;
- all-or-nothing: a failure restores every file it replaced; a process killed
  mid-apply is finished by the next `portside recover`/`remap`/`undo` from its
  journal (app.journal), which never overwrites a file edited since;
- holds an exclusive lock so two portside processes never interleave;
- creates secret files 0600;
- every OS error is one line: the file, the operation, the fix.
"""

from __future__ import annotations

import contextlib
import difflib
import getpass
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portside.app.errors import ApplyError, StaleFileError, StateError
from portside.app.fileops import (
    checkpoint,
    copy_durably,
    fsync_path,
    os_error_line,
    real_target,
    restore_from,
    sha256_file,
    sha256_text,
    temp_path,
    write_temp,
)
from portside.app.journal import apply_lock, recover_locked, remove_journal, write_journal
from portside.app.models import Decision, DockerAction, FileEdit, Plan, PortMove, utcnow
from portside.app.state import State

__all__ = ["ApplyResult", "apply_plan", "render_diff", "sha256_file", "sha256_text"]


def actor() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in a container
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


# ---------------------------------------------------------------------------- diff


def render_diff(plan: Plan) -> str:
    """The plan as a unified diff; secret files are summarised, never shown."""
    chunks: list[str] = []
    for edit in plan.edits:
        chunks.append(edit_diff(edit))
    for action in plan.actions:
        chunks.append(f"# then: {describe_action(action)}\n")
    return "".join(chunks)


def edit_diff(edit: FileEdit) -> str:
    path = Path(edit.path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if edit.secret:
        verb = "delete" if edit.delete else ("create" if not path.exists() else "replace")
        size = 0 if edit.delete else len(edit.new_text.encode())
        mode = oct(edit.mode) if edit.mode is not None else "0o600"
        return f"# {verb} secret file {edit.path} ({size} bytes, mode {mode}, contents hidden)\n"
    new = "" if edit.delete else edit.new_text
    a = f"a/{edit.path.lstrip('/')}" if path.exists() else "/dev/null"
    b = "/dev/null" if edit.delete else f"b/{edit.path.lstrip('/')}"
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), a, b
    )
    out = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return out


def describe_action(action: DockerAction) -> str:
    svcs = " ".join(action.services)
    return action.description or f"docker compose up -d {svcs} (in {action.project_dir})"


# --------------------------------------------------------------------------- apply


@dataclass
class ApplyResult:
    decision: Decision
    written: list[str] = field(default_factory=list)
    backups: dict[str, str | None] = field(default_factory=dict)
    action_results: list[tuple[DockerAction, bool, str]] = field(default_factory=list)


@dataclass
class LinkPolicy:
    """Where symlinked files may point: under `roots` (the watched stacks) or anywhere if allowed."""

    roots: list[Path] = field(default_factory=list)
    allow_outside: bool = False


def apply_plan(
    plan: Plan,
    state: State,
    *,
    run_actions: bool = True,
    registry: dict[str, PortMove] | None = None,
    undo_of: int | None = None,
    links: LinkPolicy | None = None,
    lock_timeout: float = 30.0,
    _before_write: Callable[[int, FileEdit], None] | None = None,
) -> ApplyResult:
    """Apply `plan` atomically and record it as a decision. Raises ApplyError (one line), changing nothing.

    `registry`: assignments the decision makes; `undo_of`: the decision this one undoes (its
    registry rows and port history are restored when this one is marked applied).
    """
    links = links or LinkPolicy()
    with apply_lock(state.dir, lock_timeout):
        reals = [real_target(e.path, links.roots, links.allow_outside) for e in plan.edits]
        left, lines = recover_locked(state, paths={*reals, *(e.path for e in plan.edits)})
        if left:
            raise ApplyError(lines[-1])
        _check_fresh(plan)
        jid = f"{utcnow():%Y%m%dT%H%M%S%f}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        entries = _entries(plan, reals, state.dir / "backups" / jid, jid)
        journal: dict[str, Any] = {
            "id": jid, "phase": "staging", "decision": None, "title": plan.title, "undo_of": undo_of,
            "registry": {k: m.model_dump(mode="json") for k, m in (registry or {}).items()}, "files": entries,
        }
        write_journal(state.dir, journal)
        did: int | None = None
        replaced: list[dict[str, Any]] = []
        try:
            backups = _stage(plan, entries, state.dir / "backups" / jid)
            checkpoint("staged")
            decision = Decision(
                actor=actor(), kind=plan.kind, title=plan.title, reason=plan.reason, moves=plan.moves,
                diff=render_diff_from_backups(plan, backups), files=[e.path for e in plan.edits],
                backups=backups, hashes={e["path"]: e["written"] for e in entries}, status="pending",
            )
            try:
                did = state.add_decision(decision, status="pending", journal=jid)
            except StateError as exc:
                raise ApplyError(f"{exc}; nothing was changed") from None
            checkpoint("decision-pending")
            write_journal(state.dir, {**journal, "phase": "commit", "decision": did})
            checkpoint("journal-commit")
            for i, (edit, entry) in enumerate(zip(plan.edits, entries, strict=True)):
                if _before_write is not None:
                    _before_write(i, edit)
                _replace(entry)
                replaced.append(entry)
                checkpoint(f"replaced-{i}")
        except BaseException as exc:
            raise _roll_back(state, jid, did, entries, replaced, exc) from None
        results = [(a, *run_docker_action(a)) for a in plan.actions] if run_actions else []
        decision = decision.model_copy(update={
            "id": did, "status": "applied",
            "actions": [f"{describe_action(a)}: {'ok' if ok else 'failed'} {msg}".strip() for a, ok, msg in results]})
        try:
            state.finish_decision(did, assignments=registry, undo_of=undo_of, body=decision)  # type: ignore[arg-type]
        except StateError as exc:
            raise ApplyError(
                f"{exc}; the files were changed and are recorded as pending decision {did} — "
                "run `portside recover` once the state store can write"
            ) from None
        checkpoint("finished")
        remove_journal(state.dir, jid)
        checkpoint("journal-removed")
        return ApplyResult(decision=decision, written=[e.path for e in plan.edits], backups=backups,
                           action_results=results)


def _entries(plan: Plan, reals: list[str], backup_dir: Path, jid: str) -> list[dict[str, Any]]:
    out = []
    for i, (edit, real) in enumerate(zip(plan.edits, reals, strict=True)):
        exists = os.path.exists(real)
        out.append({
            "path": edit.path, "real": real, "before": edit.old_sha256,
            "written": None if edit.delete else sha256_text(edit.new_text),
            "temp": None if edit.delete else str(temp_path(real, jid)),
            "backup": str(backup_dir / f"{i:03d}-{Path(edit.path).name}") if exists else None,
        })
    return out


@contextlib.contextmanager
def _doing(op: str, path: str | Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise ApplyError(os_error_line(exc, op, path)) from None


def _stage(plan: Plan, entries: list[dict[str, Any]], backup_dir: Path) -> dict[str, str | None]:
    """Back up every old file (state dir), write every new one to a temp file beside its target."""
    backups: dict[str, str | None] = {}
    for edit, entry in zip(plan.edits, entries, strict=True):
        if entry["backup"]:
            with _doing("write its backup", entry["backup"]):
                backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                copy_durably(Path(entry["real"]), Path(entry["backup"]))
        backups[edit.path] = entry["backup"]
        if entry["temp"]:
            with _doing("write a temp file beside it", entry["real"]):
                write_temp(
                    Path(entry["real"]), edit.new_text, edit.mode, secret=edit.secret, tag=backup_dir.name,
                    owner=None if edit.uid is None else (edit.uid, edit.gid),
                )
    if any(backups.values()):
        with _doing("sync the backups", backup_dir):
            fsync_path(backup_dir)
    return backups


def _replace(entry: dict[str, Any]) -> None:
    with _doing("replace" if entry["temp"] else "delete", entry["real"]):
        if entry["temp"] is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry["real"])
        else:
            os.replace(entry["temp"], entry["real"])
        fsync_path(Path(entry["real"]).parent)


def _roll_back(state: State, jid: str, did: int | None, entries: list[dict[str, Any]],
               replaced: list[dict[str, Any]], exc: BaseException) -> BaseException:
    """Undo what this apply replaced (only files still holding what it wrote); the error to raise."""
    failed = ""
    for entry in reversed(replaced):
        if sha256_file(entry["real"]) != entry["written"]:
            continue
        try:
            if entry["backup"]:
                restore_from(entry["backup"], entry["real"])
            else:
                os.unlink(entry["real"])
        except OSError as e:
            failed = os_error_line(e, "restore", entry["real"], tail="its journal stays; run `portside recover`")
    for entry in entries:
        if entry["temp"]:
            with contextlib.suppress(OSError):
                os.unlink(entry["temp"])
    if not failed:
        if did is not None:
            with contextlib.suppress(StateError):
                state.set_decision_status(did, "rolled-back")
        remove_journal(state.dir, jid)
    if isinstance(exc, ApplyError):
        return ApplyError(f"{exc}; {failed}") if failed else exc
    if isinstance(exc, OSError):
        return ApplyError(os_error_line(exc, "write", getattr(exc, "filename", None) or "the plan"))
    return exc


def render_diff_from_backups(plan: Plan, backups: dict[str, str | None]) -> str:
    """The diff of what was applied (old text read from the backups)."""
    out: list[str] = []
    for edit in plan.edits:
        if edit.secret:
            out.append(f"# wrote secret file {edit.path} (contents hidden)\n")
            continue
        b = backups.get(edit.path)
        old = Path(b).read_text(encoding="utf-8") if b else ""
        new = "" if edit.delete else edit.new_text
        out.append(
            "".join(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"a/{edit.path.lstrip('/')}" if b else "/dev/null",
                    "/dev/null" if edit.delete else f"b/{edit.path.lstrip('/')}",
                )
            )
        )
    return "".join(out)


def check_plan(plan: Plan) -> None:
    """What apply refuses before writing anything (a file edited twice, a file changed since
    it was read); a dry run calls this too, so it refuses exactly what apply would."""
    _check_fresh(plan)


def _check_fresh(plan: Plan) -> None:
    seen: set[str] = set()
    for edit in plan.edits:
        if edit.path in seen:
            raise ApplyError(f"{edit.path}: the plan edits this file twice; merge the edits")
        seen.add(edit.path)
        try:
            current = sha256_file(edit.path)
        except OSError as exc:
            raise ApplyError(os_error_line(exc, "read", edit.path)) from None
        if current != edit.old_sha256:
            what = "was created" if edit.old_sha256 is None else (
                "was removed" if current is None else "was changed"
            )
            raise StaleFileError(
                f"{edit.path}: {what} since portside read it; nothing was written — re-run to plan again"
            )


# ------------------------------------------------------------------ docker actions


def compose_command() -> list[str] | None:
    """`docker compose` when the plugin exists, else `docker-compose`, else None."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def run_docker_action(action: DockerAction, timeout: float = 300.0) -> tuple[bool, str]:
    cmd = compose_command()
    if cmd is None:
        return False, "neither `docker compose` nor `docker-compose` is installed"
    args = list(cmd)
    for f in action.compose_files:
        args += ["-f", f]
    args += ["up", "-d", "--no-deps", *action.services]
    try:
        proc = subprocess.run(
            args, cwd=action.project_dir, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout:.0f}s"
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
    return proc.returncode == 0, tail[0]
