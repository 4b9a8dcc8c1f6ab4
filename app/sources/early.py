"""Reads a headless snapshot needs, started as the command's first act.

`portside ports` spends ~250 ms importing (pydantic models, the analysis, the
state store) before it takes its snapshot, while listing 1,000 containers
keeps the engine busy ~120-190 ms and the host-listener scan of /proc takes
~100 ms. `start()` begins both in daemon threads before those imports; the
snapshot then takes their results (each once) instead of asking again. The
dashboard never calls it: its snapshots ask when they are taken. Nothing here
imports pydantic or the docker SDK.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_started: dict[str, Any] = {}


def start(host: str | None = None, context: str | None = None) -> None:
    """Ask a local engine for its containers and /info, and scan the host's listeners, now. Never raises."""
    try:
        from portside.app.sources.engine import resolve_endpoint
        from portside.app.sources.rawengine import RawEngine, Reads

        client = RawEngine.for_endpoint(resolve_endpoint(host, context))
        if client is not None:
            _started["engine"] = Reads(client)
    except Exception:
        pass  # e.g. an unknown context: the snapshot reports it
    if sys.platform.startswith("linux"):
        from portside.app.sources import procnet

        _started["listeners"] = background(procnet.listeners)


def take(name: str) -> Any | None:
    """What `start` began under `name` ("engine": rawengine.Reads, "listeners": a Future), once."""
    return _started.pop(name, None)


def background(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future[Any]:
    """`fn(...)` in a daemon thread: a command that fails first does not wait for it to exit."""
    future: Future[Any] = Future()

    def work() -> None:
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=work, name=f"portside-{getattr(fn, '__name__', 'read')}", daemon=True).start()
    return future
