"""Real parts for deploy tests: a Docker registry on 127.0.0.1 (Debian's docker-registry),
small images built from the busybox image and pushed there (then removed locally, so a
deploy really pulls them), the deployer as a task or a process, and the journal.

Every container a test deploys carries the label `vigil-test=<prefix>`; the fixture that
hands out the `Deployment` helper removes them all afterwards.
"""

import asyncio
import contextlib
import http.client
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from tests.docker_engine import docker
from tests.support import NatsServer, free_port, port_open, user_token, wait_for
from vigil import ctl
from vigil.access import ALL_CLUSTERS, Role
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil.lifecycle import stop_task
from vigil.messages import (
    CancelDeploy,
    CreateDeploy,
    DeployEvent,
    DeployRecord,
    DeploySpec,
    DeployStep,
    GetDeploy,
    StepState,
)
from vigil.operations import Deploy
from vigil.streams import DEPLOY_EVENTS
from vigil_deployer.app import DeployerService, build_app
from vigil_deployer.settings import DeployerSettings

TEST_HOST = "testhost"
HTTP_PORT = 8080
HTTPD = ["httpd", "-f", "-p", str(HTTP_PORT), "-h", "/www"]
OPERATORS = ("alice", "bob")
"""The operators a `Deployment` deploys and cancels as (users of the auth service)."""


# -- a registry and images ------------------------------------------------------------


