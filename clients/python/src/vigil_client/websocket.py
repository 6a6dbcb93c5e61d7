"""The multiplexed socket `/ws`: every subscription of the client over one connection.

Requests (subscribe, unsubscribe, reauth) go one at a time: the gateway answers each
in order with a frame that carries `remaining` (its rate-limit budget), so the answer
to the request in flight is simply the next such frame. A `RATE_LIMITED` answer puts
the request back and waits `retry_after_s`; for a subscribe, the subscription says so
to its reader and decides whether it is worth the wait (`Subscription.rate_limited`).
Server pings get a pong, questions
(`ask`) go to the caller's callback and its answer back, and data frames go to the
subscription the gateway named (`update.channel` is the key `subscribed` gave).
"""

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from vigil.messages import (
    Ask,
    Connected,
    Delta,
    Error,
    ErrorCode,
    Fresh,
    Gap,
    HistoryFirst,
    Reauthenticated,
    Reset,
    ServerPing,
    Stale,
    Subscribed,
    Unsubscribed,
    Update,
)
from vigil.model import Message
from vigil_client import routes
from vigil_client.errors import Refused
from vigil_client.frames import BadFrame, parse_frame
from vigil_client.session import Session
from vigil_client.subscription import RETRY_WITHOUT_HINT_S, Subscription
from vigil_client.transport import Disconnected, Link, TransportKind

log = logging.getLogger(__name__)

OPEN_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 30.0
MAX_FRAME_BYTES = 16 * 1024 * 1024


