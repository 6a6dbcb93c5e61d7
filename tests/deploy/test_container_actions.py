"""Actions on Docker containers through the gateway (`/api/docker/.../actions`),
carried out by the deployer of the container's host on the real engine: the status
sequence each one causes, seen on a real socket (`docker.status`); who may act, and the
audit trail of each; the question before kill and remove; bad inputs."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from tests.deploy_support import TEST_HOST, deployer_settings_for, run_deployer
from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack
from tests.grant_support import granted
from tests.support import (
    NatsServer,
    audited,
    bearer,
    bus_client,
    free_port,
    receive,
    receive_until,
    send,
)
from vigil import ctl
from vigil.messages import ActOnContainer, CreateDeploy, DeploySpec, ErrorCode, RollBackDeploy
from vigil.model import Message
from vigil.operations import Actions, Deploy, Operation
from vigil_deployer.app import DeployerService

ACTION_EVENTS = {
    # the events a real engine emits for each action, in order (others may come between)
    "stop": (["die", "stop"], "exited"),
    "start": (["start"], "running"),
    "restart": (["die", "start", "restart"], "running"),
    "pause": (["pause"], "paused"),
    "unpause": (["unpause"], "running"),
    "kill": (["kill", "die"], "exited"),
}


def actions_path(container: str, host: str = TEST_HOST) -> str:
    return f"/api/docker/{host}/containers/{container}/actions"


@pytest.fixture
async def gateway_up(docker_stack: DockerStack, deployer: DeployerService) -> AsyncIterator[str]:
    """The collector of the local engine, a gateway and the deployer of `testhost`."""
    async with docker_stack.up() as address:
        yield address


@pytest.fixture
async def http(gateway_up: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway_up}", timeout=30) as client:
        yield client


async def status_events(ws: ClientConnection, short: str, last_event: str) -> list[tuple[str, str]]:
    """(event, status) of the container's updates on the socket, until `last_event`."""
    seen: list[tuple[str, str]] = []
    while not seen or seen[-1][0] != last_event:
        update = await receive_until(
            ws, lambda m: m["type"] == "update" and m["data"].get("id") == short, timeout=15
        )
        seen.append((update["data"]["event"], update["data"]["status"]))
    return seen


def in_order(wanted: list[str], seen: list[str]) -> bool:
    rest = iter(seen)
    return all(event in rest for event in wanted)


async def answer_the_question(ws: ClientConnection, name: str, confirm: bool) -> dict[str, Any]:
    ask = await receive_until(ws, lambda m: m["type"] == "ask", timeout=20)
    assert (ask["kind"], ask["data"]["name"]) == ("confirm_action", name)
    await send(ws, {"type": "answer", "requestId": ask["requestId"], "data": {"confirm": confirm}})
    return ask


async def test_each_action_changes_the_container_as_the_socket_shows_and_is_audited(
    docker_stack: DockerStack,
    gateway_up: str,
    http: httpx.AsyncClient,
    containers: Containers,
    admin_token: str,
) -> None:
    short, name = containers.run("acts", "sleep", "3600")
    async with docker_stack.socket(gateway_up) as ws:
        await receive(ws)  # connected
        params = {"container": short, "host": TEST_HOST}
        await send(ws, {"type": "subscribe", "channel": "docker.status", "params": params})
        await receive_until(
            ws, lambda m: m["type"] == "update" and m["data"].get("status") == "running", 15
        )
        for action, (events, final) in ACTION_EVENTS.items():
            body: dict[str, Any] = {"action": action}
            if action == "kill":
                body["signal"] = "KILL"
                asked = asyncio.create_task(answer_the_question(ws, name, confirm=True))
            answer = await http.post(actions_path(name), json=body, headers=bearer(admin_token))
            assert answer.status_code == 200, (action, answer.text)
            acted = answer.json()
            assert (acted["outcome"], acted["action"], acted["name"]) == ("done", action, name)
            assert acted["state"] == final, (action, acted)
            if action == "kill":
                await asked
            seen = await status_events(ws, short, events[-1])
            assert in_order(events, [event for event, _ in seen]), (action, seen)
            assert seen[-1][1] == final, (action, seen)

        # remove: asked first; then the container is gone, `destroy` on the socket
        asked = asyncio.create_task(answer_the_question(ws, name, confirm=True))
        answer = await http.post(
            actions_path(short), json={"action": "remove"}, headers=bearer(admin_token)
        )
        await asked
        assert (answer.json()["outcome"], answer.json()["state"]) == ("done", "removed")
        assert (await status_events(ws, short, "destroy"))[-1] == ("destroy", "removed")
    assert docker("ps", "-aq", "--filter", f"name={name}").strip() == ""

    # Each action is in the audit trail once, as the deployer saw it, with its actor.
    everything = [*ACTION_EVENTS, "remove"]
    events = await audited(
        http, admin_token, len(everything), service="deployer", target=name, action="container."
    )
    assert sorted(e["action"] for e in events) == sorted(f"container.{a}" for a in everything)
    assert {(e["actor"]["name"], e["outcome"]) for e in events} == {("admin", "done")}


