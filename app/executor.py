"""The one executor: every Plan (remap, integration, undo) is applied here.

Guarantees:
- refuses when any file changed since it was read (sha256 of the old text);
- writes each file through temp file + fsync + rename, preserving mode and owner;
- keeps a timestamped backup of every file it replaces;
- applies a multi-file plan all-or-nothing: a failure restores every file, and a
  process killed mid-apply is rolled back by the next apply (journal);
- holds an exclusive lock so two portside processes never interleave;
- creates secret files 0600;
- records the applied plan as a Decision in the state store.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import getpass
import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from portside.app.errors import ApplyError, StaleFileError
from portside.app.models import Decision, DockerAction, FileEdit, Plan, PortMove, utcnow
from portside.app.state import State

LOCK_NAME = "apply.lock"
JOURNAL_NAME = "apply.journal"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


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


def apply_plan(
    plan: Plan,
    state: State,
    *,
    run_actions: bool = True,
    registry: dict[str, PortMove] | None = None,
    lock_timeout: float = 30.0,
    _before_write: Callable[[int, FileEdit], None] | None = None,
) -> ApplyResult:
    """Apply `plan` atomically and record it as a decision. Raises ApplyError, changing nothing."""
    with _lock(state.dir, lock_timeout):
        recover(state.dir)
        _check_fresh(plan)
        backups, written = _write_all(plan, state.dir, _before_write)
        hashes = {e.path: sha256_file(e.path) for e in plan.edits}
        results = []
        if run_actions:
            results = [(a, *run_docker_action(a)) for a in plan.actions]
        decision = Decision(
            actor=actor(),
            kind=plan.kind,
            title=plan.title,
            reason=plan.reason,
            moves=plan.moves,
            diff=render_diff_from_backups(plan, backups),
            files=[e.path for e in plan.edits],
            backups=backups,
            hashes=hashes,
            actions=[f"{describe_action(a)}: {'ok' if ok else 'failed'} {msg}".strip() for a, ok, msg in results],
        )
        did = state.add_decision(decision, assignments=registry)
        decision = decision.model_copy(update={"id": did})
        return ApplyResult(decision=decision, written=written, backups=backups, action_results=results)


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
        current = sha256_file(edit.path)
        if current != edit.old_sha256:
            what = "was created" if edit.old_sha256 is None else (
                "was removed" if current is None else "was changed"
            )
            raise StaleFileError(
                f"{edit.path}: {what} since portside read it; nothing was written — re-run to plan again"
            )


def _write_all(
    plan: Plan, state_dir: Path, before_write: Callable[[int, FileEdit], None] | None
) -> tuple[dict[str, str | None], list[str]]:
    """Stage every file, then rename them into place; all-or-nothing, even across a SIGKILL.

    The journal is written before anything touches the disk and says which
    phase we are in: while staging only temp files and backups exist (the
    targets are untouched, recovery deletes the temps); from "commit" on, the
    backups are complete and fsynced, so recovery restores every target.
    `before_write(i, edit)` runs right before target i is replaced (tests inject faults there).
    """
    stamp = utcnow().strftime("%Y%m%dT%H%M%S.%fZ")
    backup_dir = state_dir / "backups" / stamp
    backups: dict[str, str | None] = {}
    temps: list[tuple[FileEdit, Path | None]] = []
    journal = state_dir / JOURNAL_NAME
    planned = [str(_temp_path(Path(e.path))) for e in plan.edits]
    phase = "staging"
    _write_json_atomic(journal, {"phase": phase, "temps": planned, "backups": {}})
    try:
        # 1. stage: back up every old file, write every new one to a temp file beside it
        for i, edit in enumerate(plan.edits):
            target = Path(edit.path)
            if target.exists():
                backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                b = backup_dir / f"{i:03d}-{target.name}"
                shutil.copy2(target, b)
                _fsync_path(b)
                backups[edit.path] = str(b)
            else:
                backups[edit.path] = None
            temps.append((edit, None if edit.delete else _write_temp(edit)))
        if backups and any(backups.values()):
            _fsync_path(backup_dir)
        # 2. journal: from here on a crash is rolled back from the backups
        phase = "commit"
        _write_json_atomic(journal, {"phase": phase, "temps": planned, "backups": backups})
        # 3. commit: renames are atomic one by one; the journal covers the window between them
        for i, (edit, tmp) in enumerate(temps):
            if before_write is not None:
                before_write(i, edit)
            if tmp is None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(edit.path)
            else:
                os.replace(tmp, edit.path)
            _fsync_path(Path(edit.path).parent)
        journal.unlink()
        _fsync_path(state_dir)
    except BaseException as exc:
        for p in planned:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        if phase == "commit":
            _restore(backups)
        with contextlib.suppress(FileNotFoundError):
            journal.unlink()
        if isinstance(exc, OSError):
            raise ApplyError(f"{getattr(exc, 'filename', '') or 'write'}: {exc.strerror or exc}; nothing was changed") from None
        raise
    return backups, [e.path for e in plan.edits]


def _temp_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.portside-{os.getpid()}.tmp")


def _fsync_path(path: Path) -> None:
    """fsync a file or a directory (a rename is durable once its directory is synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(edit: FileEdit) -> Path:
    target = Path(edit.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    st = target.stat() if target.exists() else None
    mode = edit.mode if edit.mode is not None else (st.st_mode & 0o7777 if st else 0o644)
    if edit.secret and edit.mode is None:
        mode = 0o600
    tmp = _temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, edit.new_text.encode("utf-8"))
        os.fsync(fd)
        os.fchmod(fd, mode)
        if edit.uid is not None:  # a container's documented user must read it (the plan strips this unless root)
            os.fchown(fd, edit.uid, -1 if edit.gid is None else edit.gid)
        elif st is not None:
            with contextlib.suppress(PermissionError):
                os.fchown(fd, st.st_uid, st.st_gid)
    finally:
        os.close(fd)
    return tmp


def _restore(backups: dict[str, str | None]) -> None:
    for path, backup in backups.items():
        if backup is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        else:
            tmp = Path(path).with_name(f".{Path(path).name}.portside-restore.tmp")
            shutil.copy2(backup, tmp)
            _fsync_path(tmp)
            os.replace(tmp, path)


def recover(state_dir: Path) -> bool:
    """Roll back an apply that was killed between its renames. True if it did."""
    journal = state_dir / JOURNAL_NAME
    if not journal.exists():
        return False
    try:
        data = json.loads(journal.read_text(encoding="utf-8"))
    except ValueError:  # torn journal: written atomically, so this is not ours to act on
        data = {}
    for p in data.get("temps", []):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)
    if data.get("phase", "commit") == "commit":
        _restore(data.get("backups", {}))
    journal.unlink()
    return True


def _write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


@contextlib.contextmanager
def _lock(state_dir: Path, timeout: float) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ApplyError(
                        f"{state_dir / LOCK_NAME}: another portside is applying a plan; try again when it is done"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


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
