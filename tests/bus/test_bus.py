"""The bus helper: the provisioner prepares JetStream idempotently and waits for a
JetStream that cannot act yet; a service waits for the streams it needs, and makes none."""

import asyncio
import gc
from pathlib import Path

import pytest
from nats.js.api import KeyValueConfig, StorageType

from tests.nats_cluster import NatsCluster
from tests.support import NatsServer, TrustedBus, bus_client
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.errors import BusUnavailable
from vigil.lifecycle import stop_task
from vigil.settings import VigilSettings
from vigil.streams import ALERTS, LATEST, REVOKED, SESSIONS, USERS
from vigil.subjects import Subjects


def provisioner(nats: TrustedBus, prefix: str, **settings: object) -> VigilSettings:
    """Settings with the provisioner's creds: the one role that may make streams."""
    creds = nats.trust.service_creds(ServiceRole.PROVISIONER, Subjects(prefix))
    return VigilSettings(
        nats_url=nats.url, nats_creds=nats.creds(creds), subject_prefix=prefix, **settings
    )


async def test_streams_are_created_once_and_brought_back_to_their_config(
    nats_server: NatsServer, prefix: str
) -> None:
    settings = provisioner(nats_server, prefix)
    bus = Bus(
        settings,
        name="test",
        role=ServiceRole.PROVISIONER,
        streams=[LATEST, ALERTS],
        provisions=True,
    )
    await bus.connect()
    try:
        await bus.ensure_streams()  # a second time changes nothing
        latest = await bus.js.stream_info(bus.subjects.stream_name("LATEST"))
        assert latest.config.max_msgs_per_subject == 1
        assert latest.config.subjects == [f"{prefix}.metrics.>", f"{prefix}.status.>"]

        config = LATEST.config(bus.subjects)
        config.max_msgs_per_subject = 5  # someone changed it by hand
        async with bus_client(nats_server, prefix) as hand:
            await hand.js.update_stream(config)
        await bus.ensure_streams()
        latest = await bus.js.stream_info(bus.subjects.stream_name("LATEST"))
        assert latest.config.max_msgs_per_subject == 1

        alerts = await bus.js.stream_info(bus.subjects.stream_name("ALERTS"))
        assert alerts.config.max_age == 7 * 24 * 3600
    finally:
        await bus.close()


async def test_buckets_are_created_idempotently(nats_server: NatsServer, prefix: str) -> None:
    settings = provisioner(nats_server, prefix)
    bus = Bus(
        settings,
        name="test",
        role=ServiceRole.PROVISIONER,
        buckets=[USERS, SESSIONS],
        provisions=True,
    )
    await bus.connect()
    try:
        async with bus_client(nats_server, prefix) as hand:
            await (await hand.kv(USERS)).put("alice", b"1")
            await bus.ensure_streams()  # again: the bucket and its data stay
            assert (await (await hand.kv(USERS)).get("alice")).value == b"1"
            status = await (await hand.kv(SESSIONS)).status()
        assert status.bucket == f"{prefix.upper()}_AUTH_SESSIONS"
    finally:
        await bus.close()


