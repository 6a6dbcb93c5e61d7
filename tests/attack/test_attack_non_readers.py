"""HTTP clients that stop reading their answer are cut off (issue #18's non-readers, on
the HTTP side): a big poll page or an SSE stream nobody reads fills the connection's
capped buffer, and after `send_timeout_s` the connection is aborted, so stuck clients
hold neither memory nor connections; and a user has only `max_polls_per_user` polls
in progress (answers not yet taken) at once. Raw sockets with a tiny receive window play
them, against a gateway process, beside a healthy client (`attack_support`)."""

import asyncio
import socket
import time
from datetime import UTC, datetime

import psutil
import pytest

from tests.attack_support import GatewayProcess, gateway_process, healthy_client
from tests.docker_support import announce_container
from tests.support import NatsServer, bus_client, raise_alert, wait_for
from vigil.messages import LogBatch, LogLine
from vigil.streams import ALERTS
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

HOST, CONTAINER = "stuckhost", "0123456789ab"


def stuck_request(gateway: GatewayProcess, path: str) -> socket.socket:
    """A request from a socket that will read nothing of the answer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gateway.port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return sock


def answer_begins(sock: socket.socket, status_line: bytes) -> bool:
    """Whether the answer begins with `status_line` (reading just that much)."""
    sock.settimeout(5)
    return sock.recv(len(status_line)) == status_line


def held_by_gateway(gateway: GatewayProcess, socks: list[socket.socket]) -> int:
    """How many of these clients' connections the gateway process still holds (one it
    cut off may linger in the kernel, sending what it had left, but not in the process)."""
    ours = {sock.getsockname()[1] for sock in socks}
    held = psutil.Process(gateway.pid).net_connections(kind="tcp")
    return sum(1 for c in held if c.raddr and c.raddr.port in ours and c.laddr.port == gateway.port)


@pytest.mark.timeout(120)
async def test_stuck_pollers_and_sse_readers_are_cut_off_after_the_send_timeout(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(update={"send_timeout_s": 1.0})
    async with (
        bus_client(nats_server, prefix) as bus,
        gateway_process(settings) as gateway,
    ):
        await bus.js.add_stream(ALERTS.config(bus.subjects))
        await announce_container(bus, HOST, CONTAINER, "chatty")
        subject = bus.subjects.docker_logs(HOST, CONTAINER)
        for n in range(12):  # 12 batches of ~480 KB: a full page of 4 MiB
            line = LogLine(time=datetime.now(UTC), stream="stdout", text=f"{n} " + "x" * 16_000)
            await bus.publish(subject, LogBatch(host=HOST, container=CONTAINER, lines=[line] * 30))
        await asyncio.sleep(0.5)  # the gateway's directory hears of the container
        poll = f"/api/poll/channels/docker.logs?container={CONTAINER}&since=0&token={admin_token}"
        stream = f"/sse/channels/alerts?token={admin_token}"
        async with healthy_client(gateway, admin_token) as health:
            began = time.monotonic()
            pollers = [stuck_request(gateway, poll) for _ in range(20)]
            await asyncio.sleep(1)  # (while their answers are being sent, slots are held)
            refused = [
                sock
                for sock in pollers
                if await asyncio.to_thread(answer_begins, sock, b"HTTP/1.1 429")
            ]
            for sock in refused:
                sock.close()
            assert len(refused) == 20 - settings.max_polls_per_user
            pollers = [sock for sock in pollers if sock not in refused]
            readers = [stuck_request(gateway, stream) for _ in range(20)]
            for sock in readers:  # each stream is live (its head came) before the alerts
                assert await asyncio.to_thread(answer_begins, sock, b"HTTP/1.1 200")
            for n in range(300):  # ~600 KB of alerts for each stuck SSE reader
                await raise_alert(bus, n, padding="y" * 2000)
            stuck = pollers + readers
            try:  # the buffers fill, then the send timeout runs out
                await wait_for(
                    lambda: held_by_gateway(gateway, stuck) == 0, "stuck clients cut off", 15
                )
                took = time.monotonic() - began
            finally:
                for sock in stuck:
                    sock.close()
        health.assert_unharmed()
    assert took < 10, f"cut off after {took:.1f} s"
