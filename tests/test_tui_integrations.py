"""The Integrations screen and the generic wizard, driven by keys only at 80x24 (Pilot)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from portside.app.config import Config
from portside.app.models import ComposeProject, ComposeService, Snapshot
from tests.conftest import free_port
from tests.smtp_inbox import Inbox


@pytest.fixture
def plain_smtp() -> Any:
    from aiosmtpd.controller import Controller

    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, handler
    controller.stop()


def stack(tmp_path: Path) -> tuple[Path, Snapshot]:
    proj = tmp_path / "web"
    proj.mkdir()
    compose = proj / "compose.yaml"
    compose.write_text("services:\n  grafana:\n    image: grafana/grafana-oss:11\n")
    svc = ComposeService(project="web", service="grafana", project_dir=str(proj), compose_files=[str(compose)],
                         image="grafana/grafana-oss:11")
    return proj, Snapshot(projects=[ComposeProject(name="web", project_dir=str(proj),
                                                   compose_files=[str(compose)], services=[svc])])


async def until(pilot: Any, condition: Any, limit: float = 15.0) -> None:
    """Let the app run until `condition()` holds (other screens' workers never finish, so no wait-for-all)."""
    import time

    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {limit}s")
        await pilot.pause(0.02)


async def focus(pilot: Any, widget_id: str) -> None:
    for _ in range(40):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"tab never reached #{widget_id} (at {pilot.app.focused})")


async def type_into(pilot: Any, widget_id: str, text: str) -> None:
    await focus(pilot, widget_id)
    await pilot.press("ctrl+a", "ctrl+k")  # clear the input the keyboard way
    await pilot.press(*list(text))


async def test_wizard_by_keys(tmp_path: Path, plain_smtp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.widgets import DataTable, Static

    from portside.app.tui import make_app
    from portside.screens.integrations import IntegrationsScreen
    from portside.screens.wizard import WizardScreen

    port, handler = plain_smtp
    proj, snap = stack(tmp_path)
    # the project is also passed as --project-dir, so a live discovery snapshot replacing ours still has it;
    # and that discovery sees no engine: the containers running on this machine are not this test's world
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    app = make_app(config=Config(), args=argparse.Namespace(state_dir=None, project_dir=[str(proj)]))
    async with app.run_test(size=(80, 24)) as pilot:
        app.snapshot = snap  # type: ignore[attr-defined]
        await pilot.press("3")
        await until(pilot, lambda: bool(getattr(app.screen, "rows", None)))
        screen = app.screen
        assert isinstance(screen, IntegrationsScreen)
        assert {"email", "mqtt"} <= set(screen.rows)
        assert screen.rows["email"].consumers == ["web/grafana"]
        table = screen.query_one(DataTable)
        for _ in range(len(screen.rows)):
            if screen._selected_kind() == "email":
                break
            await pilot.press("down")
        assert screen._selected_kind() == "email"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, WizardScreen) and bool(app.screen.previous))
        wiz = app.screen
        assert isinstance(wiz, WizardScreen)
        assert app.focused is not None and app.focused.id == "f-__project_dir"
        assert app.focused.value == str(proj)  # the detected consumer's project is the default scope

        # inline validation: required fields say so, a bad address says why
        assert "required" in str(wiz.query_one("#e-host", Static).render()).lower()
        await type_into(pilot, "f-host", "127.0.0.1")
        assert str(wiz.query_one("#e-host", Static).render()) == ""
        await type_into(pilot, "f-from_address", "nobody")
        assert "email address" in str(wiz.query_one("#e-from_address", Static).render())
        await pilot.press("ctrl+n")  # refused while invalid
        assert wiz.step == "form"
        await type_into(pilot, "f-from_address", "wizard@example.test")
        assert str(wiz.query_one("#e-from_address", Static).render()) == ""
        await type_into(pilot, "f-port", str(port))
        await focus(pilot, "f-security")
        await pilot.press("enter", "up", "enter")  # starttls -> none
        await pilot.pause()
        assert wiz.raw_values()["security"] == "none"
        await type_into(pilot, "f-password", "x")  # a password without a user: a model-level error
        assert "needs a user" in str(wiz.query_one("#e-", Static).render())
        await focus(pilot, "f-password")
        await pilot.press("ctrl+a", "ctrl+k")
        assert wiz.errors == {}

        await pilot.press("ctrl+n")
        await until(pilot, lambda: wiz.prepared is not None)
        assert wiz.step == "preview" and wiz.prepared is not None
        assert "GF_SMTP_HOST" in wiz.prepared.diff and "compose.email.yaml" in wiz.prepared.diff
        assert not (proj / "portside").exists()  # preview writes nothing

        await pilot.press("ctrl+s")
        await until(pilot, lambda: not wiz.busy)
        assert wiz.step == "result"
        assert (proj / "portside" / "compose.email.yaml").is_file()
        assert "COMPOSE_FILE=" in (proj / ".env").read_text()
        assert "verified" in str(wiz.query_one("#verify-results", Static).render())
        assert [m.mail_from for m in handler.messages] == ["wizard@example.test"]

        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen and str(table.get_cell("email", "status")) == "active")


async def test_integrations_screen_fits_80x24_and_shows_drift(tmp_path: Path, cli: Any) -> None:
    from textual.widgets import DataTable

    from portside.app.tui import make_app

    cfg = tmp_path / "portside.yaml"
    cfg.write_text(f"integrations:\n  mqtt:\n    output_dir: {tmp_path / 'b'}\n    tls_listener: false\n")
    assert cli("integrate", "mqtt", "--config", str(cfg))[0] == 0
    (tmp_path / "b" / "mosquitto" / "acl").write_text("# edited\n")
    app = make_app(config=Config(), args=argparse.Namespace(state_dir=None))
    async with app.run_test(size=(80, 24)) as pilot:
        app.snapshot = Snapshot()  # type: ignore[attr-defined]
        await pilot.press("3")
        await until(pilot, lambda: "mqtt" in getattr(app.screen, "rows", {}))
        table = app.screen.query_one(DataTable)
        assert str(table.get_cell("mqtt", "status")) == "drifted"
        assert table.region.width <= 80 and table.region.height > 3
