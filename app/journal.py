"""Apply journals: how an apply killed halfway is finished later, without ever losing newer edits.

One journal per apply, `STATE/journals/<id>.json`, written before any file is
touched. Per file it holds the path (and the symlink target written through),
the temp file, the backup, the sha256 before and the sha256 the apply writes.

- phase "staging": only temp files and backups exist; recovery deletes the
  temps and marks the pending decision rolled back.
- phase "commit": the decision is durable as "pending" and every temp file is
  complete; recovery finishes the apply: a file that still holds its "before"
  hash gets its temp file renamed in, a file that holds the written hash is
  done, and a file that holds anything else (a hand edit) is left alone and
  reported with its backup. Then the decision is marked applied.

A journal touches only its own files: resolving one never blocks or changes
another project. One that cannot be resolved (a read-only disk) stays, and
`portside recover` names it with the fix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from portside.app.errors import ApplyError, StateError
from portside.app.fileops import fsync_path, os_error_line, restore_from, sha256_file
from portside.app.models import PortMove
from portside.app.state import State

LOCK_NAME = "apply.lock"


def journal_dir(state_dir: Path) -> Path:
    return state_dir / "journals"


def write_journal(state_dir: Path, data: dict[str, Any]) -> Path:
    d = journal_dir(state_dir)
    path = d / f"{data['id']}.json"
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_path(d)
    except OSError as exc:
        with contextlib.suppress(OSError):
            path.with_suffix(".tmp").unlink()
        raise ApplyError(os_error_line(exc, "write the apply journal", path)) from None
    return path


def remove_journal(state_dir: Path, jid: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (journal_dir(state_dir) / f"{jid}.json").unlink()
    with contextlib.suppress(OSError):
        fsync_path(journal_dir(state_dir))


def journals(state_dir: Path) -> list[dict[str, Any]]:
    """Every journal left by an apply that did not finish (oldest first)."""
    out = []
    for p in sorted(journal_dir(state_dir).glob("*.json")):
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # written atomically: a torn one is not ours
            continue
        if isinstance(data, dict) and "id" in data:
            out.append(data)
    return out


@contextlib.contextmanager
def apply_lock(state_dir: Path, timeout: float) -> Iterator[None]:
    """One apply (or recovery) at a time per state directory."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ApplyError(os_error_line(exc, "open the apply lock", state_dir / LOCK_NAME)) from None
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


# ------------------------------------------------------------------ recovery


def recover(state: State, *, paths: set[str] | None = None, lock_timeout: float = 30.0) -> list[str]:
    """Resolve the journals (all, or those touching `paths`); one report line per outcome."""
    with apply_lock(state.dir, lock_timeout):
        return recover_locked(state, paths=paths)[1]


def recover_locked(state: State, *, paths: set[str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """As `recover`, under the caller's lock; returns (journals left unresolved, report lines)."""
    left, lines = [], []
    for data in journals(state.dir):
        if paths is not None and not paths & _paths(data):
            continue
        ok, out = resolve(state, data)
        lines += out
        if not ok:
            left.append(data)
    return left, lines


def _paths(data: dict[str, Any]) -> set[str]:
    return {f["path"] for f in data.get("files", [])} | {f["real"] for f in data.get("files", [])}


def resolve(state: State, data: dict[str, Any]) -> tuple[bool, list[str]]:
    """Finish (or, before any rename, roll back) one interrupted apply. (resolved, report lines)."""
    jid, did = data["id"], data.get("decision")
    what = f"decision {did}" if did else f"apply {jid}"
    lines: list[str] = []
    where = ["resolve the journal", str(journal_dir(state.dir) / f"{jid}.json")]
    try:
        if data.get("phase") != "commit" or did is None:
            _remove_temps(data)
            state.set_decision_status(status="rolled-back", journal=jid)
            lines.append(f"interrupted {what} ({data.get('title', '')}) rolled back: no file had been replaced")
        else:
            lines += _roll_forward(state, data, did, where)
        remove_journal(state.dir, jid)
        return True, lines
    except OSError as exc:
        tail = f"the interrupted {what} stays in its journal; fix this, then run `portside recover`"
        return False, [*lines, os_error_line(exc, where[0], where[1], tail=tail)]
    except (StateError, ApplyError) as exc:
        return False, [*lines, f"{exc}; the interrupted {what} stays in its journal — then run `portside recover`"]


def _roll_forward(state: State, data: dict[str, Any], did: int, where: list[str]) -> list[str]:
    lines, missing = [], []
    files = data["files"]
    for f in files:
        real, written = f["real"], f["written"]
        now = sha256_file(real)
        if now == written:
            continue
        if now == f["before"]:
            if written is None:
                where[:] = ("delete", real)
                os.unlink(real)
                continue
            if sha256_file(f["temp"]) == written:
                where[:] = ("replace", real)
                os.replace(f["temp"], real)
                fsync_path(Path(real).parent)
                continue
            missing.append(f)
            continue
        lines.append(f"{f['path']}: changed since the interrupted decision {did}; left as it is "
                     f"(before decision {did} it was {f['backup'] or 'absent'})")
    if missing:  # a temp file is gone: the apply cannot finish, so it is undone where it is ours
        for f in files:
            if sha256_file(f["real"]) == f["written"] and f not in missing:
                where[:] = ("restore", f["real"])
                if f["backup"]:
                    restore_from(f["backup"], f["real"])
                else:
                    os.unlink(f["real"])
        _remove_temps(data)
        state.set_decision_status(did, "rolled-back")
        return [*lines, f"interrupted decision {did} rolled back: the temp file of {missing[0]['path']} was gone"]
    _remove_temps(data)
    d = state.decision(did)
    if d is not None and d.status == "pending":
        moves = {k: PortMove.model_validate(v) for k, v in (data.get("registry") or {}).items()}
        state.finish_decision(did, assignments=moves, undo_of=data.get("undo_of"))
    return [*lines, f"finished interrupted decision {did} ({data.get('title', '')}): "
                    f"{len(files)} file(s); undo: portside undo {did}"]


def _remove_temps(data: dict[str, Any]) -> None:
    for f in data.get("files", []):
        if f.get("temp"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f["temp"])
