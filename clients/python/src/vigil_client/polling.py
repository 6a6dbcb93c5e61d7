"""HTTP polling: the last resort, when neither WebSockets nor event streams get through.

Each subscription is polled on its own (`/api/poll/channels/{name}`): a state channel
with `If-None-Match`, so an unchanged snapshot costs a 304; a stream or journal
channel after its cursor, page by page (at once while pages come back full). A poll
lists the states gone stale: they become `Stale` events, and a state no longer listed
a `Fresh` one. A stream
subscription without a cursor takes the gateway's `next_cursor` (now) as its start.
No session lives on the server, so any replica answers.
"""

import asyncio
from typing import Any

from vigil.messages import Fresh, Stale
from vigil_client import routes
from vigil_client.api import Api
from vigil_client.frames import BadFrame, parse_frame
from vigil_client.per_channel import PerChannel
from vigil_client.subscription import Subscription
from vigil_client.transport import Link, TransportKind

PAGE = 500


class PollingTransport(PerChannel):
    kind = TransportKind.POLLING

    def __init__(self, api: Api, link: Link, interval_s: float) -> None:
        super().__init__(link)
        self._api = api
        self._interval_s = interval_s

    def resync(self, subscription: Subscription) -> None:
        """Polls answer whole snapshots, never deltas."""

    async def follow(self, subscription: Subscription) -> None:
        etag: str | None = None
        while True:
            etag, full = await self._once(subscription, etag)
            self.answered()
            subscription.accept()
            if not full:
                await asyncio.sleep(self._interval_s)

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
        channel = page.get("channel", subscription.name)
        marks = [Stale(channel=channel, **mark) for mark in page.get("stale", [])]
        stale = {mark.key for mark in marks}
        for key in [key for key in subscription.stale if key not in stale]:  # live again
            subscription.deliver(Fresh(channel=channel, key=key))
        for message in messages:
            try:
                frame = parse_frame(message)
            except BadFrame:
                continue
            if frame is not None:
                subscription.deliver(frame)
        for mark in marks:  # after the values, as a socket gets them
            if mark.key not in subscription.stale:
                subscription.deliver(mark)
        if isinstance(page.get("next_cursor"), int):
            subscription.anchor(page["next_cursor"])
        return answer.headers.get("etag"), subscription.resumes and len(messages) >= PAGE
