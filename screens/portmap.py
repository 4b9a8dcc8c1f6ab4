"""PortMapView: the managed port range at a glance (used / free / conflicting / reserved).

The layout is computed by app.ports.portmap (pure); this widget only sizes it
to the room it has (re-laid out on resize) and colours it.
"""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import Static

from portside.app.models import Conflict, PortBinding
from portside.app.ports.portmap import GLYPH, CellState, PortMap, port_map

STYLE = {
    CellState.FREE: "dim",
    CellState.RESERVED: "magenta",
    CellState.PARTLY: "green",
    CellState.USED: "bold green",
    CellState.CONFLICT: "bold red",
}
GROUP = 10  # a space after every ten cells, so a row reads like a ruler


class PortMapView(Static):
    """Rows of cells over `port_range`; the last line is the legend and the free count."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._data: tuple[list[PortBinding], list[Conflict], tuple[int, int]] | None = None
        self.map: PortMap | None = None

    def show(self, bindings: list[PortBinding], conflicts: list[Conflict], port_range: tuple[int, int]) -> None:
        self._data = (bindings, conflicts, port_range)
        self._relayout()

    def on_resize(self, _event: Resize) -> None:
        self._relayout()

    def _relayout(self) -> None:
        if self._data is None or not self.size.width:
            return
        bindings, conflicts, (start, end) = self._data
        width, height = self.content_size.width or self.size.width, self.content_size.height or self.size.height
        label = len(str(end)) + 1
        groups = max(1, (width - label) // (GROUP + 1))
        self.map = port_map(bindings, conflicts, (start, end), groups * GROUP, max(1, height - 1))
        self.update(render_map(self.map, label))


def render_map(m: PortMap, label: int) -> Text:
    text = Text()
    for row in m.rows:
        text.append(f"{row[0].first:<{label}}", style="dim")
        for i, cell in enumerate(row):
            if i and i % GROUP == 0:
                text.append(" ")
            text.append(GLYPH[cell.state], style=STYLE[cell.state])
        text.append("\n")
    for state in (CellState.USED, CellState.PARTLY, CellState.FREE, CellState.CONFLICT, CellState.RESERVED):
        text.append(GLYPH[state], style=STYLE[state])
        text.append(f" {state.value.split()[0]}  ")
    per = f", {m.ports_per_cell} per cell" if m.ports_per_cell > 1 else ""
    text.append(f"{m.free}/{m.size} free{per}", style="bold")
    return text
