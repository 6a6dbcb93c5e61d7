"""Confirming what an alert proposes (`ctl.alerts.proposal_confirm`, operators): the
raised alert's `proposal` carried out by the deployer, for the operator who confirmed.

The alerter asks the deployer replica of the proposal's host (or cluster) for the action
(`vigil.operations.Actions`: a restart, a rollback of the last deploy, a scale) with the
operator's own token, naming the alert: the deployer verifies the operator, checks the
role and cluster grant itself, asks them on their socket (the one-time question every
destructive action and every deploy uses) and audits what it did. Nothing runs without
that yes. A rollback is `done` once its deploy is queued (the detail names it; its
journal says how it went); it is refused (NOT_FOUND) when the service has no earlier
succeeded deploy to return to, before anything is asked.

**Once**: each raising of an alert has its proposal id; a confirmation first claims it
in `ALERT_PROPOSALS` (a revision-checked create or update, so of two confirmations at
once one wins and the other is refused CONFLICT), and a proposal carried out is `done`
there for good. A no (or no answer in time) or a refusal of the deployer frees it
again; a claim whose alerter died lapses after the time the action may take. What ran is
a transition of the alert (the alert again, its proposal `done`), published on its
`alerts.<source>` like an acknowledgement, so the dashboard, the CLI and the notifier
see it. Each confirmation is in the audit trail (`alerts.proposal`), done or refused.
"""

import logging
from datetime import timedelta

from vigil import ctl
from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.errors import BusUnavailable, NoResponder, RevisionConflict
from vigil.messages import (
    ActOnContainer,
    ActOnWorkload,
    AlertChanged,
    AlertRecord,
    AlertState,
    AuditOutcome,
    ConfirmProposal,
    ContainerAction,
    ErrorCode,
    ProposalConfirmed,
    ProposalDone,
    ProposalRun,
    ProposedAction,
    RollBackDeploy,
    WorkloadAction,
    utc_now,
)
from vigil.operations import Actions, Alerts
from vigil.publishing import Outgoing, deliver
from vigil.records import Records, record_key
from vigil_alerter.book import write

log = logging.getLogger(__name__)

CONFIRM = "alerts.proposal"
_PUBLISH_WITHIN_S = 4.0
_CLAIM = timedelta(seconds=Alerts.CONFIRM.timeout_s)  # a claim lapses after this


