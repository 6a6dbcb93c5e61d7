"""HTTP polling: a channel read straight from JetStream, with no session on the server.

- *state* sources answer with the newest value of every subject (a snapshot); the
  answer's ETag lets a client ask again with `If-None-Match` and get 304 while
  nothing changed. A sampled value whose source stopped (as `staleness` judges it:
  too old, or its collector said so, `source_status`) is listed in `stale`, with its
  `key` (as a socket's `stale` frame), `age_s`, `interval_s` and any `reason`; the
  ETag covers which are stale, not their age.
- *stream* and *journal* sources answer with up to `limit` messages after `?since=`
  (fewer once the page holds `max_poll_bytes`) and the `next_cursor` to ask with next
  time; without `since`, none, and the cursor
  of now. A cursor that aged out of the stream gets a `reset` first, as on a socket.

Every replica answers the same from the same streams, so a client may poll any
gateway with no sticky routing. Messages are rendered as a socket's frames are, and as
there, a message of a cluster the caller's grant does not cover is left out (its
cursor still moves past it).
"""

import asyncio
import hashlib
import json
import time
from typing import Any

import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelKind, ChannelRef, Source
from vigil.model import Message
from vigil_gateway.access.permissions import SeesCluster, sees_message
from vigil_gateway.delivery.resume import reset_of, resume, window_of
from vigil_gateway.delivery.source_status import source_status_of
from vigil_gateway.delivery.staleness import DEFAULT_STALE_AFTER, StaleAfter, interval_of
from vigil_gateway.delivery.views import Delivery, renderer_for

MAX_LIMIT = 1000
FETCH_BATCH = 256  # messages fetched at once at most where a page is bounded in bytes


class Page:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.next_cursor: int | None = None
        self.stale: list[dict[str, Any]] = []

    def encoded(self, channel: ChannelRef) -> tuple[bytes, str]:
        """The page as JSON, made of its frames as they are (each one JSON already,
        so a page of big log batches is not decoded and encoded again), and its ETag.
        A stale value ages at every poll: the ETag leaves its age out, so 304 holds
        while it is stale."""
        messages = b",".join(frame.encode() for frame in self.frames)
        head = json.dumps({"channel": channel.key})[:-1].encode()  # {"channel": "..."
        tail: dict[str, Any] = {}
        if self.next_cursor is not None:
            tail["next_cursor"] = self.next_cursor
        if self.stale:
            tail["stale"] = self.stale
        rest = json.dumps(tail)[1:].encode()  # "next_cursor": ..., "stale": [...]}
        body = b"".join((head, b', "messages": [', messages, b"]", b", " if tail else b"", rest))
        digest = hashlib.sha256(head + messages)
        digest.update(json.dumps([self.next_cursor, [mark["key"] for mark in self.stale]]).encode())
        return body, f'"{digest.hexdigest()[:32]}"'


async def read(
    bus: Bus,
    channel: ChannelRef,
    since: int | None,
    limit: int,
    sees_cluster: SeesCluster,
    stale_after: StaleAfter = DEFAULT_STALE_AFTER,
    max_bytes: int | None = None,
) -> Page:
    """What a poll of `channel` answers to a caller whose grant is `sees_cluster`
    (raises `nats.errors.Error` if NATS is away): stream and journal pages of up to
    `limit` messages and about `max_bytes`."""
    page = Page()
    render = renderer_for(channel)
    sampled: dict[str, tuple[Message, float]] = {}  # state subject -> value, published at
    for source in channel.sources(bus.subjects):
        if source.kind is ChannelKind.STATE:
            messages = await _fetch(bus, source, DeliverPolicy.LAST_PER_SUBJECT, None, MAX_LIMIT)
        else:
            start = await _start(bus, source, channel, since, page)
            if start is None:
                continue
            messages = await _fetch(
                bus, source, DeliverPolicy.BY_START_SEQUENCE, start, limit, max_bytes
            )
            if messages:
                page.next_cursor = max(page.next_cursor or 0, messages[-1].metadata.sequence.stream)
        for msg in messages:
            await asyncio.sleep(0)  # a page of filtered log batches: others' turns between
            try:
                message = source.message.model_validate_json(msg.data)
            except ValidationError:
                continue  # malformed: a socket would not get it either
            if not sees_message(sees_cluster, message):
                continue
            cursor = None if source.kind is ChannelKind.STATE else msg.metadata.sequence.stream
            if cursor is None and (published := msg.metadata.timestamp) is not None:
                sampled[msg.subject] = (message, published.timestamp())
            page.frames.extend(render(channel, Delivery(msg.subject, message, cursor)))
    if sampled:
        page.stale = await _stale_marks(bus, channel, sampled, stale_after)
    return page


