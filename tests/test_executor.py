"""The one executor: stale files, all-or-nothing, SIGKILL mid-apply, backups, undo, the lock."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from portside.app.config import Config
from portside.app.errors import ApplyError, StaleFileError
from portside.app.executor import apply_plan, sha256_text
from portside.app.journal import journals, recover
from portside.app.models import FileEdit, Plan, PortMove
from portside.app.remapping import apply_remap, undo
from portside.app.state import State

ROOT = Path(__file__).resolve().parent.parent


def three(tmp_path: Path) -> tuple[list[Path], Plan]:
    files = []
    edits = []
    for i in range(3):
        f = tmp_path / f"f{i}.yaml"
        f.write_text(f"old {i}\n")
        os.chmod(f, 0o640)
        files.append(f)
        edits.append(FileEdit(path=str(f), old_sha256=sha256_text(f"old {i}\n"), new_text=f"new {i}\n"))
    return files, Plan(kind="remap", title="t", edits=edits,
                       moves=[PortMove(owner="compose:p/s", project="p", service="s", target=80,
                                       old_port=8080, new_port=8100)])


def texts(files: list[Path]) -> list[str]:
    return [f.read_text() for f in files]


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir() if ".portside-" in p.name)


def test_apply_writes_keeps_mode_backups_registry_and_decision(tmp_path):
    files, plan = three(tmp_path)
    with State(tmp_path / "state") as state:
        r = apply_remap(plan, state, Config(decisions_log=str(tmp_path / "decisions.log")))
        assert texts(files) == ["new 0\n", "new 1\n", "new 2\n"]
        assert all(f.stat().st_mode & 0o777 == 0o640 for f in files)
        assert [Path(b).read_text() for b in r.decision.backups.values()] == ["old 0\n", "old 1\n", "old 2\n"]
        d = state.decision(r.decision.id)
        assert d.moves[0].new_port == 8100 and "-old 1" in d.diff and "+new 1" in d.diff
        assert [x["port"] for x in state.registry()] == [8100]
        assert [h["decision_id"] for h in state.port_history()] == [r.decision.id]
    log = (tmp_path / "decisions.log").read_text()
    assert log.startswith("[") and "] [p/s] [8080->8100] [" in log
    assert not leftovers(tmp_path)


def test_stale_file_is_refused_with_a_clear_message(tmp_path):
    files, plan = three(tmp_path)
    files[1].write_text("edited by hand\n")
    with State(tmp_path / "state") as state, pytest.raises(StaleFileError) as e:
        apply_plan(plan, state)
    assert str(files[1]) in str(e.value) and "changed since portside read it" in str(e.value)
    assert texts(files) == ["old 0\n", "edited by hand\n", "old 2\n"]


def test_failure_on_second_of_three_writes_restores_all(tmp_path):
    files, plan = three(tmp_path)

    def boom(i: int, _edit: FileEdit) -> None:
        if i == 1:
            raise OSError(28, "No space left on device", str(files[1]))

    with State(tmp_path / "state") as state:
        with pytest.raises(ApplyError) as e:
            apply_plan(plan, state, _before_write=boom)
        assert "nothing was changed" in str(e.value) and str(files[1]) in str(e.value)
        assert [d.status for d in state.decisions()] == ["rolled-back"] and state.registry() == []
    assert texts(files) == ["old 0\n", "old 1\n", "old 2\n"]
    assert not leftovers(tmp_path) and not journals(tmp_path / "state")


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from portside.app.executor import apply_plan
    from portside.app.models import Plan
    from portside.app.state import State
    plan = Plan.model_validate_json(open(sys.argv[1]).read())
    def kill(i, edit):
        if i == 1:
            os.kill(os.getpid(), signal.SIGKILL)
    apply_plan(plan, State(sys.argv[2]), _before_write=kill)
""")


