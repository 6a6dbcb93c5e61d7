"""compose.yaml for real: the images build here, the stack starts healthy, a client through
nginx gets metrics, Prometheus scrapes every service, `--scale gateway=3` spreads sockets,
and a gateway container killed under journal load costs its clients nothing: they
reconnect through nginx and resume from their cursor.

Its locks: NATS refuses anonymous clients and what a role does not need, and each
service reads its own creds only. Its edges: the collector reads the Docker engine only
through docker-proxy, which refuses it writes, exec, archive and image export; the
gateways see a client's own address (nginx's X-Forwarded-For, not the client's); nginx's
logs keep no credential; compose.tls.yaml serves HTTPS and WSS with HSTS."""

import asyncio
import json
import ssl
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import pytest
from nats.aio.client import Client, RawCredentials
from websockets.asyncio.client import connect
from websockets.typing import Origin

from tests.certificates import self_signed
from tests.compose_stack import (
    ADMIN_PASSWORD,
    REPO_ROOT,
    ComposeStack,
    build_images,
    compose_available,
)
from tests.docker_engine import busybox_image, docker, ensure_dockerd
from tests.journal_clients import (
    ResumingClient,
    assert_every_load_event_held,
    journal_truth,
    publish_journal,
)
from tests.raw_http import raw_request
from tests.support import receive, receive_until, send, wait_for
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.settings import VigilSettings
from vigil.streams import DEPLOY_EVENTS

pytestmark = pytest.mark.timeout(1500)  # the first test builds every image when cold

# The dashboard's panels of every service's process figures and readiness.
GATEWAY_PANELS = {"Services ready", "Resident memory by service", "CPU by service"}
SPREAD_SOCKETS = 30
KILL_CLIENTS = 12
KILL_EVENTS = 1500
KILL_EVENTS_PER_S = 250.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    ensure_dockerd()
    compose_available()
    build_images()
    stack = ComposeStack(tmp_path_factory.mktemp("compose"))
    try:
        stack.up()
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="module")
def token(stack: ComposeStack) -> str:
    answer = httpx.post(
        f"http://{stack.address}/api/auth/token",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def test_the_stack_starts_healthy_and_a_client_through_nginx_gets_host_metrics(
    stack: ComposeStack, token: str
) -> None:
    services = (
        "nats",
        "auth",
        "collector",
        "deployer",
        "notifier",
        "history",
        "alerter",
        "gateway",
        "nginx",
        "docker-proxy",
    )
    for service in (*services, "prometheus"):
        containers = stack.containers(service)
        assert containers, f"no {service} container"
        assert {stack.health(c) for c in containers} == {"healthy"}, service
    assert len(stack.containers("gateway")) == 2  # replicas: 2
    users = {  # a uid each: the one reader of its own creds
        service: docker("inspect", "--format", "{{.Config.User}}", stack.containers(service)[0])
        for service in (
            "auth",
            "collector",
            "deployer",
            "notifier",
            "history",
            "alerter",
            "gateway",
            "nats",
        )
    }
    assert len({user.strip() for user in users.values()}) == 8, users
    assert "0" not in {user.strip() for user in users.values()}
    [proxy] = stack.containers("docker-proxy")
    assert docker("inspect", "--format", "{{.Config.User}}", proxy).strip() == "www-data"

    # As a page served through nginx would: the gateway checks Origin against Host.
    page = Origin(f"http://{stack.address}")
    async with connect(f"ws://{stack.address}/ws?token={token}", origin=page) as ws:
        assert (await receive(ws))["type"] == "connected"
        await send(ws, {"type": "subscribe", "channel": "host.metrics"})
        update = await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
    assert update["data"]["host"] == "docker1"
    assert update["data"]["cpu"]["percent"] >= 0

    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(f"http://{stack.address}/metrics")).status_code == 404
        dashboard = await http.get(f"http://{stack.address}/")
    assert dashboard.status_code == 200  # the gateway image serves the dashboard
    assert "<div id=" in dashboard.text


