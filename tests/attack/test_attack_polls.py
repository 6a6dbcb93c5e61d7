"""A poll cannot make the gateway hold a stream's whole window (issue #18's bounded
work per client): a page of big log batches stops at `max_poll_bytes`, its cursor
says where the next begins, and paging on reads every batch once. Against a gateway
process, beside a healthy client (`attack_support`)."""

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from tests.attack_support import gateway_process, healthy_client
from tests.docker_support import announce_container
from tests.support import NatsServer, bus_client
from vigil.messages import LogBatch, LogLine
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

HOST, CONTAINER = "pollhost", "fedcba654321"
BATCHES, LINES, LINE_BYTES = 60, 30, 16_000  # 60 batches of ~480 KB: ~29 MB


@pytest.mark.timeout(120)
async def test_a_page_of_big_log_batches_stops_at_max_poll_bytes(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    limit_bytes = 2 * 1024 * 1024
    settings = gateway_settings.model_copy(update={"max_poll_bytes": limit_bytes})
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with (
        bus_client(nats_server, prefix) as bus,
        gateway_process(settings) as gateway,
        httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=30, headers=auth) as http,
    ):
        await announce_container(bus, HOST, CONTAINER, "chatty")
        subject = bus.subjects.docker_logs(HOST, CONTAINER)
        for n in range(BATCHES):
            text = f"{n:04d} " + "x" * LINE_BYTES
            lines = [LogLine(time=datetime.now(UTC), stream="stdout", text=text)] * LINES
            await bus.publish(subject, LogBatch(host=HOST, container=CONTAINER, lines=lines))
        params = {"container": CONTAINER, "since": "0", "limit": "1000"}
        seen: list[int] = []
        async with healthy_client(gateway, admin_token) as health:
            deadline = asyncio.get_running_loop().time() + 60
            while len(seen) < BATCHES:
                answer = await http.get("/api/poll/channels/docker.logs", params=params)
                if answer.status_code == 404:  # the directory has not heard of it yet
                    assert asyncio.get_running_loop().time() < deadline
                    await asyncio.sleep(0.1)
                    continue
                assert answer.status_code == 200, answer.text
                page = answer.json()
                assert 1 <= len(page["messages"]) <= 1 + limit_bytes // (LINES * LINE_BYTES)
                seen += [int(m["data"]["lines"][0]["text"][:4]) for m in page["messages"]]
                params["since"] = str(page["next_cursor"])
        health.assert_unharmed()
    assert seen == list(range(BATCHES)), "every batch once, in order"
