"""Build the Snapshot from every source, each failing alone; keep it fresh from Docker events.

`take_snapshot(config, options)` asks each source in turn. A source that fails
is recorded as `Snapshot.sources[name] = SourceStatus.model_construct(ok=False, error=...)`
and contributes nothing; the others still report (Docker down: compose files,
host listeners and the registry are still there).

`LiveSnapshots` is the live-update loop behind the dashboard, with no Textual
in it: one thread pumps the Docker events stream into a wake-up queue, another
takes a snapshot whenever something happened (debounced) or the refresh
interval passed (host listeners have no events). Snapshots never overlap.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from portside.app.config import Config
from portside.app.models import PortBinding, Snapshot, SourceStatus, plain
from portside.app.ports.analysis import Policy

if TYPE_CHECKING:
    from portside.app.sources.rawengine import Reads

SOURCES = ("docker", "swarm", "compose", "host", "registry")
EVENT_TYPES = ["container", "service"]
# Actions that change what a snapshot shows (healthcheck exec_* events would only add noise).
RELEVANT_ACTIONS = frozenset(
    {"create", "start", "restart", "die", "destroy", "rename", "pause", "unpause", "update",
     "remove", "health_status"}
)


@dataclass
class SnapshotOptions:
    """The per-run inputs: which engine, which extra compose projects, which state dir."""

    host: str | None = None
    context: str | None = None
    project_dirs: list[str] = field(default_factory=list)
    compose_files: list[str] = field(default_factory=list)
    state_dir: str | None = None
    timeout: float = 10.0

    @classmethod
    def from_args(cls, args: Any) -> SnapshotOptions:
        return cls(
            host=getattr(args, "host", None),
            context=getattr(args, "context", None),
            project_dirs=list(getattr(args, "project_dir", None) or []),
            compose_files=list(getattr(args, "compose_files", None) or []),
            state_dir=getattr(args, "state_dir", None),
        )


def _fail(exc: BaseException) -> SourceStatus:
    """A source's failure as one line: our own errors as written, library errors explained."""
    from portside.app.errors import PortsideError
    from portside.app.sources.engine import explain

    return SourceStatus.model_construct(ok=False, error=str(exc) if isinstance(exc, PortsideError) else explain(exc))


def connect_engine(options: SnapshotOptions) -> Any:
    from portside.app.sources.engine import connect, resolve_endpoint

    return connect(resolve_endpoint(options.host, options.context), timeout=options.timeout)


def take_snapshot(
    config: Config,
    options: SnapshotOptions | None = None,
    *,
    client: Any = None,
    engine_error: BaseException | None = None,
) -> Snapshot:
    """The world now. Never raises for a failing source.

    `client` reuses an open engine connection; `engine_error` says the caller
    already failed to connect (the Docker source reports it without retrying).
    """
    from portside.app.sources import host

    opts = options or SnapshotOptions()
    st: dict[str, SourceStatus] = {}
    # The engine answers (raw reads run in their own threads, maybe started by the command already)
    # while the host listeners are read: that is waiting, not work.
    with ThreadPoolExecutor(1, thread_name_prefix="portside-host") as pool:
        listening = pool.submit(host.list_listeners)
        early = _raw_reads(opts) if client is None and engine_error is None else None
        snap = _take(config, opts, st, client, engine_error, listening, early)
    return snap


def _raw_reads(opts: SnapshotOptions) -> Reads | None:
    """The engine's containers and /info over the raw client, requested now (None: the SDK is needed)."""
    try:
        from portside.app.sources.engine import resolve_endpoint
        from portside.app.sources.rawengine import reads

        return reads(resolve_endpoint(opts.host, opts.context), opts.timeout)
    except Exception:
        return None  # e.g. an unknown context: the SDK path reports it


