"""What the collector publishes about a Docker host: stats batches, container status,
the state of the Docker source itself, log batches, and the log lease."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, Field

from vigil.messages.common import omitted_when_none
from vigil.model import Message
from vigil.names import ClusterName, ContainerName, HostName, NamespaceName


class ContainerStats(Message):
    """One container in a stats batch; the first seven fields are seed 000's."""

    id: ContainerName = Field(description="The short (12 hex) container id.")
    name: str
    cpu_percent: float = Field(description="Over the interval, across all CPUs (100 = one CPU).")
    memory_usage: int = Field(description="Bytes, without the page cache (as `docker stats`).")
    memory_limit: int
    network_rx: int = Field(description="Bytes received since the container started.")
    network_tx: int
    image: str
    state: str
    memory_percent: float
    network_rx_per_s: float
    network_tx_per_s: float
    block_read: int = Field(description="Bytes read from block devices since start.")
    block_write: int
    pids: int
    cpu_seconds: float | None = omitted_when_none(
        "CPU time used since the container started, all CPUs (absent from older collectors)."
    )
    cpu_limit: float | None = omitted_when_none(
        "Its CPU limit in CPUs (`--cpus`, or its CFS quota over its period); absent when"
        " unlimited (and from older collectors)."
    )
    host_network: bool | None = omitted_when_none(
        "True when the container shares the host's network: its network figures are 0,"
        " as `docker stats` shows them (the host's own are on `metrics.host`)."
    )


class DockerStatsSampled(Message):
    """Every running container of one host, on `metrics.docker.{host}`."""

    host: HostName
    time: datetime
    interval_s: float
    containers: list[ContainerStats]


class ContainerState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    EXITED = "exited"
    DEAD = "dead"
    REMOVED = "removed"


class ContainerStatusChanged(Message):
    """A container's state, on `status.docker.{host}.{container}`: after each Docker event
    (`event` names it), and for every container when the collector starts (`snapshot`)."""

    host: HostName
    id: ContainerName
    name: str
    image: str
    status: ContainerState
    event: str = Field(
        description="create, start, die, stop, kill, oom, pause, rename, ... or snapshot."
    )
    exit_code: int | None = omitted_when_none()
    health: str | None = omitted_when_none()
    time: datetime
    labels: dict[str, str] = Field(default_factory=dict, description="The container's labels.")


class DockerSourceChanged(Message):
    """On `status.docker.{host}`: the collector's Docker engine answers, or does not."""

    host: HostName
    available: bool
    reason: str = ""
    engine_version: str | None = omitted_when_none()
    stats_reader: Literal["cgroup", "api"] | None = omitted_when_none(
        "Where its container stats come from: the host's cgroup files, or the engine's"
        " stats API (a remote engine, or cgroups this collector cannot read)."
    )
    time: datetime


class LogLine(Message):
    time: datetime
    stream: Literal["stdout", "stderr"]
    text: str = Field(description="Redacted; a line cut for size ends with a marker.")


class LogBatch(Message):
    """Lines of one container, in order, on `logs.docker.{host}.{container}`."""

    host: HostName
    container: ContainerName
    lines: list[LogLine]
    kept: bool | None = omitted_when_none(
        "True: the container is retained, so these lines are in LOGS_KEPT too (a search "
        "reads them there, not here)."
    )


class Generation(Message):
    """The marker between a retained container's generations: a new container (id) took
    the name, started at `started`."""

    id: ContainerName = Field(description="The new container's short id.")
    started: AwareDatetime


class KeptLogBatch(Message):
    """Lines of a retained container, in order, on `keptlogs.docker.{host}.{name}`: by
    its name, so a container recreated under it continues the same history. `id` is the
    container (the generation) they come from; `generation` is set on the first batch
    of each one followed (a new container under the name, or the collector's start).
    Compact, as it is kept for days: each line is its time in microseconds after
    `start` and its text; the lines from stderr are listed by index."""

    host: HostName
    container: ContainerName = Field(description="The container's name.")
    id: ContainerName = Field(description="The short id of the container the lines are from.")
    generation: Generation | None = omitted_when_none()
    start: int = Field(description="The first line's time, in epoch microseconds.")
    lines: list[tuple[int, str]] = Field(
        description="Each line: microseconds after `start`, its redacted text."
    )
    stderr: list[int] | None = omitted_when_none("Which lines (indexes) are stderr's.")


class MergedLogLine(LogLine):
    """A line of a merged view, with the source it comes from: a Docker container
    (`host`, `container` its short id, `name` its name), a pod (`cluster`,
    `namespace`, `name` the pod's name, `container` the pod's container the line is
    from; none on markers) or a host's journal (`host`, `name` the entry's program or
    unit, `unit`, `priority`; `name` is `journal` on markers). `late`: it came after
    lines of other sources stamped later had gone (its source lags past the reorder
    window); `marker`: not a log line but the source joining or leaving the view."""

    host: HostName | None = omitted_when_none()
    cluster: ClusterName | None = omitted_when_none()
    namespace: NamespaceName | None = omitted_when_none()
    container: ContainerName | None = omitted_when_none()
    name: str
    unit: str | None = omitted_when_none("A journal line's systemd unit.")
    priority: int | None = omitted_when_none("A journal line's priority (0 emerg .. 7 debug).")
    late: bool | None = omitted_when_none()
    marker: Literal["joined", "left"] | None = omitted_when_none()


class MergedLogBatch(Message):
    """Lines of a merged view (`logs.merged`), in time order."""

    lines: list[MergedLogLine]


class FollowLogs(Message):
    """On `ctl.logs.follow`: hold (or renew) the lease on a container's logs.

    The collector of `host` follows them while any holder's lease lives; `lease_s=0`
    gives the holder's lease up. The first lease starts with the last `tail` lines.
    """

    host: HostName
    container: ContainerName
    holder: str = Field(max_length=64, description="Who holds it, e.g. a gateway's id.")
    lease_s: float = Field(ge=0, le=300)
    tail: int = Field(default=100, ge=0, le=10_000)


class ReadLogs(Message):
    """On `ctl.logs.page`: scroll-back, a page of a container's older lines read from
    the engine: up to `limit` lines from before `before` (the newest, without)."""

    host: HostName
    container: ContainerName
    before: AwareDatetime | None = Field(
        default=None, description="The time of the oldest line the client has."
    )
    limit: int = Field(default=100, ge=1, le=1000)


class LogPage(Message):
    """Lines, oldest first, and where the page before them starts."""

    lines: list[LogLine]
    next_before: datetime | None = Field(
        description="Ask with this `before` for the page before; null at the log's start."
    )


class LogsFollowed(Message):
    host: HostName
    container: ContainerName
    following: bool
    holders: int
