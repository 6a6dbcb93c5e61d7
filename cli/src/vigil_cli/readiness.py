"""Knowing when a process is ready to serve: probes, and waiting on them with a deadline."""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Final, Protocol

import httpx

from vigil_cli.console import OWN_SOURCE, Console
from vigil_cli.errors import DiedBeforeReady, NotReady
from vigil_cli.supervisor import Child

POLL_INTERVAL: Final = 0.2
PROGRESS_INTERVAL: Final = 5.0
PROBE_TIMEOUT: Final = 2.0


class Probe(Protocol):
    """Answers "is it ready?" within `PROBE_TIMEOUT`; `str(probe)` says what it checks."""

    async def __call__(self) -> bool: ...


@dataclass(frozen=True)
class TcpProbe:
    """Ready once the port accepts connections."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def __call__(self) -> bool:
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can drop a connection
            # that completes as the timeout fires, leaking its socket.
            async with asyncio.timeout(PROBE_TIMEOUT):
                _, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


@dataclass(frozen=True)
class HttpProbe:
    """Ready once a GET of the URL answers 200."""

    url: str

    def __post_init__(self) -> None:
        if not self.url.startswith("http://"):
            raise ValueError(f"HttpProbe is for plain HTTP, not {self.url!r}")

    def __str__(self) -> str:
        return self.url

    async def __call__(self) -> bool:
        # trust_env=False: a proxy from the environment must not answer for localhost.
        # verify=False: plain HTTP has no TLS to verify, and loading the certificate
        # store would block the event loop for some 20 ms at every probe.
        async with httpx.AsyncClient(
            trust_env=False, verify=False, timeout=PROBE_TIMEOUT
        ) as client:
            try:
                response = await client.get(self.url)
            except httpx.HTTPError:
                return False
        return response.status_code == 200


async def wait_until_ready(child: Child, probe: Probe, within: float, console: Console) -> None:
    """Return once `probe` passes; raise `DiedBeforeReady` or `NotReady` otherwise.

    Prints a progress line every few seconds, so a slow start does not look like a hang.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    next_progress = started + PROGRESS_INTERVAL
    exits_before = child.exit_count
    console.line(OWN_SOURCE, f"waiting for {child.name} to be ready ({probe})")
    while True:
        if child.exit_count > exits_before:
            raise DiedBeforeReady(child.name, child.last_returncode)
        if await probe():
            console.line(OWN_SOURCE, f"{child.name} is ready")
            return
        now = loop.time()
        if now - started >= within:
            raise NotReady(child.name, str(probe), within)
        if now >= next_progress:
            console.line(
                OWN_SOURCE,
                f"still waiting for {child.name} ({probe}): {now - started:.0f} s of {within:g} s",
            )
            next_progress += PROGRESS_INTERVAL
        await asyncio.sleep(POLL_INTERVAL)
