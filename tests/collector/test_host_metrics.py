"""Host metrics from the collector, over real NATS, out of the gateway to real WebSocket
clients; a host alert (the alerter's rule on them) too."""

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.alerter_support import alerter_settings_for, make_rule, run_alerter
from tests.conftest import collector_settings_for
from tests.support import (
    NatsServer,
    bus_client,
    receive,
    receive_until,
    run_collector,
    send,
    serve_gateway,
    wait_for,
)
from vigil.channels import CHANNELS
from vigil_collector.host.sampler import HostSampler
from vigil_collector.settings import CollectorSettings
from vigil_gateway.settings import GatewaySettings


def is_update(channel: str):  # type: ignore[no-untyped-def]
    return lambda m: m["type"] == "update" and m["channel"] == channel


async def test_system_endpoint_streams_seed_001_system_metrics(
    collector_settings: CollectorSettings, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        run_collector(collector_settings),
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/api/system/ws?token={admin_token}") as ws,
    ):
        # One sample is a run of system_metric messages from "cpu" to "uptime".
        first = await receive_until(ws, lambda m: m["type"] == "system_metric", timeout=5)
        assert first["data"]["metric_type"] == "cpu"
        sample = [first]
        while sample[-1]["data"]["metric_type"] != "uptime":
            sample.append(await receive(ws))
    for metric in sample:
        data = metric["data"]
        assert metric["type"] == "system_metric"
        assert set(data) == {"time", "metric_type", "value", "source", "meta"}
        assert (data["source"], data["meta"]["host"]) == ("host", "testhost")
        assert data["time"] == first["data"]["time"]
        assert isinstance(data["value"], float)
    units = {m["data"]["metric_type"]: m["data"]["meta"]["unit"] for m in sample}
    assert units["cpu"] == units["memory"] == units["disk"] == "percent"
    assert units["network_rx"] == units["disk_write"] == "bytes_per_second"
    assert units["uptime"] == "seconds"
    assert {"cpu_core", "load_1m", "swap", "network_tx"} <= set(units)