def _engine_reads(opts: SnapshotOptions, client: Any, early: Reads | None) -> tuple[Any, list[Any], dict[str, Any]]:
    """(client, containers, /info): from the raw reads when they worked, else through the SDK."""
    from portside.app.sources import docker_src

    if early is not None:
        try:
            listed, info = early.containers.result(), early.info.result()
            return early.client, docker_src.list_containers(early.client, listed), info
        except Exception:
            pass  # anything unexpected: the SDK asks again, and explains a failure in words
    client = client or connect_engine(opts)
    # /info once: rootless and swarm both read it (a slow call on a busy engine)
    return client, docker_src.list_containers(client), client.info()


def _take(config: Config, opts: SnapshotOptions, st: dict[str, SourceStatus], client: Any,
          engine_error: BaseException | None, listening: Future[tuple[list[PortBinding], str | None]],
          early: Reads | None = None) -> Snapshot:
    from portside.app.sources import docker_src, registry, swarm
    from portside.app.sources.engine import resolve_endpoint

    containers: list[Any] = []
    services: list[Any] = []
    info: dict[str, Any] = {}
    try:
        if engine_error is not None:
            raise engine_error
        client, containers, info = _engine_reads(opts, client, early)
        rootless = docker_src.detect_rootless(client, info)
        where = resolve_endpoint(opts.host, opts.context).describe()
        st["docker"] = SourceStatus.model_construct(ok=True, detail=f"{where}{' (rootless)' if rootless else ''}")
    except Exception as exc:
        client = None
        st["docker"] = _fail(exc)
    if client is None:
        st["swarm"] = SourceStatus.model_construct(ok=False, error="needs the Docker engine")
    else:
        try:
            try:
                services = swarm.list_services(client, info)
            except Exception:
                if early is None or client is not early.client:
                    raise
                services = swarm.list_services(connect_engine(opts), info)  # the raw client was surprised
            st["swarm"] = SourceStatus.model_construct(ok=True, detail=f"{len(services)} services" if services else "not a swarm manager")
        except Exception as exc:
            st["swarm"] = _fail(exc)
    engine_bindings = [b for c in containers for b in c.ports] + [b for s in services for b in s.ports]

    projects, compose_bindings = _compose(config, opts, containers, st)

    host_bindings: list[PortBinding] = []
    try:
        from portside.app.sources import host

        listeners, note = listening.result()
        host_bindings = host.attribute(listeners, engine_bindings)
        st["host"] = SourceStatus.model_construct(ok=True, detail=note)
    except Exception as exc:
        st["host"] = _fail(exc)

    intended = registry.reserved_bindings(config.reserved_ports)
    try:
        from portside.app.state import State

        with State(opts.state_dir) as state:
            intended = registry.registry_bindings(state.registry()) + intended
        st["registry"] = SourceStatus.model_construct(ok=True)
    except Exception as exc:
        st["registry"] = _fail(exc)

    return Snapshot.model_construct(
        containers=containers,
        swarm_services=services,
        projects=projects,
        bindings=engine_bindings + compose_bindings + host_bindings + intended,
        sources=st,
    )


def _compose(config: Config, opts: SnapshotOptions, containers: list[Any], st: dict[str, SourceStatus]) -> tuple[list[Any], list[PortBinding]]:
    try:
        from portside.app.sources.compose import discover_projects

        projects, errors = discover_projects(list(config.stacks), opts.project_dirs, opts.compose_files, containers)
    except Exception as exc:
        st["compose"] = _fail(exc)
        return [], []
    if errors:
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        st["compose"] = SourceStatus.model_construct(ok=False, error=errors[0] + more, detail=f"{len(projects)} projects loaded")
    else:
        st["compose"] = SourceStatus.model_construct(ok=True, detail=f"{len(projects)} projects")
    return projects, [b for p in projects for s in p.services for b in s.ports]