async def test_remove_asks_first_and_a_no_leaves_the_container(
    docker_stack: DockerStack,
    gateway_up: str,
    http: httpx.AsyncClient,
    containers: Containers,
    admin_token: str,
) -> None:
    _, name = containers.run("keep", "sleep", "3600")
    async with docker_stack.socket(gateway_up) as ws:
        await receive(ws)
        asked = asyncio.create_task(answer_the_question(ws, name, confirm=False))
        body = {"action": "remove", "force": True, "volumes": True}
        answer = await http.post(actions_path(name), json=body, headers=bearer(admin_token))
        ask = await asked
    assert "Remove (and its anonymous volumes) container" in ask["question"]
    assert answer.status_code == 200, answer.text
    assert (answer.json()["outcome"], answer.json()["state"]) == ("declined", "running")
    assert docker("inspect", "-f", "{{.State.Status}}", name).strip() == "running"  # untouched
    [event] = await audited(http, admin_token, 1, service="deployer", target=name)
    assert (event["action"], event["outcome"]) == ("container.remove", "refused")
    assert "declined" in event["detail"]


async def test_a_destructive_action_nobody_confirms_does_nothing(
    docker_stack: DockerStack,
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    admin_token: str,
) -> None:
    settings = deployer_settings_for(nats_server, prefix, confirm_timeout_s=1)
    _, name = containers.run("unasked", "sleep", "3600")
    async with run_deployer(settings), docker_stack.up() as address:
        async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http:
            body = {"action": "kill"}
            answer = await http.post(actions_path(name), json=body, headers=bearer(admin_token))
    assert (answer.json()["outcome"], answer.json()["state"]) == ("declined", "running")
    assert "no confirmation from admin within 1 s" in answer.json()["detail"]
    assert docker("inspect", "-f", "{{.State.Status}}", name).strip() == "running"


async def test_a_viewer_is_refused_every_action_and_each_refusal_is_audited(
    http: httpx.AsyncClient, containers: Containers, admin_token: str
) -> None:
    _, name = containers.run("viewed", "sleep", "3600")
    viewer = await granted(http, admin_token, "vera", ["*"])
    everything = [*ACTION_EVENTS, "remove"]
    for action in everything:
        answer = await http.post(
            actions_path(name), json={"action": action}, headers=bearer(viewer)
        )
        assert (answer.status_code, answer.json()["detail"]["code"]) == (403, "FORBIDDEN")
    assert docker("inspect", "-f", "{{.State.Status}}", name).strip() == "running"
    refusals = await audited(
        http, admin_token, len(everything), actor="vera", action=f"POST {actions_path(name)}"
    )
    assert len(refusals) == len(everything)
    assert {(e["service"], e["outcome"]) for e in refusals} == {("gateway", "refused")}
    assert all("needs the operator role" in e["detail"] for e in refusals)