async def test_multiplexed_socket_streams_host_metrics(
    collector_settings: CollectorSettings, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        run_collector(collector_settings),
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        connected = await receive(ws)
        assert connected["type"] == "connected"
        assert connected["connection_id"]
        assert connected["heartbeat_interval_s"] == 30
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        assert await receive(ws) == {
            "type": "subscribed",
            "channel": "host.metrics",
            "kind": "state",
            "remaining": gateway_settings.rate_limit_subscribe_burst - 1,  # its burst, less one
        }
        first = await receive_until(ws, is_update("host.metrics"), timeout=5)
        second = await receive_until(ws, is_update("host.metrics"), timeout=5)
        sample = second["data"]
        assert sample["host"] == "testhost"
        assert second["data"]["time"] > first["data"]["time"]
        assert 0 <= sample["cpu"]["percent"] <= 100
        assert len(sample["cpu"]["per_core"]) >= 1
        assert sample["memory"]["total"] > 0
        assert any(fs["mountpoint"] == "/" for fs in sample["filesystems"])
        assert sample["network"]["rx_bytes_total"] >= 0
        assert sample["uptime_s"] > 0


async def test_latest_value_arrives_at_once_from_jetstream(
    nats_server: NatsServer, prefix: str, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    # The collector publishes and stops before any gateway exists: only JetStream has it.
    settings = collector_settings_for(nats_server, prefix, host="early")
    async with (
        run_collector(settings),
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        await receive_until(ws, is_update("host.metrics"), timeout=5)
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        await send(
            ws, {"type": "subscribe", "channel": "host.metrics", "params": {"host": "early"}}
        )
        await receive(ws)  # subscribed
        update = await receive(ws, timeout=1)
        assert update["channel"] == "host.metrics?host=early"
        assert update["data"]["host"] == "early"


async def test_host_alerts_are_raised_by_a_rule_and_delivered(
    nats_server: NatsServer, prefix: str, gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        bus_client(nats_server, prefix) as bus,
        run_alerter(alerter_settings_for(nats_server, prefix)) as alerter,
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
        connect(f"ws://{address}/api/system/ws?token={admin_token}") as system,
    ):
        rule = await make_rule(  # crossed at the first host sample
            bus,
            admin_token,
            target={"kind": "host"},
            condition={"kind": "metric", "metric": "memory_percent", "threshold": 0},
        )
        await wait_for(lambda: rule.id in alerter.evaluator.rules, "the rule read", 10)
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "alerts"})
        await receive(ws)
        async with run_collector(collector_settings_for(nats_server, prefix)):
            update = await receive_until(ws, is_update("alerts"), timeout=10)
            notice = await receive_until(system, lambda m: m["type"] == "alert", timeout=10)
    alert = update["data"]
    assert (alert["state"], alert["metric"], alert["host"]) == (
        "raised",
        "memory_percent",
        "testhost",
    )
    assert alert["threshold"] == 0.0
    assert update["cursor"] >= 1
    assert notice["data"]["id"] == alert["id"] == f"rule:{rule.id}:host:testhost"


@pytest.mark.parametrize(
    ("frame", "complaint"),
    [
        ("{not json", "Invalid JSON"),
        ('{"type": "dance"}', "'dance'"),
        ('{"type": "subscribe"}', "channel"),
        ('{"type": "subscribe", "channel": "host.metrics", "params": {"host": "a.b"}}', "'a.b'"),
        ('{"type": "subscribe", "channel": "host.metrics", "params": {"host": "*"}}', "'*'"),
        ('{"type": "subscribe", "channel": "host.metrics", "params": {"host": ">"}}', "'>'"),
        ('{"type": "unsubscribe", "channel": "alerts", "params": {"x": "y"}}', "'x'"),
    ],
)
async def test_malformed_messages_get_invalid_message_and_the_socket_stays_usable(
    gateway_settings: GatewaySettings, admin_token: str, frame: str, complaint: str
) -> None:
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        await ws.send(frame)
        error = await receive(ws)
        assert error["type"] == "error"
        assert error["code"] == "INVALID_MESSAGE"
        assert complaint in error["message"]
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"


async def test_binary_frames_unknown_channels_and_stray_unsubscribes_are_explained(
    gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/ws?token={admin_token}") as ws,
    ):
        await receive(ws)
        await ws.send(b"\x00\x01")
        assert (await receive(ws))["code"] == "INVALID_MESSAGE"
        await send(ws, {"type": "subscribe", "channel": "host.>"})
        unknown = await receive(ws)
        assert (unknown["code"], unknown["channel"]) == ("NOT_FOUND", "host.>")
        known = ", ".join(sorted(CHANNELS))
        assert f"(known: {known})" in unknown["message"]
        await send(ws, {"type": "unsubscribe", "channel": "alerts"})
        assert (await receive(ws))["code"] == "NOT_FOUND"
        await send(ws, {"type": "subscribe", "channel": "alerts"})
        assert (await receive(ws))["type"] == "subscribed"
        await send(ws, {"type": "unsubscribe", "channel": "alerts"})
        unsubscribed = await receive(ws)
        assert (unsubscribed["type"], unsubscribed["channel"]) == ("unsubscribed", "alerts")


async def test_system_endpoint_answers_ping_and_refuses_subscriptions(
    gateway_settings: GatewaySettings, admin_token: str
) -> None:
    async with (
        serve_gateway(gateway_settings) as address,
        connect(f"ws://{address}/api/system/ws?token={admin_token}") as ws,
    ):
        await send(ws, {"type": "subscribe", "channel": "alerts"})
        refused = await receive(ws)
        assert refused["code"] == "INVALID_MESSAGE"
        assert "use /ws" in refused["message"]
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"


async def test_health_and_readiness(gateway_settings: GatewaySettings) -> None:
    async with serve_gateway(gateway_settings) as address, httpx.AsyncClient() as http:
        assert (await http.get(f"http://{address}/healthz")).json() == {"status": "ok"}
        # The gateway connects to NATS in the background: ready within a deadline.
        async with asyncio.timeout(5):
            while (ready := await http.get(f"http://{address}/readyz")).status_code != 200:
                assert ready.json()["status"] == "unavailable"
                await asyncio.sleep(0.05)
        assert ready.json()["status"] == "ready"


@pytest.mark.alone  # spins a CPU
def test_a_host_sample_names_its_busiest_and_largest_processes() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    sampler = HostSampler("h1", Path("/proc"), top_processes=3)
    try:
        deadline = time.monotonic() + 10
        while True:  # the busy process's first interval counts from its first sight
            time.sleep(0.5)
            processes = sampler.sample().processes
            assert processes is not None
            spinning = [p for p in processes if p.pid == busy.pid]
            if (spinning and spinning[0].cpu_percent > 20) or time.monotonic() > deadline:
                break
        assert spinning, f"the spinning process {busy.pid} is not among {processes}"
        assert spinning[0].name == "python3" or spinning[0].name.startswith("python")
        assert 3 <= len(processes) <= 6  # 3 by CPU and 3 by memory, a process in both once
        assert len({p.pid for p in processes}) == len(processes)
        assert all(p.memory_bytes >= 0 and p.cpu_percent >= 0 for p in processes)
        none = HostSampler("h1", Path("/proc"))
        assert none.sample().processes is None  # 0: none read
        none.close()
    finally:
        busy.kill()
        busy.wait()
        sampler.close()
