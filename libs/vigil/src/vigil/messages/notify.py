"""Notification channels and what the notifier answers about them (`ctl.notify.*`).

A channel is where alert transitions go: an Apprise URL (Slack, Discord, ntfy, Telegram,
email...) or a generic webhook (a URL, a JSON payload template, an HMAC-SHA256
signature of the body with the channel's own secret). Its secrets are write-only: a
draft carries them to the notifier, which keeps them; every view of a channel, a
delivery error or a dead letter shows them masked.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from vigil.messages.host import AlertState
from vigil.model import Message
from vigil.names import SourceName

CHANNEL_ID = r"^[0-9a-f]{16}$"
MAX_URL_CHARS = 2048
MAX_TEMPLATE_CHARS = 8192
SIGNATURE_HEADER = "X-Vigil-Signature"
"""The webhook header with `sha256=<hex HMAC-SHA256 of the body, keyed by the secret>`."""
DELIVERY_HEADER = "X-Vigil-Delivery"
"""The webhook header naming the delivery (alert transition and channel): the same on
every retry of it, so a receiver can drop a repeat."""


class ChannelKind(StrEnum):
    APPRISE = "apprise"
    WEBHOOK = "webhook"


class ChannelFilter(Message):
    """Which transitions a channel gets; every condition must hold. (A severity condition
    comes with the severities of alert rules.)"""

    sources: list[SourceName] = Field(
        default_factory=list, max_length=16, description="Alert sources; empty: all."
    )
    alert_ids: str = Field(
        default="*",
        min_length=1,
        max_length=200,
        description="A glob on the alert id (`*` any run, `?` one character).",
    )
    states: list[AlertState] = Field(
        default_factory=list, max_length=2, description="raised, resolved; empty: both."
    )


class AppriseTarget(Message):
    kind: Literal["apprise"] = "apprise"
    url: str = Field(
        min_length=1,
        max_length=MAX_URL_CHARS,
        description="An Apprise URL (slack://, discord://, ntfy://, tgram://, mailto://...).",
    )


class WebhookTarget(Message):
    kind: Literal["webhook"] = "webhook"
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS, description="http:// or https://")
    secret: str = Field(
        min_length=16, max_length=256, description="The HMAC-SHA256 key of the signature."
    )
    template: str | None = Field(
        default=None,
        max_length=MAX_TEMPLATE_CHARS,
        description=(
            "A JSON document; `{{field}}` in its strings is replaced by the alert's field "
            "(a string that is only `{{field}}` takes the field's JSON value). Fields: id, "
            "state, source, host, metric, value, threshold, time, message, cluster, culprits "
            "(a host alert's busiest containers: a list, or null), log_lines (a pod alert's "
            "last log lines: a list, or null), channel. "
            "Unset: {'channel': name, 'alert': the alert}."
        ),
    )


ChannelTarget = Annotated[AppriseTarget | WebhookTarget, Field(discriminator="kind")]


class ChannelDraft(Message):
    name: str = Field(min_length=1, max_length=100)
    target: ChannelTarget
    filter: ChannelFilter = Field(default_factory=ChannelFilter)


class ChannelView(Message):
    """A channel as it is shown: its URL masked, its secret never."""

    id: str
    name: str
    kind: ChannelKind
    url: str = Field(description="Masked: tokens, passwords and paths hidden.")
    template: str | None = None
    filter: ChannelFilter
    created_by: str
    created_at: datetime


class CreateChannel(Message):
    channel: ChannelDraft


class ListChannels(Message):
    pass


class ChannelList(Message):
    channels: list[ChannelView]


class DeleteChannel(Message):
    channel_id: str = Field(pattern=CHANNEL_ID)


class TryChannel(Message):
    channel_id: str = Field(pattern=CHANNEL_ID)


class ChannelTried(Message):
    channel_id: str
    delivered: bool
    error: str | None = Field(default=None, description="Why not (secrets masked).")


class ListDeadLetters(Message):
    limit: int = Field(default=100, ge=1, le=1000)


class DeadLetter(Message):
    """A transition a channel never took, after every attempt."""

    channel_id: str
    channel_name: str
    alert_id: str
    state: AlertState
    alert_time: datetime
    attempts: int
    error: str = Field(description="The last failure (secrets masked).")
    time: datetime


class DeadLetterList(Message):
    dead_letters: list[DeadLetter] = Field(description="Newest first.")
    total: int
