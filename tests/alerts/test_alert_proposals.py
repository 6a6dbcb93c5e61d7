"""A rule's proposed action, end to end on real parts: the alerter raises an alert that
proposes restarting a real container; a viewer may not confirm it (403, audited); an
operator confirms it (`vigil alerts confirm`, through the Python client and `POST
/api/alerts/proposal`), the deployer asks them on their socket, restarts the container
once and audits it naming the alert; a second confirmation is refused (it ran), and so
is one of the alert once resolved."""

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alerter_support import CALM, restarts, started_at
from tests.cli_support import environment as cli_environment
from tests.cli_support import vigil
from tests.deploy_support import TEST_HOST
from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.support import NatsServer, audited, bearer, bus_client, until, user_token
from vigil.access import Role
from vigil_alerter.app import AlerterService
from vigil_cli.config import ClientConfig
from vigil_cli.config import save as save_config
from vigil_deployer.app import DeployerService

ALERTS = "/api/alerts"


@pytest.fixture
async def gateway_up(
    docker_stack: DockerStack, deployer: DeployerService, alerter: AlerterService
) -> AsyncIterator[str]:
    """The collector of the local engine, a gateway, the deployer of `testhost` and the
    alerter."""
    async with docker_stack.up() as address:
        yield address


@pytest.fixture
async def http(gateway_up: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway_up}", timeout=90) as client:
        yield client


async def test_a_proposed_restart_is_refused_to_a_viewer_and_runs_once_when_an_operator_confirms(
    gateway_up: str,
    http: httpx.AsyncClient,
    containers: Containers,
    admin_token: str,
    nats_server: NatsServer,
    prefix: str,
    config: Path,
) -> None:
    since = int(time.time()) - 1
    _, name = containers.run("proposed", "sleep", "3600")
    before = started_at(name)
    async with bus_client(nats_server, prefix) as bus:
        viewer = await user_token(bus, admin_token, "vera", Role.VIEWER, [])
        operator = await user_token(bus, admin_token, "otto", Role.OPERATOR, [])
    rule = {
        "name": "calm",
        "target": {"kind": "container", "hosts": TEST_HOST, "name": name},
        "condition": CALM,
        "propose": {"action": "restart"},
    }
    made = await http.post(f"{ALERTS}/rules", json=rule, headers=bearer(operator))
    assert made.status_code == 201, made.text
    rule_id = made.json()["id"]

    async def proposing() -> dict[str, Any] | None:
        listed = await http.get(ALERTS, headers=bearer(viewer))
        assert listed.status_code == 200, listed.text
        mine = [a["alert"] for a in listed.json()["alerts"] if a["alert"].get("rule") == rule_id]
        return mine[0] if mine and mine[0].get("proposal") else None

    alert = await until(proposing, "the alert with its proposal", timeout=30)
    proposal = alert["proposal"]
    assert (proposal["action"], proposal["host"], proposal["name"]) == ("restart", TEST_HOST, name)
    assert "done" not in proposal
    body = {"alert_id": alert["id"]}

    refused = await http.post(f"{ALERTS}/proposal", json=body, headers=bearer(viewer))
    assert refused.status_code == 403, refused.text
    [refusal] = await audited(http, admin_token, actor="vera", outcome="refused")
    assert (refusal["action"], refusal["service"]) == (f"POST {ALERTS}/proposal", "gateway")
    assert started_at(name) == before

    # The operator confirms with the CLI (a real `vigil` process, through the Python
    # client): the deployer's question comes on its socket, answered yes (--yes).
    save_config(config, ClientConfig(url=f"http://{gateway_up}", access_token=operator))
    confirmed = await vigil(
        cli_environment(config), "alerts", "confirm", alert["id"], "--yes", "--json", timeout=90
    )
    assert confirmed.code == 0, confirmed.stderr
    asked = f"Alert {alert['id']} proposes it: Restart container {name} on {TEST_HOST}? yes"
    assert asked in confirmed.stderr
    answer = json.loads(confirmed.stdout)
    assert answer["outcome"] == "done"
    assert answer["alert"]["proposal"]["done"]["by"] == "otto"
    after = started_at(name)
    assert after != before
    assert restarts(name, since) == ["restart"]  # exactly once

    again = await http.post(f"{ALERTS}/proposal", json=body, headers=bearer(operator))
    assert again.status_code == 409, again.text
    assert "ran already" in again.json()["detail"]["message"]
    assert started_at(name) == after
    assert restarts(name, since) == ["restart"]

    # Who confirmed, which alert: the deployer's action and the alerter's confirmation.
    [acted] = await audited(http, admin_token, service="deployer", action="container.restart")
    assert (acted["actor"]["name"], acted["outcome"]) == ("otto", "done")
    assert f"proposed by alert {alert['id']}" in acted["detail"]
    confirmations = await audited(http, admin_token, 2, service="alerter", action="alerts.proposal")
    assert sorted((e["actor"]["name"], e["outcome"], e["target"]) for e in confirmations) == [
        ("otto", "done", alert["id"]),
        ("otto", "refused", alert["id"]),  # the second: it ran already
    ]

    async def done_in_the_book() -> dict[str, Any] | None:
        found = await proposing()
        return found if found and found["proposal"].get("done") else None

    await until(done_in_the_book, "the proposal done in the book")

    # The rule deleted resolves its alert: its proposal no longer stands.
    deleted = await http.delete(f"{ALERTS}/rules/{rule_id}", headers=bearer(operator))
    assert deleted.status_code == 200, deleted.text

    async def resolved() -> bool | None:
        listed = await http.get(ALERTS, headers=bearer(viewer), params={"active": "false"})
        ours = [a["alert"] for a in listed.json()["alerts"] if a["alert"]["id"] == alert["id"]]
        return True if ours and ours[0]["state"] == "resolved" else None

    await until(resolved, "the alert resolved")
    late = await http.post(f"{ALERTS}/proposal", json=body, headers=bearer(operator))
    assert late.status_code == 409, late.text
    assert "resolved" in late.json()["detail"]["message"]
    assert restarts(name, since) == ["restart"]
