"""Publishing to JetStream so that an outage of the bus delays a message, and neither
loses nor doubles it.

A publish that timed out may have been taken all the same: a hung server keeps the
bytes in its socket and stores the message when it runs again, while its publisher,
told nothing in time, sends it again. So every message that is sent until acked gets
one `Nats-Msg-Id` when it is made (`Outgoing`), used by every attempt: JetStream keeps
a message of an id once within the stream's duplicate window (2 minutes, the server's
default), and a later attempt is acked with the sequence of the first.

- `deliver`: one message, again until acked (or until `within_s`), waiting while the bus
  is away rather than sending into a client that would hold it for the reconnect;
- `InOrder`: messages that must reach the stream in order and must not be lost (status
  changes, alerts, the audit trail): each is sent after those before it were acked; what
  NATS did not ack waits, in order, and is sent again once the bus answers. `send` waits
  for its message's turn; `put`, for callers that cannot wait, queues it and returns.
"""

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel

from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task

log = logging.getLogger(__name__)

_FIRST_RETRY_S = 0.2  # between attempts while the bus answers but does not ack
_LONGEST_RETRY_S = 2.0
_SAY_DROPS_EVERY_S = 10.0
_WINDOW = 256  # messages whose acks are awaited together


def new_msg_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Outgoing:
    """A message for a stream subject, with the id every attempt to publish it carries."""

    subject: str
    message: BaseModel
    msg_id: str = field(default_factory=new_msg_id)


async def deliver(bus: Bus, outgoing: Outgoing, *, within_s: float | None = None) -> int:
    """Publish `outgoing` until NATS acks it, under its one id; its stream sequence.

    While the bus is away it waits for it to come back. Raises `BusUnavailable` when it
    is not acked within `within_s` (never, when None).
    """
    loop = asyncio.get_running_loop()
    deadline = None if within_s is None else loop.time() + within_s
    wait = _FIRST_RETRY_S
    while True:
        left = None if deadline is None else deadline - loop.time()
        if (left is not None and left <= 0) or not await bus.wait_connected(left):
            raise BusUnavailable(f"publish to {outgoing.subject}", f"no ack within {within_s} s")
        try:
            return await bus.publish(outgoing.subject, outgoing.message, msg_id=outgoing.msg_id)
        except BusUnavailable as exc:
            log.warning("%s (trying again)", exc)
        left = None if deadline is None else deadline - loop.time()
        await asyncio.sleep(wait if left is None else max(0.0, min(wait, left)))
        wait = min(wait * 2, _LONGEST_RETRY_S)


class InOrder:
    """Messages published in order, none lost while the bus is away (up to `max_waiting`
    of them: past that the oldest are dropped, and said so). Call `close` when done."""

    def __init__(self, bus: Bus, what: str, *, max_waiting: int = 10_000) -> None:
        self._bus = bus
        self._what = what
        self._waiting: deque[Outgoing] = deque()
        self._max_waiting = max_waiting
        self._sending = asyncio.Lock()  # one sender at a time keeps the order
        self._retrying: asyncio.Task[None] | None = None
        self._putting: asyncio.Task[None] | None = None  # sends what `put` queued
        self._dropped = 0  # since the last time drops were said
        self._dropped_said_at = -_SAY_DROPS_EVERY_S

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def send(self, subject: str, message: BaseModel) -> None:
        """`message` goes out after every one before it; if NATS does not ack, it waits
        with them, and they are sent again once the bus answers."""
        self._queue(subject, message)
        await self._flush()

    def put(self, subject: str, message: BaseModel) -> None:
        """As `send`, without waiting: queued now, in order, and sent by a task of its own.
        One such task at a time: a running one sends what is queued meanwhile too (it
        looks at the queue again after each ack, and ends only when it is empty)."""
        self._queue(subject, message)
        if self._putting is None or self._putting.done():
            self._putting = asyncio.create_task(self._flush(), name=f"{self._what}-send")

    async def close(self, within_s: float = 0.0) -> None:
        """Stop; what is still queued is sent first if the bus acks it within `within_s`."""
        if self._waiting and within_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush(), within_s)
        await stop_task(self._putting)
        await stop_task(self._retrying)

    def _queue(self, subject: str, message: BaseModel) -> None:
        if len(self._waiting) >= self._max_waiting:
            dropped = self._waiting.popleft()
            self._dropped += 1
            now = time.monotonic()
            if now - self._dropped_said_at >= _SAY_DROPS_EVERY_S:  # a flood says it once
                log.error(
                    "dropped %d unsent %s (the last on %s): the bus was away too long",
                    self._dropped,
                    self._what,
                    dropped.subject,
                )
                self._dropped, self._dropped_said_at = 0, now
        self._waiting.append(Outgoing(subject, message))

    async def _flush(self) -> None:
        """Send what waits, in order, until NATS does not ack one (then retried later).

        A window of them at a time: written together on the one connection (so the
        server stores them in that order) and their acks awaited together, not one round
        trip each. What follows the first one not acked waits with it, in order; any of
        those the server had kept is kept once when sent again (each has its id)."""
        async with self._sending:
            try:
                while self._waiting:
                    window = list(itertools.islice(self._waiting, _WINDOW))
                    results = await self._bus.publish_together(
                        [(o.subject, o.message, o.msg_id) for o in window]
                    )
                    failure = next((r for r in results if isinstance(r, BusUnavailable)), None)
                    done = len(window) if failure is None else results.index(failure)
                    acked = {id(outgoing) for outgoing in window[:done]}
                    # The oldest may have been dropped meanwhile (`max_waiting`): by identity.
                    while self._waiting and id(self._waiting[0]) in acked:
                        self._waiting.popleft()
                    if failure is not None:
                        raise failure
            except BusUnavailable as exc:
                log.warning(
                    "could not publish %s (%d waiting, sent in order later): %s",
                    self._what,
                    len(self._waiting),
                    exc,
                )
                if self._retrying is None or self._retrying.done():
                    self._retrying = asyncio.create_task(self._retry(), name=f"{self._what}-retry")

    async def _retry(self) -> None:
        """Once the bus answers again, what waits goes out then, not at the next message
        (a container's status may not change for hours)."""
        wait = _FIRST_RETRY_S
        while self._waiting:
            await self._bus.wait_connected()
            await asyncio.sleep(wait)
            await self._flush()
            wait = min(wait * 2, _LONGEST_RETRY_S)