async def test_the_collector_sees_containers_stats_events_and_logs_through_docker_proxy(
    stack: ComposeStack, token: str
) -> None:
    # Only docker-proxy and the deployer hold the socket; the collector is not in its group.
    holders = set()
    for service in ("nats", "auth", "collector", "deployer", "gateway", "nginx", "docker-proxy"):
        for container in stack.containers(service):
            mounts = json.loads(docker("inspect", "--format", "{{json .Mounts}}", container))
            if any(m["Source"] == "/var/run/docker.sock" for m in mounts):
                holders.add(service)
    assert holders == {"docker-proxy", "deployer"}
    [collector] = stack.containers("collector")
    assert docker("inspect", "--format", "{{json .HostConfig.GroupAdd}}", collector).strip() in (
        "null",
        "[]",
    )

    name = f"{stack.project}-ticker"
    page = Origin(f"http://{stack.address}")
    async with connect(f"ws://{stack.address}/ws?token={token}", origin=page) as ws:
        assert (await receive(ws))["type"] == "connected"
        await send(ws, {"type": "subscribe", "channel": "docker.status"})
        await receive_until(ws, lambda m: m["type"] == "subscribed", timeout=15)
        # The engine's status, among the last values: stats from the host's cgroups and
        # /proc (mounted read-only), not a stats request per container through the proxy.
        source = await receive_until(
            ws, lambda m: m["type"] == "update" and "available" in m["data"], timeout=15
        )
        assert source["data"]["available"] is True
        assert source["data"]["stats_reader"] == "cgroup"
        script = "echo first; while :; do echo tick; sleep 0.2; done"
        image = await asyncio.to_thread(busybox_image)
        try:
            short = docker("run", "-d", "--name", name, image, "sh", "-c", script).strip()[:12]
            started = await receive_until(  # an event, streamed through the proxy
                ws,
                lambda m: m["type"] == "update" and m["data"].get("id") == short,
                timeout=20,
            )
            assert started["data"]["name"] == name
            await send(ws, {"type": "subscribe", "channel": "docker.stats"})
            stats = await receive_until(
                ws,
                lambda m: (
                    m["type"] == "update"
                    and m["channel"].startswith("docker.stats")
                    and short in {c["id"] for c in m["data"]["containers"]}
                ),
                timeout=20,
            )
            [ticker] = [c for c in stats["data"]["containers"] if c["id"] == short]
            assert ticker["memory_usage"] > 0
            assert ticker["pids"] >= 1
            logs = {"container": short, "host": "docker1"}
            await send(ws, {"type": "subscribe", "channel": "docker.logs", "params": logs})
            texts: list[str] = []
            while texts.count("tick") < 3:  # followed: lines keep coming
                update = await receive_until(
                    ws,
                    lambda m: m["type"] == "update" and m["channel"].startswith("docker.logs"),
                    timeout=20,
                )
                texts += [line["text"] for line in update["data"]["lines"]]
            assert texts[0] == "first"
        finally:
            docker("rm", "--force", name)


# What a compromised collector would do with a socket: create, exec, copy out, export.
PROXY_REFUSES = [
    ("POST", "/containers/create?name={name}", '{"Image": "{image}"}'),
    ("POST", "/v1.41/containers/{id}/exec", '{"Cmd": ["id"]}'),
    ("GET", "/containers/{id}/archive?path=/", ""),
    ("GET", "/v1.41/images/{image}/get", ""),
    ("DELETE", "/containers/{id}?force=1", ""),
]

IN_CONTAINER_REQUESTS = """
import http.client, json, sys
answers = []
for method, path, body in json.loads(sys.argv[1]):
    conn = http.client.HTTPConnection("docker-proxy", 2375, timeout=10)
    conn.request(method, path, body=body or None, headers={"Content-Type": "application/json"})
    answer = conn.getresponse()
    answers.append([answer.status, answer.read(300).decode(errors="replace")])
print(json.dumps(answers))
"""


