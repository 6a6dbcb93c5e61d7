"""Request bodies cannot bloat or break the gateway (issue #18): on every route, before
authentication, a declared length over `max_body_bytes` is answered 413 unread, a
chunked body is cut off with 413 as it passes the limit, a body that dawdles gets 408,
and every body is strict JSON: `NaN`, `Infinity`, `1e999`, nesting too deep and
numbers of too many digits are a 422 that says why, never a 500. Each attack runs
against a gateway process while a healthy client measures (`attack_support`)."""

import asyncio
import contextlib
import json
import time

import httpx
import pytest

from tests.attack_support import GatewayProcess, gateway_process, healthy_client
from tests.support import NatsServer
from vigil_auth.app import AuthService
from vigil_gateway.settings import GatewaySettings

ATTACK_BYTES = 200 * 1024**2
CHUNK = b"x" * 65_536


async def read_answer(reader: asyncio.StreamReader, within_s: float = 10) -> tuple[int, str]:
    """The status and body of an HTTP answer, read until the server closes."""
    raw = await asyncio.wait_for(reader.read(65_536), within_s)
    with contextlib.suppress(TimeoutError, ConnectionError):
        while more := await asyncio.wait_for(reader.read(65_536), within_s):
            raw += more
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, body.decode(errors="replace")


async def send_body(
    writer: asyncio.StreamWriter, total: int, within_s: float, chunked: bool = False
) -> int:
    """Up to `total` bytes of body (as chunks with `chunked`) until the server stops
    taking them or `within_s` runs out; how many it took."""
    sent, deadline = 0, time.monotonic() + within_s
    try:
        while sent < total and time.monotonic() < deadline:
            piece = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK) if chunked else CHUNK
            writer.write(piece)
            await asyncio.wait_for(writer.drain(), max(0.01, deadline - time.monotonic()))
            sent += len(CHUNK)
    except (ConnectionError, TimeoutError):
        pass
    return sent


