"""The NATS connection every service holds: its own credentials, reconnects forever,
finds its JetStream streams.

`Bus.connect()` logs in with the service's creds (its role's permissions are in them:
`vigil.busauth`) and keeps trying until the server answers, then waits until the
streams and buckets the service declared exist: the provisioner makes them (`vigil up`,
compose's `setup` job), since whoever may create a stream may read every other one
through it. A `Bus` made with `provisions=True` is that provisioner: it creates them
(idempotently: an existing one is brought to the declared config), again until
JetStream answers, since a cluster that has just started may still be electing the
leaders that create replicated streams. After every reconnect the streams are looked
for (or ensured) again, in case the server came back without its store, and the
service's listeners are told.

A server that stops answering without closing its sockets (hung, frozen, a network
that drops packets) is noticed by pings: every `nats_ping_interval_s` (1 s), and after
`nats_max_outstanding_pings` (3) unanswered the connection counts as lost, so the
service's listeners hear of it within seconds, not nats-py's four minutes (and its
socket is dropped, however much it still holds: `vigil.nats_client`). While the
bus is away `publish` refuses at once rather than leave the message in the client's
buffer, to go out at the reconnect beside the copy its caller sends again
(`vigil.publishing` sends until acked, each message under one `Nats-Msg-Id`).

A request NATS refuses for want of permission is logged as an error naming the
subject (and counted in `permission_violations`): it is a bug in the role, or an attack.
"""

import asyncio
import itertools
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client, RawCredentials
from nats.aio.msg import Msg
from nats.errors import NoServersError
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import NotFoundError, ServiceUnavailableError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from vigil import provisioning
from vigil.busauth.permissions import ServiceRole
from vigil.errors import BusUnavailable, StreamsMissing
from vigil.nats_client import NatsClient
from vigil.settings import VigilSettings
from vigil.streams import BucketSpec, StreamSpec
from vigil.subjects import Subjects

log = logging.getLogger(__name__)

Listener = Callable[[], Awaitable[None]]

_WARN_EVERY_S = 30.0
_PUBLISH_TIMEOUT_S = 2.0
_DRAIN_TIMEOUT_S = 5  # what a closing connection's subscriptions may still handle
_STREAMS_RETRY_S = (0.5, 5.0)  # first and longest wait between tries of `ensure_streams`

# What JetStream answers while it cannot act yet (no meta leader, a stream's raft group
# still forming): worth asking again, unlike a refused config.
_JETSTREAM_NOT_READY = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    ServiceUnavailableError,
)


