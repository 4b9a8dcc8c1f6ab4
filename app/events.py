"""Events: record what happened and tell the people who asked to be told.

`record_event(state, config, kind, **body)` stores the event in the state
store's `events` table and hands it to the notification sinks configured under
`notifications:` (webhooks get a JSON POST, ntfy topic URLs a text POST with
Title/Priority/Tags headers). Delivery never blocks the caller:

- inside a running asyncio loop (the TUI, the health poller) each delivery is
  an asyncio task on that loop; `await aflush(timeout)` waits for them;
- elsewhere (CLI commands) deliveries go to one background daemon thread via a
  queue; `flush(timeout)` waits for it before the process exits.

Failed deliveries are retried with exponential backoff (connection errors, 429
and 5xx); a 4xx other than 429 is final. Failures are logged, never raised.
No textual import: this module is shared by the CLI and the TUI.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portside.app.models import utcnow

if TYPE_CHECKING:  # httpx and asyncio are imported where used: `portside ports` records no event (~25 ms)
    import asyncio

    import httpx

    from portside.app.config import Config
    from portside.app.state import State

log = logging.getLogger("portside.events")

CONFLICT_FOUND = "conflict-found"
PORT_REMAPPED = "port-remapped"
INTEGRATION_APPLIED = "integration-applied"
HEALTH_CHANGED = "health-changed"
KINDS = (CONFLICT_FOUND, PORT_REMAPPED, INTEGRATION_APPLIED, HEALTH_CHANGED)

ATTEMPTS = 4  # first try + 3 retries
BACKOFF = 0.5  # seconds before the first retry; doubles each time
TIMEOUT = 10.0  # per delivery request

# Test hook / in-process sinks (e.g. the TUI): called synchronously with every event.
listeners: list[Callable[[str, dict[str, Any]], None]] = []


@dataclass(frozen=True)
class Delivery:
    url: str
    json: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------- public


def record_event(state: State | None, config: Config | None, kind: str, **body: Any) -> None:
    """Store one event and queue its notifications. Never raises for sink failures."""
    if state is not None:
        try:
            state.add_event(kind, body)
        except Exception as exc:  # the event log must not break the action that happened
            log.warning("could not store event %s: %s", kind, exc)
    for listener in list(listeners):
        try:
            listener(kind, dict(body))
        except Exception as exc:
            log.warning("event listener failed: %s", exc)
    if config is None:
        return
    notif = config.notifications
    if kind not in notif.events:
        return
    deliveries = build_deliveries(kind, body, webhooks=notif.webhooks, ntfy=notif.ntfy)
    if deliveries:
        _dispatch(deliveries)


def announce_new(
    state: State, config: Config | None, kind: str, channel: str, items: dict[str, dict[str, Any]]
) -> list[str]:
    """Record `kind` once per item key not seen at the previous call for `channel`.

    For things re-discovered on every run (conflicts): a cron job that finds the
    same conflict every five minutes notifies once, and again only after it was
    gone and came back. Returns the keys that were new.
    """
    seen = set(state.get_kv(f"announced:{channel}", []))
    new = [key for key in items if key not in seen]
    for key in new:
        record_event(state, config, kind, key=key, **items[key])
    if new or seen != set(items):
        state.set_kv(f"announced:{channel}", sorted(items))
    return new


def flush(timeout: float = 10.0) -> bool:
    """Wait for queued background-thread deliveries. True when all were attempted in time."""
    return _worker.flush(timeout)


async def aflush(timeout: float = 10.0) -> bool:  # noqa: ASYNC109 (mirrors flush)
    """Wait for this loop's delivery tasks (and the thread queue). True when all finished."""
    import asyncio
    deadline = time.monotonic() + timeout
    tasks = [t for t in _tasks if not t.done()]
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            return False
    left = max(0.0, deadline - time.monotonic())
    return await asyncio.to_thread(_worker.flush, left)


