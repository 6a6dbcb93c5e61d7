"""A channel as the notifier keeps it (in `NOTIFY_CHANNELS`, which only it may read): the
draft checked, with who made it; shown only as a `ChannelView`, its secrets masked.

`ChannelBook` is what delivery reads for every transition: the bucket's records, read
again only when the bucket changed since (its stream's last sequence, one cheap request),
so a channel made or deleted on any replica applies to the next transition handled
anywhere, and a burst of alerts does not list the bucket once per alert.
"""

import asyncio
import secrets
from datetime import datetime

from nats.js import JetStreamContext

from vigil.messages import (
    AlertChanged,
    AppriseTarget,
    ChannelDraft,
    ChannelFilter,
    ChannelKind,
    ChannelTarget,
    ChannelView,
    Silence,
    WebhookTarget,
    utc_now,
)
from vigil.model import Message
from vigil.records import Records
from vigil_notifier import apprise_target, matching, webhook
from vigil_notifier.masking import mask_webhook_url


class ChannelRecord(Message):
    id: str
    name: str
    target: ChannelTarget
    filter: ChannelFilter
    created_by: str
    created_at: datetime

    def wants(self, alert: AlertChanged) -> bool:
        return matching.matches(self.filter, alert)

    def view(self) -> ChannelView:
        target = self.target
        if isinstance(target, WebhookTarget):
            url, template = mask_webhook_url(target.url), target.template
        else:
            url, template = apprise_target.mask(target.url), None
        return ChannelView(
            id=self.id,
            name=self.name,
            kind=ChannelKind(target.kind),
            url=url,
            template=template,
            filter=self.filter,
            created_by=self.created_by,
            created_at=self.created_at,
        )


async def make_channel(draft: ChannelDraft, created_by: str) -> ChannelRecord:
    """The record of a new channel; `InvalidChannel` if it could not work as drafted."""
    matching.compile_glob(draft.filter.alert_ids)
    if isinstance(draft.target, AppriseTarget):
        await asyncio.to_thread(apprise_target.check_url, draft.target.url)
    else:
        webhook.check(draft.target)
    return ChannelRecord(
        id=secrets.token_hex(8),
        name=draft.name,
        target=draft.target,
        filter=draft.filter,
        created_by=created_by,
        created_at=utc_now(),
    )


class ChannelBook:
    def __init__(self, records: Records[ChannelRecord], js: JetStreamContext, stream: str) -> None:
        self.records = records
        self._js = js
        self._stream = stream
        self._lock = asyncio.Lock()
        self._seen = -1  # the bucket's last sequence when `_channels` was read
        self._channels: list[ChannelRecord] = []
        self._looks = 0  # looks begun

    async def current(self) -> list[ChannelRecord]:
        """Every channel, as the bucket held them at some moment after this call began.

        One look at a time; the callers that arrive while one is under way share the
        next (which begins after them), so a burst costs a look or two, not one each.
        """
        arrived = self._looks  # counts a look under way now, which began before us
        async with self._lock:
            if self._looks > arrived:  # one began after we arrived, and has ended
                return self._channels
            self._looks += 1
            last = (await self._js.stream_info(self._stream)).state.last_seq
            if last != self._seen:
                self._channels = [found.value for found in await self.records.all()]
                self._seen = last
            return self._channels


class SilenceBook:
    """The silences and maintenance windows (`ALERT_SILENCES`), read again only when
    their bucket changed."""

    def __init__(self, records: Records[Silence], js: JetStreamContext, stream: str) -> None:
        self._records = records
        self._js = js
        self._stream = stream
        self._lock = asyncio.Lock()
        self._seen = -1
        self._silences: list[Silence] = []

    async def current(self) -> list[Silence]:
        async with self._lock:
            last = (await self._js.stream_info(self._stream)).state.last_seq
            if last != self._seen:
                self._silences = [found.value for found in await self._records.all()]
                self._seen = last
            return self._silences