class Bus:
    def __init__(
        self,
        settings: VigilSettings,
        *,
        name: str,
        role: ServiceRole | None = None,
        streams: Sequence[StreamSpec] = (),
        buckets: Sequence[BucketSpec] = (),
        provisions: bool = False,
        credentials: str | None = None,
    ) -> None:
        """`role`: the service role of its creds (its replies come to that role's inbox);
        `streams`, `buckets`: those it needs (or, `provisions`, makes); `credentials`:
        a creds file's text, instead of the settings' file."""
        self.settings = settings
        self.subjects: Subjects = settings.subjects
        self.permission_violations = 0
        self._name = name
        self._role = role
        self._streams = tuple(streams)
        self._buckets = tuple(buckets)
        self._provisions = provisions
        self._credentials = credentials
        self._nc: Client | None = None
        self._closing = False  # a disconnect during `close()` is ours, not a lost server
        self._last_warning = -_WARN_EVERY_S
        self._keep_trying = True
        self._disconnected: list[Listener] = []
        self._reconnected: list[Listener] = []
        self._up = asyncio.Event()  # set while connected (after connect, each reconnect)
        self._acks: _AcksInbox | None = None  # `publish_together`'s, on this connection

    # -- lifecycle ----------------------------------------------------------------

    async def connect(self, *, keep_trying: bool = True) -> None:
        """Connect, then ensure the streams and buckets.

        A service keeps trying until NATS answers (each failed attempt is logged now and
        then); a one-shot caller (`keep_trying=False`, the CLI) gets `BusUnavailable`
        at the first failure.
        """
        self._closing = False
        self._keep_trying = keep_trying
        nc = NatsClient()
        try:
            await nc.connect(
                self.settings.nats_servers,
                name=self._name,
                connect_timeout=max(1, round(self.settings.nats_connect_timeout_s)),
                allow_reconnect=keep_trying,
                # nats-py's first connect retries as reconnects do: forever, or once.
                max_reconnect_attempts=-1 if keep_trying else 1,
                reconnect_time_wait=1 if keep_trying else 0,
                ping_interval=self.settings.nats_ping_interval_s,
                max_outstanding_pings=self.settings.nats_max_outstanding_pings,
                disconnected_cb=self._on_disconnected,
                reconnected_cb=self._on_reconnected,
                error_cb=self._on_error,
                drain_timeout=_DRAIN_TIMEOUT_S,
                **self._login(),
            )
        except (NoServersError, OSError, TimeoutError, nats.errors.Error) as exc:
            reason = str(exc) or type(exc).__name__
            raise BusUnavailable(f"connect to NATS at {self.settings.nats_url}", reason) from exc
        self._nc = nc
        try:
            await self._ensure_streams_until_ready()
        except BaseException:  # never leave the socket open behind a failed start
            await self.close()
            raise
        self._up.set()
        log.info("connected to NATS at %s", self.settings.nats_url)

    def _login(self) -> dict[str, Any]:
        """Who this connection is (creds), where its replies come (inbox), and the CA
        a `tls://` server's certificate must chain to."""
        options: dict[str, Any] = {}
        if self._credentials is not None:
            options["user_credentials"] = RawCredentials(self._credentials)
        elif self.settings.nats_creds is not None:
            options["user_credentials"] = str(self.settings.nats_creds)
        if self._role is not None:
            options["inbox_prefix"] = self._role.inbox_prefix
        if self.settings.nats_ca is not None:
            options["tls"] = ssl.create_default_context(cafile=str(self.settings.nats_ca))
        return options

    async def close(self) -> None:
        """Drain if connected (pending messages go out), else just close.

        A cancellation (a service stopping cancels its task, again and again until it
        ends: `vigil.lifecycle.stop_task`) waits for the drain, which is bounded by
        `_DRAIN_TIMEOUT_S`, and is raised after it: nats-py's drain, cancelled halfway,
        leaves tasks failing behind it.
        """
        self._closing = True
        self._up.clear()
        nc, self._nc = self._nc, None
        if nc is None or nc.is_closed:
            return
        closing = asyncio.ensure_future(_drain_or_close(nc))
        cancelled = False
        while not closing.done():
            try:
                await asyncio.shield(closing)
            except asyncio.CancelledError:
                cancelled = True
        closing.result()
        if cancelled:
            raise asyncio.CancelledError

    # -- access -------------------------------------------------------------------

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the bus is not connected yet")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def wait_connected(self, timeout_s: float | None = None) -> bool:
        """Until the bus is connected (True), or `timeout_s` has passed (False)."""
        while not self.is_connected:
            # Not connected, so the reconnect that sets it again has not happened yet.
            self._up.clear()
            try:
                await asyncio.wait_for(self._up.wait(), timeout_s)
            except TimeoutError:
                return False
        return True

    def on_disconnected(self, listener: Listener) -> None:
        self._disconnected.append(listener)

    def on_reconnected(self, listener: Listener) -> None:
        self._reconnected.append(listener)

    # -- JetStream ----------------------------------------------------------------

    async def ensure_streams(self) -> None:
        """The provisioner: create (or bring to their declared config) every stream and
        bucket. A service: check that each is there, or raise `StreamsMissing`."""
        if not self._provisions:
            await self._check_streams()
            return
        replicas = self.settings.stream_replicas
        specs: tuple[StreamSpec | BucketSpec, ...] = (*self._streams, *self._buckets)
        configs = [
            spec.config(self.subjects, replicas, self.settings)
            if isinstance(spec, StreamSpec)
            else spec.config(self.subjects, replicas)
            for spec in specs
        ]
        await provisioning.provision(self.js, configs, self.settings.stream_seed_tag)

    async def _check_streams(self) -> None:
        missing = []
        specs: tuple[StreamSpec | BucketSpec, ...] = (*self._streams, *self._buckets)
        for spec in specs:
            name = spec.stream(self.subjects)
            try:
                await self.js.stream_info(name)
            except NotFoundError:
                missing.append(name)
        if missing:
            raise StreamsMissing(missing)

    async def _ensure_streams_until_ready(self) -> None:
        """`ensure_streams`, asked again while JetStream is not ready or the streams are
        not provisioned yet (a service keeps trying; a one-shot caller gets
        `BusUnavailable` at once)."""
        wait, longest = _STREAMS_RETRY_S
        last_warning = -_WARN_EVERY_S
        while True:
            try:
                await self.ensure_streams()
                return
            except (*_JETSTREAM_NOT_READY, StreamsMissing) as exc:
                reason = str(exc) or type(exc).__name__
                if not self._keep_trying:
                    raise BusUnavailable("prepare JetStream streams", reason) from exc
                if time.monotonic() - last_warning >= _WARN_EVERY_S:
                    last_warning = time.monotonic()
                    log.warning("JetStream not ready (%s); trying again", reason)
            await asyncio.sleep(wait)
            wait = min(wait * 2, longest)

    async def kv(self, bucket: BucketSpec) -> KeyValue:
        """A declared key-value bucket (created by `ensure_streams`)."""
        return await self.js.key_value(self.subjects.stream_name(bucket.base_name))

    async def last_message(self, stream: StreamSpec, subject: str) -> bytes | None:
        """The data of the last message `stream` holds on `subject` (None: it holds none),
        by a direct get naming the subject (`StreamSpec.direct`), which a role may be
        granted for its own subjects alone. Raises `BusUnavailable` when NATS does not
        answer (or the role may not ask: a get refused is not answered)."""
        if not self.is_connected:
            raise BusUnavailable(f"read the last message on {subject}", "not connected to NATS")
        try:
            msg = await self.js.get_last_msg(stream.stream(self.subjects), subject, direct=True)
        except NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as exc:
            reason = str(exc) or type(exc).__name__
            raise BusUnavailable(f"read the last message on {subject}", reason) from exc
        return msg.data or b""

    async def publish(self, subject: str, message: BaseModel, *, msg_id: str | None = None) -> int:
        """Publish to a stream subject and wait for the ack; returns the stream sequence.

        `msg_id`, the message's `Nats-Msg-Id`: JetStream keeps one message of an id
        within the stream's duplicate window (2 minutes), so a message sent again after
        a publish that timed out, which NATS may have taken all the same, is kept once.
        Raises `BusUnavailable` when NATS does not ack in time, and at once while the bus
        is away (a publish made then would wait in the client's buffer and go out at the
        reconnect, unasked, beside what its caller sends again).
        """
        if not self.is_connected:
            raise BusUnavailable(f"publish to {subject}", "not connected to NATS")
        headers = None if msg_id is None else {Header.MSG_ID.value: msg_id}
        try:
            ack = await self.js.publish(
                subject,
                message.model_dump_json().encode(),
                timeout=_PUBLISH_TIMEOUT_S,
                headers=headers,
            )
        except (nats.errors.Error, TimeoutError, RuntimeError) as exc:
            raise BusUnavailable(f"publish to {subject}", str(exc) or type(exc).__name__) from exc
        return int(ack.seq)

    async def publish_together(
        self, messages: Sequence[tuple[str, BaseModel, str | None]]
    ) -> list[int | BusUnavailable]:
        """Publish each (subject, message, msg_id) to its stream, written together, and
        wait for their acks together: a stream sequence, or `BusUnavailable`, each.

        As `publish` for one message, but one inbox subscription and one timer serve the
        whole lot, where `js.publish` makes a request future and a timeout for each (most
        of the cost of a message). The server stores them in the order written."""
        if not messages:
            return []
        if not self.is_connected:
            failure = BusUnavailable("publish", "not connected to NATS")
            return [failure] * len(messages)
        acks = await self._acks_inbox()
        loop = asyncio.get_running_loop()
        waiting = [loop.create_future() for _ in messages]
        tokens = [acks.expect(future) for future in waiting]
        try:
            for (subject, message, msg_id), token in zip(messages, tokens, strict=True):
                headers = None if msg_id is None else {Header.MSG_ID.value: msg_id}
                data = message.model_dump_json().encode()
                await self.nc.publish(subject, data, reply=acks.reply(token), headers=headers)
            await asyncio.wait(waiting, timeout=_PUBLISH_TIMEOUT_S)
        except (nats.errors.Error, RuntimeError) as exc:
            reason = str(exc) or type(exc).__name__
            for future in waiting:
                if not future.done():
                    future.set_exception(BusUnavailable("publish", reason))
        finally:
            acks.forget(tokens)
        return [
            _ack_of(future, subject)
            for future, (subject, _, _) in zip(waiting, messages, strict=True)
        ]

    async def _acks_inbox(self) -> "_AcksInbox":
        """The connection's inbox for `publish_together`'s acks (made at first use; the
        client subscribes it again after each reconnect)."""
        nc = self.nc
        if self._acks is None or self._acks.nc is not nc:
            self._acks = _AcksInbox(nc, nc.new_inbox())
            await nc.subscribe(f"{self._acks.prefix}.*", cb=self._acks.arrived)
        return self._acks

    # -- callbacks from nats-py ---------------------------------------------------

    async def _on_disconnected(self) -> None:
        self._up.clear()
        if self._closing:
            return
        log.warning("disconnected from NATS")
        for listener in self._disconnected:
            await listener()

    async def _on_reconnected(self) -> None:
        log.info("reconnected to NATS")
        self._up.set()
        try:
            await self.ensure_streams()
        except Exception:  # the server may be half up; the next reconnect tries again
            log.exception("could not ensure JetStream streams after reconnect")
        for listener in self._reconnected:
            await listener()

    async def _on_error(self, exc: Exception) -> None:
        if "permissions violation" in str(exc).lower():
            self.permission_violations += 1
            log.error("NATS refused %s (%s): %s", self._name, self._role or "no role", exc)
            return
        now = time.monotonic()
        connecting = self._nc is None and self._keep_trying
        if connecting and now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            log.warning("NATS at %s not reachable (%s); retrying", self.settings.nats_url, exc)
        else:
            log.debug("NATS client error: %s", exc)


