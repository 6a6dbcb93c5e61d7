"""Rolling back the last deploy of a Docker service (`ctl.deploy.rollback.{host}`),
answered by the deployer replicas of that host.

Rolling back is a deploy like any other (queued, journaled, health-checked, audited):
its spec is the one of the succeeded deploy before the last succeeded deploy of the
service on the host (the deployer keeps every spec, its secrets too, in `DEPLOYS`), and
its record's `rollback_of` names the deploy it undoes. It is always asked of the user
first, with the one-time question of destructive actions; a no (or no answer in time)
does nothing and is answered `declined`. Kubernetes deploys are not rolled back this
way: a deploy there patches the Deployment, and patching the earlier spec back would
leave what the later one added.
"""

from pydantic import Field

from vigil.messages.actions import ActionOutcome, proposed_by
from vigil.messages.deploy.records import DeployRecord
from vigil.model import Message
from vigil.names import ContainerName, DeployId, HostName


class RollBackDeploy(Message):
    """Roll back the last succeeded deploy of the service `name` (the deploy spec's
    name, its container's name) on the Docker host `host`. With `container` (an alert's
    container, by id), refused unless that container is the one the last deploy
    started: an alert about an older container does not undo a newer deploy."""

    host: HostName
    name: ContainerName
    container: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{12,64}$",
        description="Its id, or the 12 characters `docker ps` shows (as alerts name it).",
    )
    alert: str | None = proposed_by()


class DeployRolledBack(Message):
    """What a `RollBackDeploy` did: `done` (`deploy` is the rollback deploy, queued: its
    journal says how it goes), or `declined` (asked first, not confirmed: nothing done)."""

    host: HostName
    name: str
    outcome: ActionOutcome
    rollback_of: DeployId = Field(description="The deploy rolled back (or that would have been).")
    deploy: DeployRecord | None = Field(default=None, description="The rollback deploy (done).")
    detail: str = ""
