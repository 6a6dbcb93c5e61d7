"""What the SSE and polling transports share: a task per subscription, all ended as
one when any of them loses the connection.

Those transports carry one channel per request, so each subscription gets a task of
its own (`follow`). The first `Disconnected` any task raises ends the whole transport
(the client reconnects them all from their cursors); a refusal of one channel ends
only that subscription. A refusal that passes (the gateway busy, a rate limit) is told
to the subscription it met, then the transport ends and the client tries again: after
the `Retry-After` of a rate limit, after its backoff otherwise. The connection counts
as opened at the first answer (or at once, with nothing to follow).
"""

import asyncio
import contextlib
from collections.abc import Callable

from vigil.messages import ErrorCode
from vigil_client.errors import AuthenticationFailed, Refused, Unreachable
from vigil_client.subscription import Subscription
from vigil_client.transport import BUSY, CHANNEL_REFUSALS, GATEWAY_CODES, Disconnected, Link


class PerChannel:
    def __init__(self, link: Link) -> None:
        self._link = link
        self._tasks: dict[Subscription, asyncio.Task[None]] = {}
        self._ended: asyncio.Future[Disconnected] | None = None
        self._opened: Callable[[], None] | None = None

    async def follow(self, subscription: Subscription) -> None:
        """Carry one subscription until its connection ends (raise `Disconnected`,
        `Refused` or `Unreachable`)."""
        raise NotImplementedError

    def add(self, subscription: Subscription) -> None:
        if self._ended is not None and subscription not in self._tasks:
            self._tasks[subscription] = asyncio.create_task(self._carry(subscription))

    def remove(self, subscription: Subscription) -> None:
        task = self._tasks.pop(subscription, None)
        if task is not None:
            task.cancel()

    def reauth(self, token: str) -> None:
        """Each request carries the session's token of the moment."""

    async def run(self, opened: Callable[[], None]) -> None:
        self._ended = asyncio.get_running_loop().create_future()
        self._opened = opened
        subscriptions = self._link.subscriptions()
        if not subscriptions:
            opened()
        for subscription in subscriptions:
            self.add(subscription)
        try:
            raise await self._ended
        finally:
            tasks, self._tasks = list(self._tasks.values()), {}
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def answered(self) -> None:
        """A request of this transport was answered: the connection works."""
        if self._opened is not None:
            self._opened()

    def _end(self, disconnected: Disconnected) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(disconnected)

    async def _carry(self, subscription: Subscription) -> None:
        try:
            await self.follow(subscription)
        except Disconnected as exc:
            self._end(exc)
        except AuthenticationFailed as exc:
            self._end(Disconnected(exc.message, code=4001))
        except Refused as exc:
            if exc.code in CHANNEL_REFUSALS:
                self._refused(subscription, exc)
            elif exc.code == ErrorCode.RATE_LIMITED:
                wait = subscription.rate_limited(exc)
                if wait is None:
                    self._refused(subscription, exc)
                else:
                    self._end(Disconnected(str(exc), retry_after_s=wait))
            elif exc.code in BUSY:
                subscription.notice(exc)
                self._end(Disconnected(str(exc)))
            elif exc.code in GATEWAY_CODES:  # any other refusal of the gateway's
                self._refused(subscription, exc)
            else:  # not the gateway's answer: a proxy refuses this kind of connection
                self._end(Disconnected(str(exc), refused=True))
        except Unreachable as exc:
            self._end(Disconnected(exc.reason))

    def _refused(self, subscription: Subscription, refusal: Refused) -> None:
        self._tasks.pop(subscription, None)
        self._link.refused(subscription, refusal)
