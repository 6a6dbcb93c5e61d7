"""The kept logs searched by the server (`Api.search_logs`, the history service's pages):
the last `tail` hits, or every one as its page comes, and where a generation begins."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from vigil.messages import Generation, LogHit, LogLine, MergedLogLine
from vigil_cli import figures
from vigil_client import Api

PAGE = 1000  # the most hits the gateway gives in one page


async def last(api: Api, pattern: str, tail: int, **options: Any) -> list[LogHit]:
    """The last `tail` hits, oldest first."""
    found: list[LogHit] = []
    if tail == 0:
        return found
    pages = api.search_logs(pattern, order="newest", limit=min(tail, PAGE), **options)
    async with contextlib.aclosing(pages):
        async for page in pages:
            found += page.hits
            if len(found) >= tail:
                break
    return found[:tail][::-1]


async def every(api: Api, pattern: str, **options: Any) -> AsyncIterator[list[LogHit]]:
    """Every hit, oldest first, a page at a time as the server finds them."""
    pages = api.search_logs(pattern, order="oldest", limit=PAGE, **options)
    async with contextlib.aclosing(pages):
        async for page in pages:
            if page.hits:
                yield page.hits


def as_line(hit: LogHit, *, with_source: bool) -> LogLine:
    """A hit as `vigil logs` prints a line: of a merged view (after its source: a
    container's host and id, a pod's cluster/namespace/pod, a journal entry's host and
    unit, a log file's host and name) when several sources were searched."""
    if not with_source:
        return LogLine(time=hit.time, stream=hit.stream, text=hit.text)
    if hit.cluster is not None:
        name = hit.pod or ""
        where: dict[str, Any] = {"cluster": hit.cluster, "namespace": hit.namespace}
    elif hit.file is not None:
        name = f"{hit.host}/{hit.file}"
        where = {"host": hit.host}
    elif hit.container is None:  # a journal entry
        name = f"{hit.host}/{hit.unit or 'journal'}"
        where = {"host": hit.host, "unit": hit.unit, "priority": hit.priority}
    else:
        name = f"{hit.host}/{hit.container[:12]}"
        where = {"host": hit.host}
    return MergedLogLine(time=hit.time, stream=hit.stream, text=hit.text, name=name, **where)


def generation_said(hit: LogHit) -> str | None:
    """The marker a hit carries where a generation begins, in words: a container
    recreated under its name (its id, when it started), a pod of the workload or a
    restart of its container; None for a hit in the middle of one."""
    marker = hit.generation
    if marker is None:
        return None
    if isinstance(marker, Generation):
        return f"{hit.name}: container {marker.id} started {figures.moment(marker.started)}"
    return f"{hit.name}: pod {marker.pod} (uid {marker.uid}), restarts {marker.restarts}"
