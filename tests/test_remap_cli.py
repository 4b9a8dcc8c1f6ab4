"""export/import round trip, decisions and undo through the CLI (in-process, no Docker)."""

from __future__ import annotations

import json

from portside.app.state import State


def test_export_import_round_trip_and_second_import_is_a_no_op(cli, tmp_path, isolated_env):
    with State(isolated_env) as st:
        st.set_assignment("shop/web/80/tcp", 8100)
        st.set_assignment("shop/db/5432/tcp", 8200, pinned=True)
        st.set_assignment("shop/web/80/tcp", 8101)
    (tmp_path / "portside.yaml").write_text("reserved_ports: [8443]\n")
    code, out, _ = cli("export", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["reserved"] == [8443] and data["updated_at"]
    assert data["assignments"]["shop/web/80/tcp"]["port"] == 8101
    assert data["assignments"]["shop/db/5432/tcp"]["pinned"] is True
    assert [h["port"] for h in data["history"]] == [8100, 8200, 8101]
    (tmp_path / "ports.json").write_text(out)
    other = tmp_path / "other-state"
    code, out, _ = cli("import", str(tmp_path / "ports.json"), "--state-dir", str(other), "--json")
    assert code == 0 and json.loads(out)["assignments_changed"] == 2
    code, out, _ = cli("import", str(tmp_path / "ports.json"), "--state-dir", str(other), "--json")
    assert json.loads(out)["assignments_changed"] == 0 and json.loads(out)["history_added"] == 0
    with State(other) as st:
        assert {r["key"]: (r["port"], r["pinned"]) for r in st.registry()} == {
            "shop/web/80/tcp": (8101, 0), "shop/db/5432/tcp": (8200, 1)}
    (tmp_path / "bad.json").write_text("{\n  \"assignments\": {\"x\": {\"port\": 0}}\n}")
    code, _, err = cli("import", str(tmp_path / "bad.json"))
    assert code == 2 and "needs \"port\": 1-65535" in err


def test_remap_single_move_dry_run_apply_decisions_undo(cli, tmp_path):
    d = tmp_path / "shop"
    d.mkdir()
    (d / "compose.yaml").write_text("services:\n  web:\n    ports:\n      - 18080:80  # keep\n")
    code, _, err = cli("remap", "shop/web", "--port", "18080", "--to", "18090", "--project-dir", str(d))
    assert code == 2 and "outside the range 8000-9000" in err
    (tmp_path / "portside.yaml").write_text("port_range: {start: 18000, end: 18100}\n")
    code, out, _ = cli("remap", "shop/web", "--port", "18080", "--to", "18090", "--dry-run", "--project-dir", str(d))
    assert code == 0 and "+      - 18090:80  # keep" in out and "dry run" in out
    assert "18080" in (d / "compose.yaml").read_text()
    code, out, _ = cli("remap", "shop/web", "--port", "18080", "--to", "18090", "--yes", "--project-dir", str(d))
    assert code == 0 and "applied as decision 1" in out
    assert (d / "compose.yaml").read_text() == "services:\n  web:\n    ports:\n      - 18090:80  # keep\n"
    code, out, _ = cli("decisions", "--json")
    assert json.loads(out)["decisions"][0]["moves"][0]["new_port"] == 18090
    code, out, _ = cli("undo", "1")
    assert code == 0 and "undid decision 1" in out
    assert "18080:80" in (d / "compose.yaml").read_text()
    code, _, err = cli("undo", "1")
    assert code == 2 and "already undone" in err
    code, _, err = cli("remap", "shop/nope", "--port", "1", "--project-dir", str(d))
    assert code == 2 and "no such compose service" in err
