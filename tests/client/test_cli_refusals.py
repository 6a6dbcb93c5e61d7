"""A `vigil` command the gateway refuses says so on stderr, with the gateway's code and
message, and exits 1; one the rate limit holds back for a while says that it waits,
then goes on. Real `vigil` processes against a real gateway with small limits."""

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.cli_support import environment, running, vigil
from tests.support import raise_alert, serve_gateway
from vigil.bus import Bus
from vigil_auth.app import AuthService
from vigil_cli.config import ClientConfig
from vigil_cli.config import save as save_config
from vigil_gateway.settings import GatewaySettings

LoggedIn = Callable[..., contextlib.AbstractAsyncContextManager[tuple[str, dict[str, str]]]]


@pytest.fixture
def logged_in_to(
    auth_service: AuthService,
    gateway_settings: GatewaySettings,
    admin_token: str,
    config: Path,
    alerts_bus: Bus,
) -> LoggedIn:
    """`logged_in_to(**changes)`: a gateway of its own (the test's settings with
    `changes`, alerts kept), and the environment of a `vigil` logged in to it as the
    admin."""

    @contextlib.asynccontextmanager
    async def serve(**changes: object) -> AsyncIterator[tuple[str, dict[str, str]]]:
        async with serve_gateway(gateway_settings.model_copy(update=changes)) as gateway:
            save_config(config, ClientConfig(url=f"http://{gateway}", access_token=admin_token))
            yield gateway, environment(config)

    return serve


async def spend_subscribes(gateway: str, token: str, count: int) -> None:
    """`count` subscribes of the user's budget, on a socket of their own."""
    async with connect(f"ws://{gateway}/ws?token={token}", proxy=None) as socket:
        assert json.loads(await socket.recv())["type"] == "connected"
        for n in range(count):
            subscribe = {"type": "subscribe", "channel": "alerts", "params": {"source": f"s{n}"}}
            await socket.send(json.dumps(subscribe))
            answer = json.loads(await socket.recv())
            assert answer["type"] == "subscribed", answer


async def test_commands_the_rate_limit_refuses_say_so_and_exit_1(
    logged_in_to: LoggedIn, admin_token: str
) -> None:
    # Two subscribes, then one every 1000 s: a wait past any command's patience.
    limits = {"rate_limit_subscribe_burst": 2, "rate_limit_subscribe_per_s": 0.001}
    async with logged_in_to(**limits) as (gateway, env):
        await spend_subscribes(gateway, admin_token, 2)
        for command in (
            ("logs", "--label", "vigil.test=none"),  # a merged view, without -f
            ("logs", "--name", "web*", "-f"),
            ("alerts", "-f"),
            ("top",),
        ):
            done = await vigil(env, *command)
            assert done.code == 1, (command, done)
            assert "more than 2 requests at once" in done.stderr, (command, done.stderr)
            assert "(RATE_LIMITED)" in done.stderr, (command, done.stderr)


@pytest.mark.timeout(120)
async def test_a_command_held_back_by_the_rate_limit_says_it_waits_then_goes_on(
    logged_in_to: LoggedIn, admin_token: str, alerts_bus: Bus
) -> None:
    # One subscribe, then one every 30 s: the command subscribes well within that (even
    # on a loaded machine) and waits the rest, within its patience (60 s).
    limits = {"rate_limit_subscribe_burst": 1, "rate_limit_subscribe_per_s": 1 / 30}
    async with logged_in_to(**limits) as (gateway, env):
        await raise_alert(alerts_bus, 0)
        await spend_subscribes(gateway, admin_token, 1)
        async with running(env, "alerts", "-f", "--json") as follower:
            await follower.read_until(lambda seen: len(seen) == 1, "the kept alert")
            await raise_alert(alerts_bus, 1)  # comes once the subscribe passes
            lines = await follower.read_until(
                lambda seen: len(seen) == 2, "the new alert", timeout=45
            )
            ended = await follower.interrupt()
    assert [json.loads(line)["message"] for line in lines] == ["alert 0", "alert 1"]
    assert "(RATE_LIMITED); trying again in" in ended.stderr, ended.stderr
    assert ended.code == 130


async def test_a_user_over_the_socket_limit_is_told_so(
    logged_in_to: LoggedIn, admin_token: str
) -> None:
    limits = {"max_connections_per_user": 1}
    async with (
        logged_in_to(**limits) as (gateway, env),
        connect(f"ws://{gateway}/ws?token={admin_token}", proxy=None) as held,
    ):
        assert json.loads(await held.recv())["type"] == "connected"
        done = await vigil(env, "alerts", "-f")
    assert done.code == 1, done
    assert "admin already holds 1 sockets here, the most allowed (1008)" in done.stderr
