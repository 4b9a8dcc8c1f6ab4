"""Allocator, side policy, minimal edits and plans (pure: no Docker, real files in tmp)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from portside.app.compose_edit import replace_at, set_env_var
from portside.app.config import Config, PortRange
from portside.app.models import BindingState, PortBinding, Protocol, Snapshot, Source
from portside.app.ports.allocator import Allocator
from portside.app.ports.analysis import find_conflicts
from portside.app.ports.remap import RemapContext, plan_move, plan_remap
from portside.app.sources.compose import load_project

# ------------------------------------------------------------------ allocator


def b(port: int, end: int | None = None, source: Source = Source.DOCKER,
      state: BindingState = BindingState.RUNNING, proto: Protocol = Protocol.TCP) -> PortBinding:
    return PortBinding(source=source, owner=f"x:{port}", port=port, port_end=end, state=state, protocol=proto)


@settings(max_examples=200, deadline=None)
@given(
    used=st.lists(st.tuples(st.integers(8000, 8060), st.integers(0, 3)), max_size=40),
    reserved=st.lists(st.integers(7990, 8070), max_size=10),
    asks=st.lists(st.tuples(st.integers(7000, 9000), st.integers(1, 4)), min_size=1, max_size=15),
    pref=st.sampled_from(["lowest-free", "same-last-digits"]),
)
def test_allocator_never_returns_used_reserved_out_of_range_or_twice(used, reserved, asks, pref):
    bindings = [b(p, p + w if w else None) for p, w in used]
    alloc = Allocator(bindings, (8000, 8060), reserved, pref)
    occupied = {q for p, w in used for q in range(p, p + w + 1)}
    given_out: set[int] = set()
    for want, count in asks:
        try:
            p = alloc.allocate(want, count)
        except Exception:
            # only acceptable when no block truly exists
            free = [s for s in range(8000, 8060 - count + 2)
                    if all(q not in occupied | set(reserved) | given_out for q in range(s, s + count))]
            assert not free
            continue
        block = set(range(p, p + count))
        assert p >= 8000 and p + count - 1 <= 8060
        assert not block & occupied and not block & set(reserved) and not block & given_out
        given_out |= block


def test_allocator_preferences():
    used = [b(8000), b(8001), b(8080)]
    assert Allocator(used, (8000, 9000)).allocate(8080) == 8002
    assert Allocator(used, (8000, 9000), preference="same-last-digits").allocate(8080) == 8180
    assert Allocator(used, (8000, 9000), reserved=[8002, 8003]).allocate(8080, 3) == 8004
    assert Allocator([], (8000, 8010)).why_not(8011) == "outside the range 8000-8010"


# ------------------------------------------------------------------ edits


def test_replace_at_changes_only_the_port_and_refuses_stale_text():
    text = "ports:\n  - '8080:80'   # keep 8080 here\n"
    assert replace_at(text, 2, 6, "8080", "8100") == "ports:\n  - '8100:80'   # keep 8080 here\n"
    try:
        replace_at(text, 2, 5, "8080", "8100")
    except ValueError as exc:
        assert "the file changed" in str(exc)
    else:
        raise AssertionError("stale position accepted")


def test_set_env_var_keeps_quotes_export_comments_and_appends():
    text = "# ports\nexport WEB='8080'  # web\nAPI=9000\nPAIR=8080:80\n"
    assert set_env_var(text, "WEB", "8100") == "# ports\nexport WEB='8100'  # web\nAPI=9000\nPAIR=8080:80\n"
    assert set_env_var(text, "PAIR", "8100", old_text="8080").endswith("PAIR=8100:80\n")
    assert set_env_var("A=1", "NEW", "5") == "A=1\nNEW=5\n"
    assert set_env_var(None, "NEW", "5") == "NEW=5\n"


# ------------------------------------------------------------------ plans


def project(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "shop"
    d.mkdir()
    for k, v in files.items():
        (d / k).write_text(textwrap.dedent(v))
    return d


COMPOSE = """\
    # shop stack
    services:
      web:
        image: busybox   # front
        ports:
          - "8080:80"            # literal
          - "${API_PORT:-8081}:81"
          - target: 82
            published: "${LONG}"
          - 8100-8102:100-102
      db:
        ports:
          - target: 5432
            published: 8200 # long literal
    """


def world(d: Path, live: list[int], extra: list[PortBinding] = ()) -> Snapshot:
    p = load_project(d, env={})
    running = [PortBinding(source=Source.DOCKER, owner=f"container:c{q}", container=f"c{q}", port=q,
                           state=BindingState.RUNNING) for q in live]
    return Snapshot(projects=[p], bindings=[x for s in p.services for x in s.ports] + running + list(extra))


def cfg(**kw) -> Config:
    return Config(port_range=PortRange(start=8000, end=8300), **kw)


def test_plan_edits_each_kind_minimally_and_git_diff_shows_one_line_each(tmp_path):
    d = project(tmp_path, {"compose.yaml": COMPOSE, ".env": "# env\nLONG=8090 # long\n"})
    subprocess.run(["git", "init", "-q", str(d)], check=True)
    subprocess.run(["git", "-C", str(d), "add", "."], check=True)
    subprocess.run(["git", "-C", str(d), "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"], check=True)
    snap = world(d, [8080, 8081, 8090, 8101, 8200])
    plan = plan_remap(snap, find_conflicts(snap.bindings), RemapContext(config=cfg(), environ={}))
    assert not plan.warnings
    moves = {(m.service, m.old_port): (m.new_port, m.new_port_end) for m in plan.moves}
    assert moves == {("web", 8080): (8000, None), ("web", 8081): (8001, None), ("web", 8090): (8002, None),
                     ("web", 8100): (8003, 8005), ("db", 8200): (8006, None)}
    for e in plan.edits:
        Path(e.path).write_text(e.new_text)
    diff = subprocess.run(["git", "-C", str(d), "diff", "--numstat"], capture_output=True, text=True).stdout
    assert sorted(diff.split("\n")[:-1]) == ["2\t1\t.env", "3\t3\tcompose.yaml"]
    # .env only had a default for API_PORT: the variable is added (git shows an untracked change above)
    env = (d / ".env").read_text()
    assert env == "# env\nLONG=8002 # long\nAPI_PORT=8001\n"
    text = (d / "compose.yaml").read_text()
    assert '- "8000:80"            # literal' in text and "8003-8005:100-102" in text
    assert "published: 8006 # long literal" in text and '"${API_PORT:-8081}:81"' in text
    # replanning after the edit finds nothing to do
    again = world(d, [8080, 8081, 8090, 8101, 8200])
    assert plan_remap(again, find_conflicts(again.bindings), RemapContext(config=cfg(), environ={})).empty


def test_policy_pinned_registry_newer_and_host(tmp_path):
    d = project(tmp_path, {"compose.yaml": "services:\n  a:\n    ports: ['8080:80']\n  b:\n    ports: ['8080:81']\n"})
    snap = world(d, [])
    conflicts = find_conflicts(snap.bindings)
    assert [c.kind.value for c in conflicts] == ["declared-vs-declared"]
    # both in one file and no pins: the tie goes by name; pinning b moves a
    plan = plan_remap(snap, conflicts, RemapContext(config=cfg(pinned=["shop/a"]), environ={}))
    assert [m.service for m in plan.moves] == ["b"]
    plan = plan_remap(snap, conflicts, RemapContext(config=cfg(pinned=["shop/b"]), environ={}))
    assert [m.service for m in plan.moves] == ["a"]
    # the registry's assignment never moves
    reg = [{"key": "shop/a/80/tcp", "port": 8080, "pinned": 0}]
    plan = plan_remap(snap, conflicts, RemapContext(config=cfg(), registry=reg, environ={}))
    assert [m.service for m in plan.moves] == ["b"]
    # both pinned: nothing may move, and the plan says why
    plan = plan_remap(snap, conflicts, RemapContext(config=cfg(pinned=["shop/a", "shop/b"]), environ={}))
    assert plan.empty and "nothing portside may move" in plan.warnings[0]


def test_two_projects_and_a_host_process_get_unique_free_ports(tmp_path):
    d1 = tmp_path / "one"
    d2 = tmp_path / "two"
    for d in (d1, d2):
        d.mkdir()
        (d / "compose.yaml").write_text("services:\n  web:\n    ports: ['8080:80', '8081:81']\n")
    p1, p2 = load_project(d1, env={}), load_project(d2, env={})
    host = PortBinding(source=Source.HOST, owner="pid:1", pid=1, process="python3", port=8081,
                       state=BindingState.LISTENING)
    bindings = [x for p in (p1, p2) for s in p.services for x in s.ports] + [host, b(8000), b(8002)]
    snap = Snapshot(projects=[p1, p2], bindings=bindings)
    plan = plan_remap(snap, find_conflicts(bindings),
                      RemapContext(config=cfg(reserved_ports=[8001]), environ={}, mtimes={str(d2 / "compose.yaml"): 2.0}))
    new = [m.new_port for m in plan.moves]
    assert len(new) == len(set(new)) == 3
    assert not set(new) & {8000, 8001, 8002, 8080, 8081}
    assert all(m.project == "two" or m.old_port == 8081 for m in plan.moves)  # the newer project moves


def test_single_move_and_validation(tmp_path):
    d = project(tmp_path, {"compose.yaml": COMPOSE, ".env": "LONG=8090\n"})
    snap = world(d, [8150])
    ctx = RemapContext(config=cfg(), environ={})
    plan = plan_move(snap, "shop/db", 8200, 8250, ctx)
    assert [(m.old_port, m.new_port) for m in plan.moves] == [(8200, 8250)]
    for bad, why in ((8150, "in use"), (9999, "outside"), (8080, "in use")):
        try:
            plan_move(snap, "shop/db", 8200, bad, ctx)
        except ValueError as exc:
            assert why in str(exc)
        else:
            raise AssertionError(bad)
    try:
        plan_move(snap, "shop/nope", 1, None, ctx)
    except LookupError as exc:
        assert "shop/db" in str(exc)
