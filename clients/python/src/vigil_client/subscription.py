"""One subscription: what the caller asked for, where it stands, what it has to read.

A subscription outlives connections: the client subscribes it again on every new
connection, over any transport, resuming stream and journal channels after `cursor`
(the last one delivered). Frames are delivered once: an update whose cursor is not
past `cursor` (seen before a reconnect, or on the transport being replaced) is
skipped. `gap` and `reset` frames reach the caller as they are, so a loss is never
silent.

A state subscription with `delta` gets a snapshot per state of the channel (its
`key`, e.g. one per host) and then only what changed (`delta` frames): the
subscription applies each to the value it holds (`vigil.deltas.apply`) and hands the
caller the whole new value as an `Update`, so a caller never sees a delta. A delta
whose `seq` does not follow the last one means a value was missed: it is dropped and
the subscription asks for a fresh snapshot (`on_resync`).

A sampled state whose source stopped (a collector killed) is marked: the gateway
sends `stale` for its `key`, and `fresh` before its next value. Both reach the caller
as events, and `stale` holds the states marked now, by key. On a new connection the
marks start over (the gateway marks what is still stale right after the snapshot).

A subscription with `history_s` (a host's metrics or containers) gets a
`HistoryFirst` event of those last seconds on each connection, before the values: on a
reconnect it covers what was missed meanwhile. An update the history holds already
(as old as its `newest` sample: the snapshot, mostly) is skipped, so none is read twice.

The caller reads events with `async for event in subscription`. Unread events are
bounded (`buffer`): past it the oldest are dropped and the caller gets a `Gap` with
how many, as the gateway does for a slow socket.

A refusal never passes unsaid. One for good (`NOT_FOUND`, `FORBIDDEN`...) ends the
subscription: reading raises `Refused`. One that passes (the gateway busy, or cut off
from the bus) reaches the caller as an `Error` event while the client tries again. A
`RATE_LIMITED` refusal is an `Error` event with `retry_after_s`, and the subscription
is made again after that wait; refused that way for longer than `rate_limit_wait_s`
in a row, it ends with `Refused` (`RATE_LIMITED`).
"""

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from vigil.channels import ChannelKind, ChannelRef
from vigil.deltas import apply
from vigil.messages import (
    Delta,
    Error,
    ErrorCode,
    Fresh,
    Gap,
    HistoryFirst,
    Reset,
    Stale,
    Update,
)
from vigil.model import Message
from vigil_client.errors import ClientError, Refused

Event = Update | HistoryFirst | Gap | Reset | Stale | Fresh | Error
"""What a caller reads: data (and the history asked first), a gap or reset in it, a
state gone stale or fresh again, or a notice (e.g. `UNAVAILABLE`)."""

DEFAULT_BUFFER = 10_000
DEFAULT_RATE_LIMIT_WAIT_S = 60.0
"""Seed 003's window: a limit of requests per minute lets a request through within one."""
RETRY_WITHOUT_HINT_S = 1.0  # a rate limit that says not when


