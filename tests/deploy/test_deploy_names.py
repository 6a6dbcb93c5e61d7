"""A container is known by the name Docker gives it now: a deploy's switch renames the
new container from `{name}--{deploy}` to the service's name, and a plain `docker
rename` does the same. The collector follows Docker's `rename` event, so the status
channel, the stats, merged log views (by name and by label) and `vigil logs` all say
the new name. Real parts: Docker, the collector, the gateway, the deployer, the CLI."""

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.cli_support import vigil
from tests.deploy_support import HTTP_PORT, Deployment
from tests.docker_engine import Containers, docker
from tests.docker_support import docker_collector
from tests.support import NatsServer, receive, receive_until, run_collector, send
from vigil.messages import DeployState
from vigil_deployer.app import DeployerService

Check = Callable[[dict[str, Any]], bool]


def ticker(tag: str, *, serve: bool) -> list[str]:
    """A command printing `tag N` every 0.2 s (and serving the image's page on 8080)."""
    loop = f'i=0; while :; do i=$((i+1)); echo "{tag} $i"; sleep 0.2; done'
    return ["sh", "-c", f"{loop} & exec httpd -f -p {HTTP_PORT} -h /www" if serve else loop]


def short_id(name: str) -> str:
    return docker("inspect", "-f", "{{.Id}}", name).strip()[:12]


@asynccontextmanager
async def channel(
    address: str, token: str, name: str, params: dict[str, str] | None = None
) -> AsyncIterator[Any]:
    """A socket subscribed to one channel; yields a function that reads its updates
    (answering the server's pings) until one fits, within a deadline."""
    async with connect(f"ws://{address}/ws?token={token}", max_size=None) as ws:
        await receive(ws)  # connected
        await send(ws, {"type": "subscribe", "channel": name, "params": params or {}})
        subscribed = await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"}, 10)
        assert subscribed["type"] == "subscribed", subscribed

        async def until(matches: Check, what: str, timeout: float = 20.0) -> dict[str, Any]:
            return await _update_until(ws, matches, what, timeout)

        yield until


async def _update_until(
    ws: ClientConnection, matches: Check, what: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await receive(ws, timeout=left)
        except TimeoutError:
            break
        if message["type"] == "ping":
            await send(ws, {"type": "pong"})
        elif message["type"] == "update":
            if matches(message["data"]):
                return dict(message["data"])
            seen.append(message["data"])
    raise AssertionError(f"timed out waiting for {what}; last seen: {json.dumps(seen[-3:])}")


async def refusal(address: str, token: str, name: str, params: dict[str, str]) -> dict[str, Any]:
    """The error a subscription to `name` with `params` is refused with."""
    async with connect(f"ws://{address}/ws?token={token}") as ws:
        await receive(ws)  # connected
        await send(ws, {"type": "subscribe", "channel": name, "params": params})
        answer = await receive_until(ws, lambda m: m["type"] in {"subscribed", "error"}, 10)
    assert answer["type"] == "error", answer
    return answer


def a_line_of(container: str, name: str, tag: str) -> Check:
    """A merged batch with a line of `container`, named `name`, printing `tag`."""
    return lambda batch: any(
        line["container"] == container
        and line["name"] == name
        and line["text"].startswith(f"{tag} ")
        for line in batch["lines"]
    )


def status_of(container: str, name: str) -> Check:
    return lambda status: status.get("id") == container and status.get("name") == name


def stats_of(container: str, name: str) -> Check:
    return lambda batch: any(
        c["id"] == container and c["name"] == name for c in batch.get("containers", [])
    )


@pytest.mark.parametrize("strategy", ["recreate", "start-first"])
async def test_after_a_deploys_switch_the_container_is_known_by_the_services_name(
    nats_server: NatsServer,
    prefix: str,
    deployer: DeployerService,
    deployment: Deployment,
    gateway: str,
    admin_token: str,
    logged_in: dict[str, str],
    strategy: str,
) -> None:
    name = f"web-{prefix}"
    service = f"vigil.deploy.service={name}"
    async with (
        run_collector(docker_collector(nats_server, prefix)),
        channel(gateway, admin_token, "logs.merged", {"name": name}) as by_name,
        channel(gateway, admin_token, "logs.merged", {"label": service}) as by_label,
    ):
        first, _ = await deployment.run(
            deployment.spec(strategy=strategy, command=ticker("one", serve=True))
        )
        assert first.state is DeployState.SUCCEEDED, first.reason
        one = short_id(name)
        await by_name(a_line_of(one, name, "one"), "v1's lines in the view by name")

        second, _ = await deployment.run(
            deployment.spec(
                image=deployment.images.web(2),
                strategy=strategy,
                command=ticker("two", serve=True),
            )
        )
        assert second.state is DeployState.SUCCEEDED, second.reason
        two = short_id(name)
        assert two != one
        # The label view saw the new container join under its temporary name; its
        # lines now say the service's name, as do the lines of the view by name.
        await by_label(a_line_of(two, name, "two"), "v2's lines, renamed, by label")
        await by_name(a_line_of(two, name, "two"), "v2's lines in the view by name")

    async with (
        run_collector(docker_collector(nats_server, prefix)),
        channel(gateway, admin_token, "docker.status") as statuses,
        channel(gateway, admin_token, "docker.stats") as stats,
    ):
        await statuses(status_of(two, name), f"the status of {two} named {name}")
        await stats(stats_of(two, name), f"the stats of {two} named {name}")
        merged = await vigil(logged_in, "logs", "--name", name)
        single = await vigil(logged_in, "logs", name)

    assert merged.code == 0, merged.stderr
    assert f"{name} | two " in merged.stdout, merged.stdout + merged.stderr
    assert single.code == 0, single.stderr
    assert "two " in single.stdout, single.stdout + single.stderr


async def test_a_plain_docker_rename_is_followed_by_status_stats_views_and_vigil_logs(
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    gateway: str,
    admin_token: str,
    logged_in: dict[str, str],
) -> None:
    short, before = containers.run("before", *ticker("tick", serve=False))
    after = containers.name("after")
    label = f"vigil.test={containers.label}"
    async with (
        run_collector(docker_collector(nats_server, prefix)),
        channel(gateway, admin_token, "docker.status") as statuses,
        channel(gateway, admin_token, "docker.stats") as stats,
        channel(gateway, admin_token, "logs.merged", {"label": label}) as by_label,
    ):
        await statuses(status_of(short, before), "the status before the rename")
        await by_label(a_line_of(short, before, "tick"), "lines under the first name")
        async with channel(gateway, admin_token, "logs.merged", {"name": after}) as by_new_name:
            docker("rename", before, after)

            renamed = await statuses(status_of(short, after), "the status after the rename")
            assert (renamed["event"], renamed["status"]) == ("rename", "running")
            assert renamed["labels"] == {"vigil.test": containers.label}  # oldName is not one
            await stats(stats_of(short, after), "the stats after the rename")
            await by_label(a_line_of(short, after, "tick"), "lines under the new name")
            await by_new_name(a_line_of(short, after, "tick"), "the view of the new name")
        merged = await vigil(logged_in, "logs", "--name", after)
        single = await vigil(logged_in, "logs", after)
        gone = await refusal(gateway, admin_token, "docker.logs", {"container": before})

    assert merged.code == 0, merged.stderr
    assert f"{after} | tick " in merged.stdout, merged.stdout + merged.stderr
    assert single.code == 0, single.stderr
    assert "tick " in single.stdout, single.stdout + single.stderr
    assert (gone["code"], gone["message"]) == ("NOT_FOUND", f"no container {before!r}")
