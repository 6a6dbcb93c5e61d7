"""Interactive shells in containers through the gateway (`/ws/docker/.../exec`), the
bytes over NATS to the deployer of the host and the real engine's exec: a command and
its output, a resize, the ends (exit, idle), who may open one (exec on, operator,
granted the host; refused and audited otherwise, at the gateway and at the deployer), a
client that does not read, and the audit trail of each session."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.cli_support import vigil
from tests.deploy_support import TEST_HOST, deployer_settings_for, run_deployer
from tests.docker_engine import Containers
from tests.docker_support import DockerStack
from tests.grant_support import bearer, granted
from tests.shell_support import (
    ended,
    exec_gateway_settings,
    opened,
    output_until,
    refused,
    shell_socket,
    stalls_and_resumes,
)
from tests.support import NatsServer, audited, bus_client, closed_with
from vigil import ctl
from vigil.messages import ErrorCode, OpenShell
from vigil.operations import Shells
from vigil_deployer.app import DeployerService
from vigil_gateway.settings import GatewaySettings

WINDOW = 16_384


@pytest.fixture
def gateway_settings(nats_server: NatsServer, prefix: str) -> GatewaySettings:
    """The tests' gateways: exec on, a small window."""
    return exec_gateway_settings(nats_server, prefix, WINDOW)


@pytest.fixture
def idle_s() -> float:
    """How long the deployer lets a shell idle (a test may parametrize it)."""
    return 3.0


@pytest.fixture
async def shell_deployer(
    nats_server: NatsServer, prefix: str, idle_s: float
) -> AsyncIterator[DeployerService]:
    """The deployer of `testhost` with exec on, shells idle after `idle_s`, the first 20
    bytes typed into each kept in the audit trail."""
    settings = deployer_settings_for(
        nats_server,
        prefix,
        exec_enabled=True,
        exec_idle_s=idle_s,
        exec_window_bytes=WINDOW,
        exec_record_input_bytes=20,
    )
    async with run_deployer(settings) as service:
        yield service


@pytest.fixture
async def gateway_up(
    docker_stack: DockerStack, shell_deployer: DeployerService
) -> AsyncIterator[str]:
    async with docker_stack.gateway() as address:
        yield address


@pytest.fixture
async def http(gateway_up: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway_up}", timeout=30) as client:
        yield client


async def test_a_shell_runs_a_command_resizes_exits_and_is_audited_once(
    gateway_up: str, http: httpx.AsyncClient, containers: Containers, admin_token: str
) -> None:
    _, name = containers.run("shell", "sleep", "3600")
    async with shell_socket(gateway_up, admin_token, TEST_HOST, name, cols=90, rows=30) as ws:
        session = await opened(ws)
        assert (session["host"], session["name"]) == (TEST_HOST, name)
        await ws.send(b"stty size; echo answer-$((6 * 7))\n")
        assert b"30 90" in await output_until(ws, b"answer-42")
        await ws.send(json.dumps({"type": "resize", "cols": 123, "rows": 45}))
        await ws.send(b"stty size\n")
        await output_until(ws, b"45 123")
        await ws.send(b"exit 3\n")
        end = await ended(ws)
        assert (end["reason"], end["exit_code"]) == ("exited", 3)
        assert (await closed_with(ws))[0] == 1000

    opens = await audited(http, admin_token, 1, service="deployer", action="container.exec")
    ends = await audited(http, admin_token, 1, service="deployer", action="container.exec_ended")
    exec_events = [e for e in opens if e["action"] == "container.exec"]
    assert len(exec_events) == 1, opens
    assert len(ends) == 1, ends
    for event in (exec_events[0], ends[0]):
        assert (event["actor"]["name"], event["outcome"]) == ("admin", "done")
        assert event["target"] == f"container {TEST_HOST}/{name}"
        assert session["session"] in event["detail"]
    assert "exited (exit code 3) after" in ends[0]["detail"]
    (typed,) = await audited(http, admin_token, 1, action="container.exec_input")
    assert typed["detail"].endswith("typed (20 bytes kept): stty size; echo answ"), typed


async def test_a_shell_nobody_types_in_ends_on_idle(
    gateway_up: str, containers: Containers, admin_token: str
) -> None:
    _, name = containers.run("idle", "sleep", "3600")
    async with shell_socket(gateway_up, admin_token, TEST_HOST, name) as ws:
        await opened(ws)
        end = await ended(ws, timeout=15)
        assert end["reason"] == "idle", end
        assert (await closed_with(ws))[0] == 1000


async def test_a_shell_of_a_disabled_user_is_closed_with_4001(
    gateway_up: str, http: httpx.AsyncClient, containers: Containers, admin_token: str
) -> None:
    _, name = containers.run("revoked", "sleep", "3600")
    operator = await granted(
        http, admin_token, "olga", ["*"], role="operator", permissions=("exec",)
    )
    async with shell_socket(gateway_up, operator, TEST_HOST, name) as ws:
        await opened(ws)
        disabled = await http.post("/api/auth/users/olga/disable", headers=bearer(admin_token))
        assert disabled.status_code == 200, disabled.text
        end = await ended(ws)
        assert (end["reason"], end["detail"]) == ("closed", "user revoked"), end
        assert (await closed_with(ws))[0] == 4001
    ends = await audited(http, admin_token, 1, action="container.exec_ended", actor="olga")
    assert "closed: user revoked" in ends[0]["detail"], ends


