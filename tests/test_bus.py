"""The bus helper prepares JetStream idempotently, and waits for a JetStream that
cannot act yet."""

import asyncio
from pathlib import Path

import pytest

from tests.nats_cluster import NatsCluster
from tests.support import NatsServer
from vigil.bus import Bus
from vigil.errors import BusUnavailable
from vigil.settings import VigilSettings
from vigil.streams import ALERTS, LATEST, SESSIONS, USERS


async def test_streams_are_created_once_and_brought_back_to_their_config(
    nats_server: NatsServer, prefix: str
) -> None:
    settings = VigilSettings(nats_url=nats_server.url, subject_prefix=prefix)
    bus = Bus(settings, name="test", streams=[LATEST, ALERTS])
    await bus.connect()
    try:
        await bus.ensure_streams()  # a second time changes nothing
        latest = await bus.js.stream_info(bus.subjects.stream_name("LATEST"))
        assert latest.config.max_msgs_per_subject == 1
        assert latest.config.subjects == [f"{prefix}.metrics.>", f"{prefix}.status.>"]

        config = LATEST.config(bus.subjects)
        config.max_msgs_per_subject = 5  # someone changed it by hand
        await bus.js.update_stream(config)
        await bus.ensure_streams()
        latest = await bus.js.stream_info(bus.subjects.stream_name("LATEST"))
        assert latest.config.max_msgs_per_subject == 1

        alerts = await bus.js.stream_info(bus.subjects.stream_name("ALERTS"))
        assert alerts.config.max_age == 7 * 24 * 3600
    finally:
        await bus.close()


async def test_buckets_are_created_idempotently(nats_server: NatsServer, prefix: str) -> None:
    settings = VigilSettings(nats_url=nats_server.url, subject_prefix=prefix)
    bus = Bus(settings, name="test", buckets=[USERS, SESSIONS])
    await bus.connect()
    try:
        users = await bus.kv(USERS)
        await users.put("alice", b"1")
        await bus.ensure_streams()  # again: the bucket and its data stay
        assert (await (await bus.kv(USERS)).get("alice")).value == b"1"
        status = await (await bus.kv(SESSIONS)).status()
        assert status.bucket == f"{prefix.upper()}_AUTH_SESSIONS"
    finally:
        await bus.close()


async def test_a_service_started_before_its_cluster_has_a_quorum_waits_for_jetstream(
    tmp_path: Path, prefix: str
) -> None:
    cluster = NatsCluster(tmp_path)
    cluster.launch(cluster.nodes[0])  # alone: no meta leader, so no stream can be made
    try:
        settings = VigilSettings(nats_url=cluster.url, subject_prefix=prefix, stream_replicas=3)
        bus = Bus(settings, name="test", streams=[ALERTS])
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
        settings = VigilSettings(nats_url=cluster.nodes[0].url, subject_prefix=prefix)
        bus = Bus(settings, name="test", streams=[ALERTS])
        with pytest.raises(BusUnavailable, match="prepare JetStream streams"):
            await bus.connect(keep_trying=False)
        assert not bus.is_connected
    finally:
        cluster.stop()
