"""Shells in containers through the gateway (`/ws/docker/{host}/containers/{c}/exec`, and
`/ws/k8s/{cluster}/namespaces/{ns}/pods/{pod}/exec`), as a client sees them: the
socket, the terminal's bytes, the control frames."""

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect

from tests.support import NatsServer, closed_with
from vigil.busauth.permissions import ServiceRole
from vigil_gateway.settings import GatewaySettings


def exec_gateway_settings(nats_server: NatsServer, prefix: str, window: int) -> GatewaySettings:
    """A test's gateway with exec on and a window of `window` bytes."""
    service = nats_server.service(ServiceRole.GATEWAY, prefix)
    return GatewaySettings(**service, exec_enabled=True, exec_window_bytes=window)


async def refused(ws: ClientConnection, timeout: float = 15.0) -> str:
    """The reason of a refusal: the socket closed with 1008."""
    code, reason = await closed_with(ws, timeout=timeout)
    assert code == 1008, (code, reason)
    return reason


def shell_socket(
    address: str, token: str, host: str, container: str, *command: str, **query: Any
) -> connect:
    """A WebSocket to a shell running `command` (the gateway's default without)."""
    return _socket(address, f"/ws/docker/{host}/containers/{container}/exec", token, command, query)


def pod_shell_socket(
    address: str, token: str, cluster: str, namespace: str, pod: str, *command: str, **query: Any
) -> connect:
    """A WebSocket to a shell in a pod running `command` (`container=` picks one)."""
    path = f"/ws/k8s/{cluster}/namespaces/{namespace}/pods/{pod}/exec"
    return _socket(address, path, token, command, query)


def _socket(
    address: str, path: str, token: str, command: tuple[str, ...], query: dict[str, Any]
) -> connect:
    params: list[tuple[str, Any]] = [("token", token), *(("cmd", c) for c in command)]
    params += list(query.items())
    return connect(f"ws://{address}{path}?{urlencode(params)}", max_size=1 << 20)


async def opened(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """The first frame: the `opened` control message."""
    frame = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(frame, str), frame
    message: dict[str, Any] = json.loads(frame)
    assert message["type"] == "opened", message
    return message


async def output_until(ws: ClientConnection, wanted: bytes, timeout: float = 10.0) -> bytes:
    """The terminal's bytes from now until `wanted` is among them."""
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {wanted!r} within {timeout} s; saw {seen[-300:]!r}")
        frame = await asyncio.wait_for(ws.recv(), left)
        assert isinstance(frame, bytes), f"a control frame before {wanted!r}: {frame}"
        seen += frame
    return seen


async def stalls_and_resumes(ws: ClientConnection, sent: Callable[[], int]) -> None:
    """A flood's output stops while the client does not read (`sent()`: the bytes the
    deployer sent so far), and flows again once it reads."""
    await asyncio.sleep(2.0)
    stalled = sent()
    await asyncio.sleep(2.0)
    assert sent() == stalled, "the deployer kept sending to a client that reads nothing"
    for _ in range(200):
        await ws.recv()
    await asyncio.sleep(0.5)
    assert sent() > stalled


async def ended(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """The `ended` control message, skipping the terminal's bytes before it."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        frame = await asyncio.wait_for(ws.recv(), left)
        if isinstance(frame, str):
            message: dict[str, Any] = json.loads(frame)
            if message["type"] == "ended":
                return message
    raise AssertionError(f"the shell did not end within {timeout} s")
