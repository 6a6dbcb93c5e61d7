"""The Docker seed endpoints and channels, end to end: a real engine, the collector,
NATS, the gateway on uvicorn, and real WebSocket clients."""

import asyncio
import threading

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from tests.docker_engine import Containers, docker
from tests.docker_support import DockerStack, known
from tests.support import closed_with, receive, receive_until, send, wait_for

SEED_000_FIELDS = {
    "id",
    "name",
    "cpu_percent",
    "memory_usage",
    "memory_limit",
    "network_rx",
    "network_tx",
}


def following(container: str) -> bool:
    return any(t.name == f"vigil-logs-{container}" for t in threading.enumerate())


async def test_docker_stats_endpoint_speaks_seed_000(
    docker_stack: DockerStack,
    containers: Containers,
) -> None:
    short, name = containers.run("web", "sleep", "3600")
    async with (
        docker_stack.up() as address,
        docker_stack.socket(address, "/ws/docker/stats?host=testhost") as ws,
    ):
        message = await receive_until(
            ws,
            lambda m: short in {c["id"] for c in m["data"]["containers"]},
            timeout=15,
        )
    assert set(message) == {"type", "timestamp", "data"}
    assert message["type"] == "docker_stats"
    assert set(message["data"]) == {"host", "containers"}
    assert message["data"]["host"] == "testhost"
    ours = next(c for c in message["data"]["containers"] if c["id"] == short)
    assert set(ours) >= SEED_000_FIELDS
    assert ours["name"] == name
    assert ours["memory_limit"] >= ours["memory_usage"] > 0
    assert isinstance(ours["cpu_percent"], float)


