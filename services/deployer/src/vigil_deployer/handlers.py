"""One handler per operation of `vigil.operations.Deploy`: check, write, answer (and
the subscribers of `Actions`, whose handlers are `vigil_deployer.actions`').

Any replica answers any of them (one queue group): creating a deploy only records it,
takes its service lock and queues it for a replica of its host; a cancel is written
into the record, where the replica running the deploy reads it.

Each request carries its user's token, verified before a handler runs
(`vigil.broker.answer_for_users`, in `serve`); the handlers check the user's cluster
grant themselves (`visible_to`): a Kubernetes deploy outside it is refused FORBIDDEN,
without naming its cluster, and left out of lists. Creating, cancelling or rolling back
a deploy needs the grant of its host too (`grants`): a Docker deploy is every reader's
to see, but only an operator granted its host may change it.
"""

import logging
import secrets
from typing import TYPE_CHECKING

from vigil.access import Principal
from vigil.audit_trail import AuditTrail
from vigil.broker import ServiceBroker, answer_for_users
from vigil.bus import Bus
from vigil.ctl import Refused
from vigil.errors import BusUnavailable, RevisionConflict
from vigil.messages import (
    AuditOutcome,
    CancelDeploy,
    CreateDeploy,
    DeployerAnnounced,
    DeployHosts,
    DeployList,
    DeployQueued,
    DeployRecord,
    DeploySpec,
    DeployState,
    DeployStep,
    ErrorCode,
    GetDeploy,
    ListDeployHosts,
    ListDeploys,
    Requester,
    StepState,
    utc_now,
    visible_to,
)
from vigil.operations import Actions, Deploy, Shells
from vigil.records import Records
from vigil.subjects import ANY, Token
from vigil.tokens import Verifier
from vigil_deployer.actions import ContainerActions, WorkloadActions
from vigil_deployer.grants import check_grant
from vigil_deployer.journal import publish_event
from vigil_deployer.locks import Busy, ServiceLocks
from vigil_deployer.pod_shells import PodShells
from vigil_deployer.shells import ContainerShells

if TYPE_CHECKING:  # it launches its deploys through `Handlers`
    from vigil_deployer.rollbacks import Rollbacks

log = logging.getLogger(__name__)


def serve(
    broker: ServiceBroker,
    handlers: "Handlers",
    verifier: Verifier,
    *,
    containers: ContainerActions | None = None,
    workloads: WorkloadActions | None = None,
    rollbacks: "Rollbacks | None" = None,
    shells: ContainerShells | None = None,
    pod_shells: PodShells | None = None,
    host: Token = ANY,
) -> None:
    """Every operation of `Deploy` as a subscriber of `broker`, answered by `handlers` with
    the principal whose token `verifier` accepts; and those of `Actions` for `host`'s
    containers and deploys to roll back (a Docker deployer) or workloads (a Kubernetes
    one), and its shells (in containers, or in pods)."""
    if containers is not None:
        answer_for_users(broker, Actions.CONTAINER, containers.act, verifier, host=host)
    if rollbacks is not None:
        answer_for_users(broker, Actions.ROLLBACK, rollbacks.roll_back, verifier, host=host)
    if workloads is not None:
        answer_for_users(broker, Actions.WORKLOAD, workloads.act, verifier, host=host)
    if shells is not None:
        answer_for_users(broker, Shells.OPEN, shells.open, verifier, host=host)
    if pod_shells is not None:
        answer_for_users(broker, Shells.OPEN_POD, pod_shells.open, verifier, host=host)
    answer_for_users(broker, Deploy.CREATE, handlers.create, verifier)
    answer_for_users(broker, Deploy.CANCEL, handlers.cancel, verifier)
    answer_for_users(broker, Deploy.GET, handlers.get, verifier)
    answer_for_users(broker, Deploy.LIST, handlers.list_deploys, verifier)
    answer_for_users(broker, Deploy.HOSTS, handlers.hosts, verifier)


