"""A channel as the notifier keeps it (in `NOTIFY_CHANNELS`, which only it may read): the
draft checked, with who made it; shown only as a `ChannelView`, its secrets masked."""

import asyncio
import secrets
from datetime import datetime

from vigil.messages import (
    AlertChanged,
    AppriseTarget,
    ChannelDraft,
    ChannelFilter,
    ChannelKind,
    ChannelTarget,
    ChannelView,
    WebhookTarget,
    utc_now,
)
from vigil.model import Message
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