@dataclass
class _Request:
    message: dict[str, Any]
    subscription: Subscription | None = None
    answered: asyncio.Future[Message] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class WebSocketTransport:
    kind = TransportKind.WEBSOCKET

    def __init__(self, session: Session, link: Link) -> None:
        self._session = session
        self._link = link
        self._ws: ClientConnection | None = None
        self._requests: collections.deque[_Request] = collections.deque()
        self._queued = asyncio.Event()
        self._in_flight: _Request | None = None
        self._by_key: dict[str, Subscription] = {}
        self._questions: set[asyncio.Task[None]] = set()

    # -- the client's side ------------------------------------------------------------

    def add(self, subscription: Subscription) -> None:
        if self._ws is None:
            return  # subscribed with every other one once the socket opens
        message: dict[str, Any] = {
            "type": "subscribe",
            "channel": subscription.name,
            "params": subscription.wire_params(),
        }
        if (since := subscription.wire_since()) is not None:
            message["since"] = since
        if subscription.interval_s is not None:
            message["interval_s"] = subscription.interval_s
        if subscription.delta:
            message["delta"] = True
        if subscription.history_s is not None:
            message["history_s"] = subscription.history_s
        self._queue(_Request(message, subscription))

    def resync(self, subscription: Subscription) -> None:
        """Subscribing again gives a fresh snapshot (deltas go on from it)."""
        self.add(subscription)

    def remove(self, subscription: Subscription) -> None:
        if subscription.key is None or self._by_key.get(subscription.key) is not subscription:
            return  # never live here: the pending subscribe sees it closed and undoes it
        del self._by_key[subscription.key]
        self._queue(_Request(self._unsubscribe(subscription)))

    def reauth(self, token: str) -> None:
        self._queue(_Request({"type": "reauth", "token": token}))

    def _queue(self, request: _Request) -> None:
        self._requests.append(request)
        self._queued.set()

    @staticmethod
    def _unsubscribe(subscription: Subscription) -> dict[str, Any]:
        params = subscription.wire_params()
        return {"type": "unsubscribe", "channel": subscription.name, "params": params}

    # -- the connection -------------------------------------------------------------

    async def run(self, opened: Callable[[], None]) -> None:
        url = routes.websocket_url(self._session.base_url)
        try:
            ws = await connect(
                url,
                additional_headers=self._session.headers(),
                open_timeout=OPEN_TIMEOUT_S,
                max_size=MAX_FRAME_BYTES,
                user_agent_header="vigil-client",
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise Disconnected(f"the upgrade was refused: HTTP {status}", refused=True) from None
        except (InvalidHandshake, TimeoutError) as exc:
            raise Disconnected(f"no WebSocket handshake: {exc}", refused=True) from None
        except OSError as exc:
            raise Disconnected(f"cannot connect: {exc.strerror or exc}") from None
        sender = asyncio.create_task(self._send_requests(ws))
        try:
            first = await self._receive_connected(ws)
            log.debug("connected as %s", first.connection_id)
            self._ws = ws
            opened()
            for subscription in self._link.subscriptions():
                self.add(subscription)
            async for text in ws:
                self._handle(ws, text)
            raise self._closed(ws)
        except ConnectionClosed:
            raise self._closed(ws) from None
        finally:
            await _stop(sender)
            for task in list(self._questions):
                await _stop(task)
            await ws.close()
            self._ws = None

    async def _receive_connected(self, ws: ClientConnection) -> Connected:
        try:
            text = await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT_S)
        except TimeoutError:
            raise Disconnected("no `connected` from the gateway", refused=True) from None
        frame = parse_frame(text)
        if not isinstance(frame, Connected):
            raise Disconnected(f"expected `connected`, got {str(text)[:80]}", refused=True)
        return frame

    @staticmethod
    def _closed(ws: ClientConnection) -> Disconnected:
        code, reason = ws.close_code, ws.close_reason or ""
        return Disconnected(f"the socket closed: {reason or 'no reason'}", code=code, said=reason)

    async def _send_requests(self, ws: ClientConnection) -> None:
        """One request in flight at a time, each until its answer."""
        while True:
            while not self._requests:
                self._queued.clear()
                await self._queued.wait()
            request = self._requests[0]
            if request.subscription is not None and request.subscription.ended:
                self._requests.popleft()  # closed before it was sent
                continue
            self._in_flight = request
            await ws.send(json.dumps(request.message))
            try:
                answer = await asyncio.wait_for(asyncio.shield(request.answered), ANSWER_TIMEOUT_S)
            except TimeoutError:
                await ws.close(1011, "no answer to a request")
                return
            finally:
                self._in_flight = None
            if _rate_limited(answer):
                wait = self._wait_out(request, answer)
                if wait is not None:
                    request.answered = asyncio.get_running_loop().create_future()
                    await asyncio.sleep(wait)
                    continue
            self._requests.popleft()

    def _wait_out(self, request: _Request, limited: Error) -> float | None:
        """How long to wait before sending a rate-limited request again; None: it is
        not sent again (its subscription ends refused)."""
        refusal = Refused(
            limited.code,
            limited.message,
            channel=limited.channel,
            retry_after_s=limited.retry_after_s,
        )
        subscription = request.subscription
        if subscription is None:  # the client's own (unsubscribe, reauth): always worth it
            return refusal.retry_after_s or RETRY_WITHOUT_HINT_S
        wait = subscription.rate_limited(refusal)
        if wait is None:
            self._link.refused(subscription, refusal)
        return wait

    def _answered(self, request: _Request, answer: Message) -> None:
        """Act on an answer as it is read, before any frame after it: the data that
        follows `subscribed` is routed by the key it gives."""
        if request.answered.done():
            return
        request.answered.set_result(answer)
        if _rate_limited(answer):
            return  # sent again by the sender
        subscription = request.subscription
        if subscription is None:
            if isinstance(answer, Error):
                log.warning("the gateway refused %s: %s", request.message["type"], answer.message)
            return
        if isinstance(answer, Subscribed):
            subscription.key = answer.channel
            subscription.restarted()
            subscription.accept()
            self._by_key[answer.channel] = subscription
            if subscription.ended:  # closed while its subscribe was in flight
                self.remove(subscription)
        elif isinstance(answer, Error):
            self._link.refused(subscription, Refused(answer.code, answer.message))

    # -- what arrives -------------------------------------------------------------------

    def _handle(self, ws: ClientConnection, text: str | bytes) -> None:
        try:
            frame = parse_frame(text)
        except BadFrame as exc:
            log.warning("skipped a frame: %s", exc)
            return
        if isinstance(frame, Update | Delta | HistoryFirst | Gap | Reset | Stale | Fresh):
            target = self._by_key.get(frame.channel)
            if target is not None:
                target.deliver(frame)
        elif isinstance(frame, ServerPing):
            self._send_soon(ws, {"type": "pong"})
        elif isinstance(frame, Ask):
            task = asyncio.create_task(self._ask(ws, frame))
            self._questions.add(task)
            task.add_done_callback(self._questions.discard)
        elif _is_answer(frame):
            assert frame is not None
            if self._in_flight is not None:
                self._answered(self._in_flight, frame)
        elif isinstance(frame, Error):
            self._notice(frame)

    def _notice(self, error: Error) -> None:
        """An error that answers no request: for its channel, or for every one."""
        if error.channel is not None and error.channel in self._by_key:
            self._by_key[error.channel].deliver(error)
            return
        if error.channel is None:
            for subscription in self._by_key.values():
                subscription.deliver(error)
        log.warning("gateway: %s %s", error.code, error.message)

    async def _ask(self, ws: ClientConnection, ask: Ask) -> None:
        data = await self._link.answer(ask)
        if data is not None:
            with contextlib.suppress(ConnectionClosed):
                answer = {"type": "answer", "requestId": ask.request_id, "data": data}
                await ws.send(json.dumps(answer))

    def _send_soon(self, ws: ClientConnection, message: dict[str, Any]) -> None:
        task = asyncio.create_task(_send_quietly(ws, message))
        self._questions.add(task)
        task.add_done_callback(self._questions.discard)


def _rate_limited(answer: Message) -> TypeGuard[Error]:
    return isinstance(answer, Error) and answer.code is ErrorCode.RATE_LIMITED


def _is_answer(frame: Message | None) -> bool:
    """A frame that answers a request carries `remaining` (even a refusal)."""
    if not isinstance(frame, Subscribed | Unsubscribed | Reauthenticated | Error):
        return False
    return frame.remaining is not None


async def _send_quietly(ws: ClientConnection, message: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionClosed):
        await ws.send(json.dumps(message))


async def _stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
        await task
