"""Interactive shells in pods through the gateway
(`/ws/k8s/{cluster}/namespaces/{ns}/pods/{pod}/exec`), the bytes over NATS to the
deployer of the cluster and the API server's exec WebSocket: a command and its output,
a resize, the ends (exit, idle), who may open one (exec on, granted the cluster;
refused and audited otherwise, at the gateway and at the deployer), and the audit trail
of each session."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from kubernetes import client

from tests.cli_support import vigil
from tests.deploy_support import run_deployer
from tests.grant_support import bearer, granted
from tests.k8s_cluster import Cluster
from tests.k8s_support import container, eventually, k8s_deployer_settings, run_pod
from tests.shell_support import (
    ended,
    exec_gateway_settings,
    opened,
    output_until,
    pod_shell_socket,
    refused,
    stalls_and_resumes,
)
from tests.support import NatsServer, audited, bus_client, closed_with, until
from vigil import ctl
from vigil.messages import ErrorCode, OpenPodShell
from vigil.operations import Shells
from vigil_deployer.app import DeployerService
from vigil_gateway.settings import GatewaySettings

WINDOW = 16_384


@pytest.fixture
def gateway_settings(nats_server: NatsServer, prefix: str) -> GatewaySettings:
    """The tests' gateways: exec on, a small window."""
    return exec_gateway_settings(nats_server, prefix, WINDOW)


@pytest.fixture
def exec_enabled() -> bool:
    """Whether the deployer of the cluster opens shells (a test may parametrize it)."""
    return True


@pytest.fixture
def idle_s() -> float:
    """How long the deployer lets a shell idle (a test may parametrize it)."""
    return 3.0


@pytest.fixture
async def pod_deployer(
    nats_server: NatsServer, prefix: str, k8s_cluster: Cluster, exec_enabled: bool, idle_s: float
) -> AsyncIterator[DeployerService]:
    """The deployer of the cluster, its shells idle after `idle_s`."""
    settings = k8s_deployer_settings(
        nats_server,
        prefix,
        k8s_cluster,
        exec_enabled=exec_enabled,
        exec_idle_s=idle_s,
        exec_window_bytes=WINDOW,
    )
    async with run_deployer(settings) as service:
        yield service


@pytest.fixture
async def shell_gateway(pod_deployer: DeployerService, gateway: str) -> str:
    """The gateway's address, the deployer of the cluster running."""
    return gateway


