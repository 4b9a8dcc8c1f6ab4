"""Containers and Ports screens with Pilot against the real engine: live rows, conflicts, host switch."""

from __future__ import annotations

import argparse

from textual.widgets import DataTable, Input

from portside.app.config import Config, PortRange
from portside.app.ports.portmap import CellState
from portside.app.tui import make_app
from portside.screens.containers import ContainersScreen
from portside.screens.live import DockerHostModal
from portside.screens.portmap import PortMapView
from portside.screens.ports import PortsScreen
from portside.screens.remap import RemapModal
from tests.conftest import free_port


async def _until(pilot, pred, what: str, tries: int = 300):
    for _ in range(tries):
        value = pred()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"never happened: {what}")


def _cell(table: DataTable, row: str, col: str) -> str:
    return str(table.get_cell(row, col))


async def test_containers_appear_live_and_health_cell_is_settable(run_container) -> None:
    first = run_container({"80/tcp": free_port()})
    app = make_app(args=argparse.Namespace())
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one("#containers-table", DataTable)
        await _until(pilot, lambda: first.name in table.rows, "first container row")
        assert "/tcp" in _cell(table, first.name, "ports") and "running" in _cell(table, first.name, "state")
        table.move_cursor(row=table.get_row_index(first.name))
        second = run_container({"80/tcp": free_port()})  # no key pressed: the events stream brings it
        await _until(pilot, lambda: second.name in table.rows, "row of a container started later")
        assert table.get_row_at(table.cursor_row) == table.get_row(first.name)  # cursor stayed
        screen = app.screen
        assert isinstance(screen, ContainersScreen)
        screen.set_health(first.name, "degraded")
        assert "degraded" in _cell(table, first.name, "health")
        # name, state, health and ports fit 80 columns (the image goes to the detail line)
        visible = sum(table.columns[c].get_render_width(table) for c in ("name", "state", "health", "ports"))
        assert visible <= 80 - 2  # room left for the scrollbar
        assert "busybox" in str(app.screen.query_one("#containers-detail").render())

        await pilot.press("slash")  # filter: only the first container (under its group header)
        filter_box = app.screen.query_one("#containers-filter", Input)
        assert filter_box.has_focus
        filter_box.value = first.name  # typed as one paste: key-by-key is slow under Pilot
        await pilot.press("enter")
        await _until(pilot, lambda: second.name not in table.rows, "filtered out")
        assert first.name in table.rows and table.has_focus
        await pilot.press("escape")
        await _until(pilot, lambda: second.name in table.rows, "filter cleared")

        second.remove(force=True)
        await _until(pilot, lambda: second.name not in table.rows, "row of a removed container")


async def test_ports_screen_flags_a_declared_port_held_by_a_container(run_container, compose_project) -> None:
    port = free_port()
    holder = run_container({"80/tcp": port})
    proj = compose_project({"compose.yaml": f"services:\n  web:\n    image: i\n    ports: ['{port}:80']\n"})
    config = Config(port_range=PortRange(start=max(1, port - 100), end=min(65535, port + 100)))
    app = make_app(config=config, args=argparse.Namespace(project_dir=[str(proj)]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        conflicts = app.screen.query_one("#conflicts-table", DataTable)
        key = await _until(pilot, lambda: next((str(k.value) for k in conflicts.rows
                                                 if f"|{port}|" in str(k.value)), None), "conflict row")
        assert "declared-vs-live" in key and f"container:{holder.name}" in key
        conflicts.focus()
        conflicts.move_cursor(row=conflicts.get_row_index(key))
        await pilot.pause()
        fix = str(app.screen.query_one("#conflict-fix").render())
        assert "remap" in fix and f"{proj.name}/web" in fix
        await pilot.press("r")  # remap the selected conflict
        await _until(pilot, lambda: isinstance(app.screen, RemapModal), "remap modal")
        assert app.screen.conflict.key == key
        await pilot.press("escape")
        await _until(pilot, lambda: isinstance(app.screen, PortsScreen), "back on Ports")

        await pilot.press("m")  # the port map of the managed range replaces the bindings table
        await pilot.pause()
        pmap = app.screen.query_one(PortMapView)
        assert pmap.display and not app.screen.query_one("#ports-table").display
        assert pmap.map is not None and pmap.map.ports_per_cell == 1  # 201 ports fit at 80x24
        [cell] = [c for row in pmap.map.rows for c in row if c.first == port]
        assert cell.state is CellState.CONFLICT
        text = str(pmap.render())
        assert "× conflict" in text and f"/{pmap.map.size} free" in text
        assert all(len(line) <= 78 for line in text.splitlines())
        await pilot.press("m")
        ports = app.screen.query_one("#ports-table", DataTable)
        await pilot.press("c")  # only conflicting bindings
        await pilot.pause()
        owners = {str(ports.get_cell(k, "owner")) for k in ports.rows}
        assert any(holder.name in o for o in owners) and any(f"{proj.name}/web" in o for o in owners)
        assert all("error" in str(ports.get_cell(k, "conflict")) or str(ports.get_cell(k, "conflict"))
                   for k in ports.rows)


async def test_switching_docker_host_from_the_keyboard(docker_client) -> None:
    app = make_app(args=argparse.Namespace())
    async with app.run_test(size=(80, 24)) as pilot:
        await _until(pilot, lambda: app.snapshot is not None and app.snapshot.sources["docker"].ok, "docker up")
        await pilot.press("H")
        await pilot.pause()
        assert isinstance(app.screen, DockerHostModal)
        url = app.screen.query_one("#host-url", Input)
        url.focus()
        url.value = "unix:///nonexistent/docker.sock"  # typed as one paste: key-by-key is slow under Pilot
        await pilot.press("enter")
        await _until(pilot, lambda: not app.sources["docker"].ok, "docker reported down for the new host")
        assert "nonexistent" in app.sources["docker"].error
        assert app.sources["compose"].ok and app.sources["host"].ok  # the other sources keep working


async def test_snapshots_do_not_ping_pong_between_app_and_screen(docker_client) -> None:
    """The app re-posts SnapshotTaken/SourcesChanged to the screen; a copy that bubbled back
    would loop forever and burn a core while the dashboard sits idle."""
    from collections import Counter

    from portside.screens.base import SourcesChanged
    from portside.screens.live import SnapshotTaken

    assert SnapshotTaken.bubble is False and SourcesChanged.bubble is False
    seen: Counter[str] = Counter()
    app = make_app(args=argparse.Namespace())
    async with app.run_test(size=(80, 24), message_hook=lambda m: seen.update([type(m).__name__])) as pilot:
        await _until(pilot, lambda: app.snapshot is not None, "first snapshot")
        seen.clear()
        await pilot.pause(1.0)
    assert seen["SnapshotTaken"] < 20 and seen["SourcesChanged"] < 20, seen  # a loop makes thousands
