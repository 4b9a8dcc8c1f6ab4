"""The state store: SQLite (stdlib) in the state directory.

WAL mode so readers never block the writer, `BEGIN IMMEDIATE` for every write
transaction plus a busy timeout so two portside processes serialise instead of
failing, a versioned schema with forward migrations, and file mode 0600.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from portside.app.errors import StateError
from portside.app.models import Decision, HealthSample, IntegrationRecord, PortMove, utcnow

DB_NAME = "portside.db"

# Each entry migrates from version i to i+1. Append only; never edit a shipped one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE registry (
        key TEXT PRIMARY KEY,            -- project/service/target/protocol
        project TEXT, service TEXT, name TEXT,
        port INTEGER NOT NULL, port_end INTEGER,
        protocol TEXT NOT NULL DEFAULT 'tcp',
        pinned INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE port_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL, port INTEGER NOT NULL, port_end INTEGER,
        protocol TEXT NOT NULL DEFAULT 'tcp',
        at TEXT NOT NULL, decision_id INTEGER
    );
    CREATE INDEX port_history_key ON port_history(key, at);
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL, actor TEXT NOT NULL, kind TEXT NOT NULL,
        title TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL               -- the Decision as JSON
    );
    CREATE TABLE integrations (
        kind TEXT NOT NULL, scope TEXT NOT NULL,
        body TEXT NOT NULL,              -- the IntegrationRecord as JSON (secrets redacted)
        secrets TEXT NOT NULL DEFAULT '{}',  -- generated secrets kept stable across re-runs
        PRIMARY KEY (kind, scope)
    );
    CREATE TABLE health_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL, at TEXT NOT NULL, status TEXT NOT NULL,
        latency_ms REAL, error TEXT, detail TEXT
    );
    CREATE INDEX health_samples_target ON health_samples(target, at);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,            -- small pieces of state, e.g. conflicts already announced
        value TEXT NOT NULL
    );
    """,
    # status: pending (written ahead of the files) / applied / rolled-back; journal: the id of the
    # apply journal that wrote it; registry_before: JSON, key -> the registry row before it (null: none).
    # (No SQL comments in ALTER TABLE: SQLite splices the column text into the stored CREATE.)
    """
    ALTER TABLE decisions ADD COLUMN status TEXT NOT NULL DEFAULT 'applied';
    ALTER TABLE decisions ADD COLUMN journal TEXT;
    ALTER TABLE decisions ADD COLUMN registry_before TEXT;
    """,
]


