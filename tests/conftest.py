"""Fixtures: one real nats-server per session, a fresh subject prefix per test."""

import gc
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.cli_support import environment as cli_environment
from tests.deploy_support import (
    Deployment,
    Images,
    Registry,
    bus_for_deploys,
    deployer_settings_for,
    make_images,
    operator_tokens,
    remove_containers,
    remove_images,
    run_deployer,
)
from tests.docker_engine import Containers, SecondEngine, busybox_image
from tests.docker_support import DockerStack
from tests.journal_support import Journal
from tests.k8s_cluster import Cluster, make_namespace, testbed_cluster
from tests.support import (
    NatsServer,
    auth_settings_for,
    bus_client,
    collector_settings_for,
    login,
    run_auth,
    serve_gateway,
)
from vigil.bus import Bus
from vigil.busauth.permissions import ServiceRole
from vigil_auth.app import AuthService
from vigil_cli.config import ClientConfig
from vigil_cli.config import save as save_config
from vigil_collector.settings import CollectorSettings
from vigil_deployer.app import DeployerService
from vigil_deployer.settings import DeployerSettings
from vigil_gateway.settings import GatewaySettings

# LOGS_KEPT's byte cap is reserved in the server's store when the stream is made, and every
# test provisions streams of its own on the session's server: at the default (1 GiB) a few
# dozen tests took the whole disk's share and every later stream was refused.
os.environ.setdefault("VIGIL_LOGS_KEEP_MAX_BYTES", str(1 << 20))

# -- tiers: a marker for each real part a test needs, from its folder and its fixtures ----