async def test_a_service_waits_for_its_streams_and_makes_none(
    nats_server: NatsServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = VigilSettings(**nats_server.service(ServiceRole.AUTH, prefix, provision=False))
    bus = Bus(settings, name="auth", role=ServiceRole.AUTH, streams=[REVOKED], buckets=[USERS])
    connecting = asyncio.create_task(bus.connect())
    try:
        done, _ = await asyncio.wait([connecting], timeout=1.5)
        assert not done, "connect() went ahead without its streams"
        assert "not provisioned yet" in caplog.text
        assert bus.permission_violations == 0  # it only looked: STREAM.INFO is allowed
        nats_server.provision(prefix)
        await asyncio.wait_for(connecting, 15)
        assert bus.is_connected
    finally:
        connecting.cancel()
        await asyncio.gather(connecting, return_exceptions=True)
        await bus.close()


async def test_a_service_started_before_its_cluster_has_a_quorum_waits_for_jetstream(
    tmp_path: Path, prefix: str
) -> None:
    cluster = NatsCluster(tmp_path)
    cluster.launch(cluster.nodes[0])  # alone: no meta leader, so no stream can be made
    try:
        settings = provisioner(cluster, prefix, stream_replicas=3)
        bus = Bus(
            settings, name="test", role=ServiceRole.PROVISIONER, streams=[ALERTS], provisions=True
        )
        connecting = asyncio.create_task(bus.connect())
        try:
            done, _ = await asyncio.wait([connecting], timeout=3)
            assert not done, "connect() gave up (or claimed success) without a quorum"
            await asyncio.to_thread(cluster.start)
            await asyncio.wait_for(connecting, 60)
            alerts = await bus.js.stream_info(bus.subjects.stream_name("ALERTS"))
            assert alerts.config.num_replicas == 3
        finally:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
            await bus.close()
    finally:
        cluster.stop()


async def test_a_one_shot_caller_is_told_jetstream_cannot_act_and_keeps_no_socket(
    tmp_path: Path, prefix: str
) -> None:
    cluster = NatsCluster(tmp_path)
    cluster.launch(cluster.nodes[0])
    try:
        settings = provisioner(cluster, prefix).model_copy(
            update={"nats_url": cluster.nodes[0].url}
        )
        bus = Bus(
            settings, name="test", role=ServiceRole.PROVISIONER, streams=[ALERTS], provisions=True
        )
        with pytest.raises(BusUnavailable, match="prepare JetStream streams"):
            await bus.connect(keep_trying=False)
        assert not bus.is_connected
    finally:
        cluster.stop()


async def test_a_bucket_is_made_as_nats_py_makes_it_so_older_buckets_are_left_as_they_are(
    nats_server: NatsServer, prefix: str
) -> None:
    # The provisioner makes a bucket's stream itself (nats-py's KV config cannot place a
    # new stream); one made by `create_key_value` before must not differ in anything.
    provisioned = SESSIONS.config(Subjects(prefix))
    nats_server.provision(prefix)
    async with bus_client(nats_server, prefix) as bus:
        ours = (await bus.js.stream_info(str(provisioned.name))).config
        theirs_name = f"{prefix.upper()}_OLDER"
        await bus.js.create_key_value(
            KeyValueConfig(
                bucket=theirs_name,
                description=SESSIONS.description,
                history=SESSIONS.history,
                ttl=SESSIONS.ttl.total_seconds() if SESSIONS.ttl else None,
                storage=StorageType.FILE,
            )
        )
        theirs = (await bus.js.stream_info(f"KV_{theirs_name}")).config
        await bus.js.delete_stream(f"KV_{theirs_name}")
    ours_fields, theirs_fields = ours.as_dict(), theirs.as_dict()
    differs = {
        key: (ours_fields.get(key), theirs_fields.get(key))
        for key in ours_fields.keys() | theirs_fields.keys()
        if key not in ("name", "subjects") and ours_fields.get(key) != theirs_fields.get(key)
    }
    assert not differs
    assert ours.subjects == [f"$KV.{prefix.upper()}_AUTH_SESSIONS.>"]


async def test_a_close_cancelled_again_and_again_still_drains_and_leaves_nothing_failing(
    nats_server: NatsServer, prefix: str
) -> None:
    """A service stopping cancels its task until it ends (`stop_task`), its bus's drain
    included: the drain finishes the message in hand, then the connection closes, and
    no task is left failing behind it (nats-py's cancelled flush once left a pong that
    raised in its reading task, and a gathered drain nobody read)."""
    failures: list[dict[str, object]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: failures.append(context))
    handled = asyncio.Event()

    async def slow_handler(_: object) -> None:
        await asyncio.sleep(1.0)
        handled.set()

    try:
        async with bus_client(nats_server, prefix) as bus:
            subject = f"{prefix}.slow"
            for _ in range(3):  # subscriptions that each flush while draining
                await bus.nc.subscribe(subject, cb=slow_handler)
            await bus.nc.publish(subject, b"work")
            await bus.nc.flush()
            await asyncio.sleep(0.1)  # in hand
            nc = bus.nc
            closing = asyncio.create_task(bus.close())
            await asyncio.sleep(0)
            await stop_task(closing, attempts=40)
            assert closing.cancelled()
            assert handled.is_set(), "the drain did not let the message in hand finish"
            assert nc.is_closed
        await asyncio.sleep(0.5)  # a pong or a gathered failure would be reported by now
        gc.collect()  # "exception never retrieved" is said when the future is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert not failures, failures
