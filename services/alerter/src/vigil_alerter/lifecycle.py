"""One handler per operation of `vigil.operations.Alerts`: the book read by viewers;
acknowledgements and silences made by operators, each in the audit trail (confirmations
of proposed actions: `proposals`).

An acknowledgement is published as a transition (the alert again, with `acknowledged`)
on the alert's own `alerts.<source>`, and waits for JetStream's ack: once answered, it
is in the stream, on the `alerts` channel and on its way to the notifier."""

import secrets

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.broker import ServiceBroker, answer_for_users, answer_for_users_onward
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.messages import (
    MAX_SILENCES,
    AcknowledgeAlert,
    Acknowledgement,
    AlertChanged,
    AlertList,
    AlertRecord,
    AlertState,
    AuditOutcome,
    CreateSilence,
    DeleteSilence,
    ErrorCode,
    ListAlerts,
    ListSilences,
    Silence,
    SilenceList,
    utc_now,
)
from vigil.operations import Alerts
from vigil.publishing import Outgoing, deliver
from vigil.records import Records, record_key
from vigil.tokens import Verifier
from vigil_alerter.book import write
from vigil_alerter.proposals import Proposals

ACK, SILENCE, UNSILENCE = "alerts.ack", "alerts.silence_create", "alerts.silence_delete"
_PUBLISH_WITHIN_S = 4.0


def serve(
    broker: ServiceBroker, handlers: "Lifecycle", proposals: Proposals, verifier: Verifier
) -> None:
    """Every operation of `Alerts` as a subscriber of `broker`."""
    answer_for_users(broker, Alerts.LIST, handlers.list_alerts, verifier)
    answer_for_users(broker, Alerts.ACK, handlers.acknowledge, verifier)
    answer_for_users(broker, Alerts.SILENCE, handlers.silence, verifier)
    answer_for_users(broker, Alerts.SILENCES, handlers.silences, verifier)
    answer_for_users(broker, Alerts.UNSILENCE, handlers.unsilence, verifier)
    answer_for_users_onward(broker, Alerts.CONFIRM, proposals.confirm, verifier)


class Lifecycle:
    def __init__(
        self,
        bus: Bus,
        book: Records[AlertRecord],
        silences: Records[Silence],
        trail: AuditTrail,
    ) -> None:
        self._bus = bus
        self._book = book
        self._silences = silences
        self._trail = trail

    async def list_alerts(self, request: ListAlerts, caller: Principal) -> AlertList:
        records = [found.value for found in await self._book.all()]
        if request.active:
            records = [r for r in records if r.alert.state is AlertState.RAISED]
        records.sort(key=lambda record: record.alert.time, reverse=True)
        return AlertList(alerts=records[: request.limit])

    async def acknowledge(self, request: AcknowledgeAlert, caller: Principal) -> AlertChanged:
        found = await self._book.get(record_key(request.alert_id))
        if found is None or found.value.alert.state is not AlertState.RAISED:
            self._trail.refused(ACK, caller, "not raised", target=request.alert_id)
            raise Refused(ErrorCode.NOT_FOUND, f"no raised alert {request.alert_id!r}")
        now = utc_now()
        acknowledgement = Acknowledgement(by=caller.name, note=request.note, time=now)
        said = f"acknowledged by {caller.name}" + (f": {request.note}" if request.note else "")
        alert = found.value.alert.model_copy(
            update={
                "acknowledged": acknowledgement,
                "time": now,
                "message": f"{found.value.alert.message} ({said})",
            }
        )
        subject = self._bus.subjects.alerts(alert.source)
        await deliver(self._bus, Outgoing(subject, alert), within_s=_PUBLISH_WITHIN_S)
        await write(self._book, alert)  # at once: the book's consumer writes it again
        self._trail.record(ACK, AuditOutcome.DONE, caller, target=alert.id, detail=request.note)
        return alert

    async def silence(self, request: CreateSilence, caller: Principal) -> Silence:
        now = utc_now()
        live = [s for s in (f.value for f in await self._silences.all()) if s.ends > now]
        if len(live) >= MAX_SILENCES:
            raise Refused(ErrorCode.LIMIT_REACHED, f"at most {MAX_SILENCES} silences")
        draft = request.silence
        if draft.ends <= now:
            raise Refused(ErrorCode.INVALID_MESSAGE, "silence.ends: in the past")
        silence = Silence(
            **draft.model_dump(exclude={"starts"}),
            starts=draft.starts or now,
            id=secrets.token_hex(8),
            created_by=caller.name,
            created_at=now,
        )
        await self._silences.create(silence.id, silence)
        kind = "maintenance window" if silence.maintenance else "silence"
        window = f"{silence.starts.isoformat()} to {silence.ends.isoformat()}"
        matcher = silence.matcher.model_dump_json()
        self._trail.record(
            SILENCE,
            AuditOutcome.DONE,
            caller,
            target=f"{kind} {silence.id}",
            detail=f"{matcher} {window} {silence.comment}".strip(),
        )
        return silence

    async def silences(self, request: ListSilences, caller: Principal) -> SilenceList:
        now = utc_now()
        live = [s for s in (f.value for f in await self._silences.all()) if s.ends > now]
        return SilenceList(silences=sorted(live, key=lambda s: s.ends))

    async def unsilence(self, request: DeleteSilence, caller: Principal) -> Silence:
        found = await self._silences.get(request.silence_id)
        if found is None:
            raise Refused(ErrorCode.NOT_FOUND, f"no silence {request.silence_id!r}")
        await self._silences.delete(request.silence_id)
        self._trail.record(UNSILENCE, AuditOutcome.DONE, caller, target=request.silence_id)
        return found.value
