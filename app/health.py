"""The health poller: asyncio, one shared httpx.AsyncClient, bounded and fair.

- At most `health.concurrency` checks run at once (a semaphore); each check has
  its own deadline (`asyncio.timeout`) that starts when it gets a slot, so a
  hung endpoint holds one slot for its timeout and delays nobody else.
- Bodies are streamed and reading stops at `health.max_body_bytes`; redirects
  are followed only to the same scheme/host/port (at most 3 hops).
- A failing target backs off (interval x 2^n, capped at 4x); every delay gets
  +/-10% jitter so polls do not align.
- Status: unhealthy when the last check failed; degraded when it passed but
  slowly (> `health.slow_ms`) or the target flaps (>= 3 changes in the last 10
  checks); healthy otherwise; unknown before the first check.
- Samples go to the state store (with retention) from one writer thread; a
  status change becomes a `health-changed` event (app.events), so notifications
  never block polling.

Targets come from app.health_targets. No textual import.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from portside.app import events
from portside.app.config import Config
from portside.app.health_targets import Target
from portside.app.models import HealthSample, HealthState, utcnow

HISTORY = 30  # samples kept in memory per target
FLAP_WINDOW = 10
FLAP_CHANGES = 3
BACKOFF_MAX_FACTOR = 4
MAX_REDIRECTS = 3


@dataclass
class Check:
    """The raw outcome of one check."""

    ok: bool | None  # None: no verdict (Docker says "starting")
    latency_ms: float | None
    error: str | None = None
    detail: str | None = None
    at: datetime = field(default_factory=utcnow)
    started: float = 0.0  # time.monotonic() when the check got its slot
    finished: float = 0.0


@dataclass
class TargetStatus:
    target: Target
    status: HealthState = HealthState.UNKNOWN
    latency_ms: float | None = None
    last_error: str | None = None
    detail: str | None = None
    checked_at: datetime | None = None
    failures: int = 0  # consecutive failed checks
    history: deque[HealthSample] = field(default_factory=lambda: deque(maxlen=HISTORY))
    oks: deque[bool] = field(default_factory=lambda: deque(maxlen=FLAP_WINDOW))

    def as_dict(self) -> dict[str, Any]:
        t = self.target
        return {
            "id": t.id,
            "name": t.name,
            "kind": t.kind,
            "endpoint": t.describe(),
            "container": t.container,
            "source": t.source,
            "status": self.status.value,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "error": self.last_error,
            "detail": self.detail,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }


def classify(st: TargetStatus, check: Check, slow_ms: float) -> tuple[HealthState, str | None]:
    """The target's status after `check` (already appended to `st.oks`)."""
    if check.ok is None:
        return HealthState.UNKNOWN, check.detail
    if not check.ok:
        return HealthState.UNHEALTHY, check.detail
    oks = list(st.oks)
    changes = sum(1 for a, b in zip(oks, oks[1:], strict=False) if a != b)
    if changes >= FLAP_CHANGES:
        return HealthState.DEGRADED, f"flapping ({changes} changes in {len(oks)} checks)"
    if check.latency_ms is not None and check.latency_ms > slow_ms:
        return HealthState.DEGRADED, f"slow ({check.latency_ms:.0f} ms > {slow_ms:.0f} ms)"
    return HealthState.HEALTHY, check.detail


def _same_origin(a: str, b: str) -> bool:
    x, y = urlsplit(a), urlsplit(b)
    return (x.scheme, x.hostname, x.port) == (y.scheme, y.hostname, y.port)


