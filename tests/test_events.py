"""Events: stored in the state store and delivered to webhook / ntfy sinks (real local HTTP server)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portside.app import events
from portside.app.config import Config
from portside.app.state import State


class Sink:
    """A real HTTP server that records every POST; fails the first `fail_first` requests with 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[dict] = []
        self.fail_first = fail_first
        self.cond = threading.Condition()
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with sink.cond:
                    if sink.fail_first > 0:
                        sink.fail_first -= 1
                        self.send_response(503)
                        self.end_headers()
                        return
                    sink.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    sink.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.requests) >= n, timeout=timeout)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(events, "BACKOFF", 0.01)


def config(webhooks=(), ntfy=(), kinds=None) -> Config:
    n = {"webhooks": list(webhooks), "ntfy": list(ntfy)}
    if kinds is not None:
        n["events"] = kinds
    return Config.model_validate({"notifications": n})


def test_event_is_stored_and_webhook_gets_json(tmp_path, sink):
    state = State(tmp_path)
    cfg = config(webhooks=[sink.url + "/hook"])
    events.record_event(
        state,
        cfg,
        "health-changed",
        target="http:web",
        name="web",
        old="healthy",
        new="unhealthy",
        error="HTTP 500",
    )
    assert events.flush(10)
    got = sink.wait_for(1)
    assert len(got) == 1 and got[0]["path"] == "/hook"
    payload = json.loads(got[0]["body"])
    assert payload["kind"] == "health-changed" and payload["new"] == "unhealthy"
    assert payload["title"] == "portside: web is unhealthy"
    stored = state.events()
    assert stored[0]["kind"] == "health-changed" and stored[0]["target"] == "http:web"


def test_ntfy_gets_text_with_headers(tmp_path, sink):
    cfg = config(ntfy=[sink.url + "/mytopic"])
    events.record_event(None, cfg, "health-changed", name="db", old="unhealthy", new="healthy")
    assert events.flush(10)
    req = sink.wait_for(1)[0]
    assert req["path"] == "/mytopic"
    assert req["body"].decode() == "db: unhealthy -> healthy"
    assert req["headers"]["Title"] == "portside: db is healthy"
    assert req["headers"]["Priority"] == "default"
    assert req["headers"]["Tags"] == "white_check_mark"


def test_filtered_kinds_are_stored_but_not_sent(tmp_path, sink):
    state = State(tmp_path)
    cfg = config(webhooks=[sink.url], kinds=["port-remapped"])
    events.record_event(state, cfg, "conflict-found", message="8080/tcp taken twice")
    assert events.flush(10)
    assert sink.requests == []
    assert state.events()[0]["kind"] == "conflict-found"


def test_retries_after_server_errors():
    s = Sink(fail_first=2)
    try:
        events.record_event(
            None, config(webhooks=[s.url]), "port-remapped", message="web 8080 -> 8081"
        )
        assert events.flush(10)
        assert len(s.wait_for(1)) == 1
        assert s.fail_first == 0
    finally:
        s.close()


def test_unreachable_sink_does_not_block_caller(tmp_path):
    # A port nobody listens on: the caller returns at once, delivery gives up in the background.
    cfg = config(webhooks=["http://127.0.0.1:9/none"])
    events.record_event(None, cfg, "health-changed", name="x", old="healthy", new="unhealthy")
    assert events.flush(10)


async def test_async_code_delivers_on_the_loop(sink):
    cfg = config(webhooks=[sink.url])
    events.record_event(None, cfg, "integration-applied", kind_="mqtt", message="mqtt applied")
    assert events._tasks, "inside a loop delivery is an asyncio task"
    assert await events.aflush(10)
    assert len(sink.wait_for(1)) == 1
    await asyncio.sleep(0)
