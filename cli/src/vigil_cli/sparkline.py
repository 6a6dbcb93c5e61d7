"""A series as one line of block characters (`▁▂▃▅▇`), for charts in a terminal."""

from collections.abc import Sequence

BLOCKS = "▁▂▃▄▅▆▇█"
GAP = " "


def sparkline(values: Sequence[float | None], width: int) -> str:
    """`values` in at most `width` characters: each character the greatest value of the
    points it covers (a short peak stays seen), scaled from 0 (or the least value, if
    below) to the greatest; a stretch without values is a blank."""
    if width < 1 or not values:
        return ""
    columns = min(width, len(values))
    cells: list[float | None] = []
    for column in range(columns):
        begin = column * len(values) // columns
        end = max(begin + 1, (column + 1) * len(values) // columns)
        present = [v for v in values[begin:end] if v is not None]
        cells.append(max(present) if present else None)
    known = [v for v in cells if v is not None]
    if not known:
        return GAP * columns
    low, high = min(0.0, min(known)), max(known)
    span = high - low
    top = len(BLOCKS) - 1
    return "".join(
        GAP if v is None else BLOCKS[round((v - low) / span * top) if span else 0] for v in cells
    )
