"""`vigil alerts rules`, `vigil alerts active|ack` and `vigil silence` as real processes
against a real gateway, auth service and alerter: rules made from flags, listed and
removed; a bad rule refused before anything is sent, naming the field; an alert
acknowledged with a note and shown so; a maintenance window made, listed and removed;
a viewer refused every write."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.alerter_support import alerter_settings_for, run_alerter
from tests.cli_support import environment, vigil
from tests.grant_support import granted
from tests.notify_support import alert, publish
from tests.support import NatsServer, bus_client, until
from vigil_alerter.app import AlerterService
from vigil_cli.config import ClientConfig
from vigil_cli.config import save as save_config


@pytest.fixture
async def alerter(nats_server: NatsServer, prefix: str) -> AsyncIterator[AlerterService]:
    async with run_alerter(alerter_settings_for(nats_server, prefix)) as service:
        yield service


async def test_rules_are_added_listed_and_removed_and_a_bad_one_is_refused_clearly(
    alerter: AlerterService, logged_in: dict[str, str]
) -> None:
    added = await vigil(
        logged_in,
        "alerts",
        "rules",
        "add",
        "busy web",
        "--container",
        "web-*",
        "--metric",
        "cpu_percent",
        "--above",
        "80",
        "--hold",
        "30s",
        "--severity",
        "critical",
        "--rule-label",
        "team=web",
        "--json",
    )
    assert added.code == 0, added.stderr
    rule = json.loads(added.stdout)
    assert rule["target"] == {"kind": "container", "hosts": "*", "name": "web-*"} | {
        "label": None,
        "id": None,
    }
    assert (rule["hold_s"], rule["severity"], rule["labels"]) == (30, "critical", {"team": "web"})

    listed = await vigil(logged_in, "alerts", "rules", "list")
    assert listed.code == 0, listed.stderr
    header, row = listed.stdout.strip().splitlines()
    assert header.split()[:2] == ["ID", "NAME"]
    assert row.split()[0] == rule["id"]
    assert "metric:metric=cpu_percent,threshold=80.0" in row

    bad = await vigil(
        logged_in, "alerts", "rules", "add", "x", "--hosts", "web*", "--metric", "memory_bytes",
        "--above", "1",
    )  # fmt: skip
    assert bad.code == 1
    assert "condition.metric: host targets carry" in bad.stderr
    no_condition = await vigil(logged_in, "alerts", "rules", "add", "x", "--container", "a")
    assert no_condition.code == 1
    assert "one condition" in no_condition.stderr

    gateway = await vigil(
        logged_in, "alerts", "rules", "add", "full gateway", "--gateways", "gw-*",
        "--metric", "sockets_percent", "--above", "80", "--json",
    )  # fmt: skip
    assert gateway.code == 0, gateway.stderr
    assert json.loads(gateway.stdout)["target"] == {"kind": "gateway", "replicas": "gw-*"}
    listed = await vigil(logged_in, "alerts", "rules", "list")
    assert "gateway:replicas=gw-*" in listed.stdout
    both = await vigil(
        logged_in, "alerts", "rules", "add", "x", "--gateways", "gw-*", "--container", "a",
        "--stale", "1m",
    )  # fmt: skip
    assert both.code == 1
    assert "containers, pods or gateway replicas, not two" in both.stderr
    not_of_gateways = await vigil(
        logged_in, "alerts", "rules", "add", "x", "--gateways", "gw-*", "--metric", "load_1",
        "--above", "1",
    )  # fmt: skip
    assert not_of_gateways.code == 1
    assert "gateway targets carry send_failures_per_s, sockets, sockets_percent" in (
        not_of_gateways.stderr
    )
    removed = await vigil(logged_in, "alerts", "rules", "rm", json.loads(gateway.stdout)["id"])
    assert removed.code == 0, removed.stderr

    removed = await vigil(logged_in, "alerts", "rules", "rm", rule["id"])
    assert removed.code == 0, removed.stderr
    assert (await vigil(logged_in, "alerts", "rules", "list")).stdout.strip() == "no rules"
    again = await vigil(logged_in, "alerts", "rules", "rm", rule["id"])
    assert again.code == 1
    assert "no rule" in again.stderr


async def test_an_alert_is_acknowledged_and_a_maintenance_window_kept_and_a_viewer_refused(
    alerter: AlerterService,
    logged_in: dict[str, str],
    gateway: str,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
    tmp_path: Path,
) -> None:
    raised = alert(7, host="web1")
    async with bus_client(nats_server, prefix) as bus:
        await publish(bus, raised)

    async def in_the_book() -> str | None:
        shown = await vigil(logged_in, "alerts", "active")
        return shown.stdout if raised.id in shown.stdout else None

    await until(in_the_book, "the alert in the book", 20)
    acked = await vigil(logged_in, "alerts", "ack", raised.id, "--note", "restarting it")
    assert acked.code == 0, acked.stderr
    assert acked.stdout.strip() == f"acknowledged {raised.id}"
    shown = await vigil(logged_in, "alerts", "active")
    [row] = [line for line in shown.stdout.splitlines() if raised.id in line]
    assert "admin: restarting it" in row

    made = await vigil(
        logged_in, "silence", "add", "--hosts", "db*", "--for", "2h", "--maintenance",
        "--comment", "disk swap", "--json",
    )  # fmt: skip
    assert made.code == 0, made.stderr
    window = json.loads(made.stdout)
    assert window["maintenance"] is True
    listed = await vigil(logged_in, "silence", "list")
    assert window["id"] in listed.stdout
    assert "maintenance" in listed.stdout

    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        viewer = await granted(http, admin_token, "vera", [])
    config = tmp_path / "viewer.json"
    save_config(config, ClientConfig(url=f"http://{gateway}", access_token=viewer))
    as_viewer = environment(config)
    for refused in (
        await vigil(as_viewer, "alerts", "ack", raised.id),
        await vigil(as_viewer, "silence", "rm", window["id"]),
        await vigil(as_viewer, "alerts", "rules", "add", "r", "--hosts", "*", "--stale", "1m"),
    ):
        assert refused.code == 1
        assert "needs the operator role" in refused.stderr
    assert window["id"] in (await vigil(as_viewer, "silence", "list")).stdout  # viewers read

    removed = await vigil(logged_in, "silence", "rm", window["id"])
    assert removed.code == 0, removed.stderr
    assert (await vigil(logged_in, "silence", "list")).stdout.strip() == "no silences"
