"""Writing the audit trail: each event a log line (`vigil_<service>.audit`) and a message on
`audit.{service}`, kept in the append-only AUDIT stream (`vigil.messages.audit`).

Recording never waits and never fails the request it records: the event is queued and
published in order by `publishing.InOrder`, none lost while the bus is away (up to
`max_waiting`, then the oldest are dropped and said so in the log, which has them all).
"""

import logging

from vigil.access import Principal
from vigil.bus import Bus
from vigil.messages import ANONYMOUS, AuditActor, AuditEvent, AuditOutcome, utc_now
from vigil.publishing import InOrder

_CLOSE_WITHIN_S = 2.0  # what is still queued at a stop gets this long to be acked


def _one_line(text: str) -> str:
    """A field as the log line shows it: a name tried at a login may hold a line break,
    which must not start a forged line of its own."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def actor_of(principal: Principal | None) -> AuditActor:
    if principal is None:
        return ANONYMOUS
    return AuditActor(kind=principal.kind, id=principal.id, name=principal.name)


class AuditTrail:
    def __init__(self, bus: Bus, service: str, *, max_waiting: int = 10_000) -> None:
        self._bus = bus
        self._service = service
        self._out = InOrder(bus, "audit events", max_waiting=max_waiting)
        self._log = logging.getLogger(f"vigil_{service}.audit")

    def record(
        self,
        action: str,
        outcome: AuditOutcome,
        actor: AuditActor | Principal | None,
        *,
        target: str = "",
        detail: str = "",
        address: str | None = None,
    ) -> None:
        """`actor` did (or tried) `action` on `target`; never pass a secret in any field."""
        if not isinstance(actor, AuditActor):
            actor = actor_of(actor)
        event = AuditEvent(
            time=utc_now(),
            service=self._service,
            action=action,
            outcome=outcome,
            actor=actor,
            target=target,
            detail=detail,
            address=address,
        )
        level = logging.INFO if outcome is AuditOutcome.DONE else logging.WARNING
        who = f"{actor.kind}:{actor.name or '-'}({actor.id or '-'})"
        self._log.log(
            level,
            "%s %s who=%s from=%s target=%s %s",
            outcome,
            *map(_one_line, (action, who, address or "-", target or "-", detail)),
        )
        self._out.put(self._bus.subjects.audit(self._service), event)

    def refused(
        self,
        action: str,
        actor: AuditActor | Principal | None,
        why: str,
        *,
        target: str = "",
        address: str | None = None,
    ) -> None:
        """`actor` (None: unknown) was refused `action`, for the reason `why`."""
        self.record(action, AuditOutcome.REFUSED, actor, target=target, detail=why, address=address)

    @property
    def waiting(self) -> int:
        """Events not yet acked by JetStream."""
        return self._out.waiting

    async def close(self, within_s: float = _CLOSE_WITHIN_S) -> None:
        """Stop; what is still queued gets `within_s` to be acked."""
        await self._out.close(within_s=within_s)
