"""One handler per operation of `vigil.operations.Notify`: admins manage channels, try
them, read the dead letters. Any replica answers any of them (one queue group); each
request's token is verified and its role checked before a handler runs
(`vigil.broker.answer_for_users`). Nothing answered shows a secret: channels are
`ChannelView`s, errors are masked where they are made.
"""

import logging
import secrets

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.broker import ServiceBroker, answer_for_users
from vigil.ctl import Refused
from vigil.messages import (
    AlertChanged,
    AlertState,
    AuditOutcome,
    ChannelList,
    ChannelTried,
    ChannelView,
    CreateChannel,
    DeadLetter,
    DeadLetterList,
    DeleteChannel,
    ErrorCode,
    ListChannels,
    ListDeadLetters,
    TryChannel,
    utc_now,
)
from vigil.operations import Notify
from vigil.records import Records
from vigil.tokens import Verifier
from vigil_notifier.channel import ChannelRecord, make_channel
from vigil_notifier.delivery import Sender
from vigil_notifier.errors import DeliveryFailed, InvalidChannel

log = logging.getLogger(__name__)

MAX_CHANNELS = 1000
CREATE, DELETE, TRY = "notify.channel_create", "notify.channel_delete", "notify.channel_try"


def serve(broker: ServiceBroker, handlers: "Handlers", verifier: Verifier) -> None:
    """Every operation of `Notify` as a subscriber of `broker`."""
    answer_for_users(broker, Notify.CREATE, handlers.create, verifier)
    answer_for_users(broker, Notify.LIST, handlers.list_channels, verifier)
    answer_for_users(broker, Notify.DELETE, handlers.delete, verifier)
    answer_for_users(broker, Notify.TRY, handlers.try_channel, verifier)
    answer_for_users(broker, Notify.DEAD_LETTERS, handlers.dead_letters, verifier)


class Handlers:
    def __init__(
        self,
        channels: Records[ChannelRecord],
        dead_letters: Records[DeadLetter],
        sender: Sender,
        trail: AuditTrail,
    ) -> None:
        self._channels = channels
        self._dead_letters = dead_letters
        self._sender = sender
        self._trail = trail

    async def create(self, request: CreateChannel, caller: Principal) -> ChannelView:
        try:
            record = await make_channel(request.channel, caller.name)
        except InvalidChannel as exc:
            reason = f"channel.{exc}"
            self._trail.refused(CREATE, caller, reason, target=request.channel.name)
            raise Refused(ErrorCode.INVALID_MESSAGE, reason) from None
        if len(await self._channels.all()) >= MAX_CHANNELS:
            raise Refused(ErrorCode.LIMIT_REACHED, f"at most {MAX_CHANNELS} channels")
        await self._channels.create(record.id, record)
        view = record.view()
        target = f"channel {record.id} ({record.name})"
        self._trail.record(CREATE, AuditOutcome.DONE, caller, target=target, detail=view.url)
        return view

    async def list_channels(self, request: ListChannels, caller: Principal) -> ChannelList:
        records = sorted(
            (found.value for found in await self._channels.all()), key=lambda r: r.created_at
        )
        return ChannelList(channels=[record.view() for record in records])

    async def delete(self, request: DeleteChannel, caller: Principal) -> ChannelView:
        found = await self._channels.get(request.channel_id)
        if found is None:
            raise Refused(ErrorCode.NOT_FOUND, f"no channel {request.channel_id!r}")
        await self._channels.delete(request.channel_id)
        target = f"channel {request.channel_id} ({found.value.name})"
        self._trail.record(DELETE, AuditOutcome.DONE, caller, target=target)
        return found.value.view()

    async def try_channel(self, request: TryChannel, caller: Principal) -> ChannelTried:
        """Send a made-up alert to the channel now (no retry, no marker)."""
        found = await self._channels.get(request.channel_id)
        if found is None:
            raise Refused(ErrorCode.NOT_FOUND, f"no channel {request.channel_id!r}")
        alert = AlertChanged(
            id=f"vigil:test:{found.value.id}",
            state=AlertState.RAISED,
            source="notifier",
            host="vigil",
            metric="test",
            value=0.0,
            threshold=0.0,
            time=utc_now(),
            message=f"A test notification from Vigil, sent by {caller.name}.",
        )
        target = f"channel {request.channel_id} ({found.value.name})"
        try:
            await self._sender.send(found.value, alert, f"test_{secrets.token_hex(8)}")
        except DeliveryFailed as exc:
            failed = AuditOutcome.FAILED
            self._trail.record(TRY, failed, caller, target=target, detail=exc.reason)
            return ChannelTried(channel_id=request.channel_id, delivered=False, error=exc.reason)
        self._trail.record(TRY, AuditOutcome.DONE, caller, target=target)
        return ChannelTried(channel_id=request.channel_id, delivered=True)

    async def dead_letters(self, request: ListDeadLetters, caller: Principal) -> DeadLetterList:
        letters = sorted(
            (found.value for found in await self._dead_letters.all()),
            key=lambda letter: letter.time,
            reverse=True,
        )
        return DeadLetterList(dead_letters=letters[: request.limit], total=len(letters))
