"""What a principal may do: role checks for routes, role and cluster checks for channels,
and which messages of a feed that spans clusters a subscriber may get."""

from collections.abc import Callable

from vigil.access import ALL_CLUSTERS, Principal, Role
from vigil.channels import ChannelRef
from vigil.model import Message
from vigil_gateway.errors import Forbidden

SeesCluster = Callable[[str], bool]
"""Whether a subscriber may see a cluster's data: asked by feeds that span clusters
(a merged log view, the alerts) at each send, so a narrower grant after a reauth counts
at once. Asked for `ALL_CLUSTERS` (`"*"`), it says whether the grant covers them all."""


def cluster_of(message: Message) -> str | None:
    """The Kubernetes cluster a message concerns (a pod's alert, status or lines), or
    None for one that concerns no cluster (a host's alert): only subscribers whose grant
    covers that cluster get it."""
    cluster = getattr(message, "cluster", None)
    return cluster if isinstance(cluster, str) else None


def sees_message(sees_cluster: SeesCluster, message: Message) -> bool:
    cluster = cluster_of(message)
    return cluster is None or sees_cluster(cluster)


def sees_every_cluster(sees_cluster: SeesCluster) -> bool:
    return sees_cluster(ALL_CLUSTERS)


def check_role(principal: Principal, needed: Role, action: str) -> None:
    if not principal.has_role(needed):
        raise Forbidden(f"{action} needs the {needed} role; {principal.name} is {principal.role}")


def check_channel(principal: Principal, channel: ChannelRef) -> None:
    """A channel's role, and for a cluster's channels the principal's cluster grant."""
    check_role(principal, channel.spec.role, f"subscribing to {channel.key}")
    cluster = dict(channel.params).get("cluster")
    if cluster is not None and not principal.may_see_cluster(cluster):
        raise Forbidden(f"{principal.name} has no grant for cluster {cluster!r}")
