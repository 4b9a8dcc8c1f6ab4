"""HTTP checks against a real local server: redirects to another host, the body cap."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from portside.app.config import Config
from portside.app.health import Poller
from portside.app.health_targets import Target
from portside.app.models import HealthState

CAP = 1024


class Server:
    """Answers by path: /redirect-away, /redirect-here, /ok, /big?at=N, /endless; else 404."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.endless_sent = 0
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                srv.paths.append(self.path)
                port = self.server.server_address[1]
                if self.path == "/redirect-away":  # same port, another host name
                    self._head(302, {"Location": f"http://localhost:{port}/ok"})
                elif self.path == "/redirect-here":
                    self._head(302, {"Location": "/ok"})
                elif self.path == "/ok":
                    self._body(b"ok\n")
                elif self.path.startswith("/big"):
                    at = int(self.path.rsplit("=", 1)[1])
                    self._body(b"x" * at + b"MARKER" + b"x" * 4096)
                elif self.path == "/endless":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    chunk = b"ok" + b"x" * 8190
                    try:
                        for _ in range(100_000):  # 800 MB unless the reader stops
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                            srv.endless_sent += len(chunk)
                    except OSError:
                        pass  # the poller hung up: what we want
                    self.close_connection = True
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def _head(self, code: int, headers: dict[str, str]) -> None:
                self.send_response(code)
                for k, v in {**headers, "Content-Length": "0"}.items():
                    self.send_header(k, v)
                self.end_headers()

            def _body(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *_a: None  # type: ignore[method-assign]  (hang-ups)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


def target(url: str, body_contains: str | None = None) -> Target:
    return Target(
        id=url, name=url, kind="http", url=url, interval=1, timeout=5, body_contains=body_contains
    )


async def check(*targets: Target) -> dict[str, tuple[HealthState, str | None]]:
    cfg = Config.model_validate({"health": {"max_body_bytes": CAP}})
    poller = Poller(cfg, store=False)
    try:
        sts = await poller.poll_once(targets)
    finally:
        await poller.aclose()
    return {st.target.id: (st.status, st.last_error) for st in sts}


async def test_redirect_to_another_host_is_not_followed(server: Server) -> None:
    away, here = server.url + "/redirect-away", server.url + "/redirect-here"
    got = await check(target(away), target(here))
    status, error = got[away]
    assert status == HealthState.UNHEALTHY
    assert error is not None and "redirect to another host refused" in error
    assert got[here] == (HealthState.HEALTHY, None)  # the same origin is followed
    assert server.paths.count("/ok") == 1  # only by the same-origin redirect


async def test_body_is_read_up_to_the_cap(server: Server) -> None:
    inside, beyond = server.url + f"/big?at={CAP - 100}", server.url + f"/big?at={CAP + 100}"
    got = await check(target(inside, "MARKER"), target(beyond, "MARKER"))
    assert got[inside] == (HealthState.HEALTHY, None)
    assert got[beyond] == (HealthState.UNHEALTHY, "body lacks 'MARKER'")


async def test_an_endless_body_is_cut_not_read_to_the_end(server: Server) -> None:
    url = server.url + "/endless"
    got = await check(target(url, "ok"))
    assert got[url] == (HealthState.HEALTHY, None)  # not a timeout: reading stopped at the cap
    assert server.endless_sent < 100_000 * 8192
