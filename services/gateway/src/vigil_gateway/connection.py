"""The client protocol of one WebSocket: `/ws` (multiplexed) and `/api/system/ws`.

A connection reads frames in one task and writes from its outbox in another, so a
slow reader never holds up the bus, and one slow client never holds up another. Two
more tasks watch it: the heartbeat (a `ping` every interval; unanswered pings are
misses, and too many close the socket with 4003) and the expiry of its credentials
(4001 unless a `reauth` arrived). Requests count against a rate limit; bad input gets
an `error` that says what was wrong, and the socket stays open.
"""

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

from starlette.websockets import WebSocket, WebSocketDisconnect

from vigil.access import Principal
from vigil.channels import CHANNELS, ChannelRef, resolve_channel
from vigil.errors import InvalidName, UnknownChannel
from vigil.lifecycle import stop_task
from vigil.messages import (
    Answer,
    Ask,
    AskClient,
    ClientPong,
    ClientRequest,
    CloseCode,
    Connected,
    ConnectionInfo,
    Error,
    ErrorCode,
    InvalidClientMessage,
    Ping,
    Pong,
    Reauth,
    Reauthenticated,
    ServerPing,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    parse_client_message,
    utc_now,
)
from vigil_gateway import audit
from vigil_gateway.errors import AuthUnavailable, Forbidden, InvalidCredentials
from vigil_gateway.hub import Hub
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.outbox import Close, Outbox
from vigil_gateway.permissions import check_channel
from vigil_gateway.ratelimit import RateLimiter
from vigil_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

UNAVAILABLE_MESSAGE = "the message bus is unavailable; data resumes by itself when it is back"

Reauthenticate = Callable[[str], Awaitable[Principal]]
FindMissing = Callable[[ChannelRef], Awaitable[str | None]]
"""Why the thing a channel names does not exist (an unknown deploy), or None."""


async def _nothing_missing(channel: ChannelRef) -> None:
    return None