async def _stale_marks(
    bus: Bus,
    channel: ChannelRef,
    sampled: dict[str, tuple[Message, float]],
    stale_after: StaleAfter,
) -> list[dict[str, Any]]:
    """The sampled values that are stale (as a feed's `Staleness` judges them): too old,
    or older than their collector's word that its source is down."""
    down: dict[str, tuple[float, str]] = {}  # values subject -> when said, why
    if (status := source_status_of(channel)) is not None:
        source = status.source(bus.subjects, dict(channel.params))
        for msg in await _fetch(bus, source, DeliverPolicy.LAST_PER_SUBJECT, None, MAX_LIMIT):
            try:
                message = source.message.model_validate_json(msg.data)
            except ValidationError:
                continue
            why, stamp = status.down(message), msg.metadata.timestamp
            if why is not None and stamp is not None:
                down[status.values_subject(bus.subjects, message)] = (stamp.timestamp(), why)
    prefix = len(bus.subjects.prefix) + 1
    marks: list[dict[str, Any]] = []
    for subject, (message, published_at) in sampled.items():
        interval_s = interval_of(message)
        if interval_s is None:
            continue
        age_s = max(0.0, time.time() - published_at)
        said = down.get(subject)
        reason = said[1] if said is not None and said[0] >= published_at else None
        if reason is None and age_s <= stale_after.limit_s(interval_s):
            continue
        mark = {"key": subject[prefix:], "age_s": round(age_s, 3), "interval_s": interval_s}
        marks.append(mark | ({"reason": reason} if reason is not None else {}))
    return marks


async def _start(
    bus: Bus, source: Source, channel: ChannelRef, since: int | None, page: Page
) -> int | None:
    """The first sequence to read; None (and the cursor of now) without `since`, unless
    the channel replays from its start (a deploy's journal)."""
    window = await window_of(bus.js, source.subject)
    if since is None and channel.spec.from_start:
        since = max(window.first - 1, 0)
    if since is None:
        page.next_cursor = max(page.next_cursor or 0, window.last)
        return None
    page.next_cursor = max(page.next_cursor or 0, since)
    resumed = resume(since, window)
    if resumed.reset:
        page.frames.append(reset_of(channel.key, since, window).model_dump_json())
    return resumed.after + 1


async def _fetch(
    bus: Bus,
    source: Source,
    policy: DeliverPolicy,
    start: int | None,
    limit: int,
    max_bytes: int | None = None,
) -> list[Any]:
    """Up to `limit` messages of `source` (and about `max_bytes`) from an ephemeral
    consumer, in order."""
    config = ConsumerConfig(deliver_policy=policy, opt_start_seq=start)
    messages, _ = await fetch(bus, source.subject, config, limit, max_bytes)
    return messages


async def fetch(
    bus: Bus, subject: str, config: ConsumerConfig, limit: int, max_bytes: int | None = None
) -> tuple[list[Any], bool]:
    """Up to `limit` messages of `subject` from an ephemeral consumer made of `config`
    (where it starts), in order, and whether the stream holds more after them. With
    `max_bytes`, they stop once that many bytes are read (one message at least): a page
    of big log batches is as large as a client may make the gateway hold."""
    config.ack_policy = AckPolicy.NONE
    config.inactive_threshold = 10.0
    subscription = await bus.js.pull_subscribe(subject, config=config)
    try:
        pending = (await subscription.consumer_info()).num_pending or 0
        wanted = min(pending, limit)
        messages: list[Any] = []
        read = 0
        while len(messages) < wanted and (max_bytes is None or read < max_bytes):
            batch = wanted - len(messages)
            if max_bytes is not None:  # as many as fit, by the size of those read so far
                each = read // len(messages) if messages else max_bytes
                batch = max(1, min(batch, FETCH_BATCH, (max_bytes - read) // max(1, each)))
            try:
                fetched = await subscription.fetch(batch, timeout=2.0)
            except (nats.errors.TimeoutError, TimeoutError):  # asyncio's: the deadline ran out
                break
            messages += fetched
            read += sum(len(msg.data) for msg in fetched)
        return messages, len(messages) < pending
    finally:
        await subscription.unsubscribe()