@dataclass
class Registry:
    """`docker-registry serve` on 127.0.0.1:<free port>, storing in `root`."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("docker-registry")
        assert binary, "install Debian's docker-registry package for the deploy tests"
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            f"    rootdirectory: {self.root / 'store'}\nhttp:\n  addr: {self.address}\n"
        )
        with (self.root / "registry.log").open("ab") as log:
            self.process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 15
        while not port_open(self.port):
            assert self.process.poll() is None, f"docker-registry exited; see {self.root}"
            assert time.monotonic() < deadline, "docker-registry did not open its port"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


@dataclass(frozen=True)
class Images:
    """Images in the test registry: `web(n)` serves 'v<n>' on port 8080 with httpd;
    `big` has a few MB of layers nobody else uses, so its pull shows progress."""

    registry: str
    base: str

    def web(self, version: int) -> str:
        return f"{self.registry}/vigil-test/web:{version}"

    @property
    def big(self) -> str:
        return f"{self.registry}/vigil-test/big:1"


def build_and_push(base: str, tag: str, workdir: Path, files: dict[str, bytes]) -> None:
    """`docker build` FROM the busybox image with one ADD layer per file (into /www),
    push to the registry, remove the local copy."""
    workdir.mkdir(parents=True)
    lines = [f"FROM {base}"]
    for name, content in files.items():
        (workdir / name).write_bytes(content)
        lines.append(f"ADD {name} /www/{name}")
    lines.append(f'CMD ["httpd", "-f", "-p", "{HTTP_PORT}", "-h", "/www"]')
    (workdir / "Dockerfile").write_text("\n".join(lines) + "\n")
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}  # the classic builder works offline
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, str(workdir)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    docker("push", tag, timeout=120)
    docker("rmi", tag)


def make_images(registry: Registry, base: str, workdir: Path) -> Images:
    images = Images(registry.address, base)
    salt = secrets.token_bytes(16)  # layers of this session only: never present locally
    for version in (1, 2):
        build_and_push(
            base,
            images.web(version),
            workdir / f"web{version}",
            {"index": f"v{version}\n{salt.hex()}\n".encode()},
        )
    build_and_push(
        base,
        images.big,
        workdir / "big",
        {
            "index": f"big\n{salt.hex()}\n".encode(),
            "blob1": salt + os.urandom(3_000_000),
            "blob2": salt + os.urandom(2_000_000),
        },
    )
    return images


@contextlib.asynccontextmanager
async def slow_proxy(port: int, bytes_per_s: int) -> AsyncIterator[str]:
    """A TCP proxy on 127.0.0.1 to `port` whose answers trickle at `bytes_per_s` per
    connection: a slow network in front of the registry. Yields its address."""
    pipes: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pace: int) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(pace // 10 or 65536):
                writer.write(chunk)
                await writer.drain()
                if pace:
                    await asyncio.sleep(len(chunk) / pace)  # pacing, not synchronisation
        writer.close()

    async def serve(client: asyncio.StreamReader, to_client: asyncio.StreamWriter) -> None:
        upstream, to_upstream = await asyncio.open_connection("127.0.0.1", port)
        writers.extend((to_client, to_upstream))
        for flow in (pipe(client, to_upstream, 0), pipe(upstream, to_client, bytes_per_s)):
            pipes.add(task := asyncio.create_task(flow))
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        for writer in writers:
            writer.close()
        await server.wait_closed()


# -- the deployer -------------------------------------------------------------------


def deployer_settings_for(nats: NatsServer, prefix: str, **overrides: Any) -> DeployerSettings:
    host = str(overrides.get("host", TEST_HOST))
    values: dict[str, Any] = {
        **nats.service(ServiceRole.DEPLOYER, prefix, host=host),
        "host": host,
        "lease_s": 3.0,
        "sweep_interval_s": 0.5,
        "stop_timeout_s": 1,
        "progress_interval_s": 0.02,
    }
    return DeployerSettings(**(values | overrides))


@contextlib.asynccontextmanager
async def run_deployer(settings: DeployerSettings) -> AsyncIterator[DeployerService]:
    """The deployer in this process; stopped as a signal stops it (`stop()`: what runs
    rolls back, the bus drains), cancelled only if that does not end it in time."""
    service = build_app(settings)
    task = asyncio.create_task(service.run())
    try:
        await wait_for(lambda: service.ready.is_set() or task.done(), "the deployer", 15)
        if task.done():
            task.result()
        yield service
    finally:
        service.stop()
        await asyncio.wait({task}, timeout=settings.shutdown_grace_s + 10)
        await stop_task(task)


def deployer_process(
    settings: DeployerSettings, *, stderr: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """The deployer as `python -m vigil_deployer`, configured through the environment
    (its log on `stderr`: `subprocess.PIPE` to read it)."""
    env = {
        **os.environ,
        "VIGIL_NATS_URL": settings.nats_url,
        "VIGIL_NATS_CREDS": str(settings.nats_creds),
        "VIGIL_SUBJECT_PREFIX": settings.subject_prefix,
        "VIGIL_DEPLOYER_HOST": settings.host,
        "VIGIL_DEPLOYER_LEASE_S": str(settings.lease_s),
        "VIGIL_DEPLOYER_SWEEP_INTERVAL_S": str(settings.sweep_interval_s),
        "VIGIL_DEPLOYER_STOP_TIMEOUT_S": str(settings.stop_timeout_s),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "vigil_deployer"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


# -- deploying and watching -------------------------------------------------------------


class Journal:
    """Every event of one deploy, from its first, as they arrive."""

    def __init__(self) -> None:
        self.events: list[DeployEvent] = []
        self._changed = asyncio.Event()

    async def deliver(self, msg: Msg) -> None:
        self.events.append(DeployEvent.model_validate_json(msg.data))
        self._changed.set()

    async def wait_for(
        self, matches: Callable[[DeployEvent], bool], what: str, timeout: float = 20.0
    ) -> DeployEvent:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if matches(event):
                    return event
            seen = len(self.events)
            left = deadline - time.monotonic()
            if left <= 0:
                said = [f"{e.step}/{e.status}: {e.message}" for e in self.events[-8:]]
                raise AssertionError(f"timed out waiting for {what}; journal ends {said}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def ended(self, timeout: float = 30.0) -> DeployEvent:
        return await self.wait_for(lambda e: e.step is DeployStep.DONE, "the end", timeout)

    def steps(self) -> list[tuple[str, str]]:
        return [(e.step.value, e.status.value) for e in self.events if e.status != "progress"]


@dataclass
class Deployment:
    """Deploys through the bus, as the gateway does, and their journals; each request
    carries the token of one of `OPERATORS` (by name in `tokens`)."""

    bus: Bus
    prefix: str
    tokens: dict[str, str]
    images: Images | None = None  # the Docker deploys' test images

    def spec(self, name: str = "web", **fields: Any) -> DeploySpec:
        assert self.images is not None, "Docker deploys need the test images"
        values: dict[str, Any] = {
            "name": f"{name}-{self.prefix}",
            "image": self.images.web(1),
            "command": HTTPD,
            "ports": [{"container_port": HTTP_PORT}],
            "labels": {"vigil-test": self.prefix},
            "health": {"kind": "http", "port": HTTP_PORT, "path": "/index", "timeout_s": 10},
        }
        return DeploySpec.model_validate(values | fields)

    async def start(self, spec: DeploySpec, who: str = "alice") -> DeployRecord:
        create = CreateDeploy(spec=spec)
        return await ctl.call(self.bus, Deploy.CREATE, create, token=self.tokens[who])

    async def cancel(self, deploy_id: str, who: str = "bob") -> DeployRecord:
        cancel = CancelDeploy(deploy_id=deploy_id)
        return await ctl.call(self.bus, Deploy.CANCEL, cancel, token=self.tokens[who])

    @contextlib.asynccontextmanager
    async def journal(self, deploy_id: str) -> AsyncIterator[Journal]:
        journal = Journal()
        subscription = await self.bus.js.subscribe(
            self.bus.subjects.deploy_events(deploy_id),
            cb=journal.deliver,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
        )
        try:
            yield journal
        finally:
            await subscription.unsubscribe()

    async def run(self, spec: DeploySpec, timeout: float = 30.0) -> tuple[DeployRecord, Journal]:
        """Deploy and wait for the end; the record then, and the journal."""
        record = await self.start(spec)
        async with self.journal(record.id) as journal:
            await journal.ended(timeout)
        return await self.record(record.id), journal

    async def record(self, deploy_id: str) -> DeployRecord:
        get = GetDeploy(deploy_id=deploy_id)
        return await ctl.call(self.bus, Deploy.GET, get, token=self.tokens["alice"])


def serves(name: str) -> str:
    """What the container called `name` answers on its published port 8080 ('' if none)."""
    try:
        binding = docker("port", name, f"{HTTP_PORT}/tcp", timeout=10).split()[0]
    except (RuntimeError, IndexError):
        return ""
    host, _, port = binding.rpartition(":")
    # http.client, closed in all cases: urllib leaks its socket when the answer times out.
    connection = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        connection.request("GET", "/index")
        body = connection.getresponse().read()
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        connection.close()
    return body.decode().splitlines()[0] if body else ""


def remove_images(images: Images) -> None:
    """The session's pulled images (the registry itself goes with its folder)."""
    for tag in (images.web(1), images.web(2), images.big):
        with contextlib.suppress(RuntimeError):  # never pulled in this session
            docker("rmi", "-f", tag)


def containers(prefix: str) -> list[str]:
    """Names of the test's containers."""
    listed = docker("ps", "-a", "--filter", f"label=vigil-test={prefix}", "--format", "{{.Names}}")
    return sorted(listed.split())


def remove_containers(prefix: str) -> None:
    ids = docker("ps", "-aq", "--filter", f"label=vigil-test={prefix}").split()
    if ids:
        docker("rm", "-f", *ids)


async def operator_tokens(bus: Bus, admin_token: str) -> dict[str, str]:
    """`OPERATORS` made users of the auth service (every cluster granted), logged in."""
    return {
        name: await user_token(bus, admin_token, name, Role.OPERATOR, [ALL_CLUSTERS])
        for name in OPERATORS
    }


@contextlib.asynccontextmanager
async def bus_for_deploys(nats: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    bus = Bus(nats.harness(prefix), name="test", streams=[DEPLOY_EVENTS], provisions=True)
    await bus.connect()
    try:
        yield bus
    finally:
        await bus.close()


STARTED, FINISHED, FAILED = StepState.STARTED, StepState.FINISHED, StepState.FAILED
