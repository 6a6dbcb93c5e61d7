"""Whether the deploy a `deploy` channel names exists, so that an unknown id is
`NOT_FOUND` rather than a subscription that stays silent forever: the hub's watcher of
that channel (as `leases` is of `docker.logs`), asking the deployer.

When the deployer cannot be asked the subscription goes ahead: the journal stream
itself says nothing false.
"""

from vigil import ctl
from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.errors import BusUnavailable
from vigil.messages import ErrorCode, GetDeploy
from vigil.operations import Deploy
from vigil_gateway.errors import ChannelRefused

CHANNEL = "deploy"
_ASK_TIMEOUT_S = 3.0


class DeployExistence:
    """The `deploy` channel's `FeedWatcher`: admits only deploys the deployer knows."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def admit(self, channel: ChannelRef) -> ChannelRef:
        deploy_id = dict(channel.params)["id"]
        try:
            await ctl.call(self._bus, Deploy.GET, GetDeploy(deploy_id=deploy_id), _ASK_TIMEOUT_S)
        except ctl.Refused as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                raise ChannelRefused(ErrorCode.NOT_FOUND, exc.message) from None
        except (BusUnavailable, RuntimeError):
            pass
        return channel

    def started(self, channel: ChannelRef) -> None:
        """Nothing to hold while a deploy is watched."""

    def stopped(self, channel: ChannelRef) -> None:
        """Nothing to release."""

    def polled(self, channel: ChannelRef) -> None:
        """Nothing to ask for: a journal is there without demand."""
