"""`GET /api/audit` (admins): the audit trail, newest first, filtered and paged.

The trail is the AUDIT stream (`vigil.messages.audit`), written by auth, the deployer
and the gateways. A page is read backwards through the stream in chunks, each event
kept if it matches every filter given, until the page is full, the stream's start or
`since` is reached, or the page has read `MAX_SCANNED` events (a filter that matches
rarely does not make one request read 90 days): `next_before` then says where the
next page starts, as a cursor (a stream sequence), and is null at the end.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import nats.errors
from fastapi import APIRouter, Depends, Query, Request
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import AwareDatetime, ValidationError

from vigil.access import Principal, Role
from vigil.bus import Bus
from vigil.errors import InvalidName
from vigil.messages import AuditEvent, AuditOutcome, ErrorCode
from vigil.names import NameKind, validate_name
from vigil.subjects import ANY
from vigil_gateway.delivery.polling import fetch
from vigil_gateway.delivery.resume import window_of
from vigil_gateway.http.http_auth import RoleRequired, refusal
from vigil_gateway.http.strict_json import StrictJsonRoute
from vigil_gateway.replica.gateway import Gateway

Admin = Annotated[Principal, Depends(RoleRequired(Role.ADMIN))]

CHUNK = 500  # events read at once, going back
MAX_SCANNED = 50_000  # events one page may read at most


def audit_router() -> APIRouter:
    router = APIRouter(route_class=StrictJsonRoute)

    @router.get("/api/audit")
    async def audit(
        request: Request,
        admin: Admin,
        service: Annotated[str | None, Query(description="auth, deployer or gateway")] = None,
        actor: Annotated[str | None, Query(description="a user or key: name or id")] = None,
        action: Annotated[str | None, Query(description="starts with, e.g. `deploy.`")] = None,
        outcome: AuditOutcome | None = None,
        target: Annotated[str | None, Query(description="contains, e.g. a deploy id")] = None,
        since: AwareDatetime | None = None,
        until: AwareDatetime | None = None,
        before: Annotated[int | None, Query(ge=1, description="a `next_before`")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        """Audit events, newest first, each with its `cursor`; `next_before` for the page
        after this one (null: none)."""
        if service is not None:
            try:
                validate_name(NameKind.SOURCE, service)
            except InvalidName as exc:
                raise refusal(ErrorCode.INVALID_MESSAGE, str(exc)) from None
        wanted = Filter(service, actor, action, outcome, target, since, until)
        gateway: Gateway = request.app.state.gateway
        try:
            events, next_before = await read_back(gateway.bus, wanted, before, limit)
        except nats.errors.Error as exc:
            raise refusal(ErrorCode.UNAVAILABLE, f"the bus is unavailable: {exc}", 1) from None
        page = [{"cursor": cursor, **event.model_dump(mode="json")} for cursor, event in events]
        return {"events": page, "next_before": next_before}

    return router


@dataclass(frozen=True)
class Filter:
    """What an event must match; None matches anything."""

    service: str | None
    actor: str | None
    action: str | None
    outcome: AuditOutcome | None
    target: str | None
    since: datetime | None
    until: datetime | None

    def matches(self, event: AuditEvent) -> bool:
        return (
            (self.service is None or event.service == self.service)
            and (self.actor is None or self.actor in (event.actor.name, event.actor.id))
            and (self.action is None or event.action.startswith(self.action))
            and (self.outcome is None or event.outcome is self.outcome)
            and (self.target is None or self.target in event.target)
            and (self.since is None or event.time >= self.since)
            and (self.until is None or event.time < self.until)
        )

    def older_than_wanted(self, event: AuditEvent) -> bool:
        return self.since is not None and event.time < self.since


async def read_back(
    bus: Bus, wanted: Filter, before: int | None, limit: int
) -> tuple[list[tuple[int, AuditEvent]], int | None]:
    """Up to `limit` events that match `wanted`, newest first, from before the cursor
    `before` (the newest without); and the cursor to go on before (None: no more)."""
    subject = bus.subjects.audit(ANY)
    window = await window_of(bus.js, subject)
    end = window.last if before is None else min(before - 1, window.last)
    found: list[tuple[int, AuditEvent]] = []
    scanned = 0
    while end >= max(window.first, 1) and len(found) < limit and scanned < MAX_SCANNED:
        start = max(window.first, end - CHUNK + 1)
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        messages, _ = await fetch(bus, subject, config, end - start + 1)
        scanned += end - start + 1
        reached_since = False
        for cursor, event in reversed(list(_events(messages, end))):
            if wanted.older_than_wanted(event):
                reached_since = True
                break
            if wanted.matches(event):
                found.append((cursor, event))
                if len(found) == limit:
                    return found, cursor
        if reached_since:
            return found, None
        end = start - 1
    more = end >= max(window.first, 1)
    return found, (end + 1 if more else None)


def _events(messages: list[Any], end: int) -> Iterator[tuple[int, AuditEvent]]:
    for msg in messages:
        cursor = msg.metadata.sequence.stream
        if cursor > end:
            return
        try:
            yield cursor, AuditEvent.model_validate_json(msg.data)
        except ValidationError:
            continue  # not an audit event: skipped, as a feed skips it
