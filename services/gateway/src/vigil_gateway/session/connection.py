"""The client protocol of one socket: `/ws` (multiplexed), a seed endpoint, or SSE.

An open connection has no task of its own: the wire hands it each client message
(handled in order by a short-lived task while any are waiting), and what it sends goes
through its outbox, written by the gateway's flusher, so a slow reader never holds up
the bus and one slow client never holds up another. Two timers watch it (`timers`):
the heartbeat (4003) and the expiry of its credentials (4001).
Requests count against a rate limit, and so does every message that draws an error
(malformed, an answer to no question); bad input gets an `error` that says what was
wrong, and the socket stays open. Those replies go through the outbox like any frame,
so a client that keeps asking but never reads is closed with 4008 when they overflow.
"""

import asyncio
import logging
import secrets
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.channels import ChannelRef
from vigil.messages import (
    Answer,
    Ask,
    AskClient,
    ClientMessage,
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
    Subscribe,
    Unsubscribe,
    parse_client_message,
    utc_now,
)
from vigil_gateway.access.ratelimit import RateLimits, RequestKind, Verdict
from vigil_gateway.delivery.hub import Hub
from vigil_gateway.delivery.options import NO_OPTIONS, Options
from vigil_gateway.errors import AuthUnavailable, ChannelRefused, InvalidCredentials
from vigil_gateway.filters.quota import FilterQuota
from vigil_gateway.metrics import GatewayMetrics
from vigil_gateway.session.subscriptions import UNAVAILABLE_MESSAGE, Subscriptions
from vigil_gateway.settings import GatewaySettings
from vigil_gateway.transport.flusher import Flusher
from vigil_gateway.transport.outbox import Outbox
from vigil_gateway.transport.timers import Expiry, Heartbeat
from vigil_gateway.transport.wire import Wire

log = logging.getLogger(__name__)

Reauthenticate = Callable[[str], Awaitable[Principal]]
INBOX_LIMIT = 16  # client messages waiting before the socket stops being read


