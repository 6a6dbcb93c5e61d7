"""A deploy's record (in the `DEPLOYS` bucket), who may see it, and the requests on
`ctl.deploy.*` and `work.deploy.*` with their replies; the deployers' announcements."""

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from vigil.access import Principal
from vigil.messages.deploy.journal import DeployState, DeployStep
from vigil.messages.deploy.spec import DeploySpec
from vigil.model import Message
from vigil.names import ContainerName, DeployId, HostName


class Requester(Message):
    """Who started a deploy: asked to confirm it, shown in the record."""

    kind: Literal["user", "api_key"]
    id: str
    name: str
    token: str = Field(description="`Principal.token`: where `ask.user` reaches them.")


class DeployRecord(Message):
    """A deploy in the `DEPLOYS` bucket: spec, who, when, where it stands. The worker
    holds it with a lease it renews; another replica takes over a lapsed one."""

    id: DeployId
    spec: DeploySpec
    requested_by: Requester
    created_at: datetime
    updated_at: datetime
    state: DeployState
    step: DeployStep
    reason: str | None = None
    worker: str | None = None
    lease_until: datetime | None = None
    cancel_requested_by: str | None = None
    previous_container: str | None = Field(default=None, description="Serving before.")
    new_container: str | None = Field(default=None, description="Created by this deploy.")
    rollback_of: DeployId | None = Field(
        default=None,
        description=(
            "The deploy this one rolls back (`ctl.deploy.rollback`): its spec is the one the"
            " service ran before that deploy."
        ),
    )
    target_state: dict[str, Any] = Field(
        default_factory=dict, description="What the target needs to roll back after a crash."
    )

    @property
    def cluster(self) -> str | None:
        """The Kubernetes cluster the deploy changes; None for a Docker deploy."""
        return self.spec.cluster if self.spec.target == "kubernetes" else None

    def view(self) -> "DeployRecord":
        """The record as readers see it: the spec's secrets hidden (also where the reason
        quotes one), the requester's routing token and the target's rollback state (a
        Kubernetes template holds the previous environment) left out."""
        requester = self.requested_by.model_copy(update={"token": ""})
        reason = None if self.reason is None else self.spec.mask(self.reason)
        return self.model_copy(
            update={
                "spec": self.spec.redacted(),
                "requested_by": requester,
                "reason": reason,
                "target_state": {},
            }
        )


def visible_to(record: DeployRecord, principal: Principal) -> bool:
    """Whether `principal`'s grant lets it list, read, watch or cancel `record`: a
    Kubernetes deploy belongs to its cluster, which the grant must cover; a Docker deploy
    to every reader (changing one needs its host's grant: `vigil_deployer.grants`). Roles
    are checked apart."""
    cluster = record.cluster
    return cluster is None or principal.may_see_cluster(cluster)


class DeployQueued(Message):
    """On `work.deploy.{host}` (a work queue): a deploy waiting for a replica."""

    deploy_id: DeployId


class CreateDeploy(Message):
    """On `ctl.deploy.create`: who asks is the request's token (the record's `requested_by`)."""

    spec: DeploySpec


class CancelDeploy(Message):
    deploy_id: DeployId


class GetDeploy(Message):
    deploy_id: DeployId


class ListDeploys(Message):
    state: DeployState | None = None
    name: ContainerName | None = None
    host: HostName | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class DeployList(Message):
    deploys: list[DeployRecord]
    total: int = Field(description="Deploys matching the filters, over every page.")
    offset: int
    limit: int


class ListDeployHosts(Message):
    pass


class DeployHosts(Message):
    hosts: list[str] = Field(description="The Docker hosts some deployer replica serves.")


class DeployerAnnounced(Message):
    """In the `DEPLOYERS` bucket, renewed while a replica runs: the host it serves."""

    host: HostName = Field(description="The Docker host, or the Kubernetes cluster.")
    replica: str
    target: Literal["docker", "kubernetes"] = "docker"
    time: datetime
