"""The remap modal and the Decisions screen, driven with keys only (Pilot, no Docker needed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from textual.widgets import DataTable, Input

from portside.app.config import Config, PortRange
from portside.app.models import BindingState, PortBinding, Snapshot, Source
from portside.app.ports.analysis import find_conflicts
from portside.app.sources.compose import load_project
from portside.app.state import State
from portside.app.tui import make_app
from portside.screens.decisions import DecisionsScreen
from portside.screens.remap import RemapModal, open_remap


def world(tmp_path: Path) -> tuple[Path, Snapshot]:
    d = tmp_path / "shop"
    d.mkdir()
    (d / "compose.yaml").write_text("services:\n  web:\n    ports:\n      - \"8080:80\"   # web\n")
    p = load_project(d, env={})
    live = PortBinding(source=Source.DOCKER, owner="container:other", container="other", port=8080,
                       state=BindingState.RUNNING)
    snap = Snapshot(projects=[p], bindings=[*p.services[0].ports, live,
                                            PortBinding(source=Source.DOCKER, owner="container:o2",
                                                        port=8000, state=BindingState.RUNNING)])
    return d, snap


async def wait_for(pilot, cond, what: str) -> None:
    for _ in range(200):
        if cond():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def test_remap_modal_end_to_end_with_keys(tmp_path, isolated_env):
    d, snap = world(tmp_path)
    conflict = find_conflicts(snap.bindings)[0]
    config = Config(port_range=PortRange(start=8000, end=8100))
    app = make_app(config=config, args=argparse.Namespace(state_dir=str(isolated_env)))
    results = []
    async with app.run_test(size=(80, 24)) as pilot:
        open_remap(app, snap, conflict, results.append)
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, RemapModal)
        port = modal.query_one("#remap-port", Input)
        await wait_for(pilot, lambda: port.value == "8001", "the suggestion (8000 is taken)")
        await wait_for(pilot, lambda: modal.plan is not None, "the plan for the suggestion")
        assert '+      - "8001:80"   # web' in str(modal.query_one("#remap-diff").render())
        # live validation: typing past the range is refused; deleting it is accepted again
        await pilot.press("9")
        await wait_for(pilot, lambda: "outside the range" in str(modal.query_one("#remap-valid").render()), "refusal")
        assert modal.plan is None
        await pilot.press("backspace")
        await wait_for(pilot, lambda: modal.plan is not None, "the plan again")
        await pilot.press("ctrl+s")  # accept the suggestion and apply
        await wait_for(pilot, lambda: bool(results), "the modal to close")
    assert results[0] is not None and results[0].moves[0].new_port == 8001
    assert (d / "compose.yaml").read_text() == "services:\n  web:\n    ports:\n      - \"8001:80\"   # web\n"
    with State(isolated_env) as state:
        assert [m.new_port for m in state.decisions()[0].moves] == [8001]


async def test_decisions_screen_lists_and_undoes(tmp_path, isolated_env):
    d, snap = world(tmp_path)
    from portside.app.ports.remap import RemapContext, plan_remap
    from portside.app.remapping import apply_remap

    config = Config(port_range=PortRange(start=8000, end=8100))
    plan = plan_remap(snap, find_conflicts(snap.bindings), RemapContext(config=config, environ={}))
    with State(isolated_env) as state:
        apply_remap(plan, state, config)
    assert "8001:80" in (d / "compose.yaml").read_text()
    app = make_app(config=config, args=argparse.Namespace(state_dir=str(isolated_env)))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, DecisionsScreen)
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, "the decision row")
        assert "8080->8001" in str(table.get_row_at(0)[3])
        assert "+      - \"8001:80\"" in str(screen.query_one("#decision-detail").render())
        await pilot.press("u")
        await wait_for(pilot, lambda: table.row_count == 2, "the undo decision")
    assert "8080:80" in (d / "compose.yaml").read_text()
