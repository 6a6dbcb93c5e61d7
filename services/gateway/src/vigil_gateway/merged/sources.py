"""The sources a merged log view reads: a Docker container, a pod, a host's journal or
a host's log file.

Each has the channel its log lease is held for (as a watcher of its own logs holds it:
`docker.logs`, `k8s.logs` for the pod's first container, `host.journal` for the
selection of the host's journal, or `host.file`), the JetStream subject its
collector publishes its lines on, and how its lines are labelled in the view. A pod's
source names its cluster, so that a view's lines can be shown only to subscribers with
that cluster's grant.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from vigil.channels import ChannelRef, resolve_channel
from vigil.journal import JournalSelection
from vigil.messages import FileBatch, JournalBatch, LogBatch, LogLine, MergedLogLine, PodLogBatch
from vigil.subjects import Subjects
from vigil_gateway.directory.clusters import Pod
from vigil_gateway.directory.containers import Container

Marker = Literal["joined", "left"]


@dataclass(frozen=True)
class LogSource:
    key: str  # unique among a view's sources
    lease: ChannelRef
    subject: str
    name: str  # the container's name, the pod's, `journal`, or the log file's short name
    host: str | None = None  # a container's, a journal's or a log file's
    container: str | None = None  # a container's short id
    cluster: str | None = None  # a pod's
    namespace: str | None = None  # a pod's
    journal: bool = False  # a host's journal
    file: bool = False  # a host's log file

    def read(self, data: bytes) -> list[MergedLogLine]:
        """A batch of the source's subject as the view's lines (raises
        `pydantic.ValidationError` when malformed)."""
        if self.journal:
            journal_batch = JournalBatch.model_validate_json(data)
            return [
                self.line(line).model_copy(
                    update={
                        "name": line.identifier or line.unit or self.name,
                        "unit": line.unit,
                        "priority": line.priority,
                    }
                )
                for line in journal_batch.lines
            ]
        if self.file:
            file_batch = FileBatch.model_validate_json(data)
            return [self.line(line) for line in file_batch.lines]
        if self.cluster is None:
            batch = LogBatch.model_validate_json(data)
            return [self.line(line) for line in batch.lines]
        pod_batch = PodLogBatch.model_validate_json(data)
        # The lines of any container of the pod that someone follows come on its
        # subject; each says which.
        return [self.line(line, pod_batch.container) for line in pod_batch.lines]

    def line(self, line: LogLine, pod_container: str | None = None) -> MergedLogLine:
        return MergedLogLine(
            time=line.time,
            stream=line.stream,
            text=line.text,
            host=self.host,
            cluster=self.cluster,
            namespace=self.namespace,
            container=self.container or pod_container,
            name=self.name,
        )

    def marker(self, marker: Marker, now: datetime) -> MergedLogLine:
        text = LogLine(time=now, stream="stdout", text=f"— {marker}")
        return self.line(text).model_copy(update={"marker": marker})


def container_source(container: Container, subjects: Subjects) -> LogSource:
    return LogSource(
        key=f"docker/{container.host}/{container.id}",
        lease=resolve_channel("docker.logs", {"container": container.id, "host": container.host}),
        subject=subjects.docker_logs(container.host, container.id),
        name=container.name,
        host=container.host,
        container=container.id,
    )


def pod_source(pod: Pod, subjects: Subjects) -> LogSource:
    params = {"cluster": pod.cluster, "namespace": pod.namespace, "pod": pod.name}
    return LogSource(
        key=f"k8s/{pod.cluster}/{pod.namespace}/{pod.name}",
        lease=resolve_channel("k8s.logs", params),
        subject=subjects.k8s_logs(pod.cluster, pod.namespace, pod.name),
        name=pod.name,
        cluster=pod.cluster,
        namespace=pod.namespace,
    )


def journal_source(host: str, selection: JournalSelection, subjects: Subjects) -> LogSource:
    params = {"host": host, "journal": selection.text}
    return LogSource(
        key=f"journal/{host}/{selection.text}",
        lease=resolve_channel("host.journal", params),
        subject=subjects.journal_logs(host, selection.token),
        name="journal",
        host=host,
        journal=True,
    )


def file_source(host: str, file: str, subjects: Subjects) -> LogSource:
    return LogSource(
        key=f"file/{host}/{file}",
        lease=resolve_channel("host.file", {"host": host, "file": file}),
        subject=subjects.file_logs(host, file),
        name=file,
        host=host,
        file=True,
    )
