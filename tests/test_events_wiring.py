"""Events from the actions that cause them: conflicts (once per new conflict), remaps, integrations."""

from __future__ import annotations

import json
from pathlib import Path

from portside.app.events import announce_new
from portside.app.state import State
from tests.conftest import free_port


def test_announce_new_notifies_once_until_the_item_goes_and_comes_back(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        assert announce_new(st, None, "conflict-found", "c", {"a": {"message": "A"}}) == ["a"]
        assert announce_new(st, None, "conflict-found", "c", {"a": {"message": "A"}}) == []
        assert announce_new(st, None, "conflict-found", "c", {}) == []
        assert announce_new(st, None, "conflict-found", "c", {"a": {"message": "A"}}) == ["a"]
        assert [e["message"] for e in st.events()] == ["A", "A"]


def test_conflicts_and_remap_are_events(compose_project, cli) -> None:
    port = free_port()
    one = compose_project({"compose.yaml": f"services:\n  web:\n    image: x\n    ports: ['{port}:80']\n"})
    two = compose_project({"compose.yaml": f"services:\n  api:\n    image: x\n    ports: ['{port}:80']\n"})
    dirs = ["--project-dir", str(one), "--project-dir", str(two)]
    assert cli("conflicts", *dirs)[0] == 1
    assert cli("conflicts", *dirs)[0] == 1  # the same conflict again: no second event
    code, out, _ = cli("events", "--json", "--kind", "conflict-found")
    # this machine's own projects may be in conflict too: only the conflict made here counts
    found = [e for e in json.loads(out)["events"] if str(port) in e["message"]]
    assert code == 0 and len(found) == 1

    cfg = Path("portside.yaml")
    cfg.write_text("port_range: {start: 30000, end: 30999}\n")
    code, _, err = cli("remap", "--yes", *dirs)
    assert code == 0, err
    code, out, _ = cli("events", "--json", "--kind", "port-remapped")
    moved = [e for e in json.loads(out)["events"] if e["old_port"] == port]
    assert len(moved) == 1
    assert moved[0]["old_port"] == port and 30000 <= moved[0]["new_port"] <= 30999
