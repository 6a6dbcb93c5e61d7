"""Request heads and WebSocket handshakes cannot hold the gateway (issue #18): a head
that dawdles is answered 408 and closed at its deadline, an oversized line or head is
answered 414 or 431 — really sent — and closed, a connection that says nothing is
closed, and past `max_pending_request_heads` the oldest half-sent head makes room.
Raw sockets play the attackers, against a gateway process, while a healthy client
(which opens a new connection for every probe) measures (`attack_support`)."""

import asyncio
import contextlib
import time

import pytest

from tests.attack_support import GatewayProcess, gateway_process, healthy_client
from tests.support import NatsServer
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

HANDSHAKE = (
    "GET /ws{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


async def opened(
    gateway: GatewayProcess, head: str = ""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    if head:
        writer.write(head.encode())
        await writer.drain()
    return reader, writer


async def answer_and_close(reader: asyncio.StreamReader, within_s: float) -> tuple[int, bytes]:
    """The status the gateway answers (0 for none) once it has closed the connection."""
    raw = b""
    async with asyncio.timeout(within_s):
        while chunk := await reader.read(65_536):
            raw += chunk
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else 0
    return status, raw


async def slowloris(gateway: GatewayProcess, every_s: float, lines: int) -> tuple[int, bytes]:
    """A handshake whose header lines come one every `every_s` until the gateway
    answers; what it answered."""
    reader, writer = await opened(gateway, HANDSHAKE.format(query=""))
    answer = asyncio.create_task(answer_and_close(reader, within_s=every_s * lines + 10))
    try:
        for n in range(lines):
            done, _ = await asyncio.wait([answer], timeout=every_s)
            if done:
                break
            writer.write(f"X-Slow-{n}: {'a' * 20}\r\n".encode())
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        return await answer
    finally:
        writer.close()


@pytest.mark.timeout(120)
async def test_three_hundred_half_sent_handshakes_are_answered_408_at_their_deadline(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(update={"request_head_timeout_s": 2.0})
    async with gateway_process(settings) as gateway:
        async with healthy_client(gateway, admin_token) as health:
            began = time.monotonic()
            answers = await asyncio.gather(
                *(slowloris(gateway, every_s=0.5, lines=40) for _ in range(300))
            )
            took = time.monotonic() - began
        health.assert_unharmed()
    statuses = [status for status, _ in answers]
    assert statuses == [408] * 300, sorted(set(statuses))
    assert b"did not come within 2 s" in answers[0][1]
    assert took < 8, f"the last was closed after {took:.1f} s, not at its 2 s deadline"


async def test_a_connection_that_says_nothing_is_closed_at_the_deadline(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(update={"request_head_timeout_s": 1.0})
    async with gateway_process(settings) as gateway:
        reader, writer = await opened(gateway)
        began = time.monotonic()
        status, _ = await answer_and_close(reader, within_s=5)
        writer.close()
    assert status == 0  # nothing to answer: it asked nothing
    assert 0.8 < time.monotonic() - began < 3


@pytest.mark.parametrize(
    ("head", "status", "why"),
    [
        (HANDSHAKE.format(query="?q=" + "a" * 9000) + "\r\n", 414, b"request line is over 8192"),
        ("GET /healthz?q=" + "a" * 9000 + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, b"over 8192"),
        (HANDSHAKE.format(query="") + "X-Big: " + "a" * 40_000 + "\r\n\r\n", 431, b"head is over"),
        ("GET /healthz HTTP/1.1\r\n" + "X-Big: a\r\n" * 200 + "\r\n", 431, b"over 128 headers"),
        # Within the gateway's head, but over what `websockets` takes in one line: its
        # own 431, which uvicorn used to leave unsent.
        (
            HANDSHAKE.format(query="") + "X-Long: " + "a" * 9000 + "\r\n\r\n",
            431,
            b"expected no more than 8192 bytes",
        ),
    ],
    ids=["ws-line", "http-line", "ws-head", "http-headers", "ws-header-line"],
)
async def test_an_oversized_head_is_answered_then_closed(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    head: str,
    status: int,
    why: bytes,
) -> None:
    async with gateway_process(gateway_settings) as gateway:
        reader, writer = await opened(gateway, head)
        answered, raw = await answer_and_close(reader, within_s=5)
        writer.close()
    assert answered == status, raw[:200]
    assert why in raw


@pytest.mark.timeout(60)
async def test_past_the_cap_the_oldest_half_sent_heads_make_room(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(
        update={"max_pending_request_heads": 50, "request_head_timeout_s": 30.0}
    )
    async with gateway_process(settings) as gateway:
        async with healthy_client(gateway, admin_token) as health:
            held = [await opened(gateway, "GET /healthz HTTP/1.1\r\n") for _ in range(100)]
            answers = await asyncio.gather(
                *(answer_and_close(reader, within_s=1) for reader, _ in held[:50]),
            )
            assert [status for status, _ in answers] == [408] * 50
            assert b"waited longest" in answers[0][1]
            for reader, _ in held[50:]:  # the newest 50 are still waiting for their heads
                assert not reader.at_eof()
        for _, writer in held:
            writer.close()
        health.assert_unharmed()
