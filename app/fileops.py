"""Low-level file operations of the executor: hashes, temp files, fsync, symlinks, OS errors.

Every OS error the executor meets becomes one line: the file, the operation,
the cause and the fix (`os_error_line`).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import shutil
import signal
from pathlib import Path

from portside.app.errors import ApplyError

STOP_ENV = "PORTSIDE_TEST_STOP_AT"

FIXES: dict[int, str] = {
    errno.EROFS: "the file system is mounted read-only; remount it read-write",
    errno.EACCES: "permission denied; run portside as a user who may write there, or fix the permissions",
    errno.EPERM: "operation not permitted (an immutable file? check `lsattr`, clear it with `chattr -i`)",
    errno.ENOSPC: "no space left on the device; free some space and run it again",
    errno.EDQUOT: "disk quota exceeded; free some space and run it again",
    errno.EXDEV: "the file and its temp file are on different file systems; edit the file where it lives",
    errno.ENOENT: "the file or its directory is gone; check the path",
    errno.EIO: "an I/O error; check the disk",
}


def os_error_line(exc: OSError, op: str, path: str | Path, tail: str = "nothing was changed") -> str:
    """`FILE: cannot OP: CAUSE — FIX; TAIL` (one line)."""
    fix = FIXES.get(exc.errno or 0, exc.strerror or str(exc))
    cause = exc.strerror or type(exc).__name__
    return f"{path}: cannot {op}: {cause} — {fix}; {tail}"


def checkpoint(name: str) -> None:
    """Test hook: PORTSIDE_TEST_STOP_AT=<name> stops the process here (SIGSTOP) so a test can kill it."""
    if os.environ.get(STOP_ENV) == name:
        os.kill(os.getpid(), signal.SIGSTOP)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def sha256_file(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def fsync_path(path: str | Path) -> None:
    """fsync a file or a directory (a rename is durable once its directory is synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(target: str | Path, tag: str = "") -> Path:
    t = Path(target)
    return t.with_name(f".{t.name}.portside-{tag or os.getpid()}.tmp")


def write_temp(
    target: Path, text: str, mode: int | None, *, secret: bool = False, tag: str = "",
    owner: tuple[int, int | None] | None = None,
) -> Path:
    """Write `text` to a temp file beside `target` (fsynced, with the target's mode and owner)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    st = target.stat() if target.exists() else None
    if mode is None:
        mode = 0o600 if secret and st is None else (st.st_mode & 0o7777 if st else 0o644)
    tmp = temp_path(target, tag)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        data = text.encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.fchmod(fd, mode)
        if owner is not None:  # a container's documented user must read it (the plan strips this unless root)
            os.fchown(fd, owner[0], -1 if owner[1] is None else owner[1])
        elif st is not None:
            with contextlib.suppress(PermissionError):
                os.fchown(fd, st.st_uid, st.st_gid)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    return tmp


def copy_durably(src: Path, dst: Path) -> None:
    shutil.copy2(src, dst)
    fsync_path(dst)


def restore_from(backup: str | Path, target: str | Path) -> None:
    """Put a backup's bytes back at `target` through temp file + rename."""
    t = Path(target)
    tmp = temp_path(t, "restore")
    try:
        shutil.copy2(backup, tmp)
        fsync_path(tmp)
        os.replace(tmp, t)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_path(t.parent)


# ------------------------------------------------------------------ symlinks


def stack_roots(stacks: list[str]) -> list[Path]:
    """The directories the config's `stacks:` globs name, resolved."""
    roots: list[Path] = []
    for pattern in stacks:
        expanded = os.path.expandvars(os.path.expanduser(pattern))
        for match in glob.glob(expanded) or [expanded]:
            roots.append(Path(match).resolve())
    return roots


def real_target(path: str, roots: list[Path], allow_outside: bool) -> str:
    """Where a write to `path` must land: the link's target for a symlink (the link stays).

    The target must lie in the link's own directory tree or under a watched stack
    (`roots`), unless `allow_outside` (config `symlinks_outside_stacks: allow`).
    """
    p = Path(path)
    if not p.is_symlink():
        return path
    real = p.resolve()
    here = p.parent.resolve()
    if allow_outside or any(real.is_relative_to(r) for r in [here, *roots]):
        return str(real)
    raise ApplyError(
        f"{path}: is a symlink to {real}, outside the watched stacks; nothing was changed — edit {real} "
        "yourself, or set `symlinks_outside_stacks: allow` in portside.yaml"
    )
