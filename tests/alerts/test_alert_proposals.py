"""A rule's proposed action, end to end on real parts: the alerter raises an alert that
proposes restarting a real container; a viewer may not confirm it (403, audited); an
operator confirms it (`vigil alerts confirm`, through the Python client and `POST
/api/alerts/proposal`), the deployer asks them on their socket, restarts the container
once and audits it naming the alert; a second confirmation is refused (it ran), and so
is one of the alert once resolved.

A proposed rollback, on real deploys (v1 then v2 of a service, through the test
registry): refused to a viewer (the gateway and the deployer itself), a no does nothing,
a yes runs one new deploy of v1's spec (its secret too) whose record says what it rolls
back, audited once; with no earlier deploy to return to it is refused, nothing asked."""

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.alerter_support import restarts, rule_proposing, started_at
from tests.cli_support import environment as cli_environment
from tests.cli_support import vigil
from tests.deploy_support import TEST_HOST, Deployment, Images, serves
from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack
from tests.support import NatsServer, audited, bearer, bus_client, until, user_token
from vigil import ctl
from vigil.access import Role
from vigil.ctl import Refused
from vigil.messages import DeployRecord, ErrorCode, ListDeploys, RollBackDeploy
from vigil.operations import Actions, Deploy
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
        operator = await user_token(bus, admin_token, "otto", Role.OPERATOR, [TEST_HOST])
    made = await http.post(
        f"{ALERTS}/rules", json=rule_proposing(name, "restart"), headers=bearer(operator)
    )
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


# -- rolling back the last deploy ---------------------------------------------------------

SECRET = "rollback-keeps-this-secret"


def _serving(name: str) -> str:
    """The id of the container called `name`."""
    return docker("inspect", "-f", "{{.Id}}", name).strip()


async def _rollback_alert(
    http: httpx.AsyncClient, deployment: Deployment, admin_token: str, name: str
) -> tuple[dict[str, Any], str]:
    """A rule (made by the operator alice) on the service's container proposing to roll
    its last deploy back; its alert about the container serving `name` now, and the token
    of a viewer."""
    viewer = await user_token(deployment.bus, admin_token, "vera", Role.VIEWER, [])
    rule = rule_proposing(name, "rollback")
    made = await http.post(f"{ALERTS}/rules", json=rule, headers=bearer(deployment.tokens["alice"]))
    assert made.status_code == 201, made.text
    serving = _serving(name)

    async def raised() -> dict[str, Any] | None:
        listed = await http.get(ALERTS, headers=bearer(viewer))
        assert listed.status_code == 200, listed.text
        for entry in listed.json()["alerts"]:
            alert: dict[str, Any] = entry["alert"]
            if alert.get("rule") == made.json()["id"] and serving.startswith(
                alert.get("proposal", {}).get("container") or "-"
            ):
                return alert
        return None

    alert = await until(raised, "the alert proposing the rollback", timeout=30)
    proposal = alert["proposal"]
    assert (proposal["action"], proposal["host"], proposal["name"]) == ("rollback", TEST_HOST, name)
    assert f"proposed: roll back the last deploy of {name} on {TEST_HOST}" in alert["message"]
    return alert, viewer


async def _deploys_of(deployment: Deployment, name: str) -> list[DeployRecord]:
    listing = ListDeploys(name=name, host=TEST_HOST)
    found = await ctl.call(deployment.bus, Deploy.LIST, listing, token=deployment.tokens["alice"])
    return found.deploys