async def test_containers_route_lists_the_latest_batch_of_each_host(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    short, _ = containers.run("api", "sleep", "3600")
    async with (
        docker_stack.up() as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        headers = {"Authorization": f"Bearer {admin_token}"}

        async def listed() -> set[str]:
            body = (await http.get("/api/docker/containers", headers=headers)).json()
            return {c["id"] for host in body["hosts"] for c in host["containers"]}

        seen: set[str] = set()
        while short not in seen:  # bounded by the test's timeout
            seen = await listed()
        assert (await http.get("/api/docker/containers")).status_code == 401
        bad = await http.get("/api/docker/containers?host=a.b", headers=headers)
        assert bad.status_code == 422


async def test_logs_endpoint_finds_a_container_by_name_prefix_and_streams_its_lines(
    docker_stack: DockerStack, containers: Containers
) -> None:
    script = "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.05; done"
    short, name = containers.run("counter", "sh", "-c", script)
    async with docker_stack.up(log_lease_s=1.5) as address:
        async with docker_stack.socket(address) as probe:  # the gateway knows the container
            await receive(probe)
            await send(probe, {"type": "subscribe", "channel": "docker.status"})
            await receive_until(
                probe, lambda m: m["type"] == "update" and m["data"].get("id") == short, timeout=15
            )
        async with docker_stack.socket(address, f"/ws/docker/{name[:-3]}/logs") as ws:
            numbers: list[int] = []
            while len(numbers) < 20:
                update = await receive_until(ws, lambda m: m["type"] == "update", timeout=10)
                assert update["channel"] == f"docker.logs?container={short}&host=testhost"
                assert update["cursor"] > 0
                numbers += [int(line["text"].split()[1]) for line in update["data"]["lines"]]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
            assert following(short), "the gateway's lease keeps the follower running"
        # Nobody watches any more: the lease is given up (or lapses) and the reader ends.
        await wait_for(lambda: not following(short), "the follower to stop", 10)


async def test_unknown_or_invalid_container_is_refused_not_an_empty_stream(
    docker_stack: DockerStack,
) -> None:
    async with docker_stack.up() as address:
        async with docker_stack.socket(address, "/ws/docker/nosuchcontainer/logs") as ws:
            error = await receive(ws)
            assert (error["type"], error["code"]) == ("error", "NOT_FOUND")
            assert "nosuchcontainer" in error["message"]
            assert (await closed_with(ws))[0] == 1008
        # A name that could never be a container is refused at the handshake.
        with pytest.raises(InvalidStatus) as refused:
            await docker_stack.socket(address, "/ws/docker/a*b/logs")
        assert refused.value.response.status_code == 403
        async with docker_stack.socket(address) as ws:
            await receive(ws)
            await send(
                ws,
                {"type": "subscribe", "channel": "docker.logs", "params": {"container": "nope"}},
            )
            error = await receive(ws)
            assert (error["type"], error["code"]) == ("error", "NOT_FOUND")
            await send(ws, {"type": "subscribe", "channel": "docker.logs"})
            error = await receive(ws)
            assert error["code"] == "NOT_FOUND"
            assert "'container' is required" in error["message"]
            await send(ws, {"type": "ping"})
            assert (await receive(ws))["type"] == "pong"  # the socket stays open


async def test_status_reaches_the_docker_status_channel_and_the_system_endpoint(
    docker_stack: DockerStack,
    containers: Containers,
) -> None:
    async with (
        docker_stack.up() as address,
        docker_stack.socket(address) as ws,
        docker_stack.socket(address, "/api/system/ws") as system,
    ):
        await receive(ws)
        await send(ws, {"type": "subscribe", "channel": "docker.status"})
        source = await receive_until(
            ws, lambda m: m["type"] == "update" and "available" in m["data"], timeout=15
        )
        assert source["data"]["available"] is True
        short, name = containers.run("status", "sleep", "3600")
        update = await receive_until(
            ws,
            lambda m: (
                m["type"] == "update"
                and m["data"].get("id") == short
                and m["data"]["event"] == "start"
            ),
            timeout=10,
        )
        assert update["data"]["status"] == "running"
        notice = await receive_until(
            system,
            lambda m: (
                m["type"] == "container_status"
                and m["data"]["container"] == name
                and m["data"]["status"] == "running"
            ),
            timeout=10,
        )
        assert {"container", "status", "time"} <= set(notice["data"])


async def test_log_lease_lives_while_any_replica_has_a_watcher(
    docker_stack: DockerStack,
    containers: Containers,
) -> None:
    short, _ = containers.run("shared", "sh", "-c", "while :; do echo tick; sleep 0.1; done")
    async with (
        docker_stack.up(log_lease_s=1.5) as first,
        docker_stack.gateway(log_lease_s=1.5) as second,
    ):
        one = await docker_stack.socket(first, f"/ws/docker/{short}/logs")
        two = await docker_stack.socket(second, f"/ws/docker/{short}/logs")
        try:
            for ws in (one, two):
                await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
            await one.close()
            # The second replica still renews: lines keep coming, well past a lease.
            deadline = asyncio.get_running_loop().time() + 3 * 1.5
            while asyncio.get_running_loop().time() < deadline:
                await receive_until(two, lambda m: m["type"] == "update", timeout=2)
            assert following(short)
        finally:
            await one.close()
            await two.close()
        await wait_for(lambda: not following(short), "the follower to stop", 10)


async def test_logs_start_with_only_the_last_tail_lines_then_the_live_ones_in_order(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    script = "seq 1 50; while [ ! -e /tmp/go ]; do sleep 0.05; done; seq 51 60; sleep 3600"
    short, name = containers.run("tail", "sh", "-c", script)
    await wait_for(lambda: "50" in docker("logs", name).split(), "the first 50 lines")
    async with (
        docker_stack.up(log_tail=10) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        await known(http, admin_token, short)
        async with docker_stack.socket(address, f"/ws/docker/{short}/logs") as ws:

            async def more() -> list[int]:
                update = await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
                return [int(line["text"]) for line in update["data"]["lines"]]

            numbers: list[int] = []
            while len(numbers) < 10:
                numbers += await more()
            assert numbers == list(range(41, 51))  # the last 10 of the 50 logged before
            docker("exec", name, "touch", "/tmp/go")
            while len(numbers) < 20:
                numbers += await more()
    assert numbers == list(range(41, 61))


async def test_host_filter_gives_only_that_hosts_stats_and_the_route_lists_every_host(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    short, _ = containers.run("twohosts", "sleep", "3600")
    async with (  # two collectors of one engine: the same containers, as two hosts
        docker_stack.collector("alpha"),
        docker_stack.collector("beta"),
        docker_stack.gateway() as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
        docker_stack.socket(address, "/ws/docker/stats?host=alpha") as alpha,
        docker_stack.socket(address, "/ws/docker/stats?host=beta") as beta,
    ):

        async def hosts_of_three_batches(ws: ClientConnection) -> list[str]:
            batches = [
                await receive_until(ws, lambda m: m["type"] == "docker_stats", timeout=15)
                for _ in range(3)
            ]
            assert short in {c["id"] for c in batches[-1]["data"]["containers"]}
            return [batch["data"]["host"] for batch in batches]

        # Both hosts publish over the same seconds; each socket hears only its own.
        heard_by = await asyncio.gather(hosts_of_three_batches(alpha), hosts_of_three_batches(beta))
        assert heard_by == [["alpha"] * 3, ["beta"] * 3]

        headers = {"Authorization": f"Bearer {admin_token}"}

        async def listed(**params: str) -> dict[str, set[str]]:
            body = (await http.get("/api/docker/containers", headers=headers, params=params)).json()
            return {
                batch["host"]: {c["id"] for c in batch["containers"]} for batch in body["hosts"]
            }

        for host in ("alpha", "beta"):  # the route's view has caught up with both
            await known(http, admin_token, f'"host": "{host}"')
        everything = await listed()
        assert set(everything) == {"alpha", "beta"}
        assert all(short in ids for ids in everything.values())
        assert set(await listed(host="beta")) == {"beta"}


async def test_an_ambiguous_name_prefix_is_refused_naming_the_containers_it_fits(
    docker_stack: DockerStack,
    containers: Containers,
    admin_token: str,
) -> None:
    one, first = containers.run("twin", "sleep", "3600")
    two, second = containers.run("twin", "sleep", "3600")
    shared = first[: first.rindex("-") + 1]  # vigil-<test>-twin-
    assert second.startswith(shared)
    async with (
        docker_stack.up() as address,
        httpx.AsyncClient(base_url=f"http://{address}") as http,
    ):
        for short in (one, two):
            await known(http, admin_token, short)
        async with docker_stack.socket(address, f"/ws/docker/{shared}/logs") as ws:
            error = await receive(ws)
            assert (error["type"], error["code"]) == ("error", "INVALID_MESSAGE")
            assert f"{shared!r} fits several containers" in error["message"]
            assert f"{first} ({one})" in error["message"]
            assert f"{second} ({two})" in error["message"]
            assert (await closed_with(ws))[0] == 1008
        assert not any(following(short) for short in (one, two))  # no lease was taken
