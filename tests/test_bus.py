"""The bus helper prepares JetStream idempotently."""

from tests.support import NatsServer
from vigil.bus import Bus
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
