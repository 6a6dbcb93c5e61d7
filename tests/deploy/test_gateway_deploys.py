"""Deploys through the gateway: `/api/deploys`, the journal as a channel on `/ws` and on
`/ws/deploy/{id}/status` (whole history, then live, resumable), polling, and the
confirmation question put to the user who started the deploy."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.deploy_support import TEST_HOST, Deployment, containers, serves
from tests.docker_engine import docker
from tests.grant_support import granted
from tests.journal_clients import queued
from tests.support import (
    NatsServer,
    bearer,
    bus_client,
    closed_with,
    receive,
    receive_until,
    send,
    until,
)
from vigil.messages import utc_now
from vigil_deployer.app import DeployerService


async def audited(
    http: httpx.AsyncClient, admin_token: str, action: str, deploy_id: str
) -> list[dict[str, Any]]:
    """The audit trail's `action` events on the deploy, once there are any."""

    async def found() -> list[dict[str, Any]] | None:
        query = {"action": action, "target": deploy_id, "service": "deployer"}
        page = await http.get("/api/audit", params=query, headers=bearer(admin_token))
        events: list[dict[str, Any]] = page.json()["events"]
        return events or None

    return await until(found, f"{action} of {deploy_id} in the audit trail")


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as client:
        yield client


def spec_json(deployment: Deployment, **fields: Any) -> dict[str, Any]:
    """A spec as a client sends it: no host (the only Docker host is the default)."""
    spec = json.loads(deployment.spec(**fields).model_dump_json(exclude={"host"}))
    assert isinstance(spec, dict)
    return spec


async def journal_frames(ws: ClientConnection, timeout: float = 20) -> list[dict[str, Any]]:
    """Update frames of a deploy channel until the one of its last step."""
    frames: list[dict[str, Any]] = []
    while not frames or frames[-1]["data"]["step"] != "done":
        frames.append(await receive_until(ws, lambda m: m["type"] == "update", timeout))
    return frames


async def test_an_operator_deploys_over_http_and_anyone_reads_it_back(
    deployer: DeployerService,
    deployment: Deployment,
    http: httpx.AsyncClient,
    admin_token: str,
) -> None:
    answer = await http.post(
        "/api/deploys", json=spec_json(deployment), headers=bearer(admin_token)
    )
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert (created["state"], created["spec"]["host"]) == ("queued", TEST_HOST)
    assert (created["requested_by"]["name"], created["requested_by"]["token"]) == ("admin", "")
    async with deployment.journal(created["id"]) as journal:
        await journal.ended()

    got = (await http.get(f"/api/deploys/{created['id']}", headers=bearer(admin_token))).json()
    assert (got["state"], got["step"]) == ("succeeded", "done")
    listed = await http.get(
        "/api/deploys",
        params={"name": created["spec"]["name"], "state": "succeeded", "limit": 5},
        headers=bearer(admin_token),
    )
    assert [d["id"] for d in listed.json()["deploys"]] == [created["id"]]
    assert listed.json()["total"] == 1
    hosts = await http.get("/api/deploys/hosts", headers=bearer(admin_token))
    assert hosts.json() == {"hosts": [TEST_HOST]}

    # Polling: the journal in pages (from its start), each event with its cursor.
    poll = f"/api/poll/deploy/{created['id']}/status"
    first = (await http.get(poll, params={"limit": 3}, headers=bearer(admin_token))).json()
    rest = (
        await http.get(poll, params={"since": first["next_cursor"]}, headers=bearer(admin_token))
    ).json()
    polled = [m["data"] for m in first["messages"] + rest["messages"]]
    assert len(first["messages"]) == 3
    assert polled == [json.loads(e.model_dump_json()) for e in journal.events]
    unknown = await http.get("/api/poll/deploy/nosuchdeploy/status", headers=bearer(admin_token))
    assert (unknown.status_code, unknown.json()["detail"]["code"]) == (404, "NOT_FOUND")

    missing = await http.get("/api/deploys/nosuchdeploy", headers=bearer(admin_token))
    assert (missing.status_code, missing.json()["detail"]["code"]) == (404, "NOT_FOUND")
    bad = await http.get("/api/deploys/no.such", headers=bearer(admin_token))
    assert bad.status_code == 422