def requests_from(container: str, requests: list[tuple[str, str, str]]) -> list[list[Any]]:
    """The status and start of the body of each request, made from inside `container`."""
    out = docker("exec", container, "python3", "-c", IN_CONTAINER_REQUESTS, json.dumps(requests))
    answers: list[list[Any]] = json.loads(out)
    return answers


async def test_from_inside_the_collector_docker_proxy_refuses_all_but_its_reads(
    stack: ComposeStack,
) -> None:
    [collector] = stack.containers("collector")
    [nats] = stack.containers("nats")
    image = await asyncio.to_thread(busybox_image)
    created = f"{stack.project}-made-by-the-collector"
    fill = {"{id}": nats, "{name}": created, "{image}": image}
    requests = []
    for method, path, body in PROXY_REFUSES:
        for key, value in fill.items():
            path, body = path.replace(key, value), body.replace(key, value)
        requests.append((method, path, body))
    answers = await asyncio.to_thread(requests_from, collector, requests)
    for request, (status, body) in zip(requests, answers, strict=True):
        assert status == 403, (request, status, body)
        assert "refused by the docker-proxy" in body
    assert docker("ps", "--all", "--quiet", "--filter", f"name={created}") == ""
    assert docker("inspect", "--format", "{{.State.Running}}", nats).strip() == "true"

    reads = [("GET", "/_ping", ""), ("GET", f"/v1.41/containers/{nats}/json", "")]
    assert [a[0] for a in await asyncio.to_thread(requests_from, collector, reads)] == [200, 200]


async def test_the_bus_is_locked_and_each_service_reads_its_own_creds_only(
    stack: ComposeStack,
) -> None:
    for service, own in (("collector", "collector"), ("gateway", "gateway"), ("auth", "auth")):
        container = stack.containers(service)[0]
        assert docker("exec", container, "head", "-c", "30", f"/run/vigil/{own}.creds")
        for other in ("auth", "deployer", "provisioner", "gateway"):
            if other != own:
                with pytest.raises(RuntimeError, match="Permission denied"):
                    docker("exec", container, "cat", f"/run/vigil/{other}.creds")
    anonymous = Client()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await anonymous.connect(stack.nats_url, allow_reconnect=False, max_reconnect_attempts=1)
    await anonymous.close()  # nats-py leaves a refused socket open otherwise

    refused: list[str] = []

    async def error(exc: Exception) -> None:
        refused.append(str(exc).lower())

    collector = await asyncio.to_thread(stack.creds, "collector")
    nc = await nats.connect(
        stack.nats_url,
        user_credentials=RawCredentials(collector),
        inbox_prefix=ServiceRole.COLLECTOR.inbox_prefix,
        error_cb=error,
        allow_reconnect=False,
    )
    try:
        await nc.publish("vigil.ctl.auth.user_create", b"{}")
        await nc.subscribe("$KV.VIGIL_AUTH_SIGNING_KEYS.>")
        await nc.flush()
        await wait_for(lambda: len(refused) >= 2, "both refused", timeout=5)
    finally:
        await nc.close()
    assert any("vigil.ctl.auth.user_create" in r for r in refused), refused
    assert any("signing_keys" in r for r in refused), refused


async def test_a_login_through_nginx_is_seen_with_the_clients_address_not_a_forwarded_one(
    stack: ComposeStack,
) -> None:
    agent = f"vigil-compose-test-{uuid.uuid4().hex[:8]}"
    username = f"nobody{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        refused = await http.post(
            f"http://{stack.address}/api/auth/token",
            json={"username": username, "password": "not-the-password"},
            headers={"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "1.2.3.4", "User-Agent": agent},
        )
    assert refused.status_code == 401, refused.text

    # The address nginx saw this client come from (Docker's side of the edge bridge here)...
    [line] = [line for line in stack.logs("nginx").splitlines() if agent in line]
    client = line.split()[0]
    assert client not in ("1.2.3.4", stack.nginx_address)
    # ...is the one the login guard counted the failure against.
    failures = [line for line in stack.logs("auth").splitlines() if username in line]
    assert failures, "the auth service logged no failed login"
    assert all(client in line and "1.2.3.4" not in line for line in failures), failures


