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
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

# A fetch that times out raises nats.errors.TimeoutError, except when its deadline runs
# out between the no-wait probe and the long poll (under load): then nats.py raises
# asyncio's TimeoutError. Catching only the first killed the pull, and the client's
# journal fell silent for good (found by bench/load.py: 2-5 % of 1000 clients).
BATCH = 64  # messages per pull: all are written in one loop turn, so any size is safe
WAIT_S = 5.0  # how long one pull waits for new messages once caught up
IDLE_CONSUMER_S = 60.0  # the server drops the consumer if this gateway disappears


async def pull_subscription(
    js: JetStreamContext, subject: str, policy: DeliverPolicy, config: ConsumerConfig | None
) -> JetStreamContext.PullSubscription:
    config = config or ConsumerConfig()
    config.deliver_policy = policy
    config.ack_policy = AckPolicy.NONE
    config.inactive_threshold = IDLE_CONSUMER_S
    return await js.pull_subscribe(subject, config=config)


async def pull(
    subscription: JetStreamContext.PullSubscription,
    deliver: Callable[[Msg], Awaitable[None]],
    room: Callable[[], Awaitable[None]],
) -> None:
    """Deliver every message of `subscription` in order, a batch whenever there is
    `room`, until cancelled."""
    while True:
        await room()
        try:
            messages = await subscription.fetch(BATCH, timeout=WAIT_S)
        except TimeoutError:  # nats.py's or asyncio's (see above)
            continue
        for msg in messages:
            await deliver(msg)
        await asyncio.sleep(0)  # let the flusher write the batch before the next
