"""The port map of the managed range: which ports are used, free, conflicting or reserved (pure).

The range (config `port_range`, 8000-9000 by default) is laid out as rows of
cells, one port per cell when it fits, else a fixed number of consecutive
ports per cell (a bucket). A cell shows the worst of its ports:
conflict > used > partly used > reserved > free. "Used" means claimed by any
source in any state (running, stopped, declared, swarm, host, registry),
exactly what `Allocator` refuses to hand out, so "free" here is what
`portside remap` may pick.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from portside.app.models import Conflict, PortBinding, Source


class CellState(StrEnum):
    FREE = "free"
    RESERVED = "reserved"
    PARTLY = "partly used"
    USED = "used"
    CONFLICT = "conflict"


GLYPH = {
    CellState.FREE: "·",
    CellState.RESERVED: "r",
    CellState.PARTLY: "▒",
    CellState.USED: "█",
    CellState.CONFLICT: "×",
}


@dataclass(frozen=True)
class Cell:
    first: int
    last: int
    state: CellState


@dataclass(frozen=True)
class PortMap:
    start: int
    end: int
    ports_per_cell: int
    rows: list[list[Cell]]
    free: int
    used: int
    conflicting: int
    reserved: int

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def text_rows(self) -> list[tuple[int, str]]:
        """(first port of the row, its glyphs): the map without colours."""
        return [(row[0].first, "".join(GLYPH[c.state] for c in row)) for row in self.rows if row]


def port_map(
    bindings: Iterable[PortBinding],
    conflicts: Iterable[Conflict],
    port_range: tuple[int, int],
    columns: int,
    max_rows: int,
) -> PortMap:
    """Lay out `port_range` in at most `max_rows` rows of `columns` cells.

    With room for every port, a cell is one port; otherwise cells are buckets
    of the smallest equal size that fits.
    """
    start, end = port_range
    columns, max_rows = max(1, columns), max(1, max_rows)
    size = end - start + 1
    per_cell = max(1, math.ceil(size / (columns * max_rows)))

    used: set[int] = set()
    reserved: set[int] = set()
    for b in bindings:
        lo, hi = max(b.port, start), min(b.last_port, end)
        if lo > hi:
            continue
        (reserved if b.source is Source.RESERVED else used).update(range(lo, hi + 1))
    conflicting: set[int] = set()
    for c in conflicts:
        lo, hi = max(c.port, start), min(c.port_end or c.port, end)
        conflicting.update(range(lo, hi + 1))

    cells = []
    for first in range(start, end + 1, per_cell):
        last = min(first + per_cell - 1, end)
        cells.append(Cell(first, last, _state(range(first, last + 1), used, reserved, conflicting)))
    rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
    taken = used | reserved
    return PortMap(
        start=start,
        end=end,
        ports_per_cell=per_cell,
        rows=rows,
        free=size - len(taken),
        used=len(used),
        conflicting=len(conflicting),
        reserved=len(reserved - used),
    )


def _state(ports: range, used: set[int], reserved: set[int], conflicting: set[int]) -> CellState:
    if any(p in conflicting for p in ports):
        return CellState.CONFLICT
    n_used = sum(1 for p in ports if p in used)
    if n_used and n_used + sum(1 for p in ports if p in reserved and p not in used) == len(ports):
        return CellState.USED
    if n_used:
        return CellState.PARTLY
    if any(p in reserved for p in ports):
        return CellState.RESERVED
    return CellState.FREE