async def _drain_or_close(nc: Client) -> None:
    try:
        await (nc.drain() if nc.is_connected else nc.close())
    except nats.errors.Error as exc:  # lost mid-drain: nothing more to send
        log.debug("closing the NATS connection: %s", exc)
    finally:  # never leave the socket open
        if not nc.is_closed:
            await nc.close()


class _AcksInbox:
    """One subscription `{prefix}.*` receiving JetStream's acks, each reply subject's
    last token naming the future waiting for it."""

    def __init__(self, nc: Client, prefix: str) -> None:
        self.nc = nc
        self.prefix = prefix
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._next = itertools.count()

    def expect(self, future: "asyncio.Future[Msg]") -> str:
        token = str(next(self._next))
        self._waiting[token] = future
        return token

    def reply(self, token: str) -> str:
        return f"{self.prefix}.{token}"

    def forget(self, tokens: Sequence[str]) -> None:
        for token in tokens:
            self._waiting.pop(token, None)

    async def arrived(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject.rpartition(".")[2], None)
        if future is not None and not future.done():
            future.set_result(msg)


def _ack_of(future: "asyncio.Future[Msg]", subject: str) -> int | BusUnavailable:
    """The stream sequence JetStream acked, or why there is none."""
    if not future.done():
        return BusUnavailable(f"publish to {subject}", "no ack in time")
    if future.exception() is not None:
        failure = future.exception()
        return (
            failure
            if isinstance(failure, BusUnavailable)
            else BusUnavailable(f"publish to {subject}", str(failure))
        )
    msg = future.result()
    if msg.headers and msg.headers.get(Header.STATUS):  # 503: no stream takes the subject
        said = msg.headers.get(Header.DESCRIPTION) or msg.headers[Header.STATUS]
        return BusUnavailable(f"publish to {subject}", said)
    try:
        ack = json.loads(msg.data)
    except ValueError:
        return BusUnavailable(f"publish to {subject}", "an ack that is not JSON")
    if "error" in ack:
        return BusUnavailable(f"publish to {subject}", str(ack["error"].get("description")))
    return int(ack["seq"])
