"""Remapping, end to end without a terminal: shared by `portside remap`, `undo` and the TUI.

snapshot -> conflicts -> `plan_remap` (pure) -> `apply_remap` (the one executor:
registry and history in the decision's transaction, plus the optional
plain-text decisions log) -> `plan_undo` / `undo` for a decision's files.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from portside.app.compose_edit import port_text
from portside.app.config import Config
from portside.app.errors import ApplyError, PortsideError
from portside.app.executor import ApplyResult, LinkPolicy, apply_plan, sha256_file
from portside.app.fileops import stack_roots
from portside.app.models import Conflict, Decision, FileEdit, Plan, PortMove, Severity, Snapshot
from portside.app.ports.remap import RemapContext, registry_updates
from portside.app.state import State


def remap_context(config: Config, state: State | None, snapshot: Snapshot, *, recreate: bool = False) -> RemapContext:
    mtimes: dict[str, float] = {}
    for p in snapshot.projects:
        for f in p.compose_files:
            with contextlib.suppress(OSError):
                mtimes[f] = os.stat(f).st_mtime
    return RemapContext(config=config, registry=list(state.registry()) if state else [], mtimes=mtimes,
                        recreate=recreate)


def error_conflicts(conflicts: list[Conflict]) -> list[Conflict]:
    return [c for c in conflicts if c.severity is Severity.ERROR]


def link_policy(config: Config) -> LinkPolicy:
    return LinkPolicy(roots=stack_roots(list(config.stacks)), allow_outside=config.symlinks_outside_stacks == "allow")


def apply_remap(plan: Plan, state: State, config: Config, *, run_actions: bool = True,
                undo_of: int | None = None) -> ApplyResult:
    """Apply a remap plan; the registry follows in the same transaction; the text log is appended.

    `undo_of`: the plan undoes that decision; the registry goes back to what it was before it.
    """
    from portside.app.events import PORT_REMAPPED, record_event

    result = apply_plan(plan, state, run_actions=run_actions, links=link_policy(config),
                        registry=None if undo_of is not None else registry_updates(plan), undo_of=undo_of)
    if config.decisions_log:
        append_decisions_log(Path(config.decisions_log).expanduser(), result.decision)
    for move in plan.moves:
        who = f"{move.project}/{move.service}" if move.project and move.service else move.owner
        record_event(
            state,
            config,
            PORT_REMAPPED,
            message=f"{who}: {move.old_port} -> {move.new_port} ({move.reason or plan.reason})",
            service=who,
            old_port=move.old_port,
            new_port=move.new_port,
            decision=result.decision.id,
        )
    return result


def log_lines(decision: Decision) -> list[str]:
    """`[timestamp] [service] [old->new] [reason]`, one line per move (or one for the decision)."""
    stamp = decision.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not decision.moves:
        return [f"[{stamp}] [-] [-] [{decision.kind}: {decision.title}]"]
    out = []
    for m in decision.moves:
        who = f"{m.project}/{m.service}" if m.project else m.owner
        old, new = port_text(m.old_port, m.old_port_end), port_text(m.new_port, m.new_port_end)
        reason = " ".join((m.reason or decision.reason or decision.kind).split())
        out.append(f"[{stamp}] [{who}] [{old}->{new}] [{reason}]")
    return out


def append_decisions_log(path: Path, decision: Decision) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        for line in log_lines(decision):
            fh.write(line + "\n")


# ------------------------------------------------------------------------- undo


def plan_undo(decision: Decision) -> Plan:
    """Restore the files of `decision` from its backups; refuses if they changed since."""
    if decision.undone_by is not None:
        raise PortsideError(f"decision {decision.id} was already undone by decision {decision.undone_by}")
    if decision.status != "applied":
        hint = "run `portside recover` first" if decision.status == "pending" else "it changed no file"
        raise PortsideError(f"decision {decision.id} is {decision.status}, not applied; {hint}")
    edits: list[FileEdit] = []
    for path in decision.files:
        now = sha256_file(path)
        if now != decision.hashes.get(path):
            raise ApplyError(
                f"{path}: changed since decision {decision.id} wrote it; undo would lose those edits "
                "— restore it by hand from the backup " + str(decision.backups.get(path) or "(none: it was new)")
            )
        backup = decision.backups.get(path)
        if backup is None:
            edits.append(FileEdit(path=path, old_sha256=now, new_text="", delete=True,
                                  description="remove the file the decision created"))
            continue
        try:
            text = Path(backup).read_text(encoding="utf-8")
        except OSError as exc:
            raise ApplyError(f"{backup}: backup unreadable ({exc.strerror}); cannot undo") from None
        edits.append(FileEdit(path=path, old_sha256=now, new_text=text, description=f"restore from {backup}"))
    moves = [
        PortMove(owner=m.owner, project=m.project, service=m.service, target=m.target, protocol=m.protocol,
                 old_port=m.new_port, old_port_end=m.new_port_end, new_port=m.old_port,
                 new_port_end=m.old_port_end, reason=f"undo of decision {decision.id}")
        for m in decision.moves
    ]
    return Plan(kind="undo", title=f"Undo decision {decision.id}: {decision.title}",
                reason=f"undo of decision {decision.id}", edits=edits, moves=moves)


def undo(state: State, config: Config, decision_id: int) -> ApplyResult:
    decision = state.decision(decision_id)
    if decision is None:
        raise PortsideError(f"no decision {decision_id}; see `portside decisions`")
    plan = plan_undo(decision)
    return apply_remap(plan, state, config, run_actions=False, undo_of=decision_id)

