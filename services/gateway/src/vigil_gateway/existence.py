"""Whether what a channel names exists, so that an unknown deploy id is `NOT_FOUND`
rather than a subscription that stays silent forever.

Channels of things that always may appear (a host's metrics, a container's status)
are not checked; a deploy is asked of the deployer. When the deployer cannot be asked
the subscription goes ahead: the journal stream itself says nothing false.
"""

from vigil import ctl
from vigil.bus import Bus
from vigil.channels import ChannelRef
from vigil.errors import BusUnavailable
from vigil.messages import ErrorCode, GetDeploy
from vigil.operations import Deploy

_ASK_TIMEOUT_S = 3.0


async def find_missing(bus: Bus, channel: ChannelRef) -> str | None:
    """Why `channel` names nothing (for `NOT_FOUND`), or None."""
    if channel.spec.name != "deploy":
        return None
    deploy_id = dict(channel.params)["id"]
    try:
        await ctl.call(bus, Deploy.GET, GetDeploy(deploy_id=deploy_id), _ASK_TIMEOUT_S)
    except ctl.Refused as exc:
        return exc.message if exc.code is ErrorCode.NOT_FOUND else None
    except (BusUnavailable, RuntimeError):
        return None
    return None