async def test_prometheus_scrapes_every_service_and_the_dashboard_queries_run(
    stack: ComposeStack,
) -> None:
    base = f"http://127.0.0.1:{stack.prometheus_port}/api/v1"
    wanted = {
        "gateway": 2,
        "collector": 1,
        "auth": 1,
        "deployer": 1,
        "notifier": 1,
        "history": 1,
        "alerter": 1,
        "prometheus": 1,
    }
    async with httpx.AsyncClient(timeout=10) as http:
        up: dict[str, int] = {}
        async with asyncio.timeout(60):
            while up != wanted:
                targets = (await http.get(f"{base}/targets")).json()["data"]["activeTargets"]
                up = {}
                for target in targets:
                    if target["health"] == "up":
                        up[target["labels"]["job"]] = up.get(target["labels"]["job"], 0) + 1
                await asyncio.sleep(1)
        ready = (await http.get(f"{base}/query", params={"query": "vigil_service_ready"})).json()
        by_service: dict[str, list[str]] = {}
        for series in ready["data"]["result"]:
            by_service.setdefault(series["metric"]["service"], []).append(series["value"][1])
        assert by_service == {
            "collector": ["1"],
            "auth": ["1"],
            "deployer": ["1"],
            "notifier": ["1"],
            "history": ["1"],
            "alerter": ["1"],
            "gateway": ["1", "1"],  # each replica says so, as every service does
        }
        gateways = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "gateway"}
        dashboard = json.loads((REPO_ROOT / "deploy/grafana/dashboards/vigil.json").read_text())
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                answer = await http.get(f"{base}/query", params={"query": target["expr"]})
                assert answer.json()["status"] == "success", (panel["title"], answer.text)
        for panel in dashboard["panels"]:
            if panel["title"] not in GATEWAY_PANELS:
                continue
            [target] = panel["targets"]
            deadline = asyncio.get_running_loop().time() + 60  # a rate needs two scrapes
            while True:
                answer = await http.get(f"{base}/query", params={"query": target["expr"]})
                series = answer.json()["data"]["result"]
                if gateways <= {s["metric"].get("instance") for s in series}:
                    break
                left = deadline - asyncio.get_running_loop().time()
                assert left > 0, f"{panel['title']} leaves out gateways {gateways}: {series}"
                await asyncio.sleep(1)


async def test_scaled_to_three_gateways_and_two_deployers_nginx_spreads_sockets(
    stack: ComposeStack, token: str
) -> None:
    await asyncio.to_thread(stack.up, gateway=3, deployer=2)
    gateways = stack.containers("gateway")
    assert len(gateways) == 3
    assert len(stack.containers("deployer")) == 2
    sockets = [
        await connect(f"ws://{stack.address}/ws?token={token}") for _ in range(SPREAD_SOCKETS)
    ]
    try:
        for ws in sockets:
            assert (await receive(ws))["type"] == "connected"
        per_gateway = [await asyncio.to_thread(stack.gateway_sockets, c) for c in gateways]
    finally:
        for ws in sockets:
            await ws.close()
    assert sum(per_gateway) == SPREAD_SOCKETS
    # No stickiness: each replica takes its share (round robin, per nginx worker).
    assert min(per_gateway) >= SPREAD_SOCKETS // 6, per_gateway