FOLDER_MARKERS = {
    "unit": ("unit",),
    "docker": ("docker",),
    "deploy": ("docker",),
    "k8s": ("k8s", "docker"),
    "dashboard": ("browser",),
    "stack": ("stack",),
    "compose": ("stack", "docker"),
    "load": ("stack", "slow"),
}
FIXTURE_MARKERS = {
    "docker_image": ("docker",),
    "k8s_cluster": ("k8s", "docker"),  # the testbed's pods run in the local dockerd
}
REAL_PARTS = {"nats_server", "own_nats_server", "docker_image", "k8s_cluster"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its folder (`tests/<tier>/...`) and by the fixtures of real
    parts it uses, so `-m unit` or `-m "not docker"` selects by what a test needs."""
    here = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(here).parts if item.path.is_relative_to(here) else ()
        folder = parts[0] if len(parts) > 1 else ""
        fixtures = set(getattr(item, "fixturenames", ()))
        if folder == "unit" and fixtures & REAL_PARTS:
            raise pytest.UsageError(f"{item.nodeid}: a unit test uses {fixtures & REAL_PARTS}")
        names = set(FOLDER_MARKERS.get(folder, ()))
        for fixture in fixtures & FIXTURE_MARKERS.keys():
            names.update(FIXTURE_MARKERS[fixture])
        for name in sorted(names):
            item.add_marker(name)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def docker_image() -> str:
    """A real Docker engine (started if needed) and a local busybox image; fails without one."""
    return busybox_image()


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[Cluster]:
    """A real Kubernetes API: the testbed (built and started if needed) or
    `VIGIL_TEST_KUBECONFIG`'s; fails without one."""
    yield from testbed_cluster()


@pytest.fixture
def namespace(k8s_cluster: Cluster) -> Iterator[str]:
    """A namespace of this test's own on the cluster."""
    yield from make_namespace(k8s_cluster)


@pytest.fixture
def containers(docker_image: str, prefix: str) -> Iterator[Containers]:
    """Containers this test runs on the shared engine, removed afterwards."""
    made = Containers(prefix, docker_image)
    yield made
    made.remove_all()


@pytest.fixture
def second_engine() -> Iterator[SecondEngine]:
    """A dockerd of this test's own, which it may stop and start (short paths: sockets)."""
    # letters and digits only: the path names the engine's containerd namespace, which
    # refuses mkdtemp's `_` beside a `-` or at the end (a flaky test, ~6 % of runs)
    root = Path(f"/tmp/vd{uuid.uuid4().hex[:10]}")
    root.mkdir()
    engine = SecondEngine(root)
    yield engine
    engine.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    """A real systemd journal in this test's own folder (`journal_support`)."""
    return Journal(tmp_path / "journal")


@pytest.fixture
def own_nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A server this test alone uses, so it may stop and restart it."""
    server = NatsServer(store_dir=tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    return "t" + uuid.uuid4().hex[:12]


ADMIN_PASSWORD = "admin-password-for-tests"


@pytest.fixture
async def auth_service(nats_server: NatsServer, prefix: str) -> AsyncIterator[AuthService]:
    """The real auth service on the session's NATS, with a known admin password."""
    settings = auth_settings_for(nats_server, prefix, admin_password=ADMIN_PASSWORD)
    async with run_auth(settings) as service:
        yield service


@pytest.fixture
async def admin_token(auth_service: AuthService, nats_server: NatsServer, prefix: str) -> str:
    """An access token of the bootstrap admin."""
    return (await login(nats_server, prefix, "admin", ADMIN_PASSWORD)).access_token


@pytest.fixture
async def gateway(
    auth_service: AuthService, gateway_settings: GatewaySettings
) -> AsyncIterator[str]:
    """A gateway on a free port (with the auth service running); yields its address."""
    async with serve_gateway(gateway_settings) as address:
        yield address


@pytest.fixture
async def alerts_bus(nats_server: NatsServer, prefix: str) -> AsyncIterator[Bus]:
    """A bus client, with the alerts stream in place for tests that raise alerts."""
    async with bus_client(nats_server, prefix) as bus:
        nats_server.provision(prefix)
        yield bus


@pytest.fixture
def docker_stack(
    docker_image: str,
    nats_server: NatsServer,
    prefix: str,
    gateway_settings: GatewaySettings,
    admin_token: str,
) -> DockerStack:
    """The Docker collector and gateways on the test's NATS, started where the test says
    (`up()`: both), and sockets with the admin's token."""
    return DockerStack(nats_server, prefix, gateway_settings, admin_token)


@pytest.fixture
def collector_settings(nats_server: NatsServer, prefix: str) -> CollectorSettings:
    return collector_settings_for(nats_server, prefix)


@pytest.fixture
def gateway_settings(nats_server: NatsServer, prefix: str) -> GatewaySettings:
    return GatewaySettings(**nats_server.service(ServiceRole.GATEWAY, prefix))


# -- deploys ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """A Docker registry on 127.0.0.1 (Debian's docker-registry), for real pulls."""
    server = Registry(root=tmp_path_factory.mktemp("registry"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def images(
    docker_image: str, registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Images]:
    """Test images pushed to the registry and absent locally until a deploy pulls them;
    the pulled copies are removed at the end of the session."""
    made = make_images(registry, docker_image, tmp_path_factory.mktemp("images"))
    yield made
    remove_images(made)


@pytest.fixture
def deployer_settings(nats_server: NatsServer, prefix: str) -> DeployerSettings:
    return deployer_settings_for(nats_server, prefix)


@pytest.fixture
async def deployer(deployer_settings: DeployerSettings) -> AsyncIterator[DeployerService]:
    """The real deployer (Docker target) on the session's NATS, serving `testhost`."""
    async with run_deployer(deployer_settings) as service:
        yield service


@pytest.fixture
async def deployment(
    nats_server: NatsServer, prefix: str, images: Images, admin_token: str
) -> AsyncIterator[Deployment]:
    """Deploys and journals through the bus, as the operators alice and bob; every
    container the test made goes after."""
    try:
        async with bus_for_deploys(nats_server, prefix) as bus:
            yield Deployment(bus, prefix, await operator_tokens(bus, admin_token), images)
    finally:
        remove_containers(prefix)


class _Refusals(logging.Handler):
    """What NATS refused a service for want of permission (`vigil.bus` logs each)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("NATS refused"):
            self.seen.append(record.getMessage())


@pytest.fixture(autouse=True)
def _no_bus_permission_refused(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every service runs with its role's creds: a subject its code uses but its role
    does not allow fails the test that reached it (unless the test provokes refusals)."""
    refusals = _Refusals()
    logger = logging.getLogger("vigil.bus")
    logger.addHandler(refusals)
    try:
        yield
    finally:
        logger.removeHandler(refusals)
    if request.node.get_closest_marker("bus_refusals") is None:
        assert not refusals.seen, "NATS refused a service:\n" + "\n".join(refusals.seen)


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """A socket or transport a test leaks warns (and fails) in that test, not later."""
    yield
    gc.collect()


# -- the vigil command against a gateway ------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """Where this test's `vigil` keeps its client config."""
    return tmp_path / "vigil" / "config.json"


@pytest.fixture
def logged_in(config: Path, gateway: str, admin_token: str) -> dict[str, str]:
    """The environment of a `vigil` whose config holds the admin's token."""
    save_config(config, ClientConfig(url=f"http://{gateway}", access_token=admin_token))
    return cli_environment(config)