class Connection:
    def __init__(
        self,
        wire: Wire,
        principal: Principal,
        address: str | None,
        *,
        settings: GatewaySettings,
        hub: Hub,
        flusher: Flusher,
        limits: RateLimits,
        quota: FilterQuota,
        metrics: GatewayMetrics,
        audit: AuditTrail,
        reauthenticate: Reauthenticate,
        bus_available: bool,
        on_gone: Callable[["Connection"], None],
        pings: bool = True,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.principal = principal
        self.principal_token = principal.token
        self.started_at: datetime = utc_now()
        self.address = address
        self.audit = audit
        self.outbox = Outbox(wire, flusher, limit=settings.outbox_limit, metrics=metrics)
        self._wire = wire
        self._only: ChannelRef | None = None  # the one channel of a seed endpoint or SSE
        self._pings = pings  # False where the client cannot answer (SSE)
        self._on_gone = on_gone
        self._settings = settings
        self._limits = limits
        self._quota = quota
        self._subscriptions = Subscriptions(self, hub, quota, settings.max_subscriptions)
        self._metrics = metrics
        self._peer_close_code: int | None = None
        self._limit_key = principal.key if settings.share_rate_limit else self.id
        self._reauthenticate = reauthenticate
        self.bus_is_available = bus_available
        self._questions: dict[str, asyncio.Future[dict[str, object]]] = {}
        self._heartbeat = Heartbeat(settings, self.send, self.close)
        self._expiry = Expiry(self.close)
        self._limited_until = dict.fromkeys(RequestKind, 0.0)  # refused until (monotonic)
        self._inbox: deque[str | None] = deque()  # a few, or one read's worth
        self._handling: asyncio.Task[None] | None = None
        self._gone = False

    @property
    def close_code(self) -> int | None:
        """How the socket ended, once it has: our close code, or the client's."""
        return self.outbox.closed_with or self._peer_close_code

    # -- life ---------------------------------------------------------------------

    async def open(self, channel: ChannelRef | None = None, options: Options = NO_OPTIONS) -> None:
        """Greet the client: on `/ws`, `connected`; where the path names the `channel`
        (seed endpoints, SSE), its data as the `options` say, or `FORBIDDEN` or
        `NOT_FOUND` and a close (1008) if the principal may not see it or it does not
        exist. Then start the timers and take the socket off ASGI."""
        refused: ChannelRefused | None = None
        if channel is not None:
            try:
                channel = await self._subscriptions.admit(channel, f"open {channel.key}")
                self._quota.take(self.principal, channel)
            except ChannelRefused as exc:
                refused = exc
        if channel is not None and refused is not None:
            error = Error(code=refused.code, message=refused.reason, channel=channel.key)
            self.outbox.put_close(
                CloseCode.POLICY_VIOLATION, refused.reason[:120], last_words=error.model_dump_json()
            )
        elif channel is None:
            connected = Connected(
                connection_id=self.id,
                server_time=self.started_at,
                heartbeat_interval_s=self._settings.heartbeat_interval_s,
            )
            self.send(connected.model_dump_json())
        else:
            self._only = channel
            await self._subscriptions.subscribe(channel, options, remaining=None)
        if self._pings:
            self._heartbeat.start()
        self._expiry.watch(self.principal)
        self._wire.detach(self)

    def on_message(self, text: str | None) -> None:
        """A client message: handled in order, in a task that lives while any wait."""
        self._inbox.append(text)
        if len(self._inbox) >= INBOX_LIMIT:
            self._wire.pause_reading()
        if self._handling is None:
            self._handling = asyncio.create_task(self._handle_inbox(), name=f"ws-{self.id}")

    def on_closed(self, code: int) -> None:
        """The socket ends (the first call counts): stop the timers and the handling,
        and let the gateway clean up (`leave`)."""
        if self._gone:
            return
        self._gone = True
        self._peer_close_code = code
        self._heartbeat.stop()
        self._expiry.stop()
        if self._handling is not None:
            self._handling.cancel()
        self._on_gone(self)

    async def leave(self) -> None:
        """Leave every channel and forget the connection's own rate limit."""
        await self._subscriptions.leave_all()
        if not self._settings.share_rate_limit:
            self._limits.forget(self._limit_key)

    async def _handle_inbox(self) -> None:
        try:
            while self._inbox:
                try:
                    await self._handle(self._inbox.popleft())
                except Exception:  # a bug: say so and end this socket, not its handling
                    log.exception("a client message of %s could not be handled", self.id)
                    self.close(CloseCode.INTERNAL_ERROR, "internal error")
                    return
                if len(self._inbox) < INBOX_LIMIT // 2:
                    self._wire.resume_reading()
                # One read can bring thousands of small messages: other sockets get
                # their turns between them.
                await asyncio.sleep(0)
        finally:
            self._handling = None

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
            subscriptions=self._subscriptions.keys(),
            sent=self.outbox.sent,
            dropped=self.outbox.dropped,
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
        self.bus_is_available = False
        self.send(Error(code=ErrorCode.UNAVAILABLE, message=UNAVAILABLE_MESSAGE).model_dump_json())

    def bus_available(self) -> None:
        self.bus_is_available = True

    # -- protocol -----------------------------------------------------------------

    async def _handle(self, text: str | None) -> None:
        message: ClientMessage | None = None
        problem = "binary frames are not supported; send JSON"
        if text is not None:
            try:
                message = parse_client_message(text)
            except InvalidClientMessage as exc:
                problem = f"invalid message: {exc}"
        if isinstance(message, ClientPong):
            self._heartbeat.pong()
            return
        if isinstance(message, Answer) and self._on_answer(message):
            return
        # Whatever else is answered counts: a request, and a message that draws an
        # error (malformed, an answer to no question), so a client cannot make the
        # gateway answer faster than its rate limit allows.
        kind = (
            RequestKind.SUBSCRIPTIONS
            if isinstance(message, Subscribe | Unsubscribe)
            else RequestKind.REQUESTS
        )
        verdict = await self._hit(kind)
        if not verdict.allowed:
            self._metrics.rate_limited += 1
            limit = self._limits.describe(kind)
            self.send(
                Error(
                    code=ErrorCode.RATE_LIMITED,
                    message=f"{limit}; retry in {verdict.retry_after_s:g} s",
                    remaining=0,
                    retry_after_s=verdict.retry_after_s,
                ).model_dump_json()
            )
            return
        if message is None:
            self.error(ErrorCode.INVALID_MESSAGE, problem, remaining=verdict.remaining)
        elif isinstance(message, Answer):
            self.error(
                ErrorCode.NOT_FOUND,
                f"no open question {message.request_id[:64]!r}: unknown, expired or answered",
                remaining=verdict.remaining,
            )
        else:
            await self._answer(message, verdict.remaining)

    async def _hit(self, kind: RequestKind) -> Verdict:
        """The rate limit's verdict; once it refused, refused here until the retry time
        it gave, without asking it again (a shared limiter is a round trip to NATS)."""
        now = time.monotonic()
        if now < self._limited_until[kind]:
            return Verdict(False, 0, round(self._limited_until[kind] - now, 3))
        verdict = await self._limits.hit(self._limit_key, kind)
        if not verdict.allowed:
            self._limited_until[kind] = now + verdict.retry_after_s
        return verdict

    async def _answer(self, message: ClientRequest, remaining: int) -> None:
        if isinstance(message, Ping):
            self.send(Pong(time=utc_now(), remaining=remaining).model_dump_json())
        elif isinstance(message, Reauth):
            await self._on_reauth(message, remaining)
        elif self._only is not None:
            self.error(
                ErrorCode.INVALID_MESSAGE,
                f"{message.type!r} is not available here: this endpoint streams the "
                f"{self._only.key} channel; use /ws to choose channels",
                remaining=remaining,
            )
        elif isinstance(message, Subscribe):
            await self._subscriptions.on_subscribe(message, remaining)
        else:
            await self._subscriptions.on_unsubscribe(message, remaining)

    def _on_answer(self, message: Answer) -> bool:
        """Hand the answer to its open question; False if there is none."""
        waiting = self._questions.pop(message.request_id, None)
        if waiting is None or waiting.done():
            return False
        waiting.set_result(message.data)
        return True

    async def _on_reauth(self, message: Reauth, remaining: int) -> None:
        try:
            fresh = await self._reauthenticate(message.token)
        except (InvalidCredentials, AuthUnavailable) as exc:
            self.error(
                ErrorCode.INVALID_CREDENTIALS, f"reauth refused: {exc.reason}", remaining=remaining
            )
            return
        if fresh.token != self.principal_token:
            self.audit.refused(
                "reauth", self.principal, "token of another principal", address=self.address
            )
            self.error(
                ErrorCode.FORBIDDEN, "reauth must use a token of the same user", remaining=remaining
            )
            return
        self.principal = fresh
        self._expiry.watch(fresh)
        self.send(
            Reauthenticated(expires_at=fresh.expires_at, remaining=remaining).model_dump_json()
        )

    def sees_cluster(self, cluster: str) -> bool:
        """Asked at each send of a feed that spans clusters: the principal of now, so
        a reauth with a narrower grant hides a cluster's lines at once."""
        return self.principal.may_see_cluster(cluster)

    def error(
        self,
        code: ErrorCode,
        message: str,
        *,
        channel: str | None = None,
        remaining: int | None = None,
    ) -> None:
        error = Error(code=code, message=message, channel=channel, remaining=remaining)
        self.send(error.model_dump_json())
