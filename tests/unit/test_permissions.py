"""Roles and cluster grants decide who may subscribe to what: channels built for the
test (`POD_METRICS`, `DEPLOY_ONLY`), then every channel of the contract."""

import pytest

from vigil.access import Principal, Role
from vigil.channels import (
    CHANNELS,
    ChannelKind,
    ChannelRef,
    ChannelSpec,
    Source,
    resolve_channel,
)
from vigil.messages import HostMetricsSampled
from vigil.names import NameKind
from vigil.subjects import Subjects
from vigil_gateway.access.permissions import check_channel, check_role
from vigil_gateway.errors import Forbidden

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


# -- every channel of the contract, against a cluster grant ------------------------------

CLUSTER_SCOPED = {name for name, spec in CHANNELS.items() if "cluster" in spec.required}
"""A cluster's channels: the grant is checked at subscribe (`check_channel`)."""
WITH_A_CLUSTER = {name for name, spec in CHANNELS.items() if "cluster" in spec.params}
FILTERED_PER_MESSAGE = {"alerts", "logs.merged", "deploy"}
"""Channels that span clusters: each message naming a cluster is checked per subscriber
(alerts, merged views' pods) or the journal's cluster at admission (deploy)."""
NO_CLUSTER_DATA = {
    "host.metrics",
    "connections",
    "audit",  # admins only, who see every user's grant anyway; no cluster's data
    "system",
    "docker.stats",
    "docker.status",
    "docker.logs",
    "host.journal",  # a host's, as its containers' logs: no cluster's
    "host.file",  # a host's log file, likewise
    "docker_stats",
}


def sample_params(spec: ChannelSpec, cluster: str) -> dict[str, str]:
    values = {NameKind.CLUSTER: cluster, NameKind.HOST: "h1", NameKind.DEPLOY_ID: "d" * 16}
    return {
        name: values.get(kind, "x1")
        for name, kind in spec.params.items()
        if name in spec.required or kind is NameKind.CLUSTER
    }


def test_every_channel_says_how_a_cluster_grant_applies_to_it() -> None:
    """A new channel must be put in one of the three sets: none is forgotten."""
    assert CLUSTER_SCOPED.isdisjoint(FILTERED_PER_MESSAGE | NO_CLUSTER_DATA)
    assert set(CHANNELS) == CLUSTER_SCOPED | FILTERED_PER_MESSAGE | NO_CLUSTER_DATA


def test_channels_said_to_carry_no_cluster_data_read_no_kubernetes_subject() -> None:
    subjects = Subjects("vigil")
    for name in NO_CLUSTER_DATA:
        spec = CHANNELS[name]
        channel = resolve_channel(name, sample_params(spec, "c1"))
        read = [source.subject for source in channel.sources(subjects)]
        assert not [subject for subject in read if ".k8s." in subject], (name, read)


@pytest.mark.parametrize("name", sorted(WITH_A_CLUSTER))
def test_a_grant_of_one_cluster_is_refused_every_channel_of_another(name: str) -> None:
    spec = CHANNELS[name]
    other = resolve_channel(name, sample_params(spec, "beta"))
    mine = resolve_channel(name, sample_params(spec, "alpha"))
    alice = Principal(kind="user", id="u1", name="alice", roles=[Role.ADMIN], clusters=["alpha"])
    with pytest.raises(Forbidden, match="no grant for cluster 'beta'"):
        check_channel(alice, other)
    check_channel(alice, mine)
    everyone = alice.model_copy(update={"clusters": ["*"]})
    check_channel(everyone, other)
