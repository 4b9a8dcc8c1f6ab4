"""The Health screen with Pilot, fed by the real poller against real containers."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import DataTable, Static

from portside.app.config import Config
from portside.app.health_targets import build_targets
from portside.app.tui import make_app
from tests.conftest import free_port
from tests.test_health import snapshot_of

pytestmark = pytest.mark.docker


def cell(table: DataTable, key: str, col: str) -> str:
    return str(table.get_cell(key, col))


async def until(pilot, cond, tries: int = 300) -> None:
    for _ in range(tries):
        if cond():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition never held")


async def test_health_screen_updates_rows_in_place(docker_client, run_container):
    a = run_container({"80/tcp": free_port()}, labels={"portside.health": "/health"})
    b = run_container({"80/tcp": free_port()}, labels={"portside.health": "/nope"})
    cfg = Config.model_validate({"health": {"interval": 0.3, "timeout": 1.0}})
    targets = build_targets(snapshot_of(docker_client, a, b), cfg)
    ids = {t.container: t.id for t in targets}
    app = make_app(config=cfg)
    app.health_targets = lambda: targets  # only this test's containers, not the whole engine
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        table = app.screen.query_one(DataTable)
        await until(
            pilot,
            lambda: (
                table.row_count == 2
                and cell(table, ids[a.name], "status") == "healthy"
                and cell(table, ids[b.name], "status") == "unhealthy"
            ),
        )
        assert "HTTP 404" in cell(table, ids[b.name], "detail")
        assert cell(table, ids[a.name], "latency").endswith(" ms")

        row_a = table.get_row_index(ids[a.name])
        table.move_cursor(row=row_a)
        await pilot.pause()
        keys_before = [k.value for k in table.rows]
        await asyncio.to_thread(a.exec_run, ["rm", "/www/health"])
        await until(pilot, lambda: cell(table, ids[a.name], "status") == "unhealthy")
        assert table.cursor_row == row_a  # updated in place: the cursor did not move
        assert [k.value for k in table.rows] == keys_before

        await pilot.press("enter")
        await pilot.pause()
        detail = str(app.screen.query_one("#health-detail", Static).render())
        assert a.name in detail and "HTTP 404" in detail

        # The Containers screen's health column shows the poller's verdict for the container.
        await pilot.press("1")
        containers = app.screen.query_one("#containers-table", DataTable)
        await until(
            pilot,
            lambda: a.name in containers.rows and "unhealthy" in cell(containers, a.name, "health"),
        )