def test_sigkill_mid_apply_leaves_whole_files_and_recovery_finishes_it(tmp_path):
    files, plan = three(tmp_path)
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    (tmp_path / "kill.py").write_text(KILLER.format(root=str(ROOT)))
    state_dir = tmp_path / "state"
    proc = subprocess.run([sys.executable, str(tmp_path / "kill.py"), str(tmp_path / "plan.json"), str(state_dir)],
                          capture_output=True, text=True)
    assert proc.returncode == -9
    # killed between the first and the second rename: every file is whole, old or new
    assert texts(files) == ["new 0\n", "old 1\n", "old 2\n"]
    assert len(journals(state_dir)) == 1
    with State(state_dir) as state:
        assert [d.status for d in state.decisions()] == ["pending"]  # written ahead of the first rename
        # recovery finishes the apply the journal describes; the plan is then stale, so it is refused
        assert "finished interrupted decision 1" in recover(state)[0]
        assert texts(files) == ["new 0\n", "new 1\n", "new 2\n"]
        assert [d.status for d in state.decisions()] == ["applied"]
        with pytest.raises(StaleFileError):
            apply_plan(plan, state)
        assert recover(state) == []
    assert not leftovers(tmp_path) and not journals(state_dir)


def test_undo_restores_and_refuses_when_changed_since(tmp_path):
    files, plan = three(tmp_path)
    cfg = Config()
    with State(tmp_path / "state") as state:
        state.set_assignment("p/s/90/tcp", 8300)  # another service's row: untouched by the undo
        before, history = state.registry(), state.port_history()
        r = apply_remap(plan, state, cfg)
        assert [x["port"] for x in state.registry()] == [8100, 8300]
        u = undo(state, cfg, r.decision.id)
        assert texts(files) == ["old 0\n", "old 1\n", "old 2\n"]
        assert state.decision(r.decision.id).undone_by == u.decision.id
        # the registry and port history are what they were before the decision (not "pinned" at 8080)
        assert state.registry() == before and state.port_history() == history
        r2 = apply_remap(three(tmp_path)[1], state, cfg)
        files[2].write_text("hand edit\n")
        with pytest.raises(ApplyError) as e:
            undo(state, cfg, r2.decision.id)
        assert "changed since decision" in str(e.value) and "f2.yaml" in str(e.value)
        assert texts(files)[:2] == ["new 0\n", "new 1\n"]


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from portside.app.executor import apply_plan
    from portside.app.models import Plan
    from portside.app.state import State
    plan = Plan.model_validate_json(open(sys.argv[1]).read())
    def hold(i, edit):
        if i == 0:
            Path(sys.argv[3]).write_text("holding")
            while not Path(sys.argv[4]).exists():
                time.sleep(0.02)
    apply_plan(plan, State(sys.argv[2]), _before_write=hold)
""")


def test_lock_keeps_two_processes_from_interleaving(tmp_path):
    files, plan = three(tmp_path)
    (tmp_path / "plan.json").write_text(plan.model_dump_json())
    (tmp_path / "hold.py").write_text(HOLDER.format(root=str(ROOT)))
    state_dir, holding, release = tmp_path / "state", tmp_path / "holding", tmp_path / "release"
    proc = subprocess.Popen([sys.executable, str(tmp_path / "hold.py"), str(tmp_path / "plan.json"),
                             str(state_dir), str(holding), str(release)])
    try:
        deadline = time.monotonic() + 30
        while not holding.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        other = Plan(kind="remap", title="other", edits=[
            FileEdit(path=str(tmp_path / "g.yaml"), old_sha256=None, new_text="x\n")])
        with State(state_dir) as state, pytest.raises(ApplyError) as e:
            apply_plan(other, state, lock_timeout=0.3)
        assert "another portside is applying" in str(e.value)
        assert not (tmp_path / "g.yaml").exists()
    finally:
        release.write_text("go")
        assert proc.wait(30) == 0
    assert texts(files) == ["new 0\n", "new 1\n", "new 2\n"]
