"""Measuring a gateway under attack: a healthy client's worst latency and the gateway
process's RSS growth while the attack runs (issue #18's bounds: 500 ms, 50 MiB).

The gateway runs as its own process (`python -m vigil_gateway`, configured from a
`GatewaySettings` through the environment), so the RSS measured is the gateway's
alone and a stall of its event loop shows in the healthy client's latency, whatever
the attack costs the test process. The healthy client runs in a thread with an event
loop of its own, so an attack driven from the test's loop does not delay it either:
every `interval_s` it sends a WebSocket ping on a socket it holds open on `/ws` and
asks `GET /healthz` on a new connection, and times both from send to answer.
"""

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import psutil
from pydantic import SecretStr
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from tests.support import free_port
from vigil.settings import VigilSettings
from vigil_gateway.settings import GatewaySettings

WORST_LATENCY_S = 0.5
RSS_GROWTH_BYTES = 50 * 1024**2


def settings_env(settings: GatewaySettings) -> dict[str, str]:
    """The environment that configures `python -m vigil_gateway` as `settings` say."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        raw = getattr(settings, name)
        if isinstance(raw, SecretStr):
            value = raw.get_secret_value()
        shared = name in VigilSettings.model_fields  # read from `VIGIL_...` by every service
        variable = f"VIGIL_{name.upper()}" if shared else f"VIGIL_GATEWAY_{name.upper()}"
        env[variable] = value if isinstance(value, str) else json.dumps(value)
    return env


@dataclass
class GatewayProcess:
    address: str  # host:port
    pid: int

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)


@contextlib.asynccontextmanager
async def gateway_process(
    settings: GatewaySettings, ready_within_s: float = 20.0
) -> AsyncIterator[GatewayProcess]:
    """`python -m vigil_gateway` on a free port, once it says it is ready; stopped after."""
    port = free_port()
    settings = settings.model_copy(update={"bind": "127.0.0.1", "port": port})
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vigil_gateway",
        env=env | settings_env(settings),
        stderr=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        gateway = GatewayProcess(f"127.0.0.1:{port}", process.pid)
        await _until_ready(gateway, process, ready_within_s)
        yield gateway
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _until_ready(
    gateway: GatewayProcess, process: asyncio.subprocess.Process, within_s: float
) -> None:
    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient(base_url=f"http://{gateway.address}", timeout=2) as http:
        while True:
            assert process.returncode is None, "the gateway process exited at start"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            assert time.monotonic() < deadline, "the gateway process never became ready"
            await asyncio.sleep(0.1)


async def viewer_token(address: str, admin_token: str, name: str = "vera") -> str:
    """The access token of a new user of the gateway at `address` who may only read."""
    user = {"username": name, "password": f"{name}-password-1", "roles": ["viewer"]}
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=10) as http:
        made = await http.post(
            "/api/auth/users", json=user, headers={"Authorization": f"Bearer {admin_token}"}
        )
        assert made.status_code == 201, made.text
        login = await http.post("/api/auth/token", json=user)
        assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


@dataclass
class Health:
    """What the healthy client saw: each probe's latency, failures, the gateway's RSS."""

    latencies_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rss_baseline: int = 0
    rss_peak: int = 0

    @property
    def worst_latency_s(self) -> float:
        return max(self.latencies_s, default=float("inf"))

    @property
    def rss_growth(self) -> int:
        return max(0, self.rss_peak - self.rss_baseline)

    def report(self) -> str:
        return (
            f"healthy client: {len(self.latencies_s)} probes, worst {self.worst_latency_s:.3f} s,"
            f" {len(self.failures)} failed; gateway RSS +{self.rss_growth / 1024**2:.1f} MiB"
            f" (from {self.rss_baseline / 1024**2:.1f} MiB)"
        )

    def assert_unharmed(
        self, worst_s: float = WORST_LATENCY_S, rss_growth: int = RSS_GROWTH_BYTES
    ) -> None:
        print(self.report())
        assert not self.failures, f"the healthy client failed: {self.failures[:5]}"
        assert len(self.latencies_s) >= 3, "too few probes to judge"
        assert self.worst_latency_s <= worst_s, self.report()
        assert self.rss_growth <= rss_growth, self.report()


@contextlib.asynccontextmanager
async def healthy_client(
    gateway: GatewayProcess, token: str, interval_s: float = 0.05, settle_s: float = 1.0
) -> AsyncIterator[Health]:
    """A healthy client of `gateway` probing in a thread of its own while the block runs
    and `settle_s` after (what an attack left behind counts too); the `Health` it
    yields is complete once the block is left."""
    health = Health(rss_baseline=gateway.rss())
    health.rss_peak = health.rss_baseline
    stop = threading.Event()
    started = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(_probe(gateway, token, interval_s, health, started, stop)),
        name="healthy-client",
        daemon=True,
    )
    thread.start()
    try:
        await asyncio.to_thread(started.wait, 10)
        assert started.is_set(), f"the healthy client could not start: {health.failures}"
        yield health
        await asyncio.sleep(settle_s)
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 15)


async def _probe(
    gateway: GatewayProcess,
    token: str,
    interval_s: float,
    health: Health,
    started: threading.Event,
    stop: threading.Event,
) -> None:
    no_reuse = httpx.Limits(max_keepalive_connections=0)
    async with (
        connect(f"ws://{gateway.address}/ws?token={token}", ping_interval=None) as ws,
        httpx.AsyncClient(base_url=f"http://{gateway.address}", limits=no_reuse) as http,
    ):
        assert json.loads(await ws.recv())["type"] == "connected"
        started.set()
        while not stop.is_set():
            begun = time.perf_counter()
            try:
                pong = await ws.ping()
                await asyncio.wait_for(pong, 10)
                answer = await http.get("/healthz", timeout=10)
                if answer.status_code != 200:
                    health.failures.append(f"/healthz answered {answer.status_code}")
            except (OSError, TimeoutError, httpx.HTTPError, WebSocketException) as exc:
                health.failures.append(f"{type(exc).__name__}: {exc}")
                if len(health.failures) > 20:
                    return
            else:
                health.latencies_s.append(time.perf_counter() - begun)
            with contextlib.suppress(psutil.Error):
                health.rss_peak = max(health.rss_peak, gateway.rss())
            await asyncio.sleep(interval_s)
