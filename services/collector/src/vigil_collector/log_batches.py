"""Log lines from a reader's hand-off to the LOGS stream, in batches, in order.

Shared by the Docker and the pod log followers. Every `batch_s` the lines waiting go
out as one batch (at most 1000 lines or 512 KiB); a batch NATS does not ack is sent
again, and the next one waits for it, so no line is lost or reordered on the way. The
`None` a reader hands off last ends it, after what came before has been sent.
"""

import asyncio
import logging
from collections.abc import Callable

from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.messages import LogLine
from vigil.model import Message
from vigil_collector.handoff import Handoff

log = logging.getLogger(__name__)

MAX_BATCH_LINES = 1000
MAX_BATCH_BYTES = 512 * 1024


async def publish_lines(
    bus: Bus,
    subject: str,
    handoff: Handoff[LogLine | None],
    batch_s: float,
    batch: Callable[[list[LogLine]], Message],
) -> None:
    """Until the reader's last line is sent; `batch` wraps lines in the source's message."""
    ended = False
    while not ended:
        first = await handoff.get()
        if first is None:
            return
        await asyncio.sleep(batch_s)
        lines, size = [first], len(first.text)
        while len(lines) < MAX_BATCH_LINES and size < MAX_BATCH_BYTES:
            try:
                line = handoff.get_nowait()
            except asyncio.QueueEmpty:
                break
            if line is None:
                ended = True
                break
            lines.append(line)
            size += len(line.text)
        await send_until_acked(bus, subject, batch(lines))


async def send_until_acked(bus: Bus, subject: str, message: Message) -> None:
    """Until NATS acks it: a batch is never skipped, so the next one waits."""
    delay = 0.2
    while True:
        try:
            await bus.publish(subject, message)
            return
        except BusUnavailable as exc:
            log.warning("could not publish log lines (retrying): %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
