"""The audit trail: one event per thing done or refused, on `audit.{service}`.

Written by the service that saw it (auth: logins, tokens, users and keys; the deployer:
deploys, cancels, confirmations; the gateway: every refusal at its door), kept in the
append-only AUDIT stream, read by admins only. Never a secret: no password, token, key
or its hash, only who, what, on what, from where, and the outcome.
"""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from vigil.messages.common import omitted_when_none
from vigil.model import Message


class AuditOutcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"  # not allowed, or bad credentials
    FAILED = "failed"  # allowed, but it did not work


class AuditActor(Message):
    """Who acted: a user, an API key, or nobody known (bad or missing credentials)."""

    kind: Literal["user", "api_key", "anonymous"]
    id: str | None = omitted_when_none()
    name: str | None = omitted_when_none("The username or key name, or the name tried.")


ANONYMOUS = AuditActor(kind="anonymous")


class AuditEvent(Message):
    time: datetime
    service: str = Field(description="Who saw it: auth, deployer or gateway.")
    action: str = Field(description="What was done or tried, e.g. `auth.login`, `deploy.create`.")
    outcome: AuditOutcome
    actor: AuditActor
    target: str = Field(default="", description="What it was done to: a user, a deploy, a path.")
    detail: str = Field(default="", description="Why it was refused, or what was changed.")
    address: str | None = omitted_when_none("The client's address, where the service knows it.")
