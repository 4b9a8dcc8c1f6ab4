"""The port map of the managed range (pure): cells, buckets, counts agree with the allocator."""

from __future__ import annotations

from portside.app.models import BindingState, PortBinding, Source
from portside.app.ports.allocator import Allocator
from portside.app.ports.analysis import find_conflicts
from portside.app.ports.portmap import CellState, port_map


def b(port: int, source: Source = Source.DOCKER, owner: str | None = None, end: int | None = None,
      state: BindingState = BindingState.RUNNING) -> PortBinding:
    return PortBinding(source=source, owner=owner or f"container:c{port}", port=port, port_end=end, state=state)


def test_one_port_per_cell_when_it_fits() -> None:
    bindings = [
        b(8001),
        b(8003, Source.RESERVED, "reserved:8003", state=BindingState.RESERVED),
        b(8005, Source.COMPOSE, "compose:p/web", state=BindingState.DECLARED),
        b(8005, owner="container:holder"),  # declared-vs-live on 8005
        b(8010, end=8012),  # a range, partly outside the map
        b(7000),  # outside the range: ignored
    ]
    m = port_map(bindings, find_conflicts(bindings), (8000, 8011), columns=6, max_rows=4)
    assert m.ports_per_cell == 1
    assert m.text_rows() == [(8000, "·█·r·×"), (8006, "····██")]
    assert (m.free, m.used, m.conflicting, m.reserved) == (7, 4, 1, 1)
    assert m.free == sum(Allocator(bindings, (8000, 8011)).is_free(p) for p in range(8000, 8012))


def test_buckets_when_the_range_is_wider_than_the_room() -> None:
    bindings = [b(p) for p in range(8000, 8010)] + [b(8012)]
    m = port_map(bindings, [], (8000, 9000), columns=50, max_rows=8)  # 1,001 ports in <= 400 cells
    assert m.ports_per_cell == 3 and len(m.rows) <= 8 and all(len(r) <= 50 for r in m.rows)
    cells = [c for row in m.rows for c in row]
    assert (cells[0].first, cells[-1].last) == (8000, 9000)  # every port in exactly one cell
    assert all(a.last + 1 == c.first for a, c in zip(cells, cells[1:], strict=False))
    assert [c.state for c in cells[:6]] == [CellState.USED] * 3 + [CellState.PARTLY] * 2 + [CellState.FREE]
    assert m.free == 1001 - 11


def test_a_conflict_outweighs_everything_in_its_bucket() -> None:
    bindings = [b(8100, Source.COMPOSE, "compose:a/x", state=BindingState.DECLARED),
                b(8100, Source.COMPOSE, "compose:b/y", state=BindingState.DECLARED)]
    m = port_map(bindings, find_conflicts(bindings), (8000, 9000), columns=10, max_rows=10)
    [cell] = [c for row in m.rows for c in row if c.first <= 8100 <= c.last]
    assert cell.state is CellState.CONFLICT and m.conflicting == 1
