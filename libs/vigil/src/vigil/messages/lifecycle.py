"""The life of an alert after it is raised (`ctl.alerts.*`, answered by the alerter):
acknowledged by someone with a note, silenced by a matcher for a time window, or
quiet during a host's maintenance window; the book of every alert's latest state.

An acknowledgement is a transition in the ALERTS stream like the others (the alert
again, `state` raised, with `acknowledged`), so the `alerts` channel shows it live and
the notifier delivers it. A silence (or a maintenance window, a silence of hosts)
keeps the notifier from delivering the transitions it matches while it lasts; they
are in the stream and on the channel all the same.
"""

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from vigil.messages.host import Acknowledgement, AlertChanged
from vigil.messages.rules import checked_glob
from vigil.model import Message
from vigil.names import SourceName

SILENCE_ID = r"^[0-9a-f]{16}$"
MAX_SILENCES = 1000
MAX_ALERT_ID = 300


class AlertRecord(Message):
    """In `ALERT_BOOK`, keyed by alert id: its latest transition and its acknowledgement."""

    alert: AlertChanged
    acknowledged: Acknowledgement | None = None


class ListAlerts(Message):
    active: bool = Field(default=True, description="Only alerts raised and not resolved.")
    limit: int = Field(default=500, ge=1, le=5000)


class AlertList(Message):
    alerts: list[AlertRecord] = Field(description="Newest first.")


class AcknowledgeAlert(Message):
    alert_id: str = Field(min_length=1, max_length=MAX_ALERT_ID)
    note: str = Field(default="", max_length=1000)


class SilenceMatcher(Message):
    """Which alerts; every condition given must hold (globs: `*`, `?`)."""

    alert_ids: str = Field(default="*", description="A glob on the alert id.")
    hosts: str = Field(default="*", description="A glob on the alert's host (or cluster).")
    sources: list[SourceName] = Field(default_factory=list, max_length=16)
    labels: dict[str, str] = Field(
        default_factory=dict, max_length=16, description="Labels the alert (its rule) carries."
    )

    @field_validator("alert_ids")
    @classmethod
    def _ids(cls, value: str) -> str:
        if not 1 <= len(value) <= 200 or any(ord(c) < 32 for c in value):
            raise ValueError("a glob of 1 to 200 printable characters")
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        return checked_glob(value)


class SilenceDraft(Message):
    matcher: SilenceMatcher = Field(default_factory=SilenceMatcher)
    starts: datetime | None = Field(default=None, description="Unset: now.")
    ends: datetime
    comment: str = Field(default="", max_length=1000)
    maintenance: bool = Field(
        default=False, description="A maintenance window (of the matcher's hosts)."
    )

    @model_validator(mode="after")
    def _a_window(self) -> "SilenceDraft":
        if self.ends.tzinfo is None or (self.starts is not None and self.starts.tzinfo is None):
            raise ValueError("starts and ends need a time zone (e.g. 2026-12-06T10:00:00Z)")
        if self.starts is not None and self.ends <= self.starts:
            raise ValueError("ends: after starts")
        return self


class Silence(SilenceDraft):
    id: str
    starts: datetime
    created_by: str
    created_at: datetime


class CreateSilence(Message):
    silence: SilenceDraft


class ListSilences(Message):
    pass


class SilenceList(Message):
    silences: list[Silence] = Field(description="Those not yet over, soonest ending first.")


class DeleteSilence(Message):
    silence_id: str = Field(pattern=SILENCE_ID)


class ConfirmProposal(Message):
    """Carry out what a raised alert proposes (`AlertChanged.proposal`): an operator
    with the grant of its host or cluster, asked first on their socket."""

    alert_id: str = Field(min_length=1, max_length=MAX_ALERT_ID)


class ProposalConfirmed(Message):
    """What a `ConfirmProposal` did: `done` (`alert` is the transition published, its
    proposal `done`), or `declined` (the question was answered no, or not in time:
    nothing done, and it may be confirmed again)."""

    outcome: Literal["done", "declined"]
    detail: str = ""
    alert: AlertChanged


class ProposalRun(Message):
    """In `ALERT_PROPOSALS`, keyed by proposal id: a confirmation under way (`running`,
    until `until`: then it counts as lapsed), carried out (`done`: for good), or the
    last one that did not run it (`declined`, `failed`: it may be confirmed again)."""

    alert_id: str
    by: str
    state: Literal["running", "done", "declined", "failed"]
    time: datetime
    until: datetime
