"""The health poller in a process of its own, for the TUI: `python -m app.health_worker`.

Why a process: each HTTP check costs ~1.5 ms of Python time; 1,000 of them in
a thread of the TUI process held the GIL long enough that a key press took
seconds to show (benchmarks/bench_health.py). The child owns the whole
poller — one shared httpx.AsyncClient, the semaphore, timeouts, body cap,
backoff, jitter — writes the samples to the state store and records
`health-changed` events (and their notifications) itself. The TUI only reads
small batches of changed statuses.

Protocol, one JSON object per line:

- stdin (TUI -> child): first `{"op": "start", "config": {...}, "state_dir": ...}`,
  then `{"op": "targets", "targets": [...]}` whenever the target set changes and
  `{"op": "poll_now"}`. End of input (the TUI closed the pipe or died) stops
  the child: it flushes samples and notifications and exits.
- stdout (child -> TUI): `{"op": "batch", "changed": [...]}` at most every
  PUBLISH_EVERY seconds, only for targets checked since the last batch; a
  target new to the child comes with its stored history (`"full": true`).
  `{"op": "error", "message": ...}` before the child gives up.

The child runs at nice +5 (PORTSIDE_HEALTH_NICE overrides) so a key press
wins the CPU over a cycle in progress. On Linux it also asks the kernel for SIGTERM when its parent goes away
(PR_SET_PDEATHSIG). `HealthProcess` and `Mirror` are the TUI side (no textual
here either: screens/health.py glues them to the app).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from portside.app.health import HISTORY, Poller, TargetStatus
from portside.app.health_targets import Target
from portside.app.models import HealthSample, HealthState

PUBLISH_EVERY = 0.25
# The child yields the CPU to the TUI when both want it (a key press is short, a
# cycle is not); when the TUI idles the child still gets every free cycle.
NICE = int(os.environ.get("PORTSIDE_HEALTH_NICE", "5"))
_TARGET_FIELDS = tuple(f.name for f in fields(Target))

# ------------------------------------------------------------------ wire format


def target_to_wire(t: Target) -> dict[str, Any]:
    return {name: getattr(t, name) for name in _TARGET_FIELDS}


def sample_to_wire(s: HealthSample) -> list[Any]:
    return [s.at.isoformat(), s.status.value, s.latency_ms, s.error, s.detail]


def sample_from_wire(target: str, w: list[Any]) -> HealthSample:
    # model_construct: the child built these from validated samples; skip re-validation
    return HealthSample.model_construct(
        target=target,
        at=datetime.fromisoformat(w[0]),
        status=HealthState(w[1]),
        latency_ms=w[2],
        error=w[3],
        detail=w[4],
    )


def status_to_wire(st: TargetStatus, samples: Iterable[HealthSample], full: bool) -> dict[str, Any]:
    return {
        "id": st.target.id,
        "status": st.status.value,
        "latency_ms": st.latency_ms,
        "error": st.last_error,
        "detail": st.detail,
        "checked_at": st.checked_at.isoformat() if st.checked_at else None,
        "failures": st.failures,
        "samples": [sample_to_wire(s) for s in samples],
        "full": full,
    }


class Mirror:
    """The TUI's copy of the child's statuses, rebuilt from batches.

    Every status handed out is a fresh object that is never mutated afterwards,
    so the UI thread can keep it while this side goes on applying batches.
    """

    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.statuses: dict[str, TargetStatus] = {}

    def set_targets(self, targets: Iterable[Target]) -> tuple[dict[str, TargetStatus], list[str]]:
        """New target set: (statuses of new or changed targets, ids that went away)."""
        self.targets = {t.id: t for t in targets}
        removed = [tid for tid in self.statuses if tid not in self.targets]
        for tid in removed:
            del self.statuses[tid]
        changed = {}
        for tid, t in self.targets.items():
            old = self.statuses.get(tid)
            if old is None or old.target != t:
                st = TargetStatus(target=t) if old is None else _with(old, target=t)
                self.statuses[tid] = changed[tid] = st
        return changed, removed

    def apply(self, batch: dict[str, Any]) -> dict[str, TargetStatus]:
        """Statuses changed by one batch from the child (targets we dropped meanwhile are ignored)."""
        out = {}
        for d in batch.get("changed", ()):
            tid = d["id"]
            target = self.targets.get(tid)
            if target is None:
                continue
            prev = self.statuses.get(tid)
            history: deque[HealthSample] = deque(
                () if d["full"] or prev is None else prev.history, maxlen=HISTORY
            )
            history.extend(sample_from_wire(tid, w) for w in d["samples"])
            checked = d["checked_at"]
            self.statuses[tid] = out[tid] = TargetStatus(
                target=target,
                status=HealthState(d["status"]),
                latency_ms=d["latency_ms"],
                last_error=d["error"],
                detail=d["detail"],
                checked_at=datetime.fromisoformat(checked) if checked else None,
                failures=d["failures"],
                history=history,
            )
        return out


def _with(st: TargetStatus, **changes: Any) -> TargetStatus:
    from dataclasses import replace

    return replace(st, history=deque(st.history, maxlen=HISTORY), **changes)


# -------------------------------------------------------------- the TUI side


class HealthProcess:
    """Starts and talks to the child. Thread-safe `send`; batches come through `get()`."""

    def __init__(self, config: Any, state_dir: str | Path | None = None) -> None:
        self.config = config
        self.state_dir = state_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.error: str | None = None  # the child's last words, if it gave up
        self._q: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._targets: list[dict[str, Any]] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "portside.app.health_worker", "--parent", str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # the terminal belongs to the TUI; errors come as "error" lines
            env=env,
        )
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(
            target=self._read, args=(stdout,), name="portside-health-read", daemon=True
        ).start()
        state_dir = None if self.state_dir is None else str(self.state_dir)
        self.send(
            {"op": "start", "config": self.config.model_dump(mode="json"), "state_dir": state_dir}
        )
        if self._targets is not None:  # a restart: the child gets the targets it had
            self.send({"op": "targets", "targets": self._targets})

    def _read(self, stdout: IO[bytes]) -> None:
        for line in stdout:
            with contextlib.suppress(ValueError):
                msg = json.loads(line)
                if msg.get("op") == "error":
                    self.error = str(msg.get("message"))
                self._q.put(msg)
        self._q.put(None)  # end of output: the child is gone

    def send(self, msg: dict[str, Any]) -> bool:
        data = json.dumps(msg).encode() + b"\n"
        with self._lock:
            if self.proc is None or self.proc.stdin is None:
                return False
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError, OSError):
                return False
        return True

    def set_targets(self, targets: Iterable[Target]) -> None:
        self._targets = [target_to_wire(t) for t in targets]
        self.send({"op": "targets", "targets": self._targets})

    def poll_now(self) -> None:
        self.send({"op": "poll_now"})

    def get(self, timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """(batches that arrived within `timeout`, whether the child's output ended)."""
        out: list[dict[str, Any]] = []
        ended = False
        try:
            msg = self._q.get(timeout=timeout)
            while True:
                if msg is None:
                    ended = True
                elif msg.get("op") == "batch":
                    out.append(msg)
                msg = self._q.get_nowait()
        except queue.Empty:
            pass
        return out, ended

    def close(self, timeout: float = 5.0) -> None:
        """End of input tells the child to flush and exit; SIGTERM/SIGKILL if it does not."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with self._lock, contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------ the child side


def die_with_parent(parent: int | None) -> None:
    """SIGTERM when the parent goes away (Linux), and exit now if it already has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:
        sys.exit(0)


async def serve(reader: asyncio.StreamReader, out: IO[bytes]) -> None:
    from portside.app import events
    from portside.app.config import Config

    first = json.loads(await reader.readline() or b"{}")
    if first.get("op") != "start":
        raise ValueError("the first line must be a start message")
    poller = Poller(
        Config.model_validate(first.get("config") or {}), state_dir=first.get("state_dir")
    )
    pending: dict[str, list[HealthSample]] = {}
    full: set[str] = set()
    poller.on_update = lambda st: pending.setdefault(st.target.id, []).append(st.history[-1])

    def write(msg: dict[str, Any]) -> None:
        out.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")
        out.flush()

    async def publish() -> None:
        while True:
            await asyncio.sleep(PUBLISH_EVERY)
            if not pending and not full:
                continue
            changed = []
            for tid in full | set(pending):
                st = poller.statuses.get(tid)
                if st is not None:
                    whole = tid in full
                    changed.append(
                        status_to_wire(st, st.history if whole else pending.get(tid, ()), whole)
                    )
            pending.clear()
            full.clear()
            if changed:  # a blocking write in a thread: a slow reader never stalls the checks
                await asyncio.to_thread(write, {"op": "batch", "changed": changed})

    runner = asyncio.create_task(poller.run())
    pump = asyncio.create_task(publish())
    try:
        while line := await reader.readline():
            msg = json.loads(line)
            if msg.get("op") == "targets":
                before = set(poller.statuses)
                poller.set_targets(Target(**d) for d in msg["targets"])
                fresh = set(poller.statuses) - before
                full.update(fresh)
                for tid in before - set(poller.statuses):
                    pending.pop(tid, None)
                    full.discard(tid)
            elif msg.get("op") == "poll_now":
                poller.poll_now()
    finally:
        for task in (pump, runner):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await poller.aclose()  # the last samples reach the state store
        await asyncio.to_thread(events.flush, 10)  # and the last notifications go out


async def _main() -> None:
    loop = asyncio.get_running_loop()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the protocol
    reader = asyncio.StreamReader(limit=2**26)  # a target list for 1,000s of targets is one line
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    task = asyncio.current_task()
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await serve(reader, out)
    except asyncio.CancelledError:
        pass
    except Exception as exc:
        with contextlib.suppress(OSError, ValueError):
            out.write(
                json.dumps({"op": "error", "message": f"{type(exc).__name__}: {exc}"}).encode()
                + b"\n"
            )
            out.flush()
        raise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.health_worker", description=__doc__)
    p.add_argument("--parent", type=int, help="exit when this process is no longer our parent")
    args = p.parse_args(argv)
    die_with_parent(args.parent)
    with contextlib.suppress(OSError):
        os.nice(NICE)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal is the TUI's, not ours
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
