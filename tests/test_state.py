"""The state store: schema, file mode, and two processes writing at once."""

from __future__ import annotations

import multiprocessing as mp
import stat
from pathlib import Path

from portside.app.models import (
    Decision,
    IntegrationRecord,
    IntegrationStatus,
    PortMove,
    registry_key,
)
from portside.app.state import MIGRATIONS, State


def test_creates_db_0600_in_wal_mode_at_latest_schema(isolated_env: Path) -> None:
    with State() as st:
        assert st.path == isolated_env / "portside.db"
        assert stat.S_IMODE(st.path.stat().st_mode) == 0o600
        assert st.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert st.schema_version == len(MIGRATIONS)
        tables = {r[0] for r in st.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"registry", "port_history", "decisions", "integrations", "health_samples", "events"} <= tables
    with State() as again:  # reopening does not re-run migrations
        assert again.schema_version == len(MIGRATIONS)


def test_decision_updates_registry_and_history_together(tmp_path: Path) -> None:
    move = PortMove(owner="compose:p/web", project="p", service="web", target=80, old_port=8080, new_port=8081)
    key = registry_key("p", "web", 80)
    with State(tmp_path) as st:
        did = st.add_decision(
            Decision(actor="me@host", kind="remap", title="move web", moves=[move]), assignments={key: move}
        )
        assert st.decision(did).moves[0].new_port == 8081
        assert st.registry()[0]["port"] == 8081
        assert st.port_history(key)[0]["decision_id"] == did


def test_integration_records_and_kept_secrets(tmp_path: Path) -> None:
    with State(tmp_path) as st:
        st.put_integration_secrets("sso", "stack", {"grafana": "abc"})
        st.put_integration(IntegrationRecord(kind="sso", scope="stack", status=IntegrationStatus.ACTIVE))
        assert st.integration("sso", "stack").status is IntegrationStatus.ACTIVE
        assert st.integration_secrets("sso", "stack") == {"grafana": "abc"}


def _writer(state_dir: str, who: int, n: int) -> None:
    with State(state_dir) as st:
        for i in range(n):
            st.add_decision(Decision(actor=f"p{who}", kind="test", title=f"{who}-{i}"))
            st.set_assignment(f"proj/svc{who}/{i}/tcp", 8000 + i)
            st.add_event("test", {"who": who, "i": i})


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    n = 150
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, n)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with State(tmp_path) as st:
        titles = {d.title for d in st.decisions()}
        assert titles == {f"{w}-{i}" for w in (1, 2) for i in range(n)}
        assert len(st.registry()) == 2 * n
        assert len(st.events(limit=10_000)) == 2 * n
        assert st.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