class Poller:
    """Polls targets; `poll_once()` for one pass, `run()` to keep polling until cancelled."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        state_dir: str | Path | None = None,
        store: bool = True,
        on_update: Callable[[TargetStatus], None] | None = None,
        docker_client: Any = None,
    ) -> None:
        self.config = config or Config()  # type: ignore[call-arg]
        self.opts = self.config.health
        self.state_dir = state_dir
        self.store = store
        self.on_update = on_update
        self.statuses: dict[str, TargetStatus] = {}
        self._docker = docker_client
        self._sem = asyncio.Semaphore(self.opts.concurrency)
        limits = httpx.Limits(
            max_connections=self.opts.concurrency, max_keepalive_connections=self.opts.concurrency
        )
        self.client = httpx.AsyncClient(follow_redirects=False, limits=limits, timeout=None)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="portside-health-db")
        self._state: Any = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending: list[HealthSample] = []
        self._wake: dict[str, asyncio.Event] = {}

    # ----------------------------------------------------------------- targets

    def set_targets(self, targets: Iterable[Target]) -> None:
        """Replace the target set; while `run()` is active, start/stop their loops."""
        wanted = {t.id: t for t in targets}
        for tid in list(self.statuses):
            if tid not in wanted:
                self.statuses.pop(tid)
                task = self._tasks.pop(tid, None)
                if task is not None:
                    task.cancel()
        fresh = []
        for tid, t in wanted.items():
            if tid in self.statuses and self.statuses[tid].target != t:
                self.statuses[tid].target = t
            elif tid not in self.statuses:
                self.statuses[tid] = TargetStatus(target=t)
                fresh.append(self.statuses[tid])
        self._seed(fresh)
        if self._running:
            self._start_loops()

    _running = False

    def _seed(self, fresh: list[TargetStatus]) -> None:
        """Start from the last stored status, so a restart does not re-announce old news."""
        if not self.store or not fresh:
            return
        ids = [st.target.id for st in fresh]
        with contextlib.suppress(Exception):
            stored = self._call_db(lambda s: {i: s.health_samples(i, limit=HISTORY) for i in ids})
            for st in fresh:
                last = stored.get(st.target.id) or []
                st.history.extend(last)
                if last:
                    st.status, st.latency_ms = last[-1].status, last[-1].latency_ms

    # ---------------------------------------------------------------- polling

    async def poll_once(self, targets: Iterable[Target] | None = None) -> list[TargetStatus]:
        """Check every target once, concurrently (bounded); returns their statuses."""
        if targets is not None:
            self.set_targets(targets)
        sts = list(self.statuses.values())
        await asyncio.gather(*(self._poll(st) for st in sts))
        await self.flush_samples()
        return sts

    async def run(self) -> None:
        """Poll each target on its own schedule until cancelled."""
        self._running = True
        self._start_loops()
        try:
            while True:
                await asyncio.sleep(1.0)
                await self.flush_samples()
        finally:
            self._running = False
            for task in self._tasks.values():
                task.cancel()
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            self._tasks.clear()
            await self.flush_samples()

    def poll_now(self) -> None:
        """Wake every target loop (the TUI's "poll now")."""
        for ev in self._wake.values():
            ev.set()

    def _start_loops(self) -> None:
        for tid, st in self.statuses.items():
            if tid not in self._tasks or self._tasks[tid].done():
                self._tasks[tid] = asyncio.create_task(self._loop(st), name=f"health:{tid}")

    async def _loop(self, st: TargetStatus) -> None:
        wake = self._wake.setdefault(st.target.id, asyncio.Event())
        delay = random.uniform(0, min(st.target.interval, 1.0) * 0.2)  # spread the first wave
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
            wake.clear()
            await self._poll(st)
            factor = min(2 ** max(st.failures - 1, 0), BACKOFF_MAX_FACTOR) if st.failures else 1
            delay = st.target.interval * factor * random.uniform(0.9, 1.1)

    async def _poll(self, st: TargetStatus) -> None:
        async with self._sem:
            check = await self.check(st.target)
        self._record(st, check)

    async def check(self, t: Target) -> Check:
        """One check of one target, bounded by the target's timeout."""
        started = time.monotonic()
        ok: bool | None  # None: unknown (the check itself could not be made)
        try:
            async with asyncio.timeout(t.timeout):
                if t.kind == "http":
                    ok, detail, err = await self._http(t)
                elif t.kind == "tcp":
                    ok, detail, err = await self._tcp(t)
                else:
                    ok, detail, err = await self._docker_health(t)
        except TimeoutError:
            ok, detail, err = False, "timeout", f"no answer within {t.timeout:g} s"
        except (httpx.HTTPError, OSError) as exc:
            ok, detail, err = False, type(exc).__name__, _one_line(exc)
        except Exception as exc:  # a docker API error, a malformed answer: the target is unknown
            ok, detail, err = None, type(exc).__name__, _one_line(exc)
        finished = time.monotonic()
        latency = (finished - started) * 1000 if t.kind != "docker" else None
        return Check(ok, latency, err, detail, started=started, finished=finished)

    async def _http(self, t: Target) -> tuple[bool, str, str | None]:
        url = str(t.url)
        for _hop in range(MAX_REDIRECTS + 1):
            async with self.client.stream(
                "GET", url, headers={"User-Agent": "portside-health"}
            ) as r:
                location = r.headers.get("location")
                if r.is_redirect and location:
                    nxt = urljoin(url, location)
                    if not _same_origin(url, nxt):
                        return (
                            False,
                            f"HTTP {r.status_code}",
                            f"redirect to another host refused: {nxt}",
                        )
                    url = nxt
                    continue
                body = b""
                if t.body_contains is not None:
                    async for chunk in r.aiter_bytes():
                        body += chunk
                        if len(body) >= self.opts.max_body_bytes:
                            body = body[: self.opts.max_body_bytes]
                            break
                want = t.expect_status
                ok = r.status_code == want if want else 200 <= r.status_code < 300
                if not ok:
                    expected = str(want) if want else "2xx"
                    return (
                        False,
                        f"HTTP {r.status_code}",
                        f"HTTP {r.status_code} (expected {expected})",
                    )
                if t.body_contains is not None and t.body_contains not in body.decode(
                    "utf-8", "replace"
                ):
                    return False, f"HTTP {r.status_code}", f"body lacks {t.body_contains!r}"
                return True, f"HTTP {r.status_code}", None
        return False, "redirects", f"more than {MAX_REDIRECTS} redirects"

    async def _tcp(self, t: Target) -> tuple[bool, str, str | None]:
        _reader, writer = await asyncio.open_connection(t.host, t.port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True, "connected", None

    async def _docker_health(self, t: Target) -> tuple[bool | None, str, str | None]:
        if self._docker is None:
            from portside.app.sources.engine import connect

            self._docker = await asyncio.to_thread(connect)
        info = await asyncio.to_thread(
            self._docker.api.inspect_container, t.container_id or t.container
        )
        state = info.get("State", {})
        if not state.get("Running"):
            return False, str(state.get("Status", "stopped")), "container is not running"
        health = state.get("Health") or {}
        status = health.get("Status", "none")
        log = health.get("Log") or []
        last = (log[-1].get("Output") or "").strip().splitlines() if log else []
        output = last[-1][:200] if last else None
        if status == "healthy":
            return True, "docker: healthy", None
        if status == "unhealthy":
            code = log[-1].get("ExitCode") if log else None
            return False, "docker: unhealthy", output or f"HEALTHCHECK exited {code}"
        return None, f"docker: {status}", None

    # ------------------------------------------------------------ bookkeeping

    def _record(self, st: TargetStatus, check: Check) -> None:
        if check.ok is not None:
            st.oks.append(check.ok)
        st.failures = st.failures + 1 if check.ok is False else 0
        old = st.status
        new, detail = classify(st, check, self.opts.slow_ms)
        st.status, st.detail, st.checked_at = new, detail, check.at
        st.latency_ms = check.latency_ms
        if check.error:
            st.last_error = check.error
        sample = HealthSample(
            target=st.target.id,
            status=new,
            at=check.at,
            latency_ms=check.latency_ms,
            error=check.error,
            detail=detail,
        )
        st.history.append(sample)
        self._pending.append(sample)
        if new != old and (old != HealthState.UNKNOWN or new == HealthState.UNHEALTHY):
            body = {
                "target": st.target.id,
                "name": st.target.name,
                "container": st.target.container,
                "endpoint": st.target.describe(),
                "old": old.value,
                "new": new.value,
                "error": check.error,
                "detail": detail,
                "latency_ms": check.latency_ms,
            }
            self._submit(
                lambda s: events.record_event(s, self.config, events.HEALTH_CHANGED, **body)
            )
        if self.on_update is not None:
            self.on_update(st)

    async def flush_samples(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        if self.store:
            retention = timedelta(days=self.opts.retention_days)
            await asyncio.wrap_future(
                self._submit(lambda s: s.add_health_samples(batch, retention=retention))
            )

    # ------------------------------------------------------- the writer thread

    def _db(self) -> Any:
        if self._state is None:
            from portside.app.state import State

            self._state = State(self.state_dir)
        return self._state

    def _submit(self, fn: Callable[[Any], Any]) -> Any:
        """Run fn(state) on the writer thread (the one thread that owns the connection)."""
        return self._writer.submit(lambda: fn(self._db() if self.store else None))

    def _call_db(self, fn: Callable[[Any], Any]) -> Any:
        return self._submit(fn).result(timeout=30)

    async def aclose(self) -> None:
        await self.flush_samples()
        await self.client.aclose()
        await asyncio.to_thread(self._writer.shutdown, wait=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def exit_code(statuses: Iterable[TargetStatus]) -> int:
    """0 when nothing is unhealthy, 1 otherwise (the CLI's contract)."""
    return 1 if any(s.status == HealthState.UNHEALTHY for s in statuses) else 0
