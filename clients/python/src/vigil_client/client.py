"""`VigilClient`: live data from a Vigil gateway that survives reconnects.

    async with VigilClient("http://127.0.0.1:8000", ApiKey("...")) as client:
        async with await client.subscribe("docker.logs", {"container": "web"}) as logs:
            async for event in logs:
                ...

One connection carries every subscription: the multiplexed socket `/ws`, or, after
`fallback_after` refusals in a row of that kind (a proxy that blocks WebSockets),
one event stream per subscription, and after as many refusals of those, polling.
While on a fallback the client tries the socket again every `upgrade_after_s` and
moves back as soon as it opens. A lost connection is retried after 2, 5, 10, 30 s
(jittered), or after the wait the gateway asked for; subscriptions are made again on
the new connection, streams and journals resumed after their cursor, so nothing is
missed and nothing delivered twice. A socket the gateway closes at its handshake with
1008 (too many sockets for the user...) ends the client with `ConnectionRefused`:
trying again would be refused again.

A rate-limited subscription is told and made again after `retry_after_s`, for up to
`rate_limit_wait_s` of refusals in a row; then it ends refused (see `subscription`).

Credentials: an API key, or tokens that the client refreshes before they expire
(and sends on the open socket with `reauth`) or when the gateway closes it with 4001.
A question from a service (`ask`, e.g. to confirm a deploy) goes to `on_ask`; what it
returns is the answer (None: no answer).

A little over 400 lines, kept whole: connecting, falling back, moving back to the
socket and resuming are one loop (`_connect_forever`), read best in one place.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import httpx

from vigil.channels import ChannelKind, resolve_channel
from vigil.lifecycle import stop_task
from vigil.messages import Ask, CloseCode
from vigil_client import routes
from vigil_client.api import TIMEOUT, Api
from vigil_client.backoff import Backoff
from vigil_client.credentials import Credentials, Tokens
from vigil_client.errors import (
    AuthenticationFailed,
    ClientError,
    ConnectionRefused,
    Refused,
    SessionEnded,
    Unreachable,
)
from vigil_client.polling import PollingTransport
from vigil_client.session import Session
from vigil_client.sse import SseTransport
from vigil_client.subscription import DEFAULT_BUFFER, DEFAULT_RATE_LIMIT_WAIT_S, Subscription
from vigil_client.transport import CHANNEL_REFUSALS, Disconnected, Transport, TransportKind
from vigil_client.websocket import WebSocketTransport

log = logging.getLogger(__name__)

OnAsk = Callable[[Ask], Awaitable[dict[str, Any] | None]]
FALLBACKS = {TransportKind.WEBSOCKET: TransportKind.SSE, TransportKind.SSE: TransportKind.POLLING}
AT_ONCE = {CloseCode.TOO_SLOW}  # reconnect without waiting: resume from the cursor


class ConnectionState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    FALLBACK = "fallback"
    """Live over SSE or polling (see `transport`)."""
    CLOSED = "closed"


class VigilClient:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        on_ask: OnAsk | None = None,
        on_refresh: Callable[[Tokens], None] | None = None,
        on_state: Callable[[ConnectionState, TransportKind], None] | None = None,
        backoff: Backoff | None = None,
        fallback_after: int = 3,
        upgrade_after_s: float = 60.0,
        poll_interval_s: float = 2.0,
        buffer: int = DEFAULT_BUFFER,
        rate_limit_wait_s: float = DEFAULT_RATE_LIMIT_WAIT_S,
    ) -> None:
        self.session = Session(base_url, credentials, on_refresh)
        self._on_ask = on_ask
        self._on_state = on_state
        self.backoff = backoff or Backoff()
        self.fallback_after = fallback_after
        self.upgrade_after_s = upgrade_after_s
        self.poll_interval_s = poll_interval_s
        self._buffer = buffer
        self.rate_limit_wait_s = rate_limit_wait_s
        self._subscriptions: list[Subscription] = []
        self._http: httpx.AsyncClient | None = None
        self._transport: Transport | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._state_changed = asyncio.Event()
        self.state = ConnectionState.CONNECTING
        self.transport = TransportKind.WEBSOCKET
        self.failure: ClientError | None = None
        """Why the client stopped for good (CLOSED), if it did."""
        self.connections = 0
        """Connections opened so far, over any transport."""
        self.last_disconnect: str | None = None
        """How the last connection (or attempt) ended, e.g. `cannot connect: ...`."""

    # -- life -------------------------------------------------------------------------

    async def __aenter__(self) -> "VigilClient":
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        self._http = httpx.AsyncClient(timeout=TIMEOUT)
        self._tasks = [
            asyncio.create_task(self._connect_forever(), name="vigil-client"),
            asyncio.create_task(self._keep_fresh(), name="vigil-client-refresh"),
        ]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            # Cancelled again while it runs on: a connect inside `asyncio.wait_for` can
            # swallow one cancellation on Python 3.11, and the close then waited for ever.
            await stop_task(task)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        for subscription in self._subscriptions:
            subscription.stop()
        self._subscriptions.clear()
        self._set_state(ConnectionState.CLOSED)

    @property
    def api(self) -> Api:
        """The gateway's HTTP routes, with this client's credentials."""
        if self._http is None:
            raise RuntimeError("start the client first (async with VigilClient(...))")
        return Api(self.session, self._http)

    async def wait_until(
        self, *states: ConnectionState, transport: TransportKind | None = None
    ) -> None:
        """Until the client is in one of `states` (over `transport`); raises why it
        stopped if it stops for good first. Bound it with `asyncio.timeout`."""
        while not (self.state in states and (transport is None or self.transport is transport)):
            if self.state is ConnectionState.CLOSED and self.failure is not None:
                raise self.failure
            self._state_changed.clear()
            await self._state_changed.wait()

    # -- subscriptions ------------------------------------------------------------------

    async def subscribe(
        self,
        channel: str,
        params: dict[str, str] | None = None,
        *,
        since: int | None = None,
        interval_s: float | None = None,
        delta: bool = False,
        history_s: int | None = None,
    ) -> Subscription:
        """Follow `channel` from now (a stream), from its start (a deploy's journal), or
        after `since`; state channels at most every `interval_s`, and with `delta` sent
        as changes (the caller still reads whole values). With `history_s` (a host's
        metrics or containers), a `HistoryFirst` event of those last seconds comes
        before the values, again on each new connection (covering what it missed), and
        no value it holds is read twice (WebSocket and event streams). Raises
        `vigil.errors.UnknownChannel` or `InvalidName` for a channel that cannot exist;
        a refusal by the gateway ends the subscription with `Refused` when read."""
        ref = resolve_channel(channel, params)
        if any(
            s.name == ref.spec.name and s.params == dict(ref.params) for s in self._subscriptions
        ):
            raise ValueError(f"already subscribed to {ref.key}")
        if delta and ref.spec.kind is not ChannelKind.STATE:
            raise ValueError(f"deltas are for state channels; {ref.key} is a {ref.spec.kind}")
        subscription = Subscription(
            ref,
            since=since,
            interval_s=interval_s,
            on_close=self._closed,
            delta=delta,
            history_s=history_s,
            on_resync=self._resync,
            buffer=self._buffer,
            rate_limit_wait_s=self.rate_limit_wait_s,
        )
        if since is None and ref.spec.kind is ChannelKind.STREAM:
            await self._anchor(subscription)
            if subscription.ended:
                return subscription
        if self.failure is not None:  # the client stopped for good (maybe while anchoring)
            subscription.fail(self.failure)
            return subscription
        self._subscriptions.append(subscription)
        if self._transport is not None:
            self._transport.add(subscription)
        return subscription

    async def _anchor(self, subscription: Subscription) -> None:
        """Start a stream subscription at the gateway's cursor of now, so that even a
        reconnect before its first message resumes without a loss."""
        try:
            answer = await self.api.get_json(
                routes.poll(subscription.name), **subscription.wire_params()
            )
        except AuthenticationFailed:
            raise
        except Refused as exc:
            if exc.code in CHANNEL_REFUSALS:
                subscription.fail(exc)  # the caller reads why
            return  # busy: it starts from whenever it is subscribed
        except Unreachable:
            return
        if isinstance(answer.get("next_cursor"), int):
            subscription.anchor(answer["next_cursor"])

    def _resync(self, subscription: Subscription) -> None:
        if self._transport is not None:
            self._transport.resync(subscription)

    async def _closed(self, subscription: Subscription) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
            if self._transport is not None:
                self._transport.remove(subscription)

    # -- the Link a transport talks to --------------------------------------------------

    def subscriptions(self) -> list[Subscription]:
        return [s for s in self._subscriptions if not s.ended]

    def refused(self, subscription: Subscription, error: Exception) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)
        subscription.fail(error if isinstance(error, ClientError) else ClientError(str(error)))

    async def answer(self, ask: Ask) -> dict[str, Any] | None:
        if self._on_ask is None:
            return None
        try:
            return await self._on_ask(ask)
        except Exception:
            log.exception("the ask callback failed; the question %s goes unanswered", ask.kind)
            return None

    # -- connecting ---------------------------------------------------------------------

    def _set_state(self, state: ConnectionState) -> None:
        if state is not self.state:
            self.state = state
            self._state_changed.set()
            if self._on_state is not None:
                self._on_state(state, self.transport)

    def _make(self, kind: TransportKind) -> Transport:
        assert self._http is not None
        if kind is TransportKind.WEBSOCKET:
            return WebSocketTransport(self.session, self)
        if kind is TransportKind.SSE:
            return SseTransport(self.session, self, self._http)
        return PollingTransport(self.api, self, self.poll_interval_s)

    def _opened(self) -> None:
        self.connections += 1
        if self.transport is TransportKind.WEBSOCKET:
            self._set_state(ConnectionState.LIVE)
        else:
            self._set_state(ConnectionState.FALLBACK)

    async def _connect_forever(self) -> None:
        failures = 0  # in a row
        refusals = 0  # of the current transport kind, in a row
        try:
            while True:
                self._transport = transport = self._make(self.transport)
                connections = self.connections
                outcome = await self._run(transport)
                self._transport = None
                opened = self.connections > connections
                if outcome is None:  # the socket opens again: upgrade
                    self.transport, failures, refusals = TransportKind.WEBSOCKET, 0, 0
                    continue
                log.info("%s: %s", transport.kind, outcome)
                self.last_disconnect = str(outcome)
                if outcome.code == CloseCode.POLICY_VIOLATION and not opened:
                    raise ConnectionRefused(outcome.code, outcome.said or outcome.reason)
                if self.state is not ConnectionState.CONNECTING:
                    self._set_state(ConnectionState.RECONNECTING)
                if outcome.code == CloseCode.INVALID_CREDENTIALS:
                    try:
                        await self.session.refresh(self._live_http())
                        continue
                    except AuthenticationFailed:
                        raise
                    except (Unreachable, Refused) as exc:  # the gateway or auth is away
                        outcome = Disconnected(str(exc))
                if outcome.code == CloseCode.REPLACED:
                    raise SessionEnded(outcome.code, outcome.reason)
                failures = 1 if opened else failures + 1
                refusals = refusals + 1 if outcome.refused and not opened else 0
                if refusals >= self.fallback_after and self.transport in FALLBACKS:
                    self.transport, failures, refusals = FALLBACKS[self.transport], 0, 0
                    log.warning("falling back to %s", self.transport)
                    continue
                if outcome.retry_after_s is not None:  # the gateway said when
                    await asyncio.sleep(outcome.retry_after_s)
                elif outcome.code not in AT_ONCE:
                    await asyncio.sleep(self.backoff.delay(failures))
        except (AuthenticationFailed, SessionEnded, ConnectionRefused) as exc:
            self._give_up(exc)
        except Exception as exc:  # a bug: said, and every reader told, never hidden
            log.exception("the client stopped")
            self._give_up(ClientError(f"the client stopped: {exc!r}"))

    def _give_up(self, error: ClientError) -> None:
        self.failure = error
        for subscription in self._subscriptions:
            subscription.fail(error)
        self._subscriptions.clear()
        self._set_state(ConnectionState.CLOSED)

    async def _run(self, transport: Transport) -> Disconnected | None:
        """Run `transport` until it ends (how), or until a WebSocket opens again while
        it is a fallback (None)."""
        running = asyncio.create_task(transport.run(self._opened))
        upgrade = None
        if transport.kind is not TransportKind.WEBSOCKET:
            upgrade = asyncio.create_task(self._websocket_again())
        try:
            await asyncio.wait([t for t in (running, upgrade) if t], return_when="FIRST_COMPLETED")
        finally:
            for task in (running, upgrade):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Disconnected):
                        await task
        if running.done() and not running.cancelled():
            error = running.exception()
            if isinstance(error, Disconnected):
                return error
            if error is not None:
                raise error
            return Disconnected("the transport stopped")
        return None

    async def _websocket_again(self) -> None:
        """Returns once a WebSocket to the gateway opens (tried every `upgrade_after_s`)."""
        while True:
            await asyncio.sleep(self.upgrade_after_s)
            probe = WebSocketTransport(self.session, _NoSubscriptions())
            opened = asyncio.Event()
            attempt = asyncio.create_task(probe.run(opened.set))
            waiting = asyncio.create_task(opened.wait())
            await asyncio.wait([attempt, waiting], return_when="FIRST_COMPLETED")
            for task in (attempt, waiting):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Disconnected):
                    await task
            if opened.is_set():
                return

    def _live_http(self) -> httpx.AsyncClient:
        assert self._http is not None
        return self._http

    async def _keep_fresh(self) -> None:
        """Refresh tokens before they expire; tell the open socket."""
        while True:
            wait = self.session.seconds_until_refresh()
            if wait is None:
                return
            await asyncio.sleep(wait)
            try:
                tokens = await self.session.refresh(self._live_http())
            except AuthenticationFailed:
                return  # the socket will be closed with 4001, and that ends the client
            except (Unreachable, Refused):
                await asyncio.sleep(5.0)
                continue
            if self._transport is not None:
                self._transport.reauth(tokens.access_token)
            log.debug("tokens refreshed; next at %s", time.ctime(tokens.refresh_due()))


class _NoSubscriptions:
    """The Link of a probe socket: it only checks that a WebSocket opens."""

    def subscriptions(self) -> list[Subscription]:
        return []

    def refused(self, subscription: Subscription, error: Exception) -> None:
        """A probe subscribes to nothing."""

    async def answer(self, ask: Ask) -> dict[str, Any] | None:
        return None
