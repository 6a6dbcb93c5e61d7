"""Plain-text tables for the terminal: a header line, then one line per row, each
column as wide as its widest cell (lists joined by commas, nothing as `-`)."""

import json
from collections.abc import Sequence

from vigil.model import Message


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, Message):
        return json.dumps(value.model_dump(mode="json"))
    return str(value)
