"""Log lines from a reader's hand-off to the LOGS stream, in batches, in order, once.

Shared by the Docker and the pod log followers. Every `logs_batch_s` the lines waiting
go out as one batch (at most `logs_batch_max_lines` lines, 1000, or about
`logs_batch_max_bytes` of text, 512 KiB), sent until NATS acks it, under one
`Nats-Msg-Id` (`vigil.publishing`); the next one waits for it, so no line is lost or
reordered on the way, and a batch a hung NATS took after its publish timed out is not
kept twice. The `None` a reader hands off last ends it, after what came before.

A container's `Position` outlives its followers (a lease that lapses stops one, the
next lease starts another): the time of the last line put in a batch, and that batch
until NATS acks it. A follower stopped before the ack leaves the batch there; the
next one sends it first (the same id: kept once if it was taken) and reads the
container's log after it. Lines read but not yet batched are read again. A retained
source's first follower in this process starts after what LOGS_KEPT holds of it
(`kept`: `logs.retention`).
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from vigil.bus import Bus
from vigil.lifecycle import stop_task
from vigil.messages import LogLine
from vigil.model import Message
from vigil.publishing import Outgoing, deliver
from vigil_collector.handoff import Handoff
from vigil_collector.logs.retention import AfterKept, KeptEnd
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

Read = tuple[LogLine, int] | None  # a line and its time in epoch nanoseconds (0: none)

RESUME_WITHIN_NS = 300 * 10**9
"""How far back a new follower carries on after the last one: what is older is not sent
live again (a Docker container's log is read from its tail instead; a journal's older
entries are skipped)."""


@dataclass
class Position:
    """How far a container's lines got, across its followers."""

    nanos: int = 0  # the time of the last line put in a batch
    cursor: str = ""  # a journal's: the cursor of that line (`journal.followers`)
    unacked: Outgoing | None = None  # that batch, until NATS acks it
    publisher: asyncio.Task[None] | None = None  # the follower's that sends them
    kept: KeptEnd | None = None  # where LOGS_KEPT's lines of it end, while `nanos` is 0

    def after_kept(self) -> AfterKept | None:
        """A new reader's test of the lines it reads again, when this process batched
        none of them: which LOGS_KEPT holds already (a kept follower's)."""
        return AfterKept(self.kept) if self.kept is not None and not self.nanos else None

    async def take_over(self) -> None:
        """Before a new follower reads: the last one's publisher is stopped, so one
        task at a time moves the position (what it had not sent is sent again)."""
        await stop_task(self.publisher)


async def publish_lines(
    bus: Bus,
    subject: str,
    handoff: Handoff[Read],
    settings: CollectorSettings,
    batch: Callable[[list[LogLine]], Message],
    position: Position,
) -> None:
    """Until the reader's last line is sent; `batch` wraps lines in the source's message."""
    if position.unacked is not None:  # an earlier follower's, perhaps taken already
        await _send(bus, position)
    ended = False
    while not ended:
        first = await handoff.get()
        if first is None:
            return
        await asyncio.sleep(settings.logs_batch_s)
        taken, size = [first], len(first[0].text)
        while len(taken) < settings.logs_batch_max_lines and size < settings.logs_batch_max_bytes:
            try:
                read = handoff.get_nowait()
            except asyncio.QueueEmpty:
                break
            if read is None:
                ended = True
                break
            taken.append(read)
            size += len(read[0].text)
        position.unacked = Outgoing(subject, batch([line for line, _ in taken]))
        position.nanos = max(position.nanos, *(nanos for _, nanos in taken))
        await _send(bus, position)


async def _send(bus: Bus, position: Position) -> None:
    assert position.unacked is not None
    await deliver(bus, position.unacked)
    position.unacked = None


async def finish(publisher: asyncio.Task[None], within_s: float, what: str) -> None:
    """A stopped follower's publisher sends what its reader had read, for at most
    `within_s` (NATS may be away); then it is stopped, and its position keeps the rest."""
    await asyncio.wait({publisher}, timeout=within_s)
    if not publisher.done():
        log.warning("stopped sending the log lines of %s; its next follower sends them", what)
        await stop_task(publisher)
