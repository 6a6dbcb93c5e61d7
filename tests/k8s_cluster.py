"""A real Kubernetes API for the tests: the testbed cluster (`tests/testbed/k8s/`, a
Kubernetes 1.20 built from Debian's sources whose pods run in the local dockerd), or
any cluster `VIGIL_TEST_KUBECONFIG` names (kind, k3s...). Starting it fails loudly: a
test that needs Kubernetes fails without one, never skips.
"""

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config

from tests.docker_engine import busybox_image

KIT = Path(__file__).parent / "testbed" / "k8s"
BUILD_TIMEOUT_S = 1800  # cold: ~6 min on 2 cores
START_TIMEOUT_S = 300


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    context: str
    image: str
    """A local image whose pods need no registry (`imagePullPolicy: Never`)."""

    def api_client(self) -> Any:
        return config.new_client_from_config(self.kubeconfig, context=self.context)


def testbed_cluster() -> Iterator[Cluster]:
    """The session's cluster: the given one, or the testbed (stopped after the session
    only if this session started it)."""
    given = os.environ.get("VIGIL_TEST_KUBECONFIG")
    if given:
        _, current = config.list_kube_config_contexts(given)
        image = os.environ.get("VIGIL_TEST_K8S_IMAGE", "busybox:1")
        yield Cluster(given, current["name"], image)
        return
    image = busybox_image()  # also starts dockerd when needed: pods are its containers
    subprocess.run([KIT / "build.sh"], check=True, timeout=BUILD_TIMEOUT_S)
    was_running = _cluster("status", check=False).returncode == 0
    _cluster("start", timeout=START_TIMEOUT_S)
    path = _cluster("kubeconfig").stdout.strip()
    try:
        yield Cluster(path, "testbed", image)
    finally:
        if not was_running:
            _cluster("stop", timeout=120)


def _cluster(command: str, *, check: bool = True, timeout: float = 60) -> Any:
    return subprocess.run(
        [KIT / "cluster.sh", command], check=check, timeout=timeout, capture_output=True, text=True
    )


def make_namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace of one test, deleted afterwards (without waiting for it to go)."""
    with cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        name = "t-" + uuid.uuid4().hex[:8]
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        deadline = time.monotonic() + 30  # 1.20 refuses pods until this has its token
        while not any(
            account.secrets
            for account in core.list_namespaced_service_account(
                name, field_selector="metadata.name=default"
            ).items
        ):
            assert time.monotonic() < deadline, f"no default ServiceAccount token in {name}"
            time.sleep(0.2)
        try:
            yield name
        finally:
            core.delete_namespace(name, grace_period_seconds=0)
