"""Revoked sessions, users and API keys, as every gateway must know them.

At (re)connect the REVOKED stream is replayed from its start (it keeps a day, longer
than any access token lives), then followed live; each new revocation is passed to a
listener that closes the affected sockets.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from vigil.access import Principal
from vigil.bus import Bus
from vigil.messages import CredentialsRevoked, RevocationKind
from vigil.streams import REVOKED

log = logging.getLogger(__name__)

Listener = Callable[[CredentialsRevoked], Awaitable[None]]

_CATCH_UP_TIMEOUT_S = 5.0


class Revocations:
    def __init__(self, bus: Bus, on_revoked: Listener) -> None:
        self._bus = bus
        self._on_revoked = on_revoked
        self._revoked: dict[RevocationKind, set[str]] = {kind: set() for kind in RevocationKind}
        self._last_sequence = 0
        self._catch_up_to = 0
        self._caught_up = asyncio.Event()
        self._subscription: JetStreamContext.PushSubscription | None = None

    def covers(self, principal: Principal) -> bool:
        if principal.session_id and principal.session_id in self._revoked[RevocationKind.SESSION]:
            return True
        if principal.kind == "api_key":
            return principal.id in self._revoked[RevocationKind.API_KEY]
        return principal.id in self._revoked[RevocationKind.USER]

    async def follow(self) -> None:
        """Replay what was missed and follow live; returns once caught up (bounded)."""
        await self.stop()
        stream = await self._bus.js.stream_info(self._bus.subjects.stream_name(REVOKED.base_name))
        self._catch_up_to = stream.state.last_seq
        self._caught_up.clear()
        self._subscription = await self._bus.js.subscribe(
            self._bus.subjects.auth_revoked(),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=self._last_sequence + 1),
            cb=self._deliver,
        )
        if self._last_sequence < self._catch_up_to:
            try:
                await asyncio.wait_for(self._caught_up.wait(), _CATCH_UP_TIMEOUT_S)
            except TimeoutError:
                log.warning("revocations not caught up in %ss; following on", _CATCH_UP_TIMEOUT_S)

    async def stop(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def _deliver(self, msg: Msg) -> None:
        self._last_sequence = max(self._last_sequence, msg.metadata.sequence.stream)
        if self._last_sequence >= self._catch_up_to:
            self._caught_up.set()
        try:
            event = CredentialsRevoked.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("ignored a malformed revocation: %s", exc)
            return
        if event.id in self._revoked[event.kind]:
            return
        self._revoked[event.kind].add(event.id)
        await self._on_revoked(event)
