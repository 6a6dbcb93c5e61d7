"""A container's logs beyond the live window, and the Docker endpoints' other transports:
scroll-back pages read from the engine (contiguous, ordered, to the log's start), and
the SSE and polling twins of `/ws/docker/stats` and `/ws/docker/{container}/logs`."""

import asyncio
import json
from typing import Any

import httpx

from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack, known
from tests.support import receive, wait_for
from vigil_gateway.settings import GatewaySettings

LINES = 450


def numbered(lines: list[dict[str, Any]]) -> list[int]:
    return [int(line["text"].split()[-1]) for line in lines]


async def logged(container: str, count: int) -> None:
    """Until the engine holds the container's `count` lines."""

    def has_all() -> bool:
        return len(docker("logs", container).splitlines()) >= count

    await wait_for(has_all, f"{count} lines logged", 20)


async def test_scroll_back_pages_reach_the_start_contiguous_and_ordered(
    docker_stack: DockerStack,
    containers: Containers,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> None:
    script = f"for i in $(seq 1 {LINES}); do echo line $i; done; sleep 3600"
    short, name = containers.run("history", "sh", "-c", script)
    await logged(short, LINES)
    async with (
        docker_stack.up() as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as http,
    ):
        auth = {"Authorization": f"Bearer {admin_token}"}
        await known(http, admin_token, short)
        async with docker_stack.socket(address, f"/ws/docker/{name}/logs") as ws:
            live: list[dict[str, Any]] = []
            while len(live) < gateway_settings.log_tail:  # the window the stream starts with
                message = await receive(ws, timeout=15)
                assert message["type"] == "update", message
                live += message["data"]["lines"]
        assert numbered(live) == list(range(LINES - len(live) + 1, LINES + 1))

        older: list[dict[str, Any]] = []
        before: str | None = live[0]["time"]
        pages = 0
        while before is not None:
            response = await http.get(
                f"/api/docker/{name[:8]}/logs", params={"before": before, "limit": 64}, headers=auth
            )
            assert response.status_code == 200, response.text
            page = response.json()
            assert page["channel"] == f"docker.logs?container={short}&host=testhost"
            older = page["lines"] + older
            before, pages = page["next_before"], pages + 1
        newest = await http.get(f"/api/docker/{short}/logs", params={"limit": 5}, headers=auth)
        bad = await http.get(f"/api/docker/{short}/logs", params={"limit": 0}, headers=auth)
        naive = await http.get(
            f"/api/docker/{short}/logs", params={"before": "2026-01-01T00:00:00"}, headers=auth
        )
        unknown = await http.get("/api/docker/nosuchcontainer/logs", headers=auth)
    assert numbered(older) + numbered(live) == list(range(1, LINES + 1))
    assert pages == -(-(LINES - len(live)) // 64)  # full pages back to the first line
    assert numbered(newest.json()["lines"]) == list(range(LINES - 4, LINES + 1))
    assert bad.status_code == 422
    assert naive.status_code == 422
    assert "time zone" in naive.json()["detail"]["message"]
    assert unknown.status_code == 404


async def test_sse_and_polling_twins_of_the_docker_endpoints(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    script = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done"
    short, name = containers.run("twins", "sh", "-c", script)
    async with (
        docker_stack.up() as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=20) as http,
    ):
        auth = {"Authorization": f"Bearer {admin_token}"}
        await known(http, admin_token, short)
        async with http.stream("GET", "/sse/docker/stats", headers=auth) as stats:
            event = await first_event(stats, lambda e: short in json.dumps(e))
        assert event["type"] == "docker_stats"
        polled_stats = (await http.get("/api/poll/docker/stats", headers=auth)).json()

        async with http.stream("GET", f"/sse/docker/{name}/logs", headers=auth) as logs:
            update = await first_event(logs, lambda e: e["type"] == "update")
        assert update["data"]["container"] == short
        assert update["data"]["lines"][0]["text"].startswith("tick ")

        first = (await http.get(f"/api/poll/docker/{name}/logs", headers=auth)).json()
        cursor, ticks = first["next_cursor"], []
        for _ in range(40):  # each poll renews the demand that keeps the logs followed
            await asyncio.sleep(0.25)
            page = (
                await http.get(
                    f"/api/poll/docker/{name}/logs", params={"since": cursor}, headers=auth
                )
            ).json()
            cursor = page["next_cursor"]
            for message in page["messages"]:
                ticks += numbered(message["data"]["lines"])
            if len(ticks) >= 20:
                break
    assert [m["type"] for m in polled_stats["messages"]] == ["docker_stats"]
    assert short in {c["id"] for c in polled_stats["messages"][0]["data"]["containers"]}
    assert len(ticks) >= 20, "polling alone should keep the logs coming"
    assert ticks == list(range(ticks[0], ticks[0] + len(ticks)))  # in order, none missing


async def first_event(response: httpx.Response, matches: Any) -> dict[str, Any]:
    async def scan() -> dict[str, Any]:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                event: dict[str, Any] = json.loads(line[5:])
                if matches(event):
                    return event
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(scan(), 20)
