"""Roles and cluster grants decide who may subscribe to what.

No Kubernetes channel exists yet (it comes with the Kubernetes issue), so these
build one the way the contract will: a channel with a `cluster` parameter.
"""

import pytest

from vigil.access import Principal, Role
from vigil.channels import ChannelKind, ChannelRef, ChannelSpec, Source, resolve_channel
from vigil.messages import HostMetricsSampled
from vigil.names import NameKind
from vigil_gateway.errors import Forbidden
from vigil_gateway.permissions import check_channel, check_role

POD_METRICS = ChannelSpec(
    name="k8s.metrics",
    description="A cluster's pod metrics.",
    params={"cluster": NameKind.CLUSTER},
    sources=lambda s, p: [
        Source(s.k8s_metrics(p["cluster"]), ChannelKind.STATE, HostMetricsSampled)
    ],
    kind=ChannelKind.STATE,
)
DEPLOY_ONLY = ChannelSpec(
    name="deploys.admin",
    description="A channel for operators and up.",
    params={},
    sources=lambda s, p: [],
    kind=ChannelKind.JOURNAL,
    role=Role.OPERATOR,
)


def principal(role: Role, clusters: list[str]) -> Principal:
    return Principal(kind="user", id="u1", name="uma", roles=[role], clusters=clusters)


def on(cluster: str) -> ChannelRef:
    return ChannelRef(POD_METRICS, (("cluster", cluster),))


def test_a_cluster_grant_admits_its_clusters_only() -> None:
    check_channel(principal(Role.VIEWER, ["prod", "stage"]), on("prod"))
    with pytest.raises(Forbidden, match="no grant for cluster 'dev'"):
        check_channel(principal(Role.VIEWER, ["prod", "stage"]), on("dev"))
    with pytest.raises(Forbidden):
        check_channel(principal(Role.ADMIN, []), on("prod"))  # admin is a role, not a grant


def test_a_grant_of_all_clusters_admits_any() -> None:
    check_channel(principal(Role.VIEWER, ["*"]), on("anything"))


def test_a_channel_may_need_a_higher_role() -> None:
    deploys = ChannelRef(DEPLOY_ONLY, ())
    check_channel(principal(Role.OPERATOR, []), deploys)
    check_channel(principal(Role.ADMIN, []), deploys)
    with pytest.raises(Forbidden, match="needs the operator role; uma is viewer"):
        check_channel(principal(Role.VIEWER, ["*"]), deploys)


def test_roles_are_ordered() -> None:
    check_role(principal(Role.ADMIN, []), Role.OPERATOR, "deploying")
    with pytest.raises(Forbidden, match="deploying needs the operator role"):
        check_role(principal(Role.VIEWER, []), Role.OPERATOR, "deploying")


def test_host_channels_need_no_grant() -> None:
    check_channel(principal(Role.VIEWER, []), resolve_channel("host.metrics"))
