"""The handler of `Actions.ROLLBACK`: roll back the last deploy of a service of this
replica's Docker host, as a new deploy of the spec the service ran before it.

The deploys of the service on the host that succeeded, newest first: the first is the
deploy rolled back, the second the one whose spec runs again (the `DEPLOYS` bucket keeps
each spec whole, secrets in clear, so it can be deployed again; only what readers see is
masked). Fewer than two: nothing to return to, refused NOT_FOUND before anything is
asked. An alert's container that the last deploy did not start is refused CONFLICT: the
alert is about something else than what the rollback would undo.

Then the user is asked (the one-time question of `confirmation.ask_to_act`, as every
destructive action); a no or no answer in time does nothing and answers `declined`. A
yes records and queues the rollback deploy (`Handlers.launch`, its `rollback_of` naming
the deploy undone), which runs like any other: journaled, health-checked, rolled back
itself if it fails. Its spec's own `confirm` is dropped: the user has just said yes to
this very switch. Each request is one `deploy.rollback` event in the audit trail: done
(naming the alert that proposed it), failed or refused.
"""

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.messages import (
    AuditOutcome,
    DeployRecord,
    DeployRolledBack,
    DeployState,
    ErrorCode,
    RollBackDeploy,
)
from vigil.records import Records
from vigil_deployer.actions import ContainerActions
from vigil_deployer.confirmation import ask_to_act
from vigil_deployer.errors import Declined
from vigil_deployer.grants import check_grant
from vigil_deployer.handlers import Handlers
from vigil_deployer.settings import DeployerSettings

AUDITED = "deploy.rollback"


class Rollbacks:
    def __init__(
        self,
        bus: Bus,
        settings: DeployerSettings,
        deploys: Records[DeployRecord],
        handlers: Handlers,
        containers: ContainerActions,
        trail: AuditTrail,
    ) -> None:
        self._bus = bus
        self._settings = settings
        self._deploys = deploys
        self._handlers = handlers
        self._containers = containers  # what the engine says started a container
        self._trail = trail

    async def roll_back(self, request: RollBackDeploy, caller: Principal) -> DeployRolledBack:
        target = f"service {request.host}/{request.name}"
        check_grant(self._trail, caller, AUDITED, request.host, "host", target)
        try:
            last, before = await self._last_two(request)
            if request.container is not None:
                await self._check_started_by(last, request.container)
        except Refused as exc:
            self._trail.refused(AUDITED, caller, exc.message, target=target)
            raise
        try:
            await self._ask(request, last, before, caller)
        except Declined as exc:
            self._trail.refused(AUDITED, caller, exc.reason, target=target)
            return _rolled_back(request, last, "declined", exc.reason)
        spec = before.spec.model_copy(update={"confirm": False})
        try:
            record = await self._handlers.launch(spec, caller, rollback_of=last.id)
        except Refused as exc:
            self._trail.record(
                AUDITED, AuditOutcome.FAILED, caller, target=target, detail=exc.message
            )
            raise
        detail = (
            f"deploy {record.id} rolls back deploy {last.id}: {request.name} on {request.host} "
            f"from {last.spec.image} back to {spec.image} (as deploy {before.id})"
        )
        said = detail if request.alert is None else f"{detail} (proposed by alert {request.alert})"
        self._trail.record(AUDITED, AuditOutcome.DONE, caller, target=target, detail=said)
        return _rolled_back(request, last, "done", detail).model_copy(
            update={"deploy": record.view()}
        )

    async def _last_two(self, request: RollBackDeploy) -> tuple[DeployRecord, DeployRecord]:
        """The service's last succeeded deploy and the succeeded one before it."""
        succeeded = sorted(
            (
                found.value
                for found in await self._deploys.all()
                if found.value.spec.target == "docker"
                and found.value.spec.host == request.host
                and found.value.spec.name == request.name
                and found.value.state is DeployState.SUCCEEDED
            ),
            key=lambda record: record.created_at,
            reverse=True,
        )
        where = f"{request.name} on {request.host}"
        if not succeeded:
            reason = f"no deploy of {where} succeeded: nothing to roll back"
            raise Refused(ErrorCode.NOT_FOUND, reason)
        if len(succeeded) == 1:
            reason = (
                f"deploy {succeeded[0].id} is the only one of {where} that succeeded: "
                "there is no earlier deploy to return to"
            )
            raise Refused(ErrorCode.NOT_FOUND, reason)
        return succeeded[0], succeeded[1]

    async def _check_started_by(self, last: DeployRecord, container: str) -> None:
        started_by = await self._containers.deploy_of(container)
        if started_by != last.id:
            by = f"deploy {started_by}" if started_by else "no deploy"
            reason = (
                f"container {container[:12]} was started by {by}, not by the last deploy "
                f"{last.id} of {last.spec.name}: rolling that back would undo something else"
            )
            raise Refused(ErrorCode.CONFLICT, reason)

    async def _ask(
        self,
        request: RollBackDeploy,
        last: DeployRecord,
        before: DeployRecord,
        caller: Principal,
    ) -> None:
        text = (
            f"Roll back {request.name} on {request.host} from {last.spec.image} "
            f"(deploy {last.id}) to {before.spec.image} (deploy {before.id})?"
        )
        data = {
            "action": "rollback",
            "host": request.host,
            "name": request.name,
            "rollback_of": last.id,
            "image": before.spec.image,
            "answer": {"confirm": "true to roll back, false to leave it"},
        }
        await ask_to_act(
            self._bus,
            caller,
            text,
            data,
            self._settings.confirm_timeout_s,
            f"to roll back {request.name}",
            request.alert,
        )


def _rolled_back(
    request: RollBackDeploy, last: DeployRecord, outcome: str, detail: str
) -> DeployRolledBack:
    return DeployRolledBack(
        host=request.host,
        name=request.name,
        outcome="done" if outcome == "done" else "declined",
        rollback_of=last.id,
        detail=detail,
    )
