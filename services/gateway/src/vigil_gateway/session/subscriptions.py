"""The channels one socket is subscribed to: admitted (`delivery.channel_admission`),
joined and left on the hub's shared feeds, at most `max_subscriptions` per socket, and
counted against its principal's filter quota.

Its socket (`connection`) hands it `subscribe` and `unsubscribe` messages and the one
channel of a seed endpoint or SSE; what goes wrong is told to the client as an `error`
that says what, and the socket stays open.
"""

import contextlib
from typing import Protocol

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.channels import ChannelKind, ChannelRef
from vigil.messages import (
    Error,
    ErrorCode,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
)
from vigil_gateway.delivery import channel_admission, history_first
from vigil_gateway.delivery.hub import Hub
from vigil_gateway.delivery.options import Options
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.filters.quota import FilterQuota
from vigil_gateway.transport.outbox import Outbox

UNAVAILABLE_MESSAGE = "the message bus is unavailable; data resumes by itself when it is back"


class Subscriber(Protocol):
    """The socket the subscriptions are of (`connection.Connection`)."""

    principal: Principal
    address: str | None
    outbox: Outbox
    bus_is_available: bool
    audit: AuditTrail

    def sees_cluster(self, cluster: str) -> bool: ...

    def send(self, frame: str) -> None: ...

    def error(
        self,
        code: ErrorCode,
        message: str,
        *,
        channel: str | None = None,
        remaining: int | None = None,
    ) -> None: ...


class Subscriptions:
    def __init__(
        self, owner: Subscriber, hub: Hub, quota: FilterQuota, max_subscriptions: int
    ) -> None:
        self._owner = owner
        self._hub = hub
        self._quota = quota
        self._max = max_subscriptions
        self._channels: dict[str, ChannelRef] = {}

    def keys(self) -> list[str]:
        return sorted(self._channels)

    async def leave_all(self) -> None:
        """Leave every channel (the socket is gone)."""
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            self._quota.give_back(self._owner.principal, channel)
            await self._hub.leave(channel, self._owner.outbox)

    async def on_subscribe(self, message: Subscribe, remaining: int) -> None:
        try:
            channel = channel_admission.resolve(message.channel, message.params)
        except ChannelRefused as exc:
            self._owner.error(exc.code, exc.reason, channel=message.channel, remaining=remaining)
            return
        try:
            channel = await self.admit(channel, f"subscribe {channel.key}")
        except ChannelRefused as exc:
            self._owner.error(exc.code, exc.reason, channel=channel.key, remaining=remaining)
            return
        limit = self._max
        if channel.key not in self._channels and len(self._channels) >= limit:
            self._owner.error(
                ErrorCode.LIMIT_REACHED,
                f"at most {limit} subscriptions per socket; unsubscribe from one first",
                channel=channel.key,
                remaining=remaining,
            )
            return
        options = Options(
            since=message.since,
            interval_s=message.interval_s,
            delta=message.delta,
            history_s=message.history_s,
        )
        if misfit := options.misfit(channel):
            self._owner.error(
                ErrorCode.INVALID_MESSAGE, misfit, channel=channel.key, remaining=remaining
            )
            return
        if channel.key not in self._channels:
            try:
                self._quota.take(self._owner.principal, channel)
            except ChannelRefused as exc:
                self._owner.error(exc.code, exc.reason, channel=channel.key, remaining=remaining)
                return
        await self.subscribe(channel, options, remaining=remaining)

    async def on_unsubscribe(self, message: Unsubscribe, remaining: int) -> None:
        try:  # an unknown channel is not a channel subscribed to: the message is wrong
            channel = channel_admission.resolve(
                message.channel, message.params, unknown=ErrorCode.INVALID_MESSAGE
            )
        except ChannelRefused as exc:
            self._owner.error(exc.code, exc.reason, channel=message.channel, remaining=remaining)
            return
        if channel.key not in self._channels:
            with contextlib.suppress(ChannelRefused):  # e.g. a name prefix: as subscribed
                channel = await self._hub.admit(channel, self._owner.sees_cluster)
        if channel.key not in self._channels:
            self._owner.error(
                ErrorCode.NOT_FOUND,
                f"not subscribed to {channel.key!r}",
                channel=channel.key,
                remaining=remaining,
            )
            return
        del self._channels[channel.key]
        self._quota.give_back(self._owner.principal, channel)
        await self._hub.leave(channel, self._owner.outbox)
        self._owner.send(Unsubscribed(channel=channel.key, remaining=remaining).model_dump_json())

    async def subscribe(
        self, channel: ChannelRef, options: Options, *, remaining: int | None
    ) -> None:
        announce = []  # `subscribed` on /ws (the seed endpoint subscribes itself)
        if remaining is not None:
            subscribed = Subscribed(
                channel=channel.key, kind=channel.spec.kind, remaining=remaining
            )
            announce.append(subscribed.model_dump_json())
        if options.history_s is not None:  # before the snapshot; live values follow anyway
            announce.append(await self._history_first(channel, options.history_s))
        if channel.key in self._channels:
            if channel.spec.kind is ChannelKind.STATE:
                # Again: with the new options (a tab that slows down, deltas on or off),
                # from a fresh snapshot (a delta client that lost its place).
                await self._hub.rejoin(
                    channel,
                    self._owner.outbox,
                    options,
                    sees_cluster=self._owner.sees_cluster,
                    announce=announce,
                )
            else:  # already flowing, nothing lost
                for frame in announce:
                    self._owner.send(frame)
            return
        self._channels[channel.key] = channel
        await self._hub.join(
            channel,
            self._owner.outbox,
            options,
            sees_cluster=self._owner.sees_cluster,
            announce=announce,
        )
        if not self._owner.bus_is_available:
            self._owner.error(ErrorCode.UNAVAILABLE, UNAVAILABLE_MESSAGE, channel=channel.key)

    async def _history_first(self, channel: ChannelRef, seconds: int) -> str:
        """The `history` frame, or the `error` that says why there is none."""
        try:
            return await history_first.frame(self._hub.bus, channel, seconds)
        except ChannelRefused as exc:
            return Error(code=exc.code, message=exc.reason, channel=channel.key).model_dump_json()

    async def admit(self, channel: ChannelRef, action: str) -> ChannelRef:
        return await channel_admission.admit(
            self._hub,
            self._owner.principal,
            channel,
            action=action,
            audit=self._owner.audit,
            address=self._owner.address,
            sees_cluster=self._owner.sees_cluster,
        )