def policy_for(config: Config, snapshot: Snapshot) -> Policy:
    """The analysis policy: the config's range and pins; rootless from config, else detected."""
    rootless = config.rootless
    if rootless is None:
        docker = snapshot.sources.get("docker")
        rootless = bool(docker and docker.ok and (docker.detail or "").endswith("(rootless)"))
    return Policy(
        port_range=(config.port_range.start, config.port_range.end),
        rootless=rootless,
        pinned=frozenset(config.pinned),
    )


# ------------------------------------------------------------------ live updates

_STOP = "__stop__"


class LiveSnapshots:
    """Snapshots on Docker events (debounced) and every `interval` seconds; never overlapping.

    Run `pump_events(cancelled)` in one thread and `run(publish, cancelled)` in
    another; `refresh()` asks for a snapshot now; `stop()` ends both.
    """

    def __init__(self, config: Config, options: SnapshotOptions, *, interval: float = 15.0, debounce: float = 0.3) -> None:
        self.config, self.options = config, options
        self.interval, self.debounce = interval, debounce
        self._wake: queue.Queue[str] = queue.Queue()
        self._stopped = threading.Event()
        self._stream: Any = None
        self._client: Any = None
        self._lock = threading.Lock()

    def refresh(self, reason: str = "refresh") -> None:
        self._wake.put(reason)

    def stop(self) -> None:
        self._stopped.set()
        self._wake.put(_STOP)
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()

    def snapshots(self, cancelled: Callable[[], bool] = lambda: False) -> Iterator[Snapshot]:
        """A snapshot now, then one after each burst of events or interval."""
        while not (cancelled() or self._stopped.is_set()):
            yield self._take()
            try:
                reason = self._wake.get(timeout=self.interval)
            except queue.Empty:
                continue
            deadline = time.monotonic() + self.debounce
            while reason != _STOP and (left := deadline - time.monotonic()) > 0:
                try:
                    reason = self._wake.get(timeout=left)  # coalesce a burst of events
                except queue.Empty:
                    break
            if reason == _STOP:
                return

    def run(self, publish: Callable[[Snapshot], None], cancelled: Callable[[], bool] = lambda: False) -> None:
        for snap in self.snapshots(cancelled):
            publish(snap)

    def _take(self) -> Snapshot:
        error = None
        if self._client is None:
            try:
                self._client = connect_engine(self.options)
            except Exception as exc:
                error = exc
        snap = take_snapshot(self.config, self.options, client=self._client, engine_error=error)
        if not snap.sources["docker"].ok and self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
            self._client = None  # reconnect next time
        return snap

    def pump_events(self, cancelled: Callable[[], bool] = lambda: False, retry: float = 5.0) -> None:
        """Follow the Docker events stream, waking the snapshot loop; reconnect after failures."""
        while not (cancelled() or self._stopped.is_set()):
            try:
                client = connect_engine(self.options)
                stream = client.events(decode=True, filters={"type": EVENT_TYPES})
                with self._lock:
                    if self._stopped.is_set():
                        stream.close()
                        return
                    self._stream = stream
                self.refresh("events connected")  # whatever changed while we were away
                for event in stream:
                    if cancelled() or self._stopped.is_set():
                        return
                    action = str(event.get("Action") or "").split(":", 1)[0]
                    if action in RELEVANT_ACTIONS:
                        self.refresh(f"{event.get('Type')} {action}")
            except Exception:
                pass  # engine down or stream broken: the snapshot says why; try again
            if self._stopped.wait(retry):
                return


# ------------------------------------------------------------------ headless


def snapshot_for(ctx: Any, *, refresh: bool = False) -> Snapshot:
    """The run's snapshot, taken once per CLI run and shared by `--auto` steps (refresh: take anew)."""
    snap: Snapshot | None = getattr(ctx, "_portside_snapshot", None)
    if snap is None or refresh:
        snap = take_snapshot(ctx.config, SnapshotOptions.from_args(ctx.args))
        ctx._portside_snapshot = snap
    return snap


def sources_json(snapshot: Snapshot) -> dict[str, Any]:
    return {name: plain(st) for name, st in sorted(snapshot.sources.items())}
