"""Whether the deploy a `deploy` channel names exists and may be watched by who asks:
the hub's watcher of that channel (as `leases` is of `docker.logs`), asking the
deployer for the deploy's record.

An unknown id is `NOT_FOUND` rather than a subscription that stays silent forever. A
Kubernetes deploy's journal is its cluster's: a subscriber (or poller) whose grant
does not cover that cluster is refused `FORBIDDEN`, as for the cluster's own channels
(the message does not name the cluster). When the deployer cannot be asked, a
subscriber granted every cluster goes ahead (the journal stream itself says nothing
false); any other is refused `UNAVAILABLE`, since its grant cannot be checked.
"""

from vigil import ctl
from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.errors import BusUnavailable
from vigil.messages import DeployRecord, ErrorCode, GetDeploy
from vigil.operations import Deploy
from vigil_gateway.errors import ChannelRefused
from vigil_gateway.permissions import SeesCluster, sees_every_cluster

CHANNEL = "deploy"
_ASK_TIMEOUT_S = 3.0


class DeployExistence:
    """The `deploy` channel's `FeedWatcher`: admits only deploys the deployer knows, of
    a cluster the subscriber's grant covers."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        deploy_id = dict(channel.params)["id"]
        try:
            record = await ctl.call(
                self._bus, Deploy.GET, GetDeploy(deploy_id=deploy_id), _ASK_TIMEOUT_S
            )
        except ctl.Refused as exc:
            if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN):
                raise ChannelRefused(exc.code, exc.message) from None
            return _unchecked(channel, sees_cluster, exc.message)
        except (BusUnavailable, RuntimeError) as exc:
            return _unchecked(channel, sees_cluster, str(exc) or "the deployer is unavailable")
        _check_grant(record, sees_cluster)
        return channel

    def started(self, channel: ChannelRef) -> None:
        """Nothing to hold while a deploy is watched."""

    def stopped(self, channel: ChannelRef) -> None:
        """Nothing to release."""

    def polled(self, channel: ChannelRef) -> None:
        """Nothing to ask for: a journal is there without demand."""


def _check_grant(record: DeployRecord, sees_cluster: SeesCluster) -> None:
    cluster = record.cluster
    if cluster is not None and not sees_cluster(cluster):
        raise ChannelRefused(
            ErrorCode.FORBIDDEN, f"no grant for the cluster deploy {record.id} changes"
        )


def _unchecked(channel: ChannelRef, sees_cluster: SeesCluster, why: str) -> ChannelRef:
    if sees_every_cluster(sees_cluster):
        return channel
    raise ChannelRefused(
        ErrorCode.UNAVAILABLE, f"the deploy's cluster cannot be checked now ({why}); try again"
    )