async def test_a_viewer_cannot_start_or_cancel_a_deploy(
    deployer: DeployerService,
    deployment: Deployment,
    http: httpx.AsyncClient,
    admin_token: str,
) -> None:
    body = {"username": "vera", "password": "viewer-password", "roles": ["viewer"]}
    assert (await http.post("/api/auth/users", json=body, headers=bearer(admin_token))).is_success
    login = await http.post(
        "/api/auth/token", json={"username": "vera", "password": body["password"]}
    )
    viewer = login.json()["access_token"]

    refused = await http.post("/api/deploys", json=spec_json(deployment), headers=bearer(viewer))
    assert (refused.status_code, refused.json()["detail"]["code"]) == (403, "FORBIDDEN")
    cancel = await http.post("/api/deploys/anything/cancel", headers=bearer(viewer))
    assert cancel.status_code == 403
    assert (await http.get("/api/deploys", headers=bearer(viewer))).status_code == 200


async def test_a_subscriber_joining_after_the_end_gets_the_whole_history(
    deployer: DeployerService, deployment: Deployment, gateway: str, admin_token: str
) -> None:
    record, journal = await deployment.run(deployment.spec())
    expected = [json.loads(e.model_dump_json()) for e in journal.events]

    async with connect(f"ws://{gateway}/ws/deploy/{record.id}/status?token={admin_token}") as ws:
        frames = await journal_frames(ws)
    assert [f["data"] for f in frames] == expected
    cursors = [f["cursor"] for f in frames]
    assert cursors == sorted(cursors)

    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        await send(ws, {"type": "subscribe", "channel": "deploy", "params": {"id": record.id}})
        subscribed = await receive_until(ws, lambda m: m["type"] == "subscribed")
        assert subscribed["kind"] == "journal"
        again = await journal_frames(ws)
    assert [f["data"] for f in again] == expected

    # Server-Sent Events, for clients that cannot open a WebSocket; resumable by id.
    async with httpx.AsyncClient(base_url=f"http://{gateway}", timeout=10) as http:
        url = f"/sse/deploy/{record.id}/status"
        headers = bearer(admin_token) | {"Last-Event-ID": str(cursors[1])}
        async with http.stream("GET", url, headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = []
            async for line in stream.aiter_lines():
                lines.append(line)
                if sum(line.startswith("data: ") for line in lines) == len(expected) - 2:
                    break
    sent = [json.loads(line[len("data: ") :]) for line in lines if line.startswith("data: ")]
    ids = [int(line[len("id: ") :]) for line in lines if line.startswith("id: ")]
    assert [update["data"] for update in sent] == expected[2:]
    assert ids == cursors[2:]


async def test_an_unknown_deploy_is_not_found(
    deployer: DeployerService, gateway: str, admin_token: str
) -> None:
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        await send(ws, {"type": "subscribe", "channel": "deploy", "params": {"id": "nosuch"}})
        error = await receive_until(ws, lambda m: m["type"] == "error")
        assert error["code"] == "NOT_FOUND"
        await send(ws, {"type": "subscribe", "channel": "deploy"})
        assert (await receive_until(ws, lambda m: m["type"] == "error"))["code"] == "NOT_FOUND"
    async with connect(f"ws://{gateway}/ws/deploy/nosuch/status?token={admin_token}") as ws:
        error = await receive_until(ws, lambda m: m["type"] == "error")
        assert error["code"] == "NOT_FOUND"
        assert (await closed_with(ws))[0] == 1008


async def test_a_journal_says_whose_deploy_it_is_with_no_deployer_to_ask(
    gateway: str,
    admin_token: str,
    http: httpx.AsyncClient,
    nats_server: NatsServer,
    prefix: str,
) -> None:
    """Each event names the deploy's cluster, so the gateway admits watchers from the
    journal alone: a grant of another cluster is refused, one of this cluster is not."""
    ann = await granted(http, admin_token, "ann", ["alpha"])
    ben = await granted(http, admin_token, "ben", ["beta"])
    event = queued("0123456789abcdef").model_copy(update={"cluster": "beta"})
    async with bus_client(nats_server, prefix) as bus:
        await bus.publish(bus.subjects.deploy_events(event.deploy_id), event)
    channel = {"type": "subscribe", "channel": "deploy", "params": {"id": event.deploy_id}}
    async with connect(f"ws://{gateway}/ws?token={ann}") as ws:
        await send(ws, channel)
        error = await receive_until(ws, lambda m: m["type"] == "error")
        assert error["code"] == "FORBIDDEN"
        assert "beta" not in error["message"]
    for token in (ben, admin_token):
        async with connect(f"ws://{gateway}/ws?token={token}") as ws:
            await send(ws, channel)
            answer = await receive_until(ws, lambda m: m["type"] != "connected")
            assert answer["type"] == "subscribed", answer


async def test_a_subscriber_disconnecting_mid_deploy_resumes_without_loss(
    deployer: DeployerService, deployment: Deployment, gateway: str, admin_token: str
) -> None:
    record = await deployment.start(deployment.spec(health={"kind": "running", "seconds": 2}))
    channel = {"type": "subscribe", "channel": "deploy", "params": {"id": record.id}}
    async with deployment.journal(record.id) as journal:
        async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
            await send(ws, channel)
            before = [await receive_until(ws, lambda m: m["type"] == "update", 20)]
        # Gone while the deploy goes on, until it has journaled more; back with the
        # last cursor seen.
        away_since = utc_now()
        await journal.wait_for(lambda e: e.time > away_since, "an event while away")
        missed = [json.loads(e.model_dump_json()) for e in journal.events[len(before) :]]
        async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
            await send(ws, channel | {"since": before[-1]["cursor"]})
            after = await journal_frames(ws)
        await journal.ended()

    assert [f["data"] for f in after[: len(missed)]] == missed  # what it missed, first
    assert [f["data"] for f in before + after] == [
        json.loads(e.model_dump_json()) for e in journal.events
    ]  # then the rest: no gap, no duplicate
    assert len(after) > len(missed)  # and what came after
    cursors = [f["cursor"] for f in before + after]
    assert cursors == sorted(set(cursors))


async def test_an_operator_cancels_a_deploy_over_http(
    deployer: DeployerService,
    deployment: Deployment,
    http: httpx.AsyncClient,
    admin_token: str,
) -> None:
    spec = spec_json(deployment, health={"kind": "running", "seconds": 60})
    created = (await http.post("/api/deploys", json=spec, headers=bearer(admin_token))).json()
    async with deployment.journal(created["id"]) as journal:
        await journal.wait_for(lambda e: e.step == "health" and e.status == "started", "health")
        cancel = await http.post(
            f"/api/deploys/{created['id']}/cancel", headers=bearer(admin_token)
        )
        assert cancel.status_code == 202, cancel.text
        assert cancel.json()["cancel_requested_by"] == "admin"
        end = await journal.ended(timeout=15)

    assert end.state == "cancelled"
    assert "cancelled by admin" in end.message
    got = (await http.get(f"/api/deploys/{created['id']}", headers=bearer(admin_token))).json()
    assert (got["state"], got["step"]) == ("cancelled", "done")
    assert containers(deployment.prefix) == []  # a first deploy: nothing to go back to
    again = await http.post(f"/api/deploys/{created['id']}/cancel", headers=bearer(admin_token))
    assert (again.status_code, again.json()["detail"]["code"]) == (409, "CONFLICT")
    unknown = await http.post("/api/deploys/nosuchdeploy/cancel", headers=bearer(admin_token))
    assert (unknown.status_code, unknown.json()["detail"]["code"]) == (404, "NOT_FOUND")
    # Who started it and who cancelled it, in the audit trail (the second cancel failed).
    [started] = await audited(http, admin_token, "deploy.create", created["id"])
    assert (started["outcome"], started["actor"]["name"]) == ("done", "admin")
    assert f"as {created['spec']['name']} on {TEST_HOST} (" in started["detail"]
    [cancelled] = await audited(http, admin_token, "deploy.cancel", created["id"])
    assert (cancelled["outcome"], cancelled["actor"]["name"]) == ("done", "admin")


async def test_the_deploy_list_pages_with_offset_and_limit(
    deployer: DeployerService,
    deployment: Deployment,
    http: httpx.AsyncClient,
    admin_token: str,
) -> None:
    quick: dict[str, Any] = {
        "image": deployment.images.base,  # present already: no pull
        "command": ["sleep", "600"],
        "ports": [],
        "health": {"kind": "running", "seconds": 0},
    }
    started = [await deployment.start(deployment.spec(name=f"svc{n}", **quick)) for n in range(5)]
    for record in started:
        async with deployment.journal(record.id) as journal:
            assert (await journal.ended()).state == "succeeded"

    pages = []
    for offset in (0, 2, 4, 6):
        answer = await http.get(
            "/api/deploys", params={"offset": offset, "limit": 2}, headers=bearer(admin_token)
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert (page["total"], page["offset"], page["limit"]) == (5, offset, 2)
        pages.append([d["id"] for d in page["deploys"]])
    assert [len(page) for page in pages] == [2, 2, 1, 0]
    listed = [deploy_id for page in pages for deploy_id in page]  # disjoint and complete:
    assert listed == [record.id for record in reversed(started)]  # newest first


@pytest.mark.parametrize(
    ("strategy", "answer", "state", "now_serving"),
    [
        ("recreate", {"confirm": True}, "succeeded", "v2"),
        ("recreate", {"confirm": False}, "cancelled", "v1"),
        ("recreate", None, "failed", "v1"),
        ("start-first", {"confirm": True}, "succeeded", "v2"),
    ],
    ids=["yes", "no", "timeout", "start-first-yes"],
)
async def test_a_deploy_asks_its_user_before_the_switch_while_the_old_container_serves(
    deployer: DeployerService,
    deployment: Deployment,
    http: httpx.AsyncClient,
    gateway: str,
    admin_token: str,
    strategy: str,
    answer: dict[str, Any] | None,
    state: str,
    now_serving: str,
) -> None:
    first, _ = await deployment.run(deployment.spec(strategy=strategy))
    name = first.spec.name
    old = docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name)
    spec = spec_json(
        deployment,
        image=deployment.images.web(2),
        strategy=strategy,
        confirm=True,
        confirm_timeout_s=3 if answer is None else 20,
    )
    async with connect(f"ws://{gateway}/ws?token={admin_token}") as ws:
        await receive(ws)  # connected
        created = await http.post("/api/deploys", json=spec, headers=bearer(admin_token))
        deploy_id = created.json()["id"]
        ask = await receive_until(ws, lambda m: m["type"] == "ask", 20)
        assert (ask["kind"], ask["data"]["deploy_id"]) == ("confirm_deploy", deploy_id)
        async with deployment.journal(deploy_id) as journal:
            # While the question waits (all of it, when nobody answers), v1 answers.
            meanwhile = [await asyncio.to_thread(serves, name)]
            if answer is not None:
                await send(ws, {"type": "answer", "requestId": ask["requestId"], "data": answer})
            while answer is None and not any(e.step.value == "done" for e in journal.events):
                meanwhile.append(await asyncio.to_thread(serves, name))
            end = await journal.ended()

    assert set(meanwhile) == {"v1"}, meanwhile
    assert end.state == state
    [confirmation] = await audited(http, admin_token, "deploy.confirm", deploy_id)
    assert confirmation["actor"]["name"] == "admin"  # the one asked, whatever they said
    assert confirmation["outcome"] == ("done" if state == "succeeded" else "refused")
    assert serves(name) == now_serving
    assert containers(deployment.prefix) == [name]
    steps = [step for step, _ in journal.steps()]
    before_the_question = steps[: steps.index("confirm")]
    if strategy == "recreate":  # starting stops the old one: asked before anything stops
        assert "start" not in before_the_question, journal.steps()
        assert "stops on a yes" in ask["question"]
    else:  # both serve while the new one proves itself: asked once it is healthy
        assert "health" in before_the_question, journal.steps()
    if now_serving == "v1":
        assert "start" not in steps, journal.steps()
        assert docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", name) == old  # untouched
