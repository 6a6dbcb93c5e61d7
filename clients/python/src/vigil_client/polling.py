"""HTTP polling: the last resort, when neither WebSockets nor event streams get through.

Each subscription is polled on its own (`/api/poll/channels/{name}`): a state channel
with `If-None-Match`, so an unchanged snapshot costs a 304; a stream or journal
channel after its cursor, page by page (at once while pages come back full). A stream
subscription without a cursor takes the gateway's `next_cursor` (now) as its start.
No session lives on the server, so any replica answers.
"""

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from vigil_client import routes
from vigil_client.api import Api
from vigil_client.errors import AuthenticationFailed, Refused, Unreachable
from vigil_client.frames import BadFrame, parse_frame
from vigil_client.subscription import Subscription
from vigil_client.transport import BUSY, CHANNEL_REFUSALS, Disconnected, Link, TransportKind

PAGE = 500


class PollingTransport:
    kind = TransportKind.POLLING

    def __init__(self, api: Api, link: Link, interval_s: float) -> None:
        self._api = api
        self._link = link
        self._interval_s = interval_s
        self._pollers: dict[Subscription, asyncio.Task[None]] = {}
        self._ended: asyncio.Future[Disconnected] | None = None
        self._opened: Callable[[], None] | None = None

    def add(self, subscription: Subscription) -> None:
        if self._ended is not None and subscription not in self._pollers:
            self._pollers[subscription] = asyncio.create_task(self._poll(subscription))

    def remove(self, subscription: Subscription) -> None:
        task = self._pollers.pop(subscription, None)
        if task is not None:
            task.cancel()

    def reauth(self, token: str) -> None:
        """Each poll sends the session's current token."""

    def resync(self, subscription: Subscription) -> None:
        """Polls answer whole snapshots, never deltas."""

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
            pollers, self._pollers = list(self._pollers.values()), {}
            for task in pollers:
                task.cancel()
            for task in pollers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _end(self, disconnected: Disconnected) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(disconnected)

    async def _poll(self, subscription: Subscription) -> None:
        etag: str | None = None
        try:
            while True:
                etag, full = await self._once(subscription, etag)
                if self._opened is not None:
                    self._opened()
                if not full:
                    await asyncio.sleep(self._interval_s)
        except AuthenticationFailed as exc:
            self._end(Disconnected(exc.message, code=4001))
        except Refused as exc:
            if exc.code in CHANNEL_REFUSALS:
                self._pollers.pop(subscription, None)
                self._link.refused(subscription, exc)
            else:
                self._end(Disconnected(str(exc), refused=exc.code not in BUSY))
        except Unreachable as exc:
            self._end(Disconnected(exc.reason))

    async def _once(self, subscription: Subscription, etag: str | None) -> tuple[str | None, bool]:
        """One poll: the ETag to send next time, and whether the page came back full."""
        params: dict[str, Any] = dict(subscription.wire_params())
        headers = {}
        if subscription.resumes:
            params["limit"] = PAGE
            if (since := subscription.wire_since()) is not None:
                params["since"] = since
        elif etag is not None:
            headers["If-None-Match"] = etag
        answer = await self._api.send(
            "GET", routes.poll(subscription.name), params=params, headers=headers
        )
        if answer.status_code == 304:
            return etag, False
        page = answer.json()
        messages = page.get("messages", [])
        for message in messages:
            try:
                frame = parse_frame(message)
            except BadFrame:
                continue
            if frame is not None:
                subscription.deliver(frame)
        if isinstance(page.get("next_cursor"), int):
            subscription.anchor(page["next_cursor"])
        return answer.headers.get("etag"), subscription.resumes and len(messages) >= PAGE