async def test_a_gateway_holds_at_most_its_number_of_shells(
    docker_stack: DockerStack,
    shell_deployer: DeployerService,
    containers: Containers,
    admin_token: str,
) -> None:
    _, name = containers.run("most", "sleep", "3600")
    async with docker_stack.gateway(exec_max_shells=1) as address:
        async with shell_socket(address, admin_token, TEST_HOST, name) as first:
            await opened(first)
            async with shell_socket(address, admin_token, TEST_HOST, name) as second:
                code, reason = await closed_with(second, timeout=10)
            assert (code, reason) == (1013, "this gateway holds its maximum of 1 shells")


async def test_exec_off_is_refused_at_the_gateway_and_at_the_deployer(
    docker_stack: DockerStack,
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    admin_token: str,
) -> None:
    _, name = containers.run("off", "sleep", "3600")
    settings = deployer_settings_for(nats_server, prefix)  # exec off
    async with run_deployer(settings):
        async with docker_stack.gateway(exec_enabled=False) as address:  # off here too
            async with shell_socket(address, admin_token, TEST_HOST, name) as ws:
                reason = await refused(ws)
            assert "exec is off on this gateway" in reason, reason
        async with docker_stack.gateway() as address:  # on here only
            async with shell_socket(address, admin_token, TEST_HOST, name) as ws:
                reason = await refused(ws)
            assert "exec is off (VIGIL_EXEC_ENABLED)" in reason, reason


async def test_a_viewer_and_an_operator_of_another_host_are_refused_and_audited(
    gateway_up: str,
    http: httpx.AsyncClient,
    nats_server: NatsServer,
    prefix: str,
    containers: Containers,
    admin_token: str,
) -> None:
    _, name = containers.run("denied", "sleep", "3600")
    viewer = await granted(http, admin_token, "vera", ["*"])
    elsewhere = await granted(
        http, admin_token, "otto", ["otherhost"], role="operator", permissions=("exec",)
    )
    async with shell_socket(gateway_up, viewer, TEST_HOST, name) as ws:
        reason = await refused(ws)
    assert "operator role" in reason, reason
    async with shell_socket(gateway_up, elsewhere, TEST_HOST, name) as ws:
        reason = await refused(ws)
    assert "no grant for host 'testhost'" in reason, reason

    # The deployer checks the grant again itself: the same request straight on the bus.
    tokens = await http.post(
        "/api/auth/token", json={"username": "otto", "password": "otto-password-1"}
    )
    request = OpenShell(session="0" * 32, host=TEST_HOST, container=name)
    async with bus_client(nats_server, prefix) as bus:
        with pytest.raises(ctl.Refused) as refusal:
            await ctl.call(bus, Shells.OPEN, request, token=tokens.json()["access_token"])
    assert refusal.value.code is ErrorCode.FORBIDDEN

    events = await audited(http, admin_token, 3, action="container.exec")
    by = {(e["service"], e["actor"]["name"], e["outcome"]) for e in events}
    assert by == {
        ("gateway", "vera", "refused"),
        ("gateway", "otto", "refused"),
        ("deployer", "otto", "refused"),
    }, events


@pytest.mark.parametrize("idle_s", [60.0])  # a stalled shell moves no byte: it idles
async def test_a_client_that_does_not_read_backs_the_output_up_to_the_process(
    gateway_up: str, shell_deployer: DeployerService, containers: Containers, admin_token: str
) -> None:
    _, name = containers.run("flood", "sleep", "3600")
    async with shell_socket(gateway_up, admin_token, TEST_HOST, name) as ws:
        await opened(ws)
        await ws.send(b"yes flood-flood-flood-flood\n")
        await output_until(ws, b"flood-flood")
        (session,) = shell_deployer.shells.sessions.values() if shell_deployer.shells else ()
        await stalls_and_resumes(ws, lambda: session.stream.sent)
        # Ctrl-C through the terminal stops `yes`; the flood drains, the shell exits.
        await ws.send(b"\x03")
        await ws.send(b"exit\n")
        assert (await ended(ws, timeout=20))["reason"] == "exited"


async def test_vigil_exec_runs_a_command_and_exits_with_its_status(
    shell_deployer: DeployerService, logged_in: dict[str, str], containers: Containers
) -> None:
    _, name = containers.run("cli", "sleep", "3600")
    typed = "echo cli-$((2 * 21)); exit 7\n"
    done = await vigil(logged_in, "exec", name, "--", "sh", stdin=typed, timeout=30)
    assert done.code == 7, done
    assert "cli-42" in done.stdout, done

    refused = await vigil(logged_in, "exec", "nosuchcontainer", timeout=30)
    assert refused.code == 1, refused
    assert "nosuchcontainer" in refused.stderr, refused
