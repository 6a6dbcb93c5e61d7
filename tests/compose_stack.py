"""compose.yaml run for real: the images built by `deploy/images.sh` (local base images, no
registry), `docker compose` under a project name of its own, nginx, Prometheus and NATS
published on free loopback ports, and everything (containers, network, volumes) removed
at the end.
"""

import ipaddress
import json
import os
import random
import re
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.docker_engine import docker
from tests.support import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
ADMIN_PASSWORD = "compose-admin-password"
IMAGES_TIMEOUT_S = 1200  # cold: base images (debootstrap) and every image; warm: seconds
UP_TIMEOUT_S = 240


def build_images(*names: str) -> None:
    """`make images`' script, so the stack runs this tree's code (only `names`, if given)."""
    done = subprocess.run(
        [REPO_ROOT / "deploy/images.sh", *names],
        cwd=REPO_ROOT,
        env={**os.environ, "VIGIL_LOCAL_BASE": "1"},  # no registry is reachable here
        capture_output=True,
        text=True,
        timeout=IMAGES_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"deploy/images.sh failed:\n{done.stdout}\n{done.stderr}"


def compose_available() -> None:
    done = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, (
        "`docker compose` is needed: tests/testbed/compose/install-compose.sh installs it"
        " (.ci/run does)"
    )


def free_edge_network() -> str:
    """The first three numbers of a /24 for compose's `edge` network (VIGIL_EDGE_NETWORK)
    that no Docker network or interface of this machine overlaps: stacks of other test
    runs may be up at the same time."""
    taken = [ipaddress.ip_network(address, strict=False) for address in _interface_addresses()]
    for network in subprocess.run(
        ["docker", "network", "ls", "--quiet"], capture_output=True, text=True, check=True
    ).stdout.split():
        shown = subprocess.run(
            ["docker", "network", "inspect", "--format", "{{json .IPAM.Config}}", network],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        for config in json.loads(shown or "null") or []:
            if config.get("Subnet"):
                taken.append(ipaddress.ip_network(config["Subnet"], strict=False))
    # Outside Docker's default pools (172.17-31.0.0/16, 192.168.0.0/16): the project's
    # `default` network, made just before `edge`, may be given any of those.
    candidates = list(range(256))
    random.shuffle(candidates)
    for third in candidates:
        edge = ipaddress.ip_network(f"10.254.{third}.0/24")
        if not any(edge.overlaps(other) for other in taken if other.version == 4):
            return f"10.254.{third}"
    raise AssertionError("no free /24 in 10.254.0.0/16 for the edge network")


def _interface_addresses() -> list[str]:
    """This machine's IPv4 networks (`ip -4 -o addr`; none known without iproute2)."""
    try:
        shown = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True)
    except FileNotFoundError:
        return []
    return [line.split()[3] for line in shown.stdout.splitlines() if len(line.split()) > 3]


class ComposeStack:
    def __init__(self, workdir: Path, files: Sequence[str] = ("compose.yaml",)) -> None:
        self._files = [REPO_ROOT / name for name in files]
        self.project = f"vigil-compose-{uuid.uuid4().hex[:8]}"
        self.http_port = free_port()
        self.https_port = free_port()
        self.prometheus_port = free_port()
        self.nats_port = free_port()
        self.edge_network = free_edge_network()
        # The test publishes journal load straight into NATS, so it is published too.
        self._override = workdir / "compose.test.yaml"
        self._override.write_text(
            f'services:\n  nats:\n    ports: ["127.0.0.1:{self.nats_port}:4222"]\n'
        )
        socket_group = os.stat("/var/run/docker.sock").st_gid
        self._env = os.environ | {
            "VIGIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "DOCKER_GID": str(socket_group),
            "VIGIL_HTTP_PORT": str(self.http_port),
            "VIGIL_HTTPS_PORT": str(self.https_port),
            "VIGIL_PROMETHEUS_PORT": str(self.prometheus_port),
            "VIGIL_EDGE_NETWORK": self.edge_network,
        }

    @property
    def address(self) -> str:
        """nginx, the stack's one door for clients."""
        return f"127.0.0.1:{self.http_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def creds(self, role: str, host: str = "docker1") -> str:
        """A creds file of the stack's bus for `role`, as `bus-keys` prints it for an
        operator (a collector on another host, say)."""
        return self.compose(
            "run", "--rm", "-T", "bus-keys", "--keys=/keys", "creds", role, f"--host={host}"
        )

    @property
    def nginx_address(self) -> str:
        """nginx's fixed address on the edge network, the gateways' one trusted proxy."""
        return f"{self.edge_network}.2"

    def compose(
        self,
        *args: str,
        timeout: float = UP_TIMEOUT_S,
        overlays: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> str:
        """`docker compose` on the stack's files, then `overlays` (more compose files of
        the repository, e.g. compose.tls.yaml), with `env` added to its environment."""
        paths = (*self._files, *(REPO_ROOT / name for name in overlays), self._override)
        files = [f"--file={path}" for path in paths]
        done = subprocess.run(
            ["docker", "compose", "-p", self.project, *files, *args],
            cwd=REPO_ROOT,
            env=self._env | dict(env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            logs = self._logs_tail() if args[:1] == ("up",) else ""
            raise AssertionError(f"docker compose {' '.join(args)}:\n{done.stderr}\n{logs}")
        return done.stdout

    def up(self, **scale: int) -> None:
        """Start (or rescale) and wait until every container is healthy."""
        scaling = [f"--scale={service}={count}" for service, count in scale.items()]
        self.compose("up", "--detach", "--no-build", "--wait", *scaling)

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5")

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "--quiet", service).split()

    def health(self, container: str) -> str:
        return docker("inspect", "--format", "{{.State.Health.Status}}", container).strip()

    def gateway_sockets(self, container: str) -> int:
        """Open sockets on one gateway replica, from its own /metrics."""
        read = "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8000/metrics').read().decode())"
        text = docker("exec", container, "python3", "-c", read)
        found = re.search(r"^vigil_gateway_sockets (\S+)$", text, re.MULTILINE)
        assert found, "no vigil_gateway_sockets in a gateway's /metrics"
        return int(float(found.group(1)))

    def logs(self, service: str) -> str:
        """Everything the service's containers wrote, stdout and stderr."""
        written = []
        for container in self.containers(service):
            done = subprocess.run(
                ["docker", "logs", container],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=True,
            )
            written.append(done.stdout.decode(errors="replace"))
        return "".join(written)

    def _logs_tail(self) -> str:
        done = subprocess.run(
            ["docker", "compose", "-p", self.project, "logs", "--tail=30"],
            cwd=REPO_ROOT,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout[-6000:]
