"""Whether the deploy a `deploy` channel names exists and may be watched by who asks:
the hub's watcher of that channel (as `leases` is of `docker.logs`).

A deploy exists once its journal does: the deployer journals its first step before it
answers the create, and every event names the deploy's Kubernetes cluster (none for a
Docker deploy). So the journal's newest event, looked up in JetStream, tells both, with
no service to ask and no user's token to carry.

An unknown id is `NOT_FOUND` rather than a subscription that stays silent forever. A
Kubernetes deploy's journal is its cluster's: a subscriber (or poller) whose grant does
not cover that cluster is refused `FORBIDDEN`, as for the cluster's own channels (the
message does not name the cluster). When JetStream cannot answer, a subscriber granted
every cluster goes ahead (the journal stream itself says nothing false); any other is
refused `UNAVAILABLE`, since its grant cannot be checked.
"""

import nats.errors
from nats.js.errors import NotFoundError
from pydantic import ValidationError

from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.messages import DeployEvent, ErrorCode
from vigil.streams import DEPLOY_EVENTS
from vigil_gateway.access.permissions import SeesCluster, sees_every_cluster
from vigil_gateway.errors import ChannelRefused

CHANNEL = "deploy"


class DeployExistence:
    """The `deploy` channel's `FeedWatcher`: admits only deploys that have a journal, of
    a cluster the subscriber's grant covers."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def admit(self, channel: ChannelRef, sees_cluster: SeesCluster) -> ChannelRef:
        deploy_id = dict(channel.params)["id"]
        subjects = self._bus.subjects
        try:
            newest = await self._bus.js.get_last_msg(
                DEPLOY_EVENTS.stream(subjects), subjects.deploy_events(deploy_id)
            )
            event = DeployEvent.model_validate_json(newest.data or b"")
        except NotFoundError:
            raise ChannelRefused(ErrorCode.NOT_FOUND, f"no deploy {deploy_id!r}") from None
        except (nats.errors.Error, TimeoutError, RuntimeError, ValidationError) as exc:
            return _unchecked(channel, sees_cluster, str(exc) or type(exc).__name__)
        if event.cluster is not None and not sees_cluster(event.cluster):
            raise ChannelRefused(
                ErrorCode.FORBIDDEN, f"no grant for the cluster deploy {deploy_id} changes"
            )
        return channel

    def started(self, channel: ChannelRef) -> None:
        """Nothing to hold while a deploy is watched."""

    def stopped(self, channel: ChannelRef) -> None:
        """Nothing to release."""

    def polled(self, channel: ChannelRef) -> None:
        """Nothing to ask for: a journal is there without demand."""


def _unchecked(channel: ChannelRef, sees_cluster: SeesCluster, why: str) -> ChannelRef:
    if sees_every_cluster(sees_cluster):
        return channel
    raise ChannelRefused(
        ErrorCode.UNAVAILABLE, f"the deploy's cluster cannot be checked now ({why}); try again"
    )