async def raw_request(
    gateway: GatewayProcess, head: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(head.encode())
    await writer.drain()
    return reader, writer


def close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        writer.close()


async def declared_attack(gateway: GatewayProcess) -> tuple[int, str, int]:
    """A login declaring 200 MB: the answer (before a byte of the body is sent), and
    how much of the body the gateway took after it."""
    reader, writer = await raw_request(
        gateway,
        "POST /api/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {ATTACK_BYTES}\r\n\r\n",
    )
    status, body = await read_answer(reader)
    taken = await send_body(writer, ATTACK_BYTES, within_s=5)
    close(writer)
    return status, body, taken


async def chunked_attack(gateway: GatewayProcess) -> tuple[int, str, int]:
    """A chunked login of 200 MB: the answer, and how much of the body the gateway took.
    The gateway answers and closes while the body still comes: when a write meets the
    closed socket first, the client's stream drops the answer it had (asyncio raises the
    broken pipe on the next read), so that try is made again."""
    for _ in range(3):
        reader, writer = await raw_request(
            gateway,
            "POST /api/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
        )
        sending = asyncio.create_task(send_body(writer, ATTACK_BYTES, 10, chunked=True))
        try:
            status, body = await read_answer(reader)
        except ConnectionError:
            continue  # the race above, on the client's side
        finally:
            taken = await sending
            close(writer)
        return status, body, taken
    raise AssertionError("three chunked attacks lost their answer to a broken pipe")


@pytest.mark.timeout(120)
async def test_a_200_mb_login_is_refused_unread_and_a_chunked_one_as_it_passes_the_limit(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    async with gateway_process(gateway_settings) as gateway:
        async with healthy_client(gateway, admin_token) as health:
            began = time.monotonic()
            for _ in range(10):  # ten of each, for 3 s at most
                if time.monotonic() - began > 3:
                    break
                status, body, taken = await declared_attack(gateway)
                assert status == 413, body
                assert json.loads(body)["detail"]["code"] == "LIMIT_REACHED"
                assert f"{ATTACK_BYTES} bytes are declared" in body
                assert "the most is 1048576 bytes" in body
                assert taken < ATTACK_BYTES, "the connection closed: the body was never read"
                status, body, taken = await chunked_attack(gateway)
                assert status == 413, body
                assert "more than 1048576 came" in body
                assert taken < 32 * 1024**2, f"{taken} bytes taken after the limit"
        health.assert_unharmed()


async def test_every_route_refuses_a_body_over_the_limit_before_credentials(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(update={"max_body_bytes": 4096})
    async with (
        gateway_process(settings) as gateway,
        httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=10) as http,
    ):
        spec = (await http.get("/openapi.json")).json()
        checked = 0
        for path, operations in spec["paths"].items():
            concrete = path.replace("{", "").replace("}", "")  # any name will do
            for method in operations:
                answer = await http.request(
                    method.upper(),
                    concrete,
                    content=b"{}" + b" " * 5000,
                    headers={"Content-Type": "application/json"},
                )
                assert answer.status_code == 413, (method, path, answer.text)
                assert "the most is 4096 bytes" in answer.json()["detail"]["message"]
                checked += 1
        assert checked >= 25


async def test_a_client_that_sends_its_whole_body_before_reading_still_reads_the_413(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
) -> None:
    """As an ordinary HTTP client does: the gateway answers 413 at 1 MiB and lingers,
    dropping the rest of the 3 MB, so the answer is not lost to a reset."""
    async with gateway_process(gateway_settings) as gateway:
        for chunked in (False, True):
            framing = "Transfer-Encoding: chunked" if chunked else "Content-Length: 3000000"
            reader, writer = await raw_request(
                gateway,
                "POST /api/auth/token HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: application/json\r\n{framing}\r\n\r\n",
            )
            taken = await send_body(writer, 3_000_000, within_s=10, chunked=chunked)
            status, body = await read_answer(reader)
            close(writer)
            assert taken >= 3_000_000, f"only {taken} bytes were taken"
            assert status == 413, (chunked, body)
            assert "the most is 1048576 bytes" in body


async def test_a_body_that_dawdles_gets_408(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
) -> None:
    settings = gateway_settings.model_copy(update={"body_timeout_s": 1.0})
    async with gateway_process(settings) as gateway:
        reader, writer = await raw_request(
            gateway,
            "POST /api/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            'Content-Length: 100\r\n\r\n{"username": ',
        )
        began = time.monotonic()
        status, body = await read_answer(reader)
        close(writer)
    assert status == 408, body
    assert "did not come within 1 s" in body
    assert time.monotonic() - began < 5


NOT_STRICT = {
    '{"username": NaN, "password": "p"}': "NaN is not a JSON number",
    '{"username": "u", "password": Infinity}': "Infinity is not a JSON number",
    '{"username": -Infinity}': "-Infinity is not a JSON number",
    '{"username": 1e999, "password": "p"}': "1e999 is too large for a number",
    '{"username": ' + "1" * 5000 + "}": "more than 4300 digits",
    "[" * 50_000 + "]" * 50_000: "nested too deep",
    '{"username": "u", "password": "p"': "the body is not valid JSON",
    "\xff": "the body is not valid JSON",
}


async def test_bodies_are_strict_json_and_a_422_never_fails(
    nats_server: NatsServer,
    prefix: str,
    auth_service: AuthService,
    admin_token: str,
    gateway_settings: GatewaySettings,
) -> None:
    """Unauthenticated (login, refresh) and admin routes alike: a 422 saying why."""
    admin = {"Authorization": f"Bearer {admin_token}"}
    routes = [
        ("/api/auth/token", {}),
        ("/api/auth/refresh", {}),
        ("/api/auth/users", admin),
        ("/api/auth/keys", admin),
        ("/api/deploys", admin),
    ]
    async with (
        gateway_process(gateway_settings) as gateway,
        httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=10) as http,
    ):
        for path, auth in routes:
            for body, why in NOT_STRICT.items():
                answer = await http.post(
                    path,
                    content=body.encode("latin-1"),
                    headers={"Content-Type": "application/json"} | auth,
                )
                assert answer.status_code == 422, (path, body[:40], answer.text)
                (error,) = answer.json()["detail"]
                assert why in error["msg"], (path, body[:40], error)
        # A value that passes JSON but not the model, and could not be echoed as JSON
        # were it a float: the 422 still comes, without the value.
        answer = await http.post("/api/auth/token", json={"username": 1.5, "password": "p"})
        assert answer.status_code == 422, answer.text
        secret = await http.post("/api/auth/token", json={"username": "u", "password": "p" * 2000})
        assert secret.status_code == 422
        assert "ppp" not in secret.text, "a password is never echoed"
