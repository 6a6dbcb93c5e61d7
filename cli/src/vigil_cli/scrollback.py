"""A container's lines written before now: the last `tail` of them, those since a
moment, or both, read page by page through the gateway's scroll-back (`Api.log_page`),
which reads the container's engine, so it reaches past the window the gateway keeps."""

from dataclasses import dataclass
from datetime import datetime

from vigil.messages import LogLine
from vigil_client import Api

PAGE = 1000  # the most lines the gateway gives in one page


@dataclass(frozen=True)
class History:
    lines: list[LogLine]
    """Oldest first."""
    newest: datetime | None
    """The time of the newest line the log held when read, shown or not (None: none):
    a line followed live is new when it is later."""


async def read(
    api: Api, container: str, *, host: str | None, tail: int | None, since: datetime | None
) -> History:
    """The last `tail` lines (None: every one) of those written at `since` or later
    (None: from the log's start)."""
    pages: list[list[LogLine]] = []  # newest first
    newest: datetime | None = None
    before: datetime | None = None
    count = 0
    while True:
        limit = PAGE if tail is None else min(PAGE, max(tail - count, 1))
        page = await api.log_page(container, host=host, before=before, limit=limit)
        if newest is None and page.lines:
            newest = page.lines[-1].time
        wanted = [line for line in page.lines if since is None or line.time >= since]
        pages.append(wanted)
        count += len(wanted)
        if len(wanted) < len(page.lines) or page.next_before is None:
            break  # reached `since`, or the log's start
        if tail is not None and count >= tail:
            break
        before = page.next_before
    lines = [line for page_lines in reversed(pages) for line in page_lines]
    if tail is not None:
        lines = lines[len(lines) - tail :] if tail else []
    return History(lines, newest)
