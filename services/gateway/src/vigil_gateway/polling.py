"""HTTP polling: a channel read straight from JetStream, with no session on the server.

- *state* sources answer with the newest value of every subject (a snapshot); the
  answer's ETag lets a client ask again with `If-None-Match` and get 304 while
  nothing changed.
- *stream* and *journal* sources answer with up to `limit` messages after `?since=`
  and the `next_cursor` to ask with next time; without `since`, none, and the cursor
  of now. A cursor that aged out of the stream gets a `reset` first, as on a socket.

Every replica answers the same from the same streams, so a client may poll any
gateway with no sticky routing. Messages are rendered as a socket's frames are.
"""

import hashlib
import json
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelKind, ChannelRef, Source
from vigil.messages import Reset
from vigil_gateway.views import Delivery, renderer_for

MAX_LIMIT = 1000


class Page:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.next_cursor: int | None = None

    def body(self, channel: ChannelRef) -> dict[str, Any]:
        messages = [json.loads(frame) for frame in self.frames]
        page: dict[str, Any] = {"channel": channel.key, "messages": messages}
        if self.next_cursor is not None:
            page["next_cursor"] = self.next_cursor
        return page


def etag(body: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return f'"{digest[:32]}"'


async def read(bus: Bus, channel: ChannelRef, since: int | None, limit: int) -> Page:
    """What a poll of `channel` answers (raises `nats.errors.Error` if NATS is away)."""
    page = Page()
    render = renderer_for(channel)
    for source in channel.sources(bus.subjects):
        if source.kind is ChannelKind.STATE:
            messages = await _fetch(bus, source, DeliverPolicy.LAST_PER_SUBJECT, None, MAX_LIMIT)
        else:
            start = await _start(bus, source, channel, since, page)
            if start is None:
                continue
            messages = await _fetch(bus, source, DeliverPolicy.BY_START_SEQUENCE, start, limit)
            if messages:
                page.next_cursor = max(page.next_cursor or 0, messages[-1].metadata.sequence.stream)
        for msg in messages:
            try:
                message = source.message.model_validate_json(msg.data)
            except ValidationError:
                continue  # malformed: a socket would not get it either
            cursor = None if source.kind is ChannelKind.STATE else msg.metadata.sequence.stream
            page.frames.extend(render(channel, Delivery(msg.subject, message, cursor)))
    return page


async def _start(
    bus: Bus, source: Source, channel: ChannelRef, since: int | None, page: Page
) -> int | None:
    """The first sequence to read; None (and the cursor of now) without `since`, unless
    the channel replays from its start (a deploy's journal)."""
    js = bus.js
    info = await js.stream_info(await js.find_stream_name_by_subject(source.subject))
    first, last = info.state.first_seq, info.state.last_seq
    if since is None and channel.spec.from_start:
        since = max(first - 1, 0)
    if since is None:
        page.next_cursor = max(page.next_cursor or 0, last)
        return None
    page.next_cursor = max(page.next_cursor or 0, since)
    if since + 1 < first or since > last:  # aged out, or the stream began again
        page.frames.append(
            Reset(channel=channel.key, since=since, first_cursor=first).model_dump_json()
        )
        return first
    return since + 1


async def _fetch(
    bus: Bus, source: Source, policy: DeliverPolicy, start: int | None, limit: int
) -> list[Any]:
    """Up to `limit` messages of `source` from an ephemeral consumer, in order."""
    config = ConsumerConfig(
        deliver_policy=policy,
        opt_start_seq=start,
        ack_policy=AckPolicy.NONE,
        inactive_threshold=10.0,
    )
    subscription = await bus.js.pull_subscribe(source.subject, config=config)
    try:
        pending = (await subscription.consumer_info()).num_pending or 0
        wanted = min(pending, limit)
        messages: list[Any] = []
        while len(messages) < wanted:
            try:
                messages += await subscription.fetch(wanted - len(messages), timeout=2.0)
            except TimeoutError:  # nats.py's or asyncio's (see replay.py)
                break
        return messages
    finally:
        await subscription.unsubscribe()
