"""The log retention bench's writer as a pod of the testbed Kubernetes (`--pods`).

The cluster is the tests' (`tests.k8s_cluster`: the testbed, started if it is not
running and stopped after, or the one `VIGIL_TEST_KUBECONFIG` names), with two
namespaces of the bench's own: the baseline's, not kept, and the kept phase's, listed
in the collector's `k8s_logs_keep_namespaces`. The writer is a bare pod that runs once
(restartPolicy Never), so its lines are kept under its own name. What it wrote and for
how long come from its log with the API's stamps (first line to last), the same text
the collector reads.
"""

import asyncio
import contextlib
import json
import shlex
from collections.abc import Iterator

from kubernetes import client

from tests.docker_support import heard, next_that
from tests.k8s_cluster import Cluster, make_namespace, testbed_cluster
from tests.k8s_support import container, eventually, run_pod
from vigil.bus import Bus
from vigil.messages import K8sMetricsSampled, KeptPodLogBatch
from vigil.settings import VigilSettings
from vigil.streams import LATEST
from vigil.subjects import Subjects
from vigil_collector.logs.lines import parse_time

FOLLOWING_S = 60.0  # the collector's lease of the cluster, its first metrics sample


class PodWriter:
    """The writer as a pod: in the plain namespace for the baseline, in the kept one
    to be kept."""

    batch = KeptPodLogBatch

    def __init__(self, cluster: Cluster, plain: str, kept: str) -> None:
        self._cluster = cluster
        self._namespaces = {False: plain, True: kept}
        self._written: dict[str, str] = {}  # pod: its namespace

    def collector_env(self) -> dict[str, str]:
        return {
            # The testbed's pods are the local engine's containers: followed as pods only.
            "VIGIL_COLLECTOR_DOCKER": "off",
            "VIGIL_COLLECTOR_KUBECONFIG": self._cluster.kubeconfig,
            "VIGIL_COLLECTOR_K8S_CONTEXTS": json.dumps([self._cluster.context]),
            "VIGIL_COLLECTOR_K8S_LOGS_KEEP_NAMESPACES": json.dumps([self._namespaces[True]]),
        }

    def followed(self, settings: VigilSettings) -> None:
        """Until the collector follows the cluster (its first metrics sample is out)."""
        asyncio.run(self._first_sample(settings))

    async def _first_sample(self, settings: VigilSettings) -> None:
        bus = Bus(settings, name="bench", streams=[LATEST])
        await bus.connect(keep_trying=False)
        try:
            subject = bus.subjects.k8s_metrics(self._cluster.context)
            async with heard(bus, subject, K8sMetricsSampled, stream=True) as samples:
                await next_that(samples, lambda _: True, "the cluster followed", FOLLOWING_S)
        finally:
            await bus.close()

    def write(self, name: str, keep: bool, command: list[str], timeout: float) -> None:
        """Run the writer as pod `name` until it has ended."""
        namespace = self._namespaces[keep]
        self._written[name] = namespace
        writer = container("writer", self._cluster.image, shlex.join(command))
        run_pod(self._cluster, namespace, name, writer, restart="Never")
        ended = eventually(lambda: self._ended(namespace, name), f"{name} ended", timeout)
        phase = asyncio.run(ended)
        if phase != "Succeeded":
            raise RuntimeError(f"the writer pod {namespace}/{name} ended {phase}")

    def _ended(self, namespace: str, name: str) -> str | None:
        with self._cluster.api_client() as api:
            phase: str = client.CoreV1Api(api).read_namespaced_pod(name, namespace).status.phase
        return phase if phase in ("Succeeded", "Failed") else None

    def written(self, name: str) -> tuple[str, float]:
        """The pod's text (a newline per line) and how long it wrote."""
        with self._cluster.api_client() as api:
            response = client.CoreV1Api(api).read_namespaced_pod_log(
                name, self._written[name], timestamps=True, _preload_content=False
            )
            stamped = response.data.splitlines()
        stamps, texts = zip(*(line.partition(b" ")[::2] for line in stamped), strict=True)
        first, last = parse_time(stamps[0])[1], parse_time(stamps[-1])[1]
        return b"".join(text + b"\n" for text in texts).decode(), (last - first) / 1e9

    def kept_subject(self, subjects: Subjects, name: str) -> str:
        """A bare pod is kept under its own name."""
        return subjects.kept_k8s_logs(self._cluster.context, self._namespaces[True], name)


@contextlib.contextmanager
def pod_writer() -> Iterator[PodWriter]:
    """The cluster and the bench's namespaces, for as long as the bench runs."""
    with contextlib.contextmanager(testbed_cluster)() as cluster:
        namespace = contextlib.contextmanager(make_namespace)
        with namespace(cluster) as plain, namespace(cluster) as kept:
            yield PodWriter(cluster, plain, kept)