@pytest.fixture
async def http(shell_gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{shell_gateway}", timeout=30) as client:
        yield client


@pytest.fixture
async def pod(k8s_cluster: Cluster, namespace: str) -> str:
    """A running pod of two containers, `app` and `side`."""
    run_pod(
        k8s_cluster,
        namespace,
        "lone",
        container("app", k8s_cluster.image, "sleep 3600"),
        container("side", k8s_cluster.image, "sleep 3600"),
    )

    def running() -> bool:
        with k8s_cluster.api_client() as api:
            found = client.CoreV1Api(api).read_namespaced_pod("lone", namespace)
        return bool(found.status.phase == "Running")

    await eventually(running, "the pod running", 60)
    return "lone"


async def refused_on_the_bus(
    nats_server: NatsServer, prefix: str, request: OpenPodShell, token: str
) -> ErrorCode:
    """The code of the deployer's refusal of `request`, asked straight on the bus (past
    the gateway's checks)."""
    async with bus_client(nats_server, prefix) as bus:
        with pytest.raises(ctl.Refused) as refusal:
            await ctl.call(bus, Shells.OPEN_POD, request, token=token)
    return refusal.value.code


async def test_a_pod_shell_runs_a_command_resizes_exits_and_is_audited_once(
    shell_gateway: str,
    http: httpx.AsyncClient,
    k8s_cluster: Cluster,
    namespace: str,
    pod: str,
    admin_token: str,
) -> None:
    cluster = k8s_cluster.context
    async with pod_shell_socket(
        shell_gateway, admin_token, cluster, namespace, pod, container="side", cols=90, rows=30
    ) as ws:
        session = await opened(ws, timeout=20)
        assert (session["host"], session["container"], session["name"]) == (
            cluster,
            "side",
            f"{namespace}/{pod}",
        )
        await ws.send(b"stty size; echo answer-$((6 * 7))\n")
        assert b"30 90" in await output_until(ws, b"answer-42")
        await ws.send(json.dumps({"type": "resize", "cols": 123, "rows": 45}))
        await ws.send(b"stty size\n")
        await output_until(ws, b"45 123")
        await ws.send(b"exit 3\n")
        end = await ended(ws)
        assert (end["reason"], end["exit_code"]) == ("exited", 3)
        assert (await closed_with(ws))[0] == 1000

    target = f"pod {cluster}/{namespace}/{pod}"
    opens = await audited(http, admin_token, 1, service="deployer", action="pod.exec")
    ends = await audited(http, admin_token, 1, service="deployer", action="pod.exec_ended")
    exec_events = [e for e in opens if e["action"] == "pod.exec"]
    assert len(exec_events) == 1, opens
    assert len(ends) == 1, ends
    for event in (exec_events[0], ends[0]):
        assert (event["actor"]["name"], event["outcome"], event["target"]) == (
            "admin",
            "done",
            target,
        )
        assert session["session"] in event["detail"]
    assert "exited (exit code 3) after" in ends[0]["detail"]


async def test_a_pod_shell_opens_in_the_first_container_and_ends_on_idle(
    shell_gateway: str, k8s_cluster: Cluster, namespace: str, pod: str, admin_token: str
) -> None:
    async with pod_shell_socket(
        shell_gateway, admin_token, k8s_cluster.context, namespace, pod
    ) as ws:
        assert (await opened(ws, timeout=20))["container"] == "app"
        end = await ended(ws, timeout=15)
        assert end["reason"] == "idle", end
        assert (await closed_with(ws))[0] == 1000


async def test_a_container_the_pod_has_not_is_refused_by_name(
    shell_gateway: str, k8s_cluster: Cluster, namespace: str, pod: str, admin_token: str
) -> None:
    async with pod_shell_socket(
        shell_gateway, admin_token, k8s_cluster.context, namespace, pod, container="nope"
    ) as ws:
        reason = await refused(ws)
    assert f"pod {namespace}/{pod} has no container 'nope' (app, side)" in reason, reason


@pytest.mark.parametrize("idle_s", [60.0])  # a stalled shell moves no byte: it idles
async def test_a_client_that_does_not_read_backs_the_output_up_to_the_pods_process(
    shell_gateway: str,
    pod_deployer: DeployerService,
    k8s_cluster: Cluster,
    namespace: str,
    pod: str,
    admin_token: str,
) -> None:
    async with pod_shell_socket(
        shell_gateway, admin_token, k8s_cluster.context, namespace, pod
    ) as ws:
        await opened(ws, timeout=20)
        await ws.send(b"yes flood-flood-flood-flood\n")
        await output_until(ws, b"flood-flood")
        shells = pod_deployer.shells
        (session,) = shells.sessions.values() if shells else ()
        await stalls_and_resumes(ws, lambda: session.stream.sent)

    # The client gone, the session ends (what the API server still holds is dropped).
    async def gone() -> bool | None:
        return (pod_deployer.shells is None or not pod_deployer.shells.sessions) or None

    await until(gone, "the session's end", 15)


@pytest.mark.parametrize("exec_enabled", [False])
async def test_exec_off_at_the_deployer_of_the_cluster_is_refused(
    shell_gateway: str, k8s_cluster: Cluster, namespace: str, pod: str, admin_token: str
) -> None:
    async with pod_shell_socket(
        shell_gateway, admin_token, k8s_cluster.context, namespace, pod
    ) as ws:
        reason = await refused(ws)
    assert "exec is off (VIGIL_EXEC_ENABLED)" in reason, reason


async def test_a_viewer_and_an_operator_of_another_cluster_are_refused_and_audited(
    shell_gateway: str,
    http: httpx.AsyncClient,
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    pod: str,
    admin_token: str,
) -> None:
    cluster = k8s_cluster.context
    viewer = await granted(http, admin_token, "vera", ["*"])
    elsewhere = await granted(
        http, admin_token, "otto", ["elsewhere"], role="operator", permissions=("exec",)
    )
    async with pod_shell_socket(shell_gateway, viewer, cluster, namespace, pod) as ws:
        reason = await refused(ws)
    assert "operator role" in reason, reason
    async with pod_shell_socket(shell_gateway, elsewhere, cluster, namespace, pod) as ws:
        reason = await refused(ws)
    assert f"no grant for cluster {cluster!r}" in reason, reason

    # The deployer checks the grant again itself: the same request straight on the bus.
    tokens = await http.post(
        "/api/auth/token", json={"username": "otto", "password": "otto-password-1"}
    )
    request = OpenPodShell(session="0" * 32, cluster=cluster, namespace=namespace, pod=pod)
    token = tokens.json()["access_token"]
    assert await refused_on_the_bus(nats_server, prefix, request, token) is ErrorCode.FORBIDDEN

    events = await audited(http, admin_token, 3, action="pod.exec")
    by = {(e["service"], e["actor"]["name"], e["outcome"], e["target"]) for e in events}
    target = f"pod {cluster}/{namespace}/{pod}"
    assert by == {
        ("gateway", "vera", "refused", target),
        ("gateway", "otto", "refused", target),
        ("deployer", "otto", "refused", target),
    }, events
    assert (await http.get("/api/audit", headers=bearer(viewer))).status_code == 403


async def test_an_operator_needs_the_exec_permission_which_a_viewer_cannot_be_given(
    shell_gateway: str,
    http: httpx.AsyncClient,
    nats_server: NatsServer,
    prefix: str,
    k8s_cluster: Cluster,
    namespace: str,
    pod: str,
    admin_token: str,
) -> None:
    cluster = k8s_cluster.context
    plain = await granted(http, admin_token, "opal", ["*"], role="operator")
    trusted = await granted(
        http, admin_token, "ezra", [cluster], role="operator", permissions=("exec",)
    )
    async with pod_shell_socket(shell_gateway, plain, cluster, namespace, pod) as ws:
        reason = await refused(ws)
    assert reason == "exec needs the exec permission, which opal was not granted", reason
    # The deployer checks it too, past the gateway.
    request = OpenPodShell(session="1" * 32, cluster=cluster, namespace=namespace, pod=pod)
    assert await refused_on_the_bus(nats_server, prefix, request, plain) is ErrorCode.FORBIDDEN

    async with pod_shell_socket(shell_gateway, trusted, cluster, namespace, pod) as ws:
        await opened(ws, timeout=20)
        await ws.send(b"echo granted-$((40 + 2)); exit\n")
        await output_until(ws, b"granted-42")
        assert (await ended(ws))["reason"] == "exited"

    events = await audited(http, admin_token, 3, action="pod.exec")
    by = {(e["service"], e["actor"]["name"], e["outcome"]) for e in events}
    assert by == {
        ("gateway", "opal", "refused"),
        ("deployer", "opal", "refused"),
        ("deployer", "ezra", "done"),
    }, events

    # A permission the role cannot use is refused when it is given, saying why.
    body = {"username": "vince", "password": "vince-password-1", "roles": ["viewer"]}
    made = await http.post(
        "/api/auth/users", json={**body, "permissions": ["exec"]}, headers=bearer(admin_token)
    )
    assert made.status_code == 422, made.text
    assert "exec needs the operator role, not viewer" in made.text, made.text


async def test_vigil_exec_runs_a_command_in_a_pods_container_and_exits_with_its_status(
    shell_gateway: str,
    logged_in: dict[str, str],
    k8s_cluster: Cluster,
    namespace: str,
    pod: str,
) -> None:
    typed = "echo pod-$((2 * 21)) in $HOSTNAME; exit 7\n"
    where = ["--cluster", k8s_cluster.context, "-n", namespace, "-c", "side"]
    # Options first: argparse takes the command's `*` right after NAME.
    done = await vigil(logged_in, "exec", *where, f"pod/{pod}", "--", "sh", stdin=typed)
    assert done.code == 7, done
    assert f"pod-42 in {pod}" in done.stdout, done

    unnamed = await vigil(logged_in, "exec", f"pod/{pod}", "-n", namespace)
    assert unnamed.code != 0, unnamed
    assert "a pod is pod/NAME, with --cluster" in unnamed.stderr, unnamed
