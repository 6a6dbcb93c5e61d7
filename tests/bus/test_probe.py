"""The probe of services without HTTP of their own: `/healthz` says ready or not, `/metrics`
is Prometheus text, and nothing else is served; a bad request leaves it standing."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import NatsServer, free_port, signing_key_secret_file
from vigil.busauth.permissions import ServiceRole
from vigil.probe import Probe, ProbeSettings


async def test_the_collector_process_serves_health_and_metrics_on_its_probe_port(
    nats_server: NatsServer, prefix: str
) -> None:
    port = free_port()
    env = os.environ | {
        **nats_server.service_env(ServiceRole.COLLECTOR, prefix),
        "VIGIL_COLLECTOR_DOCKER": "off",
        "VIGIL_COLLECTOR_PROBE_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vigil_collector",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            async with asyncio.timeout(20):
                while True:
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass  # not listening yet
                    await asyncio.sleep(0.1)
            metrics = await http.get("/metrics")
            missing = await http.get("/anything-else")
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 15) == 0
    samples = {
        (s.name, s.labels.get("service")): s.value
        for family in text_string_to_metric_families(metrics.text)
        for s in family.samples
    }
    assert samples[("vigil_service_ready", "collector")] == 1
    assert samples[("process_resident_memory_bytes", None)] > 0
    assert missing.status_code == 404


async def test_health_follows_readiness_and_a_malformed_request_gets_nothing() -> None:
    ready = False
    settings = ProbeSettings(probe_port=0)
    async with (
        Probe(settings, "test", lambda: ready) as probe,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{probe.port}", timeout=5) as http,
    ):
        assert (await http.get("/healthz")).status_code == 503
        ready = True
        assert (await http.get("/healthz")).status_code == 200

        reader, writer = await asyncio.open_connection("127.0.0.1", probe.port)
        writer.write(b"nonsense\r\n\r\n")
        assert await reader.read() == b""  # closed without an answer
        writer.close()
        await writer.wait_closed()
        assert (await http.get("/healthz")).status_code == 200


async def test_without_a_port_nothing_listens() -> None:
    async with Probe(ProbeSettings(), "test", lambda: True) as probe:
        with pytest.raises(RuntimeError, match="not serving"):
            _ = probe.port


async def test_the_auth_process_is_unhealthy_while_its_bus_hangs_and_healthy_after(
    own_nats_server: NatsServer, prefix: str
) -> None:
    """`/healthz` of a service that answers requests says 503 once the bus stops
    answering (pings: 3-4 s), not only before it first answered."""
    nats = own_nats_server
    port = free_port()
    env = os.environ | {
        **nats.service_env(ServiceRole.AUTH, prefix),
        "VIGIL_AUTH_SIGNING_KEY_SECRET_FILE": str(signing_key_secret_file()),
        "VIGIL_AUTH_ADMIN_PASSWORD": "admin-password-for-tests",
        "VIGIL_AUTH_PROBE_PORT": str(port),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vigil_auth",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            await health_becomes(http, 200, 30)
            assert nats.process is not None
            nats.process.send_signal(signal.SIGSTOP)
            try:
                await health_becomes(http, 503, 6)
            finally:
                nats.process.send_signal(signal.SIGCONT)
            await health_becomes(http, 200, 10)
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 15) == 0


async def health_becomes(http: httpx.AsyncClient, status: int, timeout: float) -> None:
    """Until `/healthz` answers `status` (asked every 0.1 s; the probe may not listen yet)."""
    async with asyncio.timeout(timeout):
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/healthz")).status_code == status:
                    return
            await asyncio.sleep(0.1)