class Subscription:
    def __init__(
        self,
        channel: ChannelRef,
        *,
        since: int | None,
        interval_s: float | None,
        on_close: Callable[["Subscription"], Awaitable[None]],
        delta: bool = False,
        history_s: int | None = None,
        on_resync: Callable[["Subscription"], None] | None = None,
        buffer: int = DEFAULT_BUFFER,
        rate_limit_wait_s: float = DEFAULT_RATE_LIMIT_WAIT_S,
    ) -> None:
        self.name = channel.spec.name
        self.kind = channel.spec.kind
        self.params: dict[str, str] = dict(channel.params)
        self.key: str | None = None
        """The channel as the gateway names it (a container's name becomes its id)."""
        self.cursor = since
        self.interval_s = interval_s
        self.delta = delta
        self.history_s = history_s
        self._newest: datetime | None = None  # of the history: updates up to it are in it
        self.deltas = 0
        """Deltas applied (each one a value that came as a patch, not whole)."""
        self.resyncs = 0
        """Snapshots asked for after a delta that did not follow."""
        self._on_resync = on_resync
        self._values: dict[str, tuple[int, dict[str, Any]]] = {}  # key -> (seq, data)
        self._awaiting_snapshot: set[str] = set()
        self.skipped = 0
        """Updates delivered twice by the transports and skipped here."""
        self.stale: dict[str, Stale] = {}
        """States (by `key`, e.g. `metrics.host.web1`) whose source stopped: their
        newest value is not live."""
        self._on_close = on_close
        self._events: collections.deque[Event] = collections.deque()
        self._buffer = buffer
        self._dropped = 0
        self._changed = asyncio.Event()
        self._ended: ClientError | None = None
        self._closed = False
        self.rate_limit_wait_s = rate_limit_wait_s
        self._limited_since: float | None = None  # refused for the rate limit since, in a row
        self.accepted = False
        """The gateway took the subscription (on some connection)."""
        self._settled = asyncio.Event()  # accepted, or ended

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
        if isinstance(frame, Delta):
            update = self._patched(frame)
            if update is not None:
                self._push(update)
            return
        if isinstance(frame, HistoryFirst):
            self._newest = frame.data.newest or self._newest
        elif isinstance(frame, Update):
            if self._in_history(frame):
                self.skipped += 1
                return
            self.key = self.key or frame.channel
            if frame.key is not None and frame.seq is not None:
                self._values[frame.key] = (frame.seq, frame.data)
                self._awaiting_snapshot.discard(frame.key)
            if frame.cursor is not None:
                if self.cursor is not None and frame.cursor <= self.cursor:
                    self.skipped += 1
                    return
                self.cursor = frame.cursor
        elif isinstance(frame, Reset):
            self.cursor = frame.first_cursor - 1
        elif isinstance(frame, Stale):
            self.stale[frame.key] = frame
        elif isinstance(frame, Fresh):
            if self.stale.pop(frame.key, None) is None:
                return  # not stale here (marked before this connection)
        elif not isinstance(frame, Gap | Error):
            return
        self._push(frame)

    def _in_history(self, update: Update) -> bool:
        """A value the history asked first holds already (the snapshot, mostly)."""
        if self._newest is None or not isinstance(update.data.get("time"), str):
            return False
        try:
            return datetime.fromisoformat(update.data["time"]) <= self._newest
        except ValueError:
            return False

    def _patched(self, delta: Delta) -> Update | None:
        """The value `delta` makes, or None (and a fresh snapshot asked) if it does not
        follow the value held."""
        held = self._values.get(delta.key)
        if held is None or delta.seq != held[0] + 1:
            self._values.pop(delta.key, None)
            if delta.key not in self._awaiting_snapshot:  # asked once, until it comes
                self._awaiting_snapshot.add(delta.key)
                self.resyncs += 1
                if self._on_resync is not None:
                    self._on_resync(self)
            return None
        patch = delta.model_dump(exclude={"type", "channel", "key", "seq", "timestamp"})
        data = apply(held[1], patch)
        self._values[delta.key] = (delta.seq, data)
        self.deltas += 1
        return Update(channel=delta.channel, data=data, key=delta.key, seq=delta.seq)

    def restarted(self) -> None:
        """Subscribed again on a new connection: the gateway marks afresh what is
        still stale, right after the snapshot."""
        self.stale.clear()

    def anchor(self, cursor: int) -> None:
        """Where a stream subscription without a cursor starts: nothing after this is
        lost, even on a reconnect before its first message."""
        if self.cursor is None and self.resumes:
            self.cursor = cursor

    def accept(self) -> None:
        """The gateway took the subscription (`subscribed`, an event stream opened, a
        poll answered): any rate limit met before is behind it."""
        self.accepted = True
        self._limited_since = None
        self._settled.set()

    def rate_limited(self, refusal: Refused) -> float | None:
        """The gateway refused the subscription for its rate limit. While the refusals in
        a row stay within `rate_limit_wait_s`, the caller is told (an `Error` event with
        `retry_after_s`) and the wait before the next try is returned; past that, None:
        the transport ends the subscription with `refusal`."""
        wait = refusal.retry_after_s if refusal.retry_after_s is not None else RETRY_WITHOUT_HINT_S
        now = time.monotonic()
        if self._limited_since is None:
            self._limited_since = now
        if now - self._limited_since + wait > self.rate_limit_wait_s:
            return None
        self.notice(refusal, retry_after_s=wait)
        return wait

    def notice(self, refusal: Refused, *, retry_after_s: float | None = None) -> None:
        """Tell the caller of a refusal that does not end the subscription (a busy
        gateway, a rate limit to wait out), as an `Error` event."""
        error = Error(
            code=ErrorCode(str(refusal.code)),
            message=refusal.message,
            channel=self.key or self.name,
            retry_after_s=retry_after_s if retry_after_s is not None else refusal.retry_after_s,
        )
        self.deliver(error)

    def fail(self, error: ClientError) -> None:
        """The subscription ends with `error` (refused, or the client gave up)."""
        if not self.ended:
            self._ended = error
            self._changed.set()
            self._settled.set()

    def stop(self) -> None:
        """The client closed: what was delivered can be read, then iteration ends."""
        self._closed = True
        self._changed.set()
        self._settled.set()

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

    async def until_accepted(self) -> None:
        """Until the gateway has taken the subscription; raises the error that ended it
        first (or `ClientError` if it was closed first). Bound it with `asyncio.timeout`."""
        await self._settled.wait()
        if self.accepted:
            return
        if self._ended is not None:
            raise self._ended
        raise ClientError(f"{self.key or self.name} was closed before the gateway took it")

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.next()

    async def close(self) -> None:
        """Unsubscribe; events already delivered can still be read."""
        if not self._closed:
            self._closed = True
            self._changed.set()
            self._settled.set()
            await self._on_close(self)

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