class Handlers:
    def __init__(
        self,
        bus: Bus,
        deploys: Records[DeployRecord],
        locks: ServiceLocks,
        deployers: Records[DeployerAnnounced],
        trail: AuditTrail,
    ) -> None:
        self._bus = bus
        self._trail = trail
        self._deploys = deploys
        self._locks = locks
        self._deployers = deployers

    async def create(self, request: CreateDeploy, caller: Principal) -> DeployRecord:
        spec = request.spec
        if spec.host is None:  # the only Docker host: which one, before its grant
            spec = await self._placed(spec)
        self.check_may_change(spec, caller, "deploy.create", spec.name)
        record = await self.launch(spec, caller)
        spec = record.spec
        self._trail.record(
            "deploy.create",
            AuditOutcome.DONE,
            caller,
            target=f"deploy {record.id}",
            detail=f"{spec.image} as {spec.name} on {spec.host} ({spec.strategy})",
        )
        return record.view()

    async def launch(
        self, spec: DeploySpec, caller: Principal, *, rollback_of: str | None = None
    ) -> DeployRecord:
        """Record a deploy of `spec` for `caller` (its record, in full), take its service
        lock and queue it for a replica of its host; `rollback_of`: the deploy it rolls
        back. Refused NOT_FOUND when no deployer serves the host, CONFLICT while another
        deploy of the service runs. The caller audits it."""
        requester = Requester(kind=caller.kind, id=caller.id, name=caller.name, token=caller.token)
        spec = await self._placed(spec)
        host = spec.host or ""
        deploy_id = secrets.token_hex(8)
        try:
            await self._locks.acquire(host, spec.name, deploy_id)
        except Busy as exc:
            raise Refused(ErrorCode.CONFLICT, str(exc)) from None
        now = utc_now()
        record = DeployRecord(
            id=deploy_id,
            spec=spec,
            requested_by=requester,
            created_at=now,
            updated_at=now,
            state=DeployState.QUEUED,
            step=DeployStep.QUEUE,
            rollback_of=rollback_of,
        )
        asked = f"{requester.name} asked to deploy {spec.image} as {spec.name} on {host}"
        if rollback_of is not None:
            asked = f"{requester.name} asked to roll back deploy {rollback_of}: {spec.image}"
            asked += f" as {spec.name} on {host} again"
        try:
            await self._deploys.create(deploy_id, record)
            await publish_event(
                self._bus,
                record,
                DeployStep.QUEUE,
                StepState.FINISHED,
                f"{asked} ({spec.strategy}); waiting for a deployer of {host}",
            )
            await self._bus.publish(
                self._bus.subjects.deploy_queue(host), DeployQueued(deploy_id=deploy_id)
            )
        except (BusUnavailable, RevisionConflict):
            await self._locks.release(host, spec.name, deploy_id)
            raise
        return record

    async def cancel(self, request: CancelDeploy, caller: Principal) -> DeployRecord:
        actor = caller.name

        def ask(record: DeployRecord) -> DeployRecord:
            self._check_grant(record, caller, "deploy.cancel")  # says no cluster's name
            self.check_may_change(record.spec, caller, "deploy.cancel", f"deploy {record.id}")
            if record.state.finished:
                raise Refused(ErrorCode.CONFLICT, f"deploy {record.id} has {record.state} already")
            if record.state is DeployState.QUEUED:  # nobody runs it: it ends here
                return record.model_copy(
                    update={
                        "state": DeployState.CANCELLED,
                        "step": DeployStep.DONE,
                        "reason": f"cancelled by {actor} while queued",
                        "cancel_requested_by": actor,
                        "updated_at": utc_now(),
                    }
                )
            return record.model_copy(update={"cancel_requested_by": actor, "updated_at": utc_now()})

        try:
            changed = (await self._deploys.mutate(request.deploy_id, ask)).value
        except KeyError:
            raise Refused(ErrorCode.NOT_FOUND, f"no deploy {request.deploy_id!r}") from None
        self._trail.record(
            "deploy.cancel", AuditOutcome.DONE, caller, target=f"deploy {request.deploy_id}"
        )
        if changed.state is DeployState.CANCELLED:
            await publish_event(
                self._bus, changed, DeployStep.DONE, StepState.FAILED, changed.reason or ""
            )
            await self._locks.release(changed.spec.host or "", changed.spec.name, changed.id)
        return changed.view()

    async def get(self, request: GetDeploy, caller: Principal) -> DeployRecord:
        found = await self._deploys.get(request.deploy_id)
        if found is None:
            raise Refused(ErrorCode.NOT_FOUND, f"no deploy {request.deploy_id!r}")
        self._check_grant(found.value, caller, "deploy.get")
        return found.value.view()

    async def list_deploys(self, request: ListDeploys, caller: Principal) -> DeployList:
        matching = [
            found.value
            for found in await self._deploys.all()
            if visible_to(found.value, caller)
            and (request.state is None or found.value.state is request.state)
            and (request.name is None or found.value.spec.name == request.name)
            and (request.host is None or found.value.spec.host == request.host)
        ]
        matching.sort(key=lambda record: record.created_at, reverse=True)
        page = matching[request.offset : request.offset + request.limit]
        return DeployList(
            deploys=[record.view() for record in page],
            total=len(matching),
            offset=request.offset,
            limit=request.limit,
        )

    async def hosts(self, request: ListDeployHosts, caller: Principal) -> DeployHosts:
        return DeployHosts(hosts=await self.known_hosts())

    def check_may_change(
        self, spec: DeploySpec, caller: Principal, action: str, target: str
    ) -> None:
        """Refused FORBIDDEN (audited) unless `caller`'s grants cover where `spec` runs."""
        kind = "cluster" if spec.target == "kubernetes" else "host"
        check_grant(self._trail, caller, action, spec.host or "", kind, target)

    async def _placed(self, spec: DeploySpec) -> DeploySpec:
        """`spec` with its host: the one given, or the only one deployers serve;
        Refused INVALID_MESSAGE when that is not one, NOT_FOUND when none serves it."""
        hosts = await self.known_hosts(spec.target)
        if spec.host is None:
            if len(hosts) != 1:
                known = ", ".join(hosts) or "none"
                raise Refused(
                    ErrorCode.INVALID_MESSAGE,
                    f"host: required when deployers serve other than one host (serving: {known})",
                )
            spec = spec.model_copy(update={"host": hosts[0]})
        if spec.host not in hosts:
            raise Refused(
                ErrorCode.NOT_FOUND,
                f"no {spec.target} deployer serves {spec.host!r} "
                f"(serving: {', '.join(hosts) or 'none'})",
            )
        return spec

    async def known_hosts(self, target: str = "docker") -> list[str]:
        """The Docker hosts (or Kubernetes clusters) some replica serves."""
        deployers = await self._deployers.all()
        return sorted({found.value.host for found in deployers if found.value.target == target})

    def _check_grant(self, record: DeployRecord, caller: Principal, action: str) -> None:
        if not visible_to(record, caller):
            reason = f"{caller.name} has no grant for the cluster deploy {record.id} changes"
            self._trail.refused(action, caller, reason, target=f"deploy {record.id}")
            raise Refused(ErrorCode.FORBIDDEN, reason)
