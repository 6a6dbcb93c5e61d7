"""A single NATS node switched to a 3-node cluster keeps what it held.

The first node runs alone (as compose's single-node stack runs `nats`), with users and a
deploy journal in it; then it joins two new nodes with its name and store kept, and the
provisioner, told the old node's tag, adopts every stream and bucket there and brings
each to three replicas in place (`vigil.provisioning`). Without the tag the cluster would
make empty streams beside the old node's copies (which nats-server then deletes).
"""

import asyncio
import time
from pathlib import Path

import nats.errors
from nats.js.api import DeliverPolicy
from nats.js.errors import ServiceUnavailableError

from tests.nats_cluster import NatsCluster
from tests.support import bus_client, wait_for
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.messages import DeployEvent, DeployState, DeployStep, StepState, utc_now
from vigil.provision import provision
from vigil.settings import VigilSettings
from vigil.streams import ALERTS, BUCKETS, DEPLOY_EVENTS, STREAMS, USERS
from vigil.subjects import Subjects

SEED_TAG = "vigil:seed"


async def provision_as_setup(cluster: NatsCluster, prefix: str, **settings: object) -> None:
    """What compose's `setup` job runs, with the provisioner's creds."""
    creds = cluster.trust.service_creds(ServiceRole.PROVISIONER, Subjects(prefix))
    values = VigilSettings(nats_url=cluster.url, subject_prefix=prefix, **settings)
    await provision(values, credentials=creds)


async def caught_up(bus: Bus, names: list[str], within_s: float = 30) -> None:
    """Until both new replicas of each stream are current with its leader."""
    deadline = time.monotonic() + within_s
    for name in names:
        while True:
            cluster = (await bus.js.stream_info(name)).cluster
            replicas = (cluster.replicas or []) if cluster else []
            if len(replicas) == 2 and all(peer.current for peer in replicas):
                break
            assert time.monotonic() < deadline, f"{name}'s replicas not current: {cluster}"
            await asyncio.sleep(0.2)


async def led_elsewhere(bus: Bus, names: list[str], within_s: float = 30) -> None:
    """Until each stream has a leader again (the killed node led them): an election."""
    deadline = time.monotonic() + within_s
    for name in names:
        while True:
            try:
                info = await bus.js.stream_info(name)
                if info.cluster is not None and info.cluster.leader not in (None, "n1"):
                    break
            except (nats.errors.TimeoutError, ServiceUnavailableError):
                pass  # no meta leader yet to answer
            assert time.monotonic() < deadline, f"{name} has no leader {within_s} s after"
            await asyncio.sleep(0.2)


async def test_a_single_node_switched_to_a_cluster_keeps_every_stream_replicated_on_all_three(
    tmp_path: Path, prefix: str
) -> None:
    cluster = NatsCluster(tmp_path)
    first = cluster.nodes[0]
    first.tags = [SEED_TAG]
    cluster.launch(first, clustered=False)
    try:
        await provision_as_setup(cluster, prefix)
        async with bus_client(cluster, prefix) as bus:
            await (await bus.kv(USERS)).put("alice", b"alice's record")
            journal = bus.subjects.deploy_events("d1")
            for step in (DeployStep.PULL, DeployStep.START):
                event = DeployEvent(
                    deploy_id="d1",
                    step=step,
                    status=StepState.FINISHED,
                    state=DeployState.RUNNING,
                    message=f"{step} done",
                    time=utc_now(),
                )
                await bus.publish(journal, event)
        first.stop()

        cluster.start()  # the old node, clustered now, beside two new ones
        await provision_as_setup(cluster, prefix, stream_replicas=3, stream_seed_tag=SEED_TAG)
        async with bus_client(cluster, prefix, stream_replicas=3) as bus:
            names = [bus.subjects.stream_name(s.base_name) for s in STREAMS] + [
                f"KV_{bus.subjects.stream_name(b.base_name)}" for b in BUCKETS
            ]
            replicas = {
                name: (await bus.js.stream_info(name)).config.num_replicas for name in names
            }
            assert replicas == dict.fromkeys(names, 3)
            events = bus.subjects.stream_name(DEPLOY_EVENTS.base_name)
            assert (await bus.js.stream_info(events)).state.messages == 2
            await caught_up(bus, names)

        first.kill()  # the old node's copy gone: the two new ones hold everything
        async with bus_client(cluster, prefix, stream_replicas=3) as bus:
            await led_elsewhere(bus, [f"KV_{bus.subjects.stream_name(USERS.base_name)}", events])
            user = await (await bus.kv(USERS)).get("alice")
            reader = await bus.js.subscribe(
                journal, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
            )
            steps = [
                DeployEvent.model_validate_json((await reader.next_msg(timeout=5)).data).step
                for _ in range(2)
            ]
            await reader.unsubscribe()
    finally:
        cluster.stop()
    assert user.value == b"alice's record"
    assert steps == [DeployStep.PULL, DeployStep.START]


async def test_streams_declared_while_the_seed_node_is_down_wait_for_it_to_come_back(
    tmp_path: Path, prefix: str
) -> None:
    cluster = NatsCluster(tmp_path)
    seed = cluster.nodes[0]
    seed.tags = [SEED_TAG]
    cluster.start()
    seed.stop()  # the two others keep a quorum, but no node the streams may start on
    others = cluster.nodes[1:]
    try:
        await wait_for(lambda: all(node.healthy() for node in others), "a meta leader", 30)
        creds = cluster.trust.service_creds(ServiceRole.PROVISIONER, Subjects(prefix))
        settings = VigilSettings(
            nats_url=cluster.url,
            nats_creds=cluster.creds(creds),
            subject_prefix=prefix,
            stream_replicas=3,
            stream_seed_tag=SEED_TAG,
        )
        bus = Bus(
            settings, name="test", role=ServiceRole.PROVISIONER, streams=[ALERTS], provisions=True
        )
        connecting = asyncio.create_task(bus.connect())
        try:
            done, _ = await asyncio.wait([connecting], timeout=3)
            assert not done, "the provisioner went ahead (or gave up) without the seed node"
            await asyncio.to_thread(cluster.start)
            await asyncio.wait_for(connecting, 60)
            alerts = await bus.js.stream_info(bus.subjects.stream_name(ALERTS.base_name))
        finally:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            await bus.close()
    finally:
        cluster.stop()
    assert alerts.config.num_replicas == 3
