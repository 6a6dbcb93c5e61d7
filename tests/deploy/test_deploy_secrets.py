"""Deploy secrets are write-only (real deployer, real gateway, real Docker): environment
values and arguments given as `{"secret": "..."}` reach the container, and nothing a
viewer can read holds them — not the answer to the create, a read, the list, a
cancel's answer, the journal (on a socket and polled), the question put to the user
before the switch, a failure's reason that quotes the container's output, nor a log
line of the deployer or the gateway."""

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.deploy_support import HTTP_PORT, Deployment
from tests.docker_engine import docker
from tests.grant_support import granted
from tests.support import bearer, receive_until, send
from vigil_deployer.app import DeployerService

SERVE = f"exec httpd -f -p {HTTP_PORT} -h /www"


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as client:
        yield client


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log line of the services in this process (deployer, gateway, auth)."""
    caplog.set_level(logging.DEBUG, logger="vigil_deployer")
    caplog.set_level(logging.DEBUG, logger="vigil_gateway")
    return caplog


def spec_json(deployment: Deployment, **fields: Any) -> dict[str, Any]:
    spec = json.loads(deployment.spec(**fields).model_dump_json(exclude={"host"}))
    assert isinstance(spec, dict)
    return spec


def leaked(secrets: list[str], *readable: Any) -> list[str]:
    text = json.dumps(readable, default=str)
    return [secret for secret in secrets if secret in text]


def inspect(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(docker("inspect", name))[0]
    return found


async def test_secrets_reach_the_container_and_nothing_a_viewer_reads(
    deployer: DeployerService,
    deployment: Deployment,
    gateway: str,
    admin_token: str,
    http: httpx.AsyncClient,
    logs: pytest.LogCaptureFixture,
) -> None:
    secrets = ["pw-6e1f0c9a27", "tok-93b5d8e4c1"]
    body = spec_json(
        deployment,
        command=["sh", "-c", SERVE, {"secret": "tok-93b5d8e4c1"}],
        env={"DB_PASSWORD": "pw-6e1f0c9a27", "MODE": "blue"},
        confirm=True,
    )
    viewer = await granted(http, admin_token, "vic", [])
    seen: list[Any] = []
    async with (
        connect(f"ws://{gateway}/ws?token={admin_token}") as asked,
        connect(f"ws://{gateway}/ws?token={viewer}") as watching,
    ):
        await receive_until(asked, lambda m: m["type"] == "connected")
        created = await http.post("/api/deploys", json=body, headers=bearer(admin_token))
        assert created.status_code == 202, created.text
        deploy_id = created.json()["id"]
        seen.append(created.json())
        params = {"id": deploy_id}
        await send(watching, {"type": "subscribe", "channel": "deploy", "params": params})
        ask = await receive_until(asked, lambda m: m["type"] == "ask", 60)
        seen.append(ask)
        await send(
            asked, {"type": "answer", "requestId": ask["requestId"], "data": {"confirm": True}}
        )
        frames: list[dict[str, Any]] = []
        while not frames or frames[-1]["data"]["step"] != "done":
            frames.append(await receive_until(watching, lambda m: m["type"] == "update", 30))
    assert frames[-1]["data"]["state"] == "succeeded", frames[-1]
    seen += frames

    container = inspect(body["name"])
    assert "DB_PASSWORD=pw-6e1f0c9a27" in container["Config"]["Env"]
    assert container["Config"]["Cmd"] == ["sh", "-c", SERVE, "tok-93b5d8e4c1"]

    got = (await http.get(f"/api/deploys/{deploy_id}", headers=bearer(viewer))).json()
    assert got["spec"]["env"] == {"DB_PASSWORD": "***", "MODE": "***"}
    assert got["spec"]["command"] == ["sh", "-c", SERVE, {"secret": "***"}]
    listed = (await http.get("/api/deploys", headers=bearer(viewer))).json()
    polled = await http.get(f"/api/poll/deploy/{deploy_id}/status", headers=bearer(viewer))
    assert leaked(secrets, seen, got, listed, polled.json()) == []
    assert leaked(secrets, logs.text) == []


async def test_a_reason_quoting_the_containers_output_and_a_cancels_answer_hide_secrets(
    deployer: DeployerService,
    deployment: Deployment,
    admin_token: str,
    http: httpx.AsyncClient,
    logs: pytest.LogCaptureFixture,
) -> None:
    secrets = ["pw-0d4c7b2e95", "tok-5a8f1e6d30"]
    crashing = spec_json(
        deployment,
        name="crash",
        command=["sh", "-c", 'echo "connecting with $DB_PASSWORD"; exit 3'],
        env={"DB_PASSWORD": "pw-0d4c7b2e95"},
        health={"kind": "running", "seconds": 5},
    )
    created = await http.post("/api/deploys", json=crashing, headers=bearer(admin_token))
    async with deployment.journal(created.json()["id"]) as journal:
        await journal.ended()
    failed = await http.get(f"/api/deploys/{created.json()['id']}", headers=bearer(admin_token))
    assert failed.json()["state"] == "failed"
    assert "connecting with ***" in failed.json()["reason"]  # the output, its secret masked
    assert any("connecting with ***" in event.message for event in journal.events)

    sleeping = spec_json(
        deployment,
        name="sleeper",
        command=["sh", "-c", "sleep 60", {"secret": "tok-5a8f1e6d30"}],
        health={"kind": "running", "seconds": 60},
    )
    started = await http.post("/api/deploys", json=sleeping, headers=bearer(admin_token))
    deploy_id = started.json()["id"]
    async with deployment.journal(deploy_id) as journal:
        await journal.wait_for(lambda e: e.step == "health", "the health step")
        cancel = await http.post(f"/api/deploys/{deploy_id}/cancel", headers=bearer(admin_token))
        assert cancel.status_code == 202, cancel.text
        assert cancel.json()["spec"]["command"][-1] == {"secret": "***"}
        await journal.ended()
    events = [event.model_dump(mode="json") for event in journal.events]
    assert leaked(secrets, failed.json(), created.json(), cancel.json(), events) == []
    assert leaked(secrets, logs.text) == []
