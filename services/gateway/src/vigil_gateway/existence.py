"""Whether the deploy a `deploy` channel names exists, so that an unknown id is
`NOT_FOUND` rather than a subscription that stays silent forever: the hub's watcher of
that channel (as `leases` is of `docker.logs`).

A deploy exists once its journal does: the deployer journals its first step before it
answers the create, so the journal's newest event is looked up in JetStream, with no
service to ask (and no user's token to carry). When JetStream cannot answer the
subscription goes ahead: the journal stream itself says nothing false.
"""

import nats.errors
from nats.js.errors import NotFoundError

from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.messages import ErrorCode
from vigil.streams import DEPLOY_EVENTS
from vigil_gateway.errors import ChannelRefused

CHANNEL = "deploy"


class DeployExistence:
    """The `deploy` channel's `FeedWatcher`: admits only deploys that have a journal."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def admit(self, channel: ChannelRef) -> ChannelRef:
        deploy_id = dict(channel.params)["id"]
        subjects = self._bus.subjects
        try:
            await self._bus.js.get_last_msg(
                subjects.stream_name(DEPLOY_EVENTS.base_name), subjects.deploy_events(deploy_id)
            )
        except NotFoundError:
            raise ChannelRefused(ErrorCode.NOT_FOUND, f"no deploy {deploy_id!r}") from None
        except (nats.errors.Error, TimeoutError, RuntimeError):
            pass
        return channel

    def started(self, channel: ChannelRef) -> None:
        """Nothing to hold while a deploy is watched."""

    def stopped(self, channel: ChannelRef) -> None:
        """Nothing to release."""

    def polled(self, channel: ChannelRef) -> None:
        """Nothing to ask for: a journal is there without demand."""