def describe(kind: str, body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(title, message, ntfy priority, ntfy tags) for an event."""
    if kind == HEALTH_CHANGED:
        name = body.get("name") or body.get("target", "?")
        new = str(body.get("new", "?"))
        old = str(body.get("old", "?"))
        msg = f"{name}: {old} -> {new}"
        if body.get("error"):
            msg += f" ({body['error']})"
        bad = new in ("unhealthy",)
        tags = "rotating_light" if bad else ("warning" if new == "degraded" else "white_check_mark")
        return f"portside: {name} is {new}", msg, "high" if bad else "default", tags
    if kind == CONFLICT_FOUND:
        msg = str(body.get("message") or body.get("key") or "port conflict")
        return "portside: port conflict", msg, "high", "warning"
    if kind == PORT_REMAPPED:
        msg = str(body.get("message") or body.get("title") or "ports remapped")
        return "portside: port remapped", msg, "default", "arrows_counterclockwise"
    if kind == INTEGRATION_APPLIED:
        what = body.get("kind") or body.get("integration") or "integration"
        msg = str(body.get("message") or body.get("title") or f"{what} applied")
        return f"portside: {what} applied", msg, "default", "gear"
    return f"portside: {kind}", str(body.get("message") or kind), "default", "information_source"


def build_deliveries(
    kind: str, body: dict[str, Any], *, webhooks: list[str], ntfy: list[str]
) -> list[Delivery]:
    title, message, priority, tags = describe(kind, body)
    payload = {"kind": kind, "at": utcnow().isoformat(), "title": title, "message": message, **body}
    payload = _jsonable(payload)
    out = [Delivery(url=u, json=payload) for u in webhooks]
    headers = {"Title": _latin1(title), "Priority": priority, "Tags": tags}
    out += [Delivery(url=u, content=message.encode("utf-8"), headers=headers) for u in ntfy]
    return out


# ------------------------------------------------------------------- delivery


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _verdict(d: Delivery, response: httpx.Response | None, error: Exception | None) -> bool | str:
    """One attempt's outcome: True delivered, False refused for good, or why to try again."""
    if response is None:
        return f"{type(error).__name__}: {error}"
    if response.status_code < 400:
        return True
    if not _retryable(response.status_code):
        log.warning("notification to %s refused: HTTP %s", d.url, response.status_code)
        return False
    return f"HTTP {response.status_code}"


def _gave_up(d: Delivery, why: str) -> bool:
    log.warning("notification to %s failed after %d attempts: %s", d.url, ATTEMPTS, why)
    return False


def send_sync(
    client: httpx.Client, d: Delivery, *, sleep: Callable[[float], None] = time.sleep
) -> bool:
    import httpx

    why = ""
    for attempt in range(ATTEMPTS):
        try:
            verdict = _verdict(d, client.post(d.url, json=d.json, content=d.content, headers=d.headers), None)
        except httpx.HTTPError as exc:
            verdict = _verdict(d, None, exc)
        if isinstance(verdict, bool):
            return verdict
        why = verdict
        if attempt + 1 < ATTEMPTS:
            sleep(BACKOFF * 2**attempt)
    return _gave_up(d, why)


async def send_async(client: httpx.AsyncClient, d: Delivery) -> bool:
    import asyncio

    import httpx

    why = ""
    for attempt in range(ATTEMPTS):
        try:
            response = await client.post(d.url, json=d.json, content=d.content, headers=d.headers)
            verdict = _verdict(d, response, None)
        except httpx.HTTPError as exc:
            verdict = _verdict(d, None, exc)
        if isinstance(verdict, bool):
            return verdict
        why = verdict
        if attempt + 1 < ATTEMPTS:
            await asyncio.sleep(BACKOFF * 2**attempt)
    return _gave_up(d, why)


_tasks: set[asyncio.Task[Any]] = set()


def _dispatch(deliveries: list[Delivery]) -> None:
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        for d in deliveries:
            _worker.put(d)
        return
    task = asyncio.ensure_future(_deliver_async(deliveries))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _deliver_async(deliveries: list[Delivery]) -> None:
    import asyncio

    import httpx
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
        await asyncio.gather(*(send_async(client, d) for d in deliveries))


class _Worker:
    """One daemon thread draining a queue of deliveries, started on first use."""

    def __init__(self) -> None:
        self.q: queue.Queue[Delivery] = queue.Queue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.idle = threading.Condition()
        self.pending = 0

    def put(self, d: Delivery) -> None:
        with self.idle:
            self.pending += 1
        self.q.put(d)
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(
                    target=self._run, name="portside-notify", daemon=True
                )
                self.thread.start()

    def _run(self) -> None:
        import httpx

        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            while True:
                d = self.q.get()
                try:
                    send_sync(client, d)
                except Exception as exc:  # never let the thread die
                    log.warning("notification to %s failed: %s", d.url, exc)
                finally:
                    with self.idle:
                        self.pending -= 1
                        self.idle.notify_all()

    def flush(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.pending == 0, timeout=timeout)


_worker = _Worker()


def _latin1(text: str) -> str:
    """HTTP header values must be latin-1; ntfy also reads RFC 2047, but keep it simple."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    with contextlib.suppress(Exception):
        return value.model_dump(mode="json")
    return str(value)
