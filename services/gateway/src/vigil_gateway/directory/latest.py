"""Following subjects from the newest value of each, then live: how the gateway's
directories (containers, clusters) learn what the collectors announced.

`follow` (on every (re)connect) subscribes each subject pattern with an ordered
consumer from its last value per subject, handing every message to its handler as a
typed model (a malformed one is logged and skipped). A directory asked a question
right after a start waits, briefly, until the first pattern's backlog is read
(`caught_up`), so it does not answer NOT_FOUND for what it has not read yet.
`Directory` is what the directories share: their `Latest`, and listeners told of each
change.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.model import Message

log = logging.getLogger(__name__)

CATCH_UP_S = 3.0


@dataclass(frozen=True)
class Follow:
    subject: str
    message: type[Message]
    handle: Callable[[Any], None]  # given a `message`


class Latest:
    def __init__(self, bus: Bus, follows: Callable[[], list[Follow]]) -> None:
        self._bus = bus
        self._follows = follows  # made on each follow: subjects need the bus connected
        self._subscriptions: list[JetStreamContext.PushSubscription] = []
        self._caught_up = asyncio.Event()

    async def follow(self) -> None:
        """(Re)start following on the current connection; called on every (re)connect."""
        await self.stop()
        self._caught_up.clear()
        for index, follow in enumerate(self._follows()):
            subscription = await self._bus.js.subscribe(
                follow.subject,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                cb=self._handler(follow, first=index == 0),
            )
            self._subscriptions.append(subscription)
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            info = await self._subscriptions[0].consumer_info()
            if info.num_pending == 0:
                self._caught_up.set()

    async def stop(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def caught_up(self) -> None:
        """Until the first pattern's backlog is read, or `CATCH_UP_S` at most."""
        if not self._caught_up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._caught_up.wait(), CATCH_UP_S)

    def _handler(self, follow: Follow, *, first: bool) -> Callable[[Msg], Awaitable[None]]:
        async def deliver(msg: Msg) -> None:
            try:
                message = follow.message.model_validate_json(msg.data)
            except ValidationError:
                log.warning("ignored a malformed %s on %s", follow.message.__name__, msg.subject)
                return
            follow.handle(message)
            if first and msg.metadata.num_pending == 0:
                self._caught_up.set()

        return deliver


class Directory:
    """What a directory shares: its subjects followed by a `Latest` (`_follows` says
    which), and listeners told after each change of what it lists (`_changed`)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._latest = Latest(bus, self._follows)
        self._listeners: set[Callable[[], None]] = set()

    async def follow(self) -> None:
        """(Re)start following on the current connection; called on every (re)connect."""
        await self._latest.follow()

    async def stop(self) -> None:
        await self._latest.stop()

    def listen(self, listener: Callable[[], None]) -> None:
        """`listener` is called after each change of what the directory lists (until
        `unlisten`)."""
        self._listeners.add(listener)

    def unlisten(self, listener: Callable[[], None]) -> None:
        self._listeners.discard(listener)

    def _follows(self) -> list[Follow]:
        raise NotImplementedError

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()
