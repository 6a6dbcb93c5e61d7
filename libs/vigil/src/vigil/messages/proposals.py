"""Actions an alert rule proposes (`Rule.propose`) and an operator confirms.

A rule on containers may propose `restart` (the container that raised the alert) or
`rollback` (roll back the last deploy of that container's service on its host: a new
deploy of the spec it ran before, `ctl.deploy.rollback`); a rule on pods may propose
`scale` (the Deployment or StatefulSet that owns the pod) to `replicas`. Pods have no
`rollback`: a Kubernetes deploy patches its Deployment, and patching the earlier spec
back would keep what the later one added (env, patch fields), so it would not return the
workload to what it ran before.

The raised alert carries the concrete proposal (`AlertChanged.proposal`): the action and
its exact target. Nothing runs by itself: an operator (with the host's
or the cluster's grant) confirms it (`ctl.alerts.proposal_confirm`); the deployer asks
them on their socket with the one-time question every destructive action uses, carries
it out once and audits it, naming the alert.
"""

from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from vigil.messages.common import omitted_when_none
from vigil.model import Message
from vigil.names import ClusterName, HostName, NamespaceName

PROPOSAL_ID = r"^[0-9a-f]{16}$"

ProposalAction = Literal["restart", "rollback", "scale"]

PROPOSALS_OF: dict[str, frozenset[str]] = {
    "host": frozenset(),
    "container": frozenset({"restart", "rollback"}),
    "pod": frozenset({"scale"}),
    "gateway": frozenset(),
}
"""Which actions a rule of each target kind may propose (rollback: containers only)."""


class Proposal(Message):
    """What a rule proposes when it raises: `restart` the container or `rollback` the
    last deploy of its service (container rules), `scale` the pod's Deployment or
    StatefulSet to `replicas` (pod rules)."""

    action: ProposalAction
    replicas: int | None = Field(default=None, ge=0, le=10_000, description="For scale.")

    @model_validator(mode="after")
    def _replicas_for_scale(self) -> "Proposal":
        if (self.action == "scale") != (self.replicas is not None):
            raise ValueError("propose.replicas: scale needs it, and only scale takes it")
        return self


class ProposalDone(Message):
    """A proposal confirmed and carried out: by whom, when, and what it left."""

    by: str
    time: datetime
    detail: str = ""


class ProposedAction(Message):
    """The concrete action a raised alert proposes: a container of `host` (`container`
    its full id, `name` its name) to restart or whose service's last deploy to roll back,
    or a workload of `cluster` to scale."""

    id: str = Field(pattern=PROPOSAL_ID, description="One per raising of the alert.")
    action: ProposalAction
    host: HostName | None = omitted_when_none("The container's Docker host (restart, rollback).")
    container: str | None = omitted_when_none(
        "The container's id as the collector gives it (restart, rollback)."
    )
    name: str = Field(description="The container's name, or the workload's.")
    cluster: ClusterName | None = omitted_when_none("The workload's cluster (scale).")
    namespace: NamespaceName | None = omitted_when_none("The workload's namespace (scale).")
    kind: Literal["deployment", "statefulset"] | None = omitted_when_none(
        "The workload's kind (scale)."
    )
    replicas: int | None = omitted_when_none("The replicas to scale to.")
    done: ProposalDone | None = omitted_when_none(
        "Confirmed and carried out (it runs once): the transition that says so carries it."
    )

    def describe(self) -> str:
        if self.action == "restart":
            return f"restart container {self.name} on {self.host}"
        if self.action == "rollback":
            return f"roll back the last deploy of {self.name} on {self.host}"
        return (
            f"scale {self.kind} {self.namespace}/{self.name} in {self.cluster} "
            f"to {self.replicas} replicas"
        )