class Proposals:
    def __init__(
        self,
        bus: Bus,
        book: Records[AlertRecord],
        runs: Records[ProposalRun],
        trail: AuditTrail,
    ) -> None:
        self._bus = bus
        self._book = book
        self._runs = runs
        self._trail = trail

    async def confirm(
        self, request: ConfirmProposal, caller: Principal, token: str
    ) -> ProposalConfirmed:
        alert, proposal = await self._proposal(request.alert_id, caller)
        what = proposal.describe()
        revision = await self._claim(alert, proposal, caller)
        try:
            outcome, detail = await self._carry_out(alert, proposal, token)
        except BusUnavailable:
            # It may have run: the claim stays until it lapses.
            reason = f"the deployer of {proposal.host or proposal.cluster!r} did not answer"
            self._trail.record(
                CONFIRM, AuditOutcome.FAILED, caller, target=alert.id, detail=f"{what}: {reason}"
            )
            raise Refused(ErrorCode.UNAVAILABLE, reason) from None
        except Refused as exc:
            await self._release(proposal, revision, alert, caller, "failed")
            self._trail.record(
                CONFIRM, AuditOutcome.FAILED, caller, target=alert.id, detail=f"{what}: {exc}"
            )
            raise
        if outcome == "declined":
            await self._release(proposal, revision, alert, caller, "declined")
            self._trail.refused(CONFIRM, caller, f"{what}: {detail}", target=alert.id)
            return ProposalConfirmed(outcome="declined", detail=detail, alert=alert)
        now = utc_now()
        try:
            await self._runs.update(proposal.id, _run(alert, caller, "done", now), revision)
        except RevisionConflict:  # the claim lapsed and was taken: it ran all the same
            log.warning("%s: its proposal ran, but its claim had lapsed", alert.id)
        self._trail.record(
            CONFIRM, AuditOutcome.DONE, caller, target=alert.id, detail=f"{what}: {detail}"
        )
        done = ProposalDone(by=caller.name, time=now, detail=detail)
        latest = await self._book.get(record_key(alert.id))
        if latest is not None and latest.value.alert.proposal == proposal:
            alert = latest.value.alert  # acknowledged meanwhile, say: kept
        ran = alert.model_copy(
            update={
                "proposal": proposal.model_copy(update={"done": done}),
                "time": now,
                "message": f"{alert.message} ({what}: done, confirmed by {caller.name})",
            }
        )
        if latest is not None and latest.value.alert.state is not AlertState.RAISED:
            return ProposalConfirmed(outcome="done", detail=detail, alert=ran)  # resolved since
        try:
            subject = self._bus.subjects.alerts(ran.source)
            await deliver(self._bus, Outgoing(subject, ran), within_s=_PUBLISH_WITHIN_S)
        except BusUnavailable as exc:  # it ran: say so (ALERT_PROPOSALS refuses it again)
            log.warning("%s: its proposal ran, the transition not published: %s", alert.id, exc)
            return ProposalConfirmed(outcome="done", detail=detail, alert=ran)
        await write(self._book, ran)  # at once: the book's consumer writes it again
        return ProposalConfirmed(outcome="done", detail=detail, alert=ran)

    async def _proposal(
        self, alert_id: str, caller: Principal
    ) -> tuple[AlertChanged, ProposedAction]:
        """The raised alert and what it proposes; else refused (and audited)."""
        found = await self._book.get(record_key(alert_id))
        alert = found.value.alert if found is not None else None
        proposal = alert.proposal if alert is not None else None
        if alert is None:
            problem = ErrorCode.NOT_FOUND, f"no alert {alert_id!r}"
        elif alert.state is not AlertState.RAISED:
            problem = ErrorCode.CONFLICT, f"{alert_id}: resolved, its proposal no longer stands"
        elif proposal is None:
            problem = ErrorCode.NOT_FOUND, f"{alert_id}: proposes nothing"
        elif proposal.done is not None:
            problem = ErrorCode.CONFLICT, f"{alert_id}: {_ran(proposal.done)}"
        elif proposal.cluster is not None and not caller.may_see_cluster(proposal.cluster):
            reason = f"{caller.name} has no grant for cluster {proposal.cluster!r}"
            problem = ErrorCode.FORBIDDEN, reason
        else:
            return alert, proposal
        self._trail.refused(CONFIRM, caller, problem[1], target=alert_id)
        raise Refused(*problem)

    async def _claim(self, alert: AlertChanged, proposal: ProposedAction, caller: Principal) -> int:
        """Take the proposal for this confirmation: its revision in `ALERT_PROPOSALS`;
        CONFLICT when it ran already or another confirmation holds it."""
        now = utc_now()
        claim = _run(alert, caller, "running", now)
        try:
            found = await self._runs.get(proposal.id)
            if found is None:
                return await self._runs.create(proposal.id, claim)
            run = found.value
            if run.state == "done":
                reason = f"{alert.id}: {_ran(ProposalDone(by=run.by, time=run.time))}"
            elif run.state == "running" and run.until > now:
                reason = f"{alert.id}: {run.by} is confirming its proposal now"
            else:  # declined, failed, or a claim that lapsed
                return await self._runs.update(proposal.id, claim, found.revision)
        except RevisionConflict:
            reason = f"{alert.id}: another confirmation of its proposal came first"
        self._trail.refused(CONFIRM, caller, reason, target=alert.id)
        raise Refused(ErrorCode.CONFLICT, reason)

    async def _release(
        self,
        proposal: ProposedAction,
        revision: int,
        alert: AlertChanged,
        caller: Principal,
        state: str,
    ) -> None:
        """Free the proposal again: it did not run (a no, or the deployer refused)."""
        run = _run(alert, caller, "declined" if state == "declined" else "failed", utc_now())
        try:
            await self._runs.update(proposal.id, run, revision)
        except RevisionConflict:  # lapsed and taken by another confirmation meanwhile
            log.warning("%s: its proposal's claim was taken over", alert.id)

    async def _carry_out(
        self, alert: AlertChanged, proposal: ProposedAction, token: str
    ) -> tuple[str, str]:
        """The deployer's outcome (`done` or `declined`) and detail; `Refused` as it
        refused, or NOT_FOUND when no deployer serves the host (or cluster);
        `BusUnavailable` when it did not answer (it may have acted)."""
        where = proposal.host or proposal.cluster or "?"
        try:
            if proposal.action == "restart":
                container = ActOnContainer(
                    host=proposal.host or "",
                    container=proposal.container or proposal.name,
                    action=ContainerAction.RESTART,
                    alert=alert.id,
                )
                acted = await ctl.call(self._bus, Actions.CONTAINER, container, token=token)
                return acted.outcome, acted.detail
            if proposal.action == "rollback":
                rollback = RollBackDeploy(
                    host=proposal.host or "",
                    name=proposal.name,
                    container=proposal.container,
                    alert=alert.id,
                )
                rolled = await ctl.call(self._bus, Actions.ROLLBACK, rollback, token=token)
                return rolled.outcome, rolled.detail
            workload = ActOnWorkload(
                cluster=proposal.cluster or "",
                namespace=proposal.namespace or "",
                kind=proposal.kind or "deployment",
                name=proposal.name,
                action=WorkloadAction.SCALE,
                replicas=proposal.replicas,
                alert=alert.id,
            )
            scaled = await ctl.call(self._bus, Actions.WORKLOAD, workload, token=token)
            return scaled.outcome, scaled.detail
        except NoResponder:
            raise Refused(ErrorCode.NOT_FOUND, f"no deployer serves {where!r}") from None


def _run(alert: AlertChanged, caller: Principal, state: str, now: object) -> ProposalRun:
    return ProposalRun.model_validate(
        {
            "alert_id": alert.id,
            "by": caller.name,
            "state": state,
            "time": now,
            "until": utc_now() + _CLAIM,
        }
    )


def _ran(done: ProposalDone) -> str:
    return f"ran already: confirmed by {done.by} at {done.time.isoformat(timespec='seconds')}"
