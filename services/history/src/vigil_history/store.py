"""Reading a subject of a history stream over a time range, in order.

The messages of one subject are in time order in their stream (the collector samples
in order; each tier's windows are published in order, behind a watermark), but their
stream timestamps are not their times (a roll-up is published after its window; the
benchmark writes the past now). So a range starts by a binary search on the stream
sequence — a get of the next message of the subject at a sequence, ~20 of them for
a million messages — and is then read by an ordered (pushed) consumer from there
until a message's time reaches the range's end.
"""

import contextlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from vigil_history.frame import window_of

TimeOf = Callable[[bytes], float]

_FETCH_TIMEOUT_S = 5.0
_TIME = re.compile(rb'"time":"([^"]+)"')


def sample_time(payload: bytes) -> float:
    """A raw sample's time: its first `time` field (the message's own, before any list)."""
    found = _TIME.search(payload)
    if found is None:
        raise ValueError("a metrics sample without a time")
    return datetime.fromisoformat(found.group(1).decode()).timestamp()


def frame_time(payload: bytes) -> float:
    return float(window_of(payload)[0])


async def _next_on(js: JetStreamContext, stream: str, subject: str, seq: int) -> tuple[int, bytes]:
    message = await js.get_msg(stream, seq=seq, subject=subject, next=True)
    assert message.seq is not None
    return message.seq, message.data or b""


async def seek(
    js: JetStreamContext, stream: str, subject: str, at: float, time_of: TimeOf
) -> int | None:
    """The sequence of the first message of `subject` whose time is `at` or later; None
    if there is none."""
    state = (await js.stream_info(stream)).state
    low, high = max(1, state.first_seq), state.last_seq + 1
    # the first sequence from which the subject's next message (if any) is at `at` or later
    while low < high:
        middle = (low + high) // 2
        try:
            seq, data = await _next_on(js, stream, subject, middle)
        except NotFoundError:
            high = middle
            continue
        if time_of(data) >= at:
            high = middle
        else:
            low = seq + 1  # every sequence up to `seq` leads to this earlier message
    try:
        seq, _ = await _next_on(js, stream, subject, low)
    except NotFoundError:
        return None
    return seq


async def read(
    js: JetStreamContext,
    stream: str,
    subject: str,
    start: float,
    end: float,
    time_of: TimeOf,
    *,
    before: float = 0.0,
) -> AsyncIterator[bytes]:
    """The payloads of `subject` with a time in `[start - before, end)`, in order."""
    seq = await seek(js, stream, subject, start - before, time_of)
    if seq is None:
        return
    async with contextlib.aclosing(read_from(js, stream, subject, seq)) as messages:
        async for message in messages:
            if time_of(message.data) >= end:
                return
            yield message.data


async def read_from(
    js: JetStreamContext, stream: str, subject: str, seq: int
) -> AsyncGenerator[Msg]:
    """The messages of `subject` from stream sequence `seq` (which has one) to the last."""
    # Pushed, not pulled: the server streams the range (flow-controlled) where each
    # pull of nats-py's would wait a round trip for what happened to have arrived.
    subscription = await js.subscribe(
        subject,
        stream=stream,
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=seq),
    )
    try:
        while True:
            try:
                message = await subscription.next_msg(timeout=_FETCH_TIMEOUT_S)
            except nats.errors.TimeoutError:
                raise TimeoutError(f"reading {subject} took too long") from None
            yield message
            if message.metadata.num_pending == 0:
                return
    finally:
        with contextlib.suppress(nats.errors.Error):
            await subscription.unsubscribe()