async def test_a_gateway_killed_under_load_its_clients_resume_through_nginx_losing_nothing(
    stack: ComposeStack, token: str
) -> None:
    await asyncio.to_thread(stack.up, gateway=3)
    deploy_id, name = await finished_deploy(stack, token)
    publisher = Bus(  # as the deployer would (its creds, from bus-keys)
        VigilSettings(nats_url=stack.nats_url),
        name="test-load",
        role=ServiceRole.DEPLOYER,
        streams=[DEPLOY_EVENTS],
        credentials=await asyncio.to_thread(stack.creds, "deployer"),
    )
    reader = Bus(  # the journal as it is held, read as a gateway reads it
        VigilSettings(nats_url=stack.nats_url),
        name="test-truth",
        role=ServiceRole.GATEWAY,
        credentials=await asyncio.to_thread(stack.creds, "gateway"),
    )
    await publisher.connect()
    await reader.connect()
    tokens = await viewer_tokens(
        stack, token, KILL_CLIENTS
    )  # a user each: rate limits are per user
    clients = [ResumingClient([stack.address], t, deploy_id, 0) for t in tokens]
    subscribed = [asyncio.Event() for _ in clients]
    following = [asyncio.create_task(c.follow(s)) for c, s in zip(clients, subscribed, strict=True)]
    try:
        await wait_for(
            lambda: all(s.is_set() for s in subscribed),
            f"every client subscribed (errors: {[c.errors for c in clients]})",
            timeout=30,
        )
        publishing = asyncio.create_task(
            publish_journal(publisher, deploy_id, KILL_EVENTS, KILL_EVENTS_PER_S)
        )
        await wait_for(
            lambda: all(len(c.cursors) >= KILL_EVENTS // 3 for c in clients),
            "a third of the load at every client",
            timeout=60,
        )
        loads = {c: stack.gateway_sockets(c) for c in stack.containers("gateway")}
        victim = max(loads, key=lambda c: loads[c])
        docker("kill", victim)
        await asyncio.wait_for(publishing, 60)
        held = await journal_truth(reader.js, reader.subjects.deploy_events(deploy_id))
        for client in clients:
            client.stop_at = held[-1][0]
        async with asyncio.timeout(90):
            await asyncio.gather(*following)
    finally:
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        await publisher.close()
        await reader.close()
        docker("rm", "--force", name)

    assert_every_load_event_held(held, KILL_EVENTS)
    truth = [sequence for sequence, _ in held]
    reconnected = [c for c in clients if c.connections > 1]
    assert len(reconnected) == loads[victim] > 0
    for client in clients:
        assert client.problems == []
        assert client.cursors == truth  # the whole journal, in order, none twice


async def test_nginx_logs_keep_no_credential_however_its_name_is_encoded(
    stack: ComposeStack, token: str
) -> None:
    secrets = [f"secret{n}{uuid.uuid4().hex}" for n in range(8)]
    targets = [
        f"/api/deploys?token={secrets[0]}",
        f"/api/deploys?%74oken={secrets[1]}&limit=5",
        f"/api/docker/containers?host=docker1&api%5Fkey={secrets[2]}",
        f"/api/deploys?limit=5&API_KEY={secrets[3]}&%61%70%69%5f%6b%65%79={secrets[4]}",
        "/api/deploys?"
        + "&".join(f"token={secret}" for secret in secrets[5:])
        + "&api_key=x&token=y",  # more than the redacting maps undo one by one
        f"/api/deploys%3Ftoken={secrets[0]}",
    ]
    for target in targets:  # sent as written (401 or 404: no matter)
        await asyncio.to_thread(raw_request, stack.http_port, "GET", target)
    async with connect(f"ws://{stack.address}/ws?access_token={secrets[5]}&token={token}") as ws:
        assert (await receive(ws))["type"] == "connected"

    def logged() -> str:
        return stack.logs("nginx")

    await wait_for(
        lambda: "access_token=[redacted]&token=[redacted]" in logged(), "the socket's line"
    )
    written = logged()
    for secret in [*secrets, token]:  # the admin's token went in ?token= all along this module
        assert secret not in written
    assert "GET /api/deploys?token=[redacted] " in written
    assert "GET /api/deploys?%74oken=[redacted]&limit=5 " in written
    assert "GET /api/docker/containers?host=docker1&api%5Fkey=[redacted] " in written
    assert "&%61%70%69%5f%6b%65%79=[redacted] " in written
    assert "GET /api/deploys?[query withheld: credentials] " in written


async def finished_deploy(stack: ComposeStack, token: str) -> tuple[str, str]:
    """A real deploy through nginx (busybox, present locally: no pull), run to its end."""
    name = f"{stack.project}-web"
    spec: dict[str, Any] = {
        "name": name,
        "image": await asyncio.to_thread(busybox_image),
        "command": ["sleep", "600"],
    }
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://{stack.address}", timeout=10) as http:
        created = await http.post("/api/deploys", json=spec, headers=headers)
        assert created.status_code == 202, created.text
        deploy_id = str(created.json()["id"])
        async with asyncio.timeout(60):
            while True:
                record = (
                    await http.get(f"/api/deploys/{urllib.parse.quote(deploy_id)}", headers=headers)
                ).json()
                if record["state"] in {"succeeded", "failed", "cancelled"}:
                    break
                await asyncio.sleep(0.5)
    assert record["state"] == "succeeded", record
    return deploy_id, name


async def viewer_tokens(stack: ComposeStack, admin_token: str, count: int) -> list[str]:
    """Tokens of `count` new viewers, created and logged in through nginx."""
    tokens = []
    async with httpx.AsyncClient(base_url=f"http://{stack.address}", timeout=10) as http:
        for n in range(count):
            user = {"username": f"viewer{n}", "password": f"viewer-password-{n}"}
            created = await http.post(
                "/api/auth/users",
                json=user | {"roles": ["viewer"]},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
            assert created.status_code == 201, created.text
            issued = await http.post("/api/auth/token", json=user)
            assert issued.status_code == 200, issued.text
            tokens.append(str(issued.json()["access_token"]))
    return tokens


async def test_with_compose_tls_nginx_serves_https_and_wss_with_hsts(
    stack: ComposeStack, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    tls = {"VIGIL_TLS_CERT": str(cert), "VIGIL_TLS_KEY": str(key)}
    recreate = ("up", "--detach", "--no-build", "--no-deps", "--wait", "nginx")
    await asyncio.to_thread(stack.compose, *recreate, overlays=["compose.tls.yaml"], env=tls)
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        https = f"127.0.0.1:{stack.https_port}"
        async with httpx.AsyncClient(base_url=f"https://{https}", verify=trusted) as http:
            issued = await http.post(
                "/api/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
            )
        assert issued.status_code == 200, issued.text
        assert issued.http_version == "HTTP/1.1"
        assert issued.headers["strict-transport-security"] == "max-age=31536000"
        token = issued.json()["access_token"]

        page = Origin(f"https://{https}")
        async with connect(f"wss://{https}/ws?token={token}", ssl=trusted, origin=page) as ws:
            assert ws.response is not None
            assert ws.response.headers["strict-transport-security"] == "max-age=31536000"
            assert (await receive(ws))["type"] == "connected"
            await send(ws, {"type": "subscribe", "channel": "host.metrics"})
            update = await receive_until(ws, lambda m: m["type"] == "update", timeout=15)
        assert update["data"]["host"] == "docker1"

        async with httpx.AsyncClient(timeout=5) as http:
            # A client that does not know the certificate is refused it.
            with pytest.raises(httpx.ConnectError):
                await http.get(f"https://{https}/nginx-health")
            # With HSTS the plain listener is no longer published.
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://{stack.address}/nginx-health")
    finally:
        await asyncio.to_thread(stack.compose, *recreate)
    async with httpx.AsyncClient(timeout=10) as http:  # back to plain HTTP, no HSTS
        again = await http.get(f"http://{stack.address}/nginx-health")
    assert again.status_code == 200
    assert "strict-transport-security" not in again.headers
