"""How a private feed reads a stream or journal: paced by the one socket it serves.

A client that resumes (or subscribes to a journal that replays from its start) may
have thousands of messages to catch up on. Pushed as fast as JetStream sends them they
would overrun its outbox, and a journal client would be closed with 4008 again and
again. So a private feed pulls: a batch goes to the socket, and the next is fetched
only once the socket has taken it (nothing in its backlog, and the kernel takes
bytes). Caught up, the same pull waits for what comes next: the live flow follows
without a switch.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

BATCH = 64  # messages per pull: all are written in one loop turn, so any size is safe
WAIT_S = 5.0  # how long one pull waits for new messages once caught up
IDLE_CONSUMER_S = 60.0  # the server drops the consumer if this gateway disappears
RETRY_S = 0.5  # between attempts to make a consumer while the cluster settles

log = logging.getLogger(__name__)


async def pull_subscription(
    js: JetStreamContext, subject: str, policy: DeliverPolicy, config: ConsumerConfig | None
) -> JetStreamContext.PullSubscription:
    config = config or ConsumerConfig()
    config.deliver_policy = policy
    config.ack_policy = AckPolicy.NONE
    config.inactive_threshold = IDLE_CONSUMER_S
    return await js.pull_subscribe(subject, config=config)


async def pull(
    subscribe: Callable[[], Awaitable[JetStreamContext.PullSubscription]],
    deliver: Callable[[Msg], Awaitable[None]],
    room: Callable[[], Awaitable[None]],
) -> None:
    """Deliver every message in order, a batch whenever there is `room`, until cancelled.

    `subscribe` makes the consumer (from after the last message delivered). It is called
    again when the consumer cannot be made yet or is lost: in a NATS cluster a consumer
    lives on one server, and when that server dies its reader moves to a new one.
    """
    while True:
        try:
            subscription = await subscribe()
        except (nats.errors.Error, TimeoutError) as exc:
            log.info("could not start a paced read (trying again): %s", exc)
            await asyncio.sleep(RETRY_S)
            continue
        try:
            await _fetch_until_lost(subscription, deliver, room)
        finally:
            with contextlib.suppress(nats.errors.Error):  # gone with its server
                await subscription.unsubscribe()
        await asyncio.sleep(RETRY_S)


async def _fetch_until_lost(
    subscription: JetStreamContext.PullSubscription,
    deliver: Callable[[Msg], Awaitable[None]],
    room: Callable[[], Awaitable[None]],
) -> None:
    while True:
        await room()
        try:
            messages = await subscription.fetch(BATCH, timeout=WAIT_S)
        except (nats.errors.TimeoutError, TimeoutError):  # asyncio's: the deadline ran out first
            continue
        except nats.js.errors.APIError as exc:  # e.g. 503: no server holds the consumer
            log.info("a paced read lost its consumer (starting another): %s", exc)
            return
        for msg in messages:
            await deliver(msg)
        await asyncio.sleep(0)  # let the flusher write the batch before the next
