"""One subscription: what the caller asked for, where it stands, what it has to read.

A subscription outlives connections: the client subscribes it again on every new
connection, over any transport, resuming stream and journal channels after `cursor`
(the last one delivered). Frames are delivered once: an update whose cursor is not
past `cursor` (seen before a reconnect, or on the transport being replaced) is
skipped. `gap` and `reset` frames reach the caller as they are, so a loss is never
silent.

The caller reads events with `async for event in subscription`. Unread events are
bounded (`buffer`): past it the oldest are dropped and the caller gets a `Gap` with
how many, as the gateway does for a slow socket.
"""

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from vigil.channels import ChannelKind, ChannelRef
from vigil.messages import Error, Gap, Reset, Update
from vigil.model import Message
from vigil_client.errors import ClientError

Event = Update | Gap | Reset | Error
"""What a caller reads: data, a gap or reset in it, or a notice (e.g. `UNAVAILABLE`)."""

DEFAULT_BUFFER = 10_000


class Subscription:
    def __init__(
        self,
        channel: ChannelRef,
        *,
        since: int | None,
        interval_s: float | None,
        on_close: Callable[["Subscription"], Awaitable[None]],
        buffer: int = DEFAULT_BUFFER,
    ) -> None:
        self.name = channel.spec.name
        self.kind = channel.spec.kind
        self.params: dict[str, str] = dict(channel.params)
        self.key: str | None = None
        """The channel as the gateway names it (a container's name becomes its id)."""
        self.cursor = since
        self.interval_s = interval_s
        self.skipped = 0
        """Updates delivered twice by the transports and skipped here."""
        self._on_close = on_close
        self._events: collections.deque[Event] = collections.deque()
        self._buffer = buffer
        self._dropped = 0
        self._changed = asyncio.Event()
        self._ended: ClientError | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"<Subscription {self.key or self.name} cursor={self.cursor}>"

    @property
    def resumes(self) -> bool:
        """Stream and journal channels resume from a cursor; state starts from the newest."""
        return self.kind in (ChannelKind.STREAM, ChannelKind.JOURNAL)

    def wire_params(self) -> dict[str, str]:
        """The parameters to subscribe with: the gateway's own name for the channel once
        known, so a reconnect resumes exactly what was followed."""
        if self.key and "?" in self.key:
            return dict(parse_qsl(self.key.split("?", 1)[1]))
        return dict(self.params)

    def wire_since(self) -> int | None:
        return self.cursor if self.resumes else None

    @property
    def ended(self) -> bool:
        return self._closed or self._ended is not None

    # -- from the transports ------------------------------------------------------

    def deliver(self, frame: Message) -> None:
        """A frame for this channel, from whichever transport carries it now."""
        if self.ended:
            return
        if isinstance(frame, Update):
            self.key = self.key or frame.channel
            if frame.cursor is not None:
                if self.cursor is not None and frame.cursor <= self.cursor:
                    self.skipped += 1
                    return
                self.cursor = frame.cursor
        elif isinstance(frame, Reset):
            self.cursor = frame.first_cursor - 1
        elif not isinstance(frame, Gap | Error):
            return
        self._push(frame)

    def anchor(self, cursor: int) -> None:
        """Where a stream subscription without a cursor starts: nothing after this is
        lost, even on a reconnect before its first message."""
        if self.cursor is None and self.resumes:
            self.cursor = cursor

    def fail(self, error: ClientError) -> None:
        """The subscription ends with `error` (refused, or the client gave up)."""
        if not self.ended:
            self._ended = error
            self._changed.set()

    def _push(self, event: Event) -> None:
        if len(self._events) >= self._buffer:
            self._events.popleft()
            self._dropped += 1
        self._events.append(event)
        self._changed.set()

    # -- for the caller -------------------------------------------------------------

    def pending(self) -> list[Event]:
        """Every event waiting, without waiting for more."""
        events: list[Event] = []
        if self._dropped:
            events.append(Gap(channel=self.key or self.name, dropped=self._dropped))
            self._dropped = 0
        events.extend(self._events)
        self._events.clear()
        return events

    async def next(self) -> Event:
        """The next event; raise the error that ended the subscription, or
        `StopAsyncIteration` once it is closed and read."""
        while True:
            if self._dropped:
                gap = Gap(channel=self.key or self.name, dropped=self._dropped)
                self._dropped = 0
                return gap
            if self._events:
                return self._events.popleft()
            if self._ended is not None:
                raise self._ended
            if self._closed:
                raise StopAsyncIteration
            self._changed.clear()
            await self._changed.wait()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.next()

    async def close(self) -> None:
        """Unsubscribe; events already delivered can still be read."""
        if not self._closed:
            self._closed = True
            self._changed.set()
            await self._on_close(self)

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