async def test_bad_inputs_get_clear_errors(
    http: httpx.AsyncClient, containers: Containers, admin_token: str
) -> None:
    short, name = containers.create("stopped", "sleep", "3600")

    async def post(body: dict[str, Any], container: str = name, host: str = TEST_HOST) -> Any:
        answer = await http.post(
            actions_path(container, host), json=body, headers=bearer(admin_token)
        )
        detail = answer.json()["detail"]
        if isinstance(detail, list):  # the body's shape (FastAPI's 422: where, what)
            return answer.status_code, "INVALID_MESSAGE", f"{detail[0]['loc']}: {detail[0]['msg']}"
        return answer.status_code, detail["code"], detail["message"]

    status, code, message = await post({"action": "restart"}, container="nosuchcontainer")
    assert (status, code) == (404, "NOT_FOUND")
    assert "nosuchcontainer" in message
    assert TEST_HOST in message
    # An id prefix shorter than `docker ps` shows is no name: the engine would guess.
    status, code, message = await post({"action": "start"}, container=short[:4])
    assert (status, code) == (404, "NOT_FOUND")
    assert (await post({"action": "pause"}, container=short))[:2] == (409, "CONFLICT")
    status, code, message = await post({"action": "kill", "signal": "SIGNOPE"})
    assert (status, code) == (422, "INVALID_MESSAGE")
    assert "signal 'SIGNOPE': not a signal" in message
    assert (await post({"action": "kill", "signal": "99"}))[:2] == (422, "INVALID_MESSAGE")
    status, code, message = await post({"action": "stop", "signal": "HUP"})
    assert (status, code) == (422, "INVALID_MESSAGE")
    assert "only kill takes one" in message
    assert (await post({"action": "explode"}))[:2] == (422, "INVALID_MESSAGE")
    assert (await post({"action": "stop", "timeout_s": -1}))[:2] == (422, "INVALID_MESSAGE")
    assert (await post({"action": "stop"}, container="a.b"))[:2] == (422, "INVALID_MESSAGE")
    status, code, message = await post({"action": "pause"})  # created, never started
    assert (status, code) == (409, "CONFLICT")
    assert "is not running" in message
    status, code, message = await post({"action": "start"}, host="nosuchhost")
    assert (status, code) == (404, "NOT_FOUND")
    assert "'nosuchhost' is not running" in message
    # A failure is audited too, with what the engine said.
    events = await audited(
        http, admin_token, 2, service="deployer", action="container.pause", target=name
    )
    assert {e["outcome"] for e in events} == {"failed"}


async def test_an_engine_that_does_not_answer_is_unavailable(
    nats_server: NatsServer,
    prefix: str,
    http: httpx.AsyncClient,
    admin_token: str,
) -> None:
    # (a TCP port nobody listens on: docker-py leaks the socket of a unix path that fails)
    settings = deployer_settings_for(
        nats_server, prefix, host="deadhost", docker_url=f"tcp://127.0.0.1:{free_port()}"
    )
    async with run_deployer(settings):
        answer = await http.post(
            actions_path("anything", "deadhost"),
            json={"action": "restart"},
            headers=bearer(admin_token),
        )
    assert (answer.status_code, answer.json()["detail"]["code"]) == (503, "UNAVAILABLE")
    assert "Docker is unreachable" in answer.json()["detail"]["message"]