class Connection:
    def __init__(
        self,
        websocket: WebSocket,
        principal: Principal,
        *,
        settings: GatewaySettings,
        hub: Hub,
        limiter: RateLimiter,
        metrics: GatewayMetrics,
        reauthenticate: Reauthenticate,
        bus_available: bool,
        find_missing: FindMissing = _nothing_missing,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.principal = principal
        self.principal_token = principal.token
        self.started_at: datetime = utc_now()
        self.address = websocket.client.host if websocket.client else None
        self.outbox = Outbox(settings.outbox_limit)
        self._websocket = websocket
        self._settings = settings
        self._hub = hub
        self._limiter = limiter
        self._metrics = metrics
        self.close_code: int | None = None  # how the socket ended, once it has
        self.sent = 0  # frames
        self.dropped = 0  # stream frames dropped for being slow
        self._limit_key = principal.key if settings.share_rate_limit else self.id
        self._reauthenticate = reauthenticate
        self._bus_available = bus_available
        self._find_missing = find_missing
        self._channels: dict[str, ChannelRef] = {}
        self._principal_changed = asyncio.Event()
        self._pong = asyncio.Event()
        self._questions: dict[str, asyncio.Future[dict[str, object]]] = {}

    # -- endpoints ----------------------------------------------------------------

    async def serve_multiplexed(self) -> None:
        """`/ws`: `connected`, then requests until the client leaves."""
        self.send(
            Connected(
                connection_id=self.id,
                server_time=self.started_at,
                heartbeat_interval_s=self._settings.heartbeat_interval_s,
            ).model_dump_json()
        )
        async with self._open():
            async for text in self._frames():
                await self._handle(text, multiplexed=True)

    async def serve_system(self) -> None:
        """`/api/system/ws` (seed 001): the `system` channel, and `ping`."""
        async with self._open():
            await self._subscribe(resolve_channel(CHANNELS["system"].name), remaining=None)
            async for text in self._frames():
                await self._handle(text, multiplexed=False)

    async def serve_channel(self, channel: ChannelRef, since: int | None) -> None:
        """A seed endpoint of one channel (`/ws/deploy/{id}/status`): its frames, and
        `ping`; an unknown deploy gets `NOT_FOUND` and the socket closes (1008)."""
        if (missing := await self._find_missing(channel)) is not None:
            error = Error(code=ErrorCode.NOT_FOUND, message=missing, channel=channel.key)
            await self._websocket.send_text(error.model_dump_json())  # no writer runs yet
            self.close_code = CloseCode.POLICY_VIOLATION
            await self._websocket.close(CloseCode.POLICY_VIOLATION, missing[:120])
            return
        async with self._open():
            await self._subscribe(channel, remaining=None, since=since)
            async for text in self._frames():
                await self._handle(text, multiplexed=False)

    # -- what the gateway tells this client ---------------------------------------

    def info(self, gateway_id: str) -> ConnectionInfo:
        return ConnectionInfo(
            id=self.id,
            gateway_id=gateway_id,
            principal_kind=self.principal.kind,
            principal_id=self.principal.id,
            principal_name=self.principal.name,
            address=self.address,
            since=self.started_at,
            subscriptions=sorted(self._channels),
            sent=self.sent,
            dropped=self.dropped,
        )

    def send(self, frame: str) -> None:
        self.outbox.put_control(frame)

    def close(self, code: CloseCode, reason: str) -> None:
        """Close ahead of anything still queued (revoked, expired, replaced...)."""
        self.outbox.put_close(code, reason)

    async def ask(self, question: AskClient) -> dict[str, object]:
        """Put a question to the client and wait for its answer; `TimeoutError` if none
        comes within the question's timeout. Each question has a fresh one-time id."""
        request_id = secrets.token_urlsafe(16)
        answer: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()
        self._questions[request_id] = answer
        ask = Ask(
            request_id=request_id,
            kind=question.kind,
            question=question.question,
            data=question.data,
            timeout_s=question.timeout_s,
        )
        self.send(ask.model_dump_json())
        try:
            return await asyncio.wait_for(answer, question.timeout_s)
        finally:
            self._questions.pop(request_id, None)

    def bus_unavailable(self) -> None:
        self._bus_available = False
        self.send(Error(code=ErrorCode.UNAVAILABLE, message=UNAVAILABLE_MESSAGE).model_dump_json())

    def bus_available(self) -> None:
        self._bus_available = True

    # -- protocol -----------------------------------------------------------------

    async def _handle(self, text: str | None, *, multiplexed: bool) -> None:
        if text is None:
            self._error(ErrorCode.INVALID_MESSAGE, "binary frames are not supported; send JSON")
            return
        try:
            message = parse_client_message(text)
        except InvalidClientMessage as exc:
            self._error(ErrorCode.INVALID_MESSAGE, f"invalid message: {exc}")
            return
        if isinstance(message, ClientPong):
            self._pong.set()
            return
        if isinstance(message, Answer):
            self._on_answer(message)
            return
        verdict = await self._limiter.hit(self._limit_key)
        if not verdict.allowed:
            self._metrics.rate_limited += 1
            self.send(
                Error(
                    code=ErrorCode.RATE_LIMITED,
                    message=(
                        f"more than {self._settings.rate_limit_messages} requests in "
                        f"{self._settings.rate_limit_window_s:g} s; retry after the window"
                    ),
                    remaining=0,
                    retry_after_s=verdict.retry_after_s,
                ).model_dump_json()
            )
            return
        await self._answer(message, verdict.remaining, multiplexed=multiplexed)

    async def _answer(self, message: ClientRequest, remaining: int, *, multiplexed: bool) -> None:
        if isinstance(message, Ping):
            self.send(Pong(time=utc_now(), remaining=remaining).model_dump_json())
        elif isinstance(message, Reauth):
            await self._on_reauth(message, remaining)
        elif not multiplexed:
            self._error(
                ErrorCode.INVALID_MESSAGE,
                f"{message.type!r} is not available here: this endpoint streams one "
                "channel; use /ws to choose channels",
                remaining=remaining,
            )
        elif isinstance(message, Subscribe):
            await self._on_subscribe(message, remaining)
        else:
            await self._on_unsubscribe(message, remaining)

    async def _on_subscribe(self, message: Subscribe, remaining: int) -> None:
        try:
            channel = resolve_channel(message.channel, message.params)
        except UnknownChannel as exc:
            self._error(ErrorCode.NOT_FOUND, str(exc), channel=message.channel, remaining=remaining)
            return
        except InvalidName as exc:
            self._error(
                ErrorCode.INVALID_MESSAGE, str(exc), channel=message.channel, remaining=remaining
            )
            return
        try:
            check_channel(self.principal, channel)
        except Forbidden as exc:
            audit.denied(self.principal, f"subscribe {channel.key}", exc.reason, self.address)
            self._error(ErrorCode.FORBIDDEN, exc.reason, channel=channel.key, remaining=remaining)
            return
        if (missing := await self._find_missing(channel)) is not None:
            self._error(ErrorCode.NOT_FOUND, missing, channel=channel.key, remaining=remaining)
            return
        limit = self._settings.max_subscriptions
        if channel.key not in self._channels and len(self._channels) >= limit:
            self._error(
                ErrorCode.LIMIT_REACHED,
                f"at most {limit} subscriptions per socket; unsubscribe from one first",
                channel=channel.key,
                remaining=remaining,
            )
            return
        await self._subscribe(channel, remaining=remaining, since=message.since)

    async def _on_unsubscribe(self, message: Unsubscribe, remaining: int) -> None:
        try:
            channel = resolve_channel(message.channel, message.params)
        except (UnknownChannel, InvalidName) as exc:
            self._error(
                ErrorCode.INVALID_MESSAGE, str(exc), channel=message.channel, remaining=remaining
            )
            return
        if channel.key not in self._channels:
            self._error(
                ErrorCode.NOT_FOUND,
                f"not subscribed to {channel.key!r}",
                channel=channel.key,
                remaining=remaining,
            )
            return
        del self._channels[channel.key]
        await self._hub.leave(channel, self.outbox)
        self.send(Unsubscribed(channel=channel.key, remaining=remaining).model_dump_json())

    def _on_answer(self, message: Answer) -> None:
        waiting = self._questions.pop(message.request_id, None)
        if waiting is None or waiting.done():
            self._error(
                ErrorCode.NOT_FOUND,
                f"no open question {message.request_id[:64]!r}: unknown, expired or answered",
            )
            return
        waiting.set_result(message.data)

    async def _on_reauth(self, message: Reauth, remaining: int) -> None:
        try:
            fresh = await self._reauthenticate(message.token)
        except (InvalidCredentials, AuthUnavailable) as exc:
            self._error(
                ErrorCode.INVALID_CREDENTIALS, f"reauth refused: {exc.reason}", remaining=remaining
            )
            return
        if fresh.token != self.principal_token:
            audit.denied(self.principal, "reauth", "token of another principal", self.address)
            self._error(
                ErrorCode.FORBIDDEN, "reauth must use a token of the same user", remaining=remaining
            )
            return
        self.principal = fresh
        self._principal_changed.set()
        self.send(
            Reauthenticated(expires_at=fresh.expires_at, remaining=remaining).model_dump_json()
        )

    async def _subscribe(
        self, channel: ChannelRef, *, remaining: int | None, since: int | None = None
    ) -> None:
        announce = None  # announced on /ws; the seed endpoint subscribes itself
        if remaining is not None:
            subscribed = Subscribed(
                channel=channel.key, kind=channel.spec.kind, remaining=remaining
            )
            announce = subscribed.model_dump_json()
        if channel.key in self._channels:
            if announce is not None:
                self.send(announce)
            return
        self._channels[channel.key] = channel
        await self._hub.join(channel, self.outbox, since, announce=announce)
        if not self._bus_available:
            self._error(ErrorCode.UNAVAILABLE, UNAVAILABLE_MESSAGE, channel=channel.key)

    def _error(
        self,
        code: ErrorCode,
        message: str,
        *,
        channel: str | None = None,
        remaining: int | None = None,
    ) -> None:
        error = Error(code=code, message=message, channel=channel, remaining=remaining)
        self.send(error.model_dump_json())

    # -- plumbing -----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[None]:
        """Run the writer, heartbeat and expiry watch beside the reader; on the way out
        stop them and leave every channel."""
        tasks = [
            asyncio.create_task(self._write(), name=f"ws-writer-{self.id}"),
            asyncio.create_task(self._heartbeat(), name=f"ws-heartbeat-{self.id}"),
            asyncio.create_task(self._expire(), name=f"ws-expiry-{self.id}"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                await stop_task(task)
            for channel in self._channels.values():
                await self._hub.leave(channel, self.outbox)
            self._channels.clear()
            if not self._settings.share_rate_limit:
                self._limiter.forget(self._limit_key)

    async def _frames(self) -> AsyncIterator[str | None]:
        """Each frame the client sends: text, or None for a binary frame."""
        while True:
            event = await self._websocket.receive()
            if event["type"] == "websocket.disconnect":
                if self.close_code is None:
                    self.close_code = int(event.get("code", CloseCode.NORMAL))
                return
            yield event.get("text")

    async def _write(self) -> None:
        metrics, send = self._metrics, self._websocket.send_text
        try:
            while True:
                batch = await self.outbox.get()
                if isinstance(batch, Close):
                    self.close_code = batch.code
                    await self._websocket.close(batch.code, batch.reason)
                    return
                for frame in batch.frames:
                    await send(frame)
                self.sent += len(batch.frames)
                metrics.sent(batch.kind, batch.frames, batch.produced_at, time.time())
                if batch.dropped:
                    self.dropped += batch.dropped
                    metrics.dropped[batch.kind] += batch.dropped
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            metrics.send_failures += 1
            log.debug("connection %s: writer stopped: %s", self.id, exc)

    async def _heartbeat(self) -> None:
        settings = self._settings
        misses = 0
        while True:
            await asyncio.sleep(settings.heartbeat_interval_s)
            self._pong.clear()
            self.send(ServerPing(time=utc_now()).model_dump_json())
            try:
                await asyncio.wait_for(self._pong.wait(), settings.pong_timeout_s)
                misses = 0
            except TimeoutError:
                misses += 1
                if misses >= settings.max_missed_pongs:
                    self.close(CloseCode.HEARTBEAT_TIMEOUT, f"no pong to {misses} pings in a row")
                    return

    async def _expire(self) -> None:
        """Close with 4001 when the credentials expire, unless a `reauth` moved that on."""
        while (expires_at := self.principal.expires_at) is not None:
            left = (expires_at - utc_now()).total_seconds()
            if left <= 0:
                self.close(CloseCode.INVALID_CREDENTIALS, "the token has expired")
                return
            self._principal_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._principal_changed.wait(), left)
