"""Health checks of a new container: Docker's healthcheck, a TCP port, an HTTP path, or
running for a while. Each probe answers once; `docker_target` polls it to a deadline.

Ports are container ports: a probe reaches the published host port when there is one
(at the Docker host's address), else the container's own address on its network.
"""

import asyncio
import socket
from typing import Any

import httpx

from vigil.messages import DockerHealth, HttpHealth, RunningHealth, TcpHealth

_CONNECT_TIMEOUT_S = 2.0


def address_of(attrs: dict[str, Any], port: int, docker_address: str) -> tuple[str, int] | None:
    """Where container port `port` (tcp) is reached from here, or None if nowhere yet."""
    network = attrs.get("NetworkSettings") or {}
    for binding in (network.get("Ports") or {}).get(f"{port}/tcp") or []:
        if binding.get("HostPort"):
            return docker_address, int(binding["HostPort"])
    for net in (network.get("Networks") or {}).values():
        if net.get("IPAddress"):
            return str(net["IPAddress"]), port
    return None


async def tcp_answers(address: tuple[str, int]) -> bool:
    """Whether something accepts a TCP connection at `address`. A bare socket in a
    `with`: closed whatever happens, a cancel included."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                await loop.sock_connect(sock, address)
        except (OSError, TimeoutError):
            return False
    return True


async def http_answers(client: httpx.AsyncClient, address: tuple[str, int], path: str) -> str:
    """'' when `GET path` answers 2xx or 3xx, else what went wrong."""
    host, port = address
    try:
        response = await client.get(f"http://{host}:{port}{path}", timeout=_CONNECT_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"GET {path}: {type(exc).__name__}"
    if 200 <= response.status_code < 400:
        return ""
    return f"GET {path} answered {response.status_code}"


def docker_health(attrs: dict[str, Any]) -> str | None:
    """Docker's health status (`starting`, `healthy`, `unhealthy`), None without one."""
    health = (attrs.get("State") or {}).get("Health")
    return str(health["Status"]) if health else None


def healthcheck_config(health: DockerHealth) -> dict[str, Any] | None:
    """A HEALTHCHECK for `containers.create`, when the spec gives a test."""
    if not health.test:
        return None
    interval_ns = int(health.interval_s * 1e9)
    return {"test": health.test, "interval": interval_ns, "timeout": interval_ns, "retries": 3}


Check = DockerHealth | TcpHealth | HttpHealth | RunningHealth


def describe(check: Check) -> str:
    if isinstance(check, DockerHealth):
        return "Docker's healthcheck says healthy"
    if isinstance(check, TcpHealth):
        return f"port {check.port} accepts connections"
    if isinstance(check, HttpHealth):
        return f"GET {check.path} on port {check.port} answers 2xx/3xx"
    return f"running for {check.seconds:g} s"