async def test_a_bulk_action_answers_for_each_container_in_order(
    http: httpx.AsyncClient, containers: Containers, admin_token: str
) -> None:
    _, first = containers.run("bulk1", "sleep", "3600")
    _, second = containers.run("bulk2", "sleep", "3600")
    selection = [
        {"host": TEST_HOST, "container": first},
        {"host": TEST_HOST, "container": "nosuchcontainer"},
        {"host": "nosuchhost", "container": first},
        {"host": TEST_HOST, "container": second},
    ]
    body = {"action": "stop", "timeout_s": 0, "containers": selection}
    answer = await http.post("/api/docker/actions", json=body, headers=bearer(admin_token))
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [(r["host"], r["container"]) for r in results] == [
        (c["host"], c["container"]) for c in selection
    ]
    assert [r["ok"] for r in results] == [True, False, False, True]
    assert [r["acted"]["state"] for r in results if r["ok"]] == ["exited", "exited"]
    assert [r["error"]["code"] for r in results if not r["ok"]] == ["NOT_FOUND", "NOT_FOUND"]
    for name in (first, second):
        assert docker("inspect", "-f", "{{.State.Status}}", name).strip() == "exited"

    # The options are checked once for all: a signal on a stop is no action at all.
    bad = await http.post(
        "/api/docker/actions",
        json={"action": "stop", "signal": "HUP", "containers": selection[:1]},
        headers=bearer(admin_token),
    )
    assert (bad.status_code, bad.json()["detail"]["code"]) == (422, "INVALID_MESSAGE")
    assert "only kill takes one" in bad.json()["detail"]["message"]
    too_many = {"action": "start", "containers": selection[:1] * 51}
    refused = await http.post("/api/docker/actions", json=too_many, headers=bearer(admin_token))
    assert refused.status_code == 422


async def test_an_operator_of_another_host_may_not_act_here_nor_deploy_nor_roll_back(
    http: httpx.AsyncClient,
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    admin_token: str,
) -> None:
    _, name = containers.run("elsewhere", "sleep", "3600")
    otto = await granted(http, admin_token, "otto", ["otherhost"], role="operator")
    for action in [*ACTION_EVENTS, "remove"]:
        answer = await http.post(actions_path(name), json={"action": action}, headers=bearer(otto))
        assert (answer.status_code, answer.json()["detail"]["code"]) == (403, "FORBIDDEN")
        assert "otto has no grant for host 'testhost'" in answer.json()["detail"]["message"]
    body = {"action": "stop", "containers": [{"host": TEST_HOST, "container": name}] * 2}
    bulk = await http.post("/api/docker/actions", json=body, headers=bearer(otto))
    assert [r["error"]["code"] for r in bulk.json()["results"]] == ["FORBIDDEN"] * 2
    spec = {"image": "127.0.0.1:1/vigil/none:1", "name": f"{prefix}-svc", "host": TEST_HOST}
    deploy = await http.post("/api/deploys", json=spec, headers=bearer(otto))
    assert (deploy.status_code, deploy.json()["detail"]["code"]) == (403, "FORBIDDEN")
    assert docker("inspect", "-f", "{{.State.Status}}", name).strip() == "running"

    # The deployer checks the grant again itself: the same requests straight on the bus
    # (a deploy with no host too: the only host's grant, before anything is recorded).
    asked: list[tuple[Operation[Any, Any], Message]] = [
        (Actions.CONTAINER, ActOnContainer(host=TEST_HOST, container=name, action="kill")),
        (Deploy.CREATE, CreateDeploy(spec=DeploySpec.model_validate(spec))),
        (Deploy.CREATE, CreateDeploy(spec=DeploySpec.model_validate(spec | {"host": None}))),
        (Actions.ROLLBACK, RollBackDeploy(host=TEST_HOST, name=f"{prefix}-svc")),
    ]
    async with bus_client(nats_server, prefix) as bus:
        for operation, request in asked:
            with pytest.raises(ctl.Refused) as refusal:
                await ctl.call(bus, operation, request, token=otto)
            assert refusal.value.code is ErrorCode.FORBIDDEN, refusal.value
            assert "otto has no grant for host 'testhost'" in refusal.value.message
    assert docker("inspect", "-f", "{{.State.Status}}", name).strip() == "running"

    events = await audited(http, admin_token, 14, actor="otto", outcome="refused")
    said = sorted((e["service"], e["action"]) for e in events)
    at_the_gateway = [f"container.{a}" for a in [*ACTION_EVENTS, "remove"]] + ["container.stop"] * 2
    assert said == sorted(
        [("gateway", a) for a in [*at_the_gateway, "POST /api/deploys"]]
        + [("deployer", a) for a in ["container.kill", "deploy.create", "deploy.create"]]
        + [("deployer", "deploy.rollback")]
    ), said
