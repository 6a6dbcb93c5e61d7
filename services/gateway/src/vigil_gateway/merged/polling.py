"""Polling a merged log view: its lines read straight from JetStream, with no feed.

A poll with `since` (a cursor, as a socket's: the microsecond of the last line had)
reads every source the selectors pick now (pods only on the clusters the caller may
see) from that time, merges their lines by time and answers those up to a watermark,
now minus the reorder window: a newer line could still be overtaken by a source that
is slower to publish, so it waits for the next poll. The page's cursor is its last
line's; without `since` a poll answers no line, and the watermark as the cursor to
start from. Every replica answers the same, so a client may poll any.

What a live view has and a poll does not: `joined`/`left` markers (a poll sees the
sources as they are when it is made) and `late` marks (a line that comes later than
the window, after a newer one was answered, is not answered).
"""

import asyncio
from datetime import UTC, datetime

from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.messages import MergedLogBatch, MergedLogLine, Update
from vigil_gateway.delivery.polling import Page, fetch
from vigil_gateway.filters.logs import filter_of
from vigil_gateway.merged.sources import LogSource
from vigil_gateway.merged.view import cursor_of, time_of

_FILTER_SLICE = 256  # lines filtered between two turns of the event loop


async def read(
    bus: Bus,
    channel: ChannelRef,
    sources: list[LogSource],
    since: int | None,
    limit: int,
    window_s: float,
    max_bytes: int | None = None,
) -> Page:
    """What a poll of the merged view `channel` over `sources` answers: at most `limit`
    lines after `since` (raises `nats.errors.Error` if NATS is away)."""
    page = Page()
    watermark = cursor_of(datetime.now(UTC)) - round(window_s * 1_000_000)
    if since is None:
        page.next_cursor = watermark
        return page
    keeps = filter_of(channel)
    lines: list[MergedLogLine] = []
    share = None if max_bytes is None else max(1, max_bytes // max(1, len(sources)))
    for source in sources:
        read, complete = await _lines(bus, source, since, limit, share)
        if not complete and read:  # the source has more: nothing newer may pass its last
            watermark = min(watermark, cursor_of(read[-1].time))
        lines += read
    lines = [line for line in lines if cursor_of(line.time) <= watermark]
    if keeps is not None:
        kept: list[MergedLogLine] = []
        for start in range(0, len(lines), _FILTER_SLICE):
            kept += [
                line for line in lines[start : start + _FILTER_SLICE] if keeps.keeps(line.text)
            ]
            await asyncio.sleep(0)  # many lines: others' turns between slices
        lines = kept
    lines.sort(key=lambda line: line.time)  # stable: each source's own order is kept
    lines = lines[:limit]
    page.next_cursor = cursor_of(lines[-1].time) if lines else since
    if lines:
        update = Update(
            channel=channel.key,
            data=MergedLogBatch(lines=lines).model_dump(mode="json"),
            cursor=page.next_cursor,
        )
        page.frames.append(update.model_dump_json())
    return page


async def _lines(
    bus: Bus, source: LogSource, since: int, limit: int, max_bytes: int | None
) -> tuple[list[MergedLogLine], bool]:
    """The source's lines after `since` from up to `limit` batches, and whether those
    were all it has. A batch is published after its lines were written, so the first
    batch stored after `since` is the first that can hold one."""
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=time_of(since)
    )
    messages, more = await fetch(bus, source.subject, config, limit, max_bytes)
    lines: list[MergedLogLine] = []
    for msg in messages:
        try:
            lines += [line for line in source.read(msg.data) if cursor_of(line.time) > since]
        except ValidationError:
            continue  # malformed: a socket would not get it either
    return lines, not more
