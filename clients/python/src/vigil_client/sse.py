"""Server-Sent Events: the fallback when a proxy blocks WebSockets.

SSE streams one channel per request (`/sse/channels/{name}`), so this transport holds
one stream per subscription, each resuming after the subscription's cursor (`since`;
the gateway also honours `Last-Event-ID`). Each event's `data:` is the frame a socket
would get; a last `event: close` carries the code a socket would have been closed
with. One stream failing ends the transport: the client reconnects them all from
their cursors. A channel the gateway refuses once the stream is open (a container
that does not exist) comes as an `error` frame before that close: the subscription
ends with it, as over a socket. SSE cannot answer questions or take a fresh token in
place: a token is renewed by reopening the streams.
"""

import json
from typing import Any

import httpx

from vigil.messages import Error
from vigil_client import routes
from vigil_client.errors import Refused
from vigil_client.frames import BadFrame, parse_frame
from vigil_client.per_channel import PerChannel
from vigil_client.session import Session
from vigil_client.subscription import Subscription
from vigil_client.transport import CHANNEL_REFUSALS, Disconnected, Link, TransportKind, refused_by

READ_TIMEOUT_S = 100.0  # the gateway comments every heartbeat (30 s) on an idle stream


class SseTransport(PerChannel):
    kind = TransportKind.SSE

    def __init__(self, session: Session, link: Link, http: httpx.AsyncClient) -> None:
        super().__init__(link)
        self._session = session
        self._http = http

    def resync(self, subscription: Subscription) -> None:
        """A new stream starts with a fresh snapshot."""
        self.remove(subscription)
        self.add(subscription)

    async def follow(self, subscription: Subscription) -> None:
        try:
            await self._stream(subscription)
        except httpx.HTTPError as exc:
            raise Disconnected(f"the event stream broke: {exc or type(exc).__name__}") from None

    async def _stream(self, subscription: Subscription) -> None:
        params: dict[str, Any] = dict(subscription.wire_params())
        if (since := subscription.wire_since()) is not None:
            params["since"] = since
        if subscription.interval_s is not None:
            params["interval_s"] = subscription.interval_s
        if subscription.delta:
            params["delta"] = 1
        if subscription.history_s is not None:
            params["history_s"] = subscription.history_s
        headers = self._session.headers() | {"Accept": "text/event-stream"}
        timeout = httpx.Timeout(READ_TIMEOUT_S, connect=5.0)
        url = self._session.base_url + routes.sse(subscription.name)
        try:
            async with self._http.stream(
                "GET", url, params=params, headers=headers, timeout=timeout
            ) as answer:
                if answer.status_code >= 400:
                    await answer.aread()
                    raise refused_by(answer)
                if not answer.headers.get("content-type", "").startswith("text/event-stream"):
                    raise Disconnected("the answer is not an event stream", refused=True)
                self.answered()
                subscription.restarted()
                subscription.accept()
                await self._read(subscription, answer)
        except httpx.ConnectError as exc:
            raise Disconnected(f"cannot connect: {exc}") from None
        raise Disconnected("the event stream ended")

    async def _read(self, subscription: Subscription, answer: httpx.Response) -> None:
        event, data = "message", list[str]()
        async for line in answer.aiter_lines():
            if line == "":
                if data:
                    self._dispatch(subscription, event, "\n".join(data))
                event, data = "message", []
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
            elif line.startswith("event:"):
                event = line[6:].strip()

    def _dispatch(self, subscription: Subscription, event: str, data: str) -> None:
        if event == "close":
            closed = json.loads(data)
            raise Disconnected(str(closed.get("reason", "")), code=closed.get("code"))
        try:
            frame = parse_frame(data)
        except BadFrame:
            return
        if isinstance(frame, Error) and frame.code in CHANNEL_REFUSALS:
            # The gateway's last words before it closes the stream: the channel is refused.
            raise Refused(frame.code, frame.message, channel=frame.channel)
        if frame is not None:
            subscription.deliver(frame)