def default_state_dir() -> Path:
    env = os.environ.get("PORTSIDE_STATE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "portside"


class State:
    """A connection to the state store. One per thread; cheap to open."""

    def __init__(self, state_dir: Path | str | None = None) -> None:
        self.dir = Path(state_dir).expanduser() if state_dir else default_state_dir()
        self.path = self.dir / DB_NAME
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
            os.chmod(self.path, 0o600)
            self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self._migrate()
            for suffix in ("-wal", "-shm"):
                side = Path(str(self.path) + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"{self.path}: cannot open the state store ({_why(exc)})") from None

    # ----------------------------------------------------------------- plumbing

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that takes the write lock up front (no upgrade deadlocks)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    @contextmanager
    def writing(self, what: str) -> Iterator[sqlite3.Connection]:
        """`tx()` whose SQLite errors (disk full, read-only) become one StateError line."""
        try:
            with self.tx() as c:
                yield c
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot {what} ({_why(exc)})") from None

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self.tx() as db:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise StateError(
                    f"{self.path}: written by a newer portside (schema {version}); upgrade portside"
                )
            for i in range(version, len(MIGRATIONS)):
                for stmt in _statements(MIGRATIONS[i]):
                    db.execute(stmt)
                db.execute(f"PRAGMA user_version={i + 1}")

    # ----------------------------------------------------------------- registry

    def registry(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM registry ORDER BY key").fetchall()
        return [dict(r) for r in rows]

    def set_assignment(
        self,
        key: str,
        port: int,
        *,
        port_end: int | None = None,
        protocol: str = "tcp",
        pinned: bool = False,
        decision_id: int | None = None,
        db: sqlite3.Connection | None = None,
    ) -> None:
        """Record an intended assignment and its history (inside `db`'s transaction if given)."""
        parts = [*key.split("/"), "", "", ""]
        project, service, name = parts[0], parts[1], parts[2]
        now = utcnow().isoformat()

        def write(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO registry(key, project, service, name, port, port_end, protocol, pinned, updated_at)"
                " VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET port=excluded.port,"
                " port_end=excluded.port_end, protocol=excluded.protocol, pinned=excluded.pinned,"
                " updated_at=excluded.updated_at",
                (key, project or None, service or None, name or None, port, port_end, protocol, int(pinned), now),
            )
            c.execute(
                "INSERT INTO port_history(key, port, port_end, protocol, at, decision_id) VALUES(?,?,?,?,?,?)",
                (key, port, port_end, protocol, now, decision_id),
            )

        if db is not None:
            write(db)
        else:
            with self.tx() as c:
                write(c)

    def remove_assignment(self, key: str) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM registry WHERE key=?", (key,))

    def port_history(self, key: str | None = None) -> list[dict[str, Any]]:
        if key:
            rows = self.db.execute("SELECT * FROM port_history WHERE key=? ORDER BY id", (key,))
        else:
            rows = self.db.execute("SELECT * FROM port_history ORDER BY id")
        return [dict(r) for r in rows.fetchall()]

    # ---------------------------------------------------------------- decisions

    def add_decision(
        self,
        decision: Decision,
        *,
        assignments: dict[str, PortMove] | None = None,
        status: str = "applied",
        journal: str | None = None,
    ) -> int:
        """Store a decision; with status "applied" the registry and port history update in the same
        transaction. A "pending" decision is finished later by `finish_decision`.

        `assignments` maps registry keys (see `app.models.registry_key`) to the move.
        """
        with self.writing("record the decision") as c:
            cur = c.execute(
                "INSERT INTO decisions(at, actor, kind, title, reason, body, status, journal)"
                " VALUES(?,?,?,?,?,?,?,?)",
                (decision.at.isoformat(), decision.actor, decision.kind, decision.title, decision.reason,
                 decision.model_dump_json(exclude={"status"}), status, journal),
            )
            did = int(cur.lastrowid or 0)
            if status == "applied":
                self._assign(c, did, assignments or {})
            return did

    def finish_decision(
        self, decision_id: int, *, assignments: dict[str, PortMove] | None = None, undo_of: int | None = None,
        body: Decision | None = None,
    ) -> None:
        """Mark a pending decision applied; the registry follows in the same transaction.

        `undo_of`: the decision this one undoes; its registry rows and port history go back to
        what they were before it, and it is marked undone.
        """
        with self.writing("mark the decision applied") as c:
            c.execute("UPDATE decisions SET status='applied' WHERE id=?", (decision_id,))
            if body is not None:
                c.execute("UPDATE decisions SET body=? WHERE id=?",
                          (body.model_dump_json(exclude={"id", "status"}), decision_id))
            if undo_of is not None:
                self._restore_registry(c, undo_of)
                row = c.execute("SELECT body FROM decisions WHERE id=?", (undo_of,)).fetchone()
                if row is not None:
                    d = Decision.model_validate_json(row["body"]).model_copy(update={"undone_by": decision_id})
                    c.execute("UPDATE decisions SET body=? WHERE id=?",
                              (d.model_dump_json(exclude={"status"}), undo_of))
            self._assign(c, decision_id, assignments or {})

    def set_decision_status(self, decision_id: int | None = None, status: str = "rolled-back", *,
                            journal: str | None = None) -> None:
        """Set the status of a decision (by id, or the pending one a journal wrote)."""
        with self.writing("update the decision") as c:
            if decision_id is not None:
                c.execute("UPDATE decisions SET status=? WHERE id=?", (status, decision_id))
            elif journal is not None:
                c.execute("UPDATE decisions SET status=? WHERE journal=? AND status='pending'", (status, journal))

    def _assign(self, c: sqlite3.Connection, did: int, assignments: dict[str, PortMove]) -> None:
        before: dict[str, Any] = {}
        for key in assignments:
            row = c.execute("SELECT * FROM registry WHERE key=?", (key,)).fetchone()
            before[key] = dict(row) if row else None
        c.execute("UPDATE decisions SET registry_before=? WHERE id=?", (json.dumps(before), did))
        for key, move in assignments.items():
            self.set_assignment(key, move.new_port, port_end=move.new_port_end, protocol=move.protocol.value,
                                decision_id=did, db=c)

    def _restore_registry(self, c: sqlite3.Connection, did: int) -> None:
        row = c.execute("SELECT registry_before FROM decisions WHERE id=?", (did,)).fetchone()
        before: dict[str, Any] = json.loads(row["registry_before"]) if row and row["registry_before"] else {}
        for key, old in before.items():
            c.execute("DELETE FROM registry WHERE key=?", (key,))
            if old is not None:
                cols = ", ".join(old)
                c.execute(f"INSERT INTO registry({cols}) VALUES({', '.join('?' * len(old))})", tuple(old.values()))
        c.execute("DELETE FROM port_history WHERE decision_id=?", (did,))

    def mark_undone(self, decision_id: int, by: int) -> None:
        with self.tx() as c:
            row = c.execute("SELECT body FROM decisions WHERE id=?", (decision_id,)).fetchone()
            if row is None:
                return
            d = Decision.model_validate_json(row["body"]).model_copy(update={"undone_by": by})
            c.execute("UPDATE decisions SET body=? WHERE id=?", (d.model_dump_json(exclude={"status"}), decision_id))

    def decisions(self, limit: int | None = None) -> list[Decision]:
        sql = "SELECT id, body, status FROM decisions ORDER BY id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        out = []
        for row in self.db.execute(sql).fetchall():
            out.append(_decision(row))
        return out

    def decision(self, decision_id: int) -> Decision | None:
        row = self.db.execute("SELECT id, body, status FROM decisions WHERE id=?", (decision_id,)).fetchone()
        return None if row is None else _decision(row)

    # ------------------------------------------------------------- integrations

    def integration(self, kind: str, scope: str = "global") -> IntegrationRecord | None:
        row = self.db.execute(
            "SELECT body FROM integrations WHERE kind=? AND scope=?", (kind, scope)
        ).fetchone()
        return IntegrationRecord.model_validate_json(row["body"]) if row else None

    def integrations(self) -> list[IntegrationRecord]:
        rows = self.db.execute("SELECT body FROM integrations ORDER BY kind, scope").fetchall()
        return [IntegrationRecord.model_validate_json(r["body"]) for r in rows]

    def put_integration(self, record: IntegrationRecord) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO integrations(kind, scope, body) VALUES(?,?,?)"
                " ON CONFLICT(kind, scope) DO UPDATE SET body=excluded.body",
                (record.kind, record.scope, record.model_dump_json()),
            )

    def integration_secrets(self, kind: str, scope: str = "global") -> dict[str, str]:
        row = self.db.execute(
            "SELECT secrets FROM integrations WHERE kind=? AND scope=?", (kind, scope)
        ).fetchone()
        return dict(json.loads(row["secrets"])) if row else {}

    def put_integration_secrets(self, kind: str, scope: str, secrets: dict[str, str]) -> None:
        """Generated secrets (client secrets, passwords) kept so re-runs stay identical."""
        with self.tx() as c:
            placeholder = IntegrationRecord(kind=kind, scope=scope).model_dump_json()
            c.execute(
                "INSERT INTO integrations(kind, scope, body, secrets) VALUES(?,?,?,?)"
                " ON CONFLICT(kind, scope) DO UPDATE SET secrets=excluded.secrets",
                (kind, scope, placeholder, json.dumps(secrets, sort_keys=True)),
            )

    # ------------------------------------------------------------------- health

    def add_health_samples(self, samples: list[HealthSample], *, retention: timedelta | None = None) -> None:
        with self.tx() as c:
            c.executemany(
                "INSERT INTO health_samples(target, at, status, latency_ms, error, detail) VALUES(?,?,?,?,?,?)",
                [
                    (s.target, s.at.isoformat(), s.status.value, s.latency_ms, s.error, s.detail)
                    for s in samples
                ],
            )
            if retention is not None:
                cutoff = (utcnow() - retention).isoformat()
                c.execute("DELETE FROM health_samples WHERE at < ?", (cutoff,))

    def health_samples(self, target: str | None = None, limit: int = 100) -> list[HealthSample]:
        if target:
            rows = self.db.execute(
                "SELECT * FROM health_samples WHERE target=? ORDER BY id DESC LIMIT ?", (target, limit)
            )
        else:
            rows = self.db.execute("SELECT * FROM health_samples ORDER BY id DESC LIMIT ?", (limit,))
        return [
            HealthSample(
                target=r["target"],
                at=datetime.fromisoformat(r["at"]),
                status=r["status"],
                latency_ms=r["latency_ms"],
                error=r["error"],
                detail=r["detail"],
            )
            for r in rows.fetchall()
        ][::-1]

    # ----------------------------------------------------------------------- kv

    def get_kv(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def set_kv(self, key: str, value: Any) -> None:
        with self.tx() as c:
            c.execute(
                "INSERT INTO kv(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, json.dumps(value, sort_keys=True)),
            )

    # ------------------------------------------------------------------- events

    def add_event(self, kind: str, body: dict[str, Any]) -> int:
        with self.tx() as c:
            cur = c.execute(
                "INSERT INTO events(at, kind, body) VALUES(?,?,?)",
                (utcnow().isoformat(), kind, json.dumps(body, default=str, sort_keys=True)),
            )
            return int(cur.lastrowid or 0)

    def events(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [{"id": r["id"], "at": r["at"], "kind": r["kind"], **json.loads(r["body"])} for r in rows]


def _decision(row: sqlite3.Row) -> Decision:
    d = Decision.model_validate_json(row["body"])
    return d.model_copy(update={"id": row["id"], "status": row["status"]})


def _why(exc: BaseException) -> str:
    """The cause and what to do about it, in a few words."""
    text = str(exc)
    if "disk is full" in text or getattr(exc, "errno", None) == 28:
        return f"{text}: free space on the disk that holds the state directory, or set PORTSIDE_STATE_DIR"
    if "readonly" in text or "read-only" in text or getattr(exc, "errno", None) in (13, 30):
        return f"{text}: make the state directory writable, or set PORTSIDE_STATE_DIR"
    return text


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip() and not s.strip().startswith("--")]