async def test_a_proposed_rollback_returns_the_service_to_its_deploy_before_the_last_once(
    gateway_up: str,
    http: httpx.AsyncClient,
    deployment: Deployment,
    images: Images,
    admin_token: str,
    config: Path,
) -> None:
    v1 = deployment.spec(env={"TOKEN": SECRET})  # the stored spec keeps its secret
    name = v1.name
    first, _ = await deployment.run(v1)
    second, _ = await deployment.run(v1.model_copy(update={"image": images.web(2), "env": {}}))
    assert (first.state, second.state) == ("succeeded", "succeeded")
    assert serves(name) == "v2"
    v2_container = _serving(name)
    operator = deployment.tokens["alice"]
    alert, viewer = await _rollback_alert(http, deployment, admin_token, name)
    body = {"alert_id": alert["id"]}

    # A viewer: refused by the gateway, and by the deployer itself (asked directly).
    refused = await http.post(f"{ALERTS}/proposal", json=body, headers=bearer(viewer))
    assert refused.status_code == 403, refused.text
    asked = RollBackDeploy(host=TEST_HOST, name=name, alert=alert["id"])
    with pytest.raises(Refused) as forbidden:
        await ctl.call(deployment.bus, Actions.ROLLBACK, asked, token=viewer)
    assert forbidden.value.code is ErrorCode.FORBIDDEN

    # A no: nothing runs, and the proposal stands.
    save_config(config, ClientConfig(url=f"http://{gateway_up}", access_token=operator))
    env = cli_environment(config)
    declined = await vigil(env, "alerts", "confirm", alert["id"], "--json", stdin="n\n", timeout=90)
    question = (
        f"Alert {alert['id']} proposes it: Roll back {name} on {TEST_HOST} from "
        f"{images.web(2)} (deploy {second.id}) to {images.web(1)} (deploy {first.id})?"
    )
    assert question in declined.stderr
    assert declined.code != 0
    assert json.loads(declined.stdout)["outcome"] == "declined"
    assert len(await _deploys_of(deployment, name)) == 2
    assert _serving(name) == v2_container

    # A yes: one new deploy, of v1's spec (its secret too), saying what it rolls back.
    confirmed = await vigil(env, "alerts", "confirm", alert["id"], "--yes", "--json", timeout=90)
    assert confirmed.code == 0, confirmed.stderr
    answer = json.loads(confirmed.stdout)
    assert answer["outcome"] == "done"
    assert answer["alert"]["proposal"]["done"]["by"] == "alice"
    assert f"rolls back deploy {second.id}" in answer["detail"]
    newest, *_ = await _deploys_of(deployment, name)
    assert (newest.rollback_of, newest.spec.image) == (second.id, images.web(1))
    assert newest.spec.env == {"TOKEN": "***"}  # shown masked, as every record
    async with deployment.journal(newest.id) as journal:
        ended = await journal.ended(30)
    assert ended.state == "succeeded", ended.message
    assert serves(name) == "v1"
    assert f"TOKEN={SECRET}" in docker("inspect", "-f", "{{.Config.Env}}", name)

    # Once: it ran (and the container it was about is gone, so its alert resolves).
    again = await http.post(f"{ALERTS}/proposal", json=body, headers=bearer(operator))
    assert again.status_code == 409, again.text
    said = again.json()["detail"]["message"]
    assert "ran already" in said or "resolved, its proposal no longer stands" in said
    assert len(await _deploys_of(deployment, name)) == 3

    # The deployer's trail: the no (refused) and the rollback, once, naming the alert.
    trail = await audited(http, admin_token, 2, service="deployer", action="deploy.rollback")
    assert sorted(event["outcome"] for event in trail) == ["done", "refused"]
    [done] = [event for event in trail if event["outcome"] == "done"]
    assert done["actor"]["name"] == "alice"
    assert f"deploy {newest.id} rolls back deploy {second.id}" in done["detail"]
    assert f"proposed by alert {alert['id']}" in done["detail"]
    assert SECRET not in json.dumps(trail)
    confirmations = await audited(http, admin_token, 3, service="alerter", action="alerts.proposal")
    assert sorted(e["outcome"] for e in confirmations) == ["done", "refused", "refused"]


async def test_a_proposed_rollback_with_no_earlier_deploy_is_refused_and_nothing_runs(
    gateway_up: str,
    http: httpx.AsyncClient,
    deployment: Deployment,
    admin_token: str,
) -> None:
    only, _ = await deployment.run(deployment.spec())
    name = only.spec.name
    container = _serving(name)
    alert, _ = await _rollback_alert(http, deployment, admin_token, name)

    body = {"alert_id": alert["id"]}
    operator = bearer(deployment.tokens["alice"])
    refused = await http.post(f"{ALERTS}/proposal", json=body, headers=operator)
    assert refused.status_code == 404, refused.text
    reason = refused.json()["detail"]["message"]
    assert f"deploy {only.id} is the only one of {name} on {TEST_HOST}" in reason
    assert "no earlier deploy to return to" in reason
    assert [d.id for d in await _deploys_of(deployment, name)] == [only.id]
    assert _serving(name) == container

    [trail] = await audited(http, admin_token, service="deployer", action="deploy.rollback")
    assert (trail["outcome"], trail["actor"]["name"]) == ("refused", "alice")
    [failed] = await audited(http, admin_token, service="alerter", action="alerts.proposal")
    assert failed["outcome"] == "failed"
    assert "no earlier deploy to return to" in failed["detail"]
