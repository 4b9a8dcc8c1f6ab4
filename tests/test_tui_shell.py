"""The dashboard shell, driven with Pilot: areas by key, help, keymap, Docker absent."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable

from portside.app.config import Config
from portside.app.tui import make_app
from portside.screens.base import SourcesBar
from portside.screens.help import HelpModal


async def _wait_sources(app, pilot) -> None:
    for _ in range(100):
        if "docker" in app.sources:
            return
        await pilot.pause(0.05)
    raise AssertionError("the Docker probe never reported")


@pytest.mark.parametrize(("key", "screen"), [
    ("1", "ContainersScreen"), ("2", "PortsScreen"), ("3", "IntegrationsScreen"),
    ("4", "HealthScreen"), ("5", "DecisionsScreen"),
])
async def test_each_area_has_a_key(key: str, screen: str) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(key)
        await pilot.pause()
        assert type(app.screen).__name__ == screen


async def test_help_lists_every_app_binding_and_closes() -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        table = app.screen.query_one(DataTable)
        actions = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {"Containers", "Ports", "Integrations", "Health", "Decisions", "Quit"} <= actions
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpModal)


async def test_keymap_from_config_remaps_a_binding() -> None:
    app = make_app(config=Config(keymap={"ports": "p"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("p")
        await pilot.pause()
        assert type(app.screen).__name__ == "PortsScreen"


async def test_opens_without_docker_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _wait_sources(app, pilot)
        await pilot.pause()
        status = app.sources["docker"]
        assert not status.ok
        assert "unreachable" in status.error and "not running" in status.error
        bar = str(app.screen.query_one(SourcesBar).render())
        assert "docker" in bar and "unreachable" in bar


async def test_shows_engine_up_when_docker_runs(docker_client) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _wait_sources(app, pilot)
        assert app.sources["docker"].ok, app.sources["docker"].error
