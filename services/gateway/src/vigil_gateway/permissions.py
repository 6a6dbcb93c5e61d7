"""What a principal may do: role checks for routes, role and cluster checks for channels."""

from collections.abc import Callable

from vigil.access import Principal, Role
from vigil.channels import ChannelRef
from vigil_gateway.errors import Forbidden

SeesCluster = Callable[[str], bool]
"""Whether a subscriber may see a cluster's data: asked by feeds that span clusters
(a merged log view) at each send, so a narrower grant after a reauth counts at once."""


def check_role(principal: Principal, needed: Role, action: str) -> None:
    if not principal.has_role(needed):
        raise Forbidden(f"{action} needs the {needed} role; {principal.name} is {principal.role}")


def check_channel(principal: Principal, channel: ChannelRef) -> None:
    """A channel's role, and for a cluster's channels the principal's cluster grant."""
    check_role(principal, channel.spec.role, f"subscribing to {channel.key}")
    cluster = dict(channel.params).get("cluster")
    if cluster is not None and not principal.may_see_cluster(cluster):
        raise Forbidden(f"{principal.name} has no grant for cluster {cluster!r}")
