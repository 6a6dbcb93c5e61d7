"""The channels a client can subscribe to, and the subjects each one reads.

A channel is a name plus optional parameters (`host.metrics` with `host=web1`). Its
kind decides backpressure at the gateway: *state* keeps the newest value per subject,
*stream* is ordered and reports drops as a gap, *journal* is ordered and never drops.
A channel may read several sources; each source keeps its own kind.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from vigil.access import Role
from vigil.errors import UnknownChannel
from vigil.journal import JournalSelection
from vigil.messages import (
    AlertChanged,
    AuditEvent,
    ConnectionChanged,
    ContainerStatusChanged,
    DeployEvent,
    DockerSourceChanged,
    DockerStatsSampled,
    FileBatch,
    HostMetricsSampled,
    JournalBatch,
    K8sMetricsSampled,
    LogBatch,
    PodLogBatch,
    PodStatusChanged,
)
from vigil.model import Message
from vigil.names import NameKind, validate_name
from vigil.subjects import ANY, Subjects


class ChannelKind(StrEnum):
    STATE = "state"
    STREAM = "stream"
    JOURNAL = "journal"
    MIXED = "mixed"


@dataclass(frozen=True)
class Source:
    """One subject (pattern) a channel reads, the message it carries, how it is delivered."""

    subject: str
    kind: ChannelKind
    message: type[Message]


@dataclass(frozen=True)
class ChannelSpec:
    """A channel: its parameters (a `cluster` one is checked against cluster grants),
    what it reads, and the least role that may subscribe."""

    name: str
    description: str
    params: Mapping[str, NameKind]
    sources: Callable[[Subjects, Mapping[str, str]], list[Source]]
    kind: ChannelKind
    role: Role = Role.VIEWER
    required: tuple[str, ...] = ()
    from_start: bool = False
    """Every subscriber gets the whole history first, then the live flow (journals of
    one deploy); otherwise a subscriber starts from now (or from its `since`)."""
    items: str | None = None
    """State channels: the list in each value whose items (keyed by `id`) a delta
    patches one by one; other fields change as a whole (`vigil.deltas`)."""
    selects: bool = False
    """Its sources are not fixed: they are the containers and pods its parameters
    select, which join and leave while it is open; the gateway merges their lines
    (`logs.merged`)."""


@dataclass(frozen=True)
class ChannelRef:
    """A resolved, validated subscription target: one spec and its parameters."""

    spec: ChannelSpec
    params: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """The channel as clients see it: `host.metrics` or `host.metrics?host=web1`."""
        if not self.params:
            return self.spec.name
        return self.spec.name + "?" + "&".join(f"{k}={v}" for k, v in self.params)

    def sources(self, subjects: Subjects) -> list[Source]:
        return self.spec.sources(subjects, dict(self.params))


# Filters any log channel takes, applied at the gateway: text (any case), a regular
# expression, the least level shown.
LOG_FILTERS = {"grep": NameKind.FILTER, "regex": NameKind.FILTER, "level": NameKind.FILTER}


def _host_metrics(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return [Source(s.host_metrics(p.get("host", ANY)), ChannelKind.STATE, HostMetricsSampled)]


def _alerts(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return [Source(s.alerts(p.get("source", ANY)), ChannelKind.STREAM, AlertChanged)]


def _connections(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return [Source(s.gateway_connections(), ChannelKind.STREAM, ConnectionChanged)]


def _audit(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return [Source(s.audit(p.get("service", ANY)), ChannelKind.STREAM, AuditEvent)]


def _docker_stats(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return [Source(s.docker_metrics(p.get("host", ANY)), ChannelKind.STATE, DockerStatsSampled)]


def _container_status(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    subject = s.docker_status(p.get("host", ANY), p.get("container", ANY))
    return [Source(subject, ChannelKind.STATE, ContainerStatusChanged)]


def _docker_status(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    source = Source(s.docker_source(p.get("host", ANY)), ChannelKind.STATE, DockerSourceChanged)
    return [*_container_status(s, p), source]


def _docker_logs(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    subject = s.docker_logs(p.get("host", ANY), p["container"])
    return [Source(subject, ChannelKind.STREAM, LogBatch)]


def _host_journal(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    selection = JournalSelection.parse(p.get("journal", "all"))
    subject = s.journal_logs(p["host"], selection.token)
    return [Source(subject, ChannelKind.STREAM, JournalBatch)]


def _host_file(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return [Source(s.file_logs(p["host"], p["file"]), ChannelKind.STREAM, FileBatch)]


def _selected(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return []  # chosen by the gateway, as containers and pods come and go


def _k8s_metrics(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    """The cluster's batch; a `namespace` parameter is applied by the gateway's view."""
    return [Source(s.k8s_metrics(p["cluster"]), ChannelKind.STATE, K8sMetricsSampled)]


def _k8s_status(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    subject = s.k8s_status(p["cluster"], p.get("namespace", ANY), p.get("pod", ANY))
    return [Source(subject, ChannelKind.STATE, PodStatusChanged)]


def _k8s_logs(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    subject = s.k8s_logs(p["cluster"], p["namespace"], p["pod"])
    return [Source(subject, ChannelKind.STREAM, PodLogBatch)]


def _deploy(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return [Source(s.deploy_events(p["id"]), ChannelKind.JOURNAL, DeployEvent)]


def _system(s: Subjects, p: Mapping[str, str]) -> list[Source]:
    return (
        _host_metrics(s, p)
        + _alerts(s, {})
        + _container_status(s, {"host": p["host"]} if "host" in p else {})
    )


CHANNELS: dict[str, ChannelSpec] = {
    spec.name: spec
    for spec in (
        ChannelSpec(
            name="host.metrics",
            description="Host CPU, load, memory, swap, filesystems, disk and network rates.",
            params={"host": NameKind.HOST},
            sources=_host_metrics,
            kind=ChannelKind.STATE,
        ),
        ChannelSpec(
            name="alerts",
            description=(
                "Threshold alerts as they are raised and resolved (a Kubernetes cluster's"
                " only to users granted that cluster)."
            ),
            params={"source": NameKind.SOURCE},
            sources=_alerts,
            kind=ChannelKind.STREAM,
        ),
        ChannelSpec(
            name="connections",
            description="Sockets opening and closing on every gateway (admins only).",
            params={},
            sources=_connections,
            kind=ChannelKind.STREAM,
            role=Role.ADMIN,
        ),
        ChannelSpec(
            name="audit",
            description=(
                "The audit trail as it is written: who did what, and what was refused"
                " (admins only; `service`: auth, deployer or gateway)."
            ),
            params={"service": NameKind.SOURCE},
            sources=_audit,
            kind=ChannelKind.STREAM,
            role=Role.ADMIN,
        ),
        ChannelSpec(
            name="system",
            description=(
                "Seed 001's view: one system_metric per host figure, alerts, container_status."
            ),
            params={"host": NameKind.HOST},
            sources=_system,
            kind=ChannelKind.MIXED,
        ),
        ChannelSpec(
            name="docker.stats",
            description=(
                "Stats of every running container, one batch per host every 2 s"
                " (`host_network`: true for a container on the host's network, whose"
                " network figures are 0, not the host's)."
            ),
            params={"host": NameKind.HOST},
            sources=_docker_stats,
            kind=ChannelKind.STATE,
            items="containers",
        ),
        ChannelSpec(
            name="docker.status",
            description=(
                "Container states (with exit code and health) and the Docker source's"
                " (whether its engine answers, and `stats_reader`: `cgroup` when its"
                " collector reads the host's cgroups, `api` when it asks the engine)."
            ),
            params={"host": NameKind.HOST, "container": NameKind.CONTAINER},
            sources=_docker_status,
            kind=ChannelKind.STATE,
        ),
        ChannelSpec(
            name="docker.logs",
            description="A container's log lines (id or unique name prefix), while watched.",
            params={"container": NameKind.CONTAINER, "host": NameKind.HOST, **LOG_FILTERS},
            sources=_docker_logs,
            kind=ChannelKind.STREAM,
            required=("container",),
        ),
        ChannelSpec(
            name="host.journal",
            description=(
                "A host's systemd journal lines while watched: `journal` selects"
                " (unit=NAME or a glob, priority<=LEVEL from emerg to debug,"
                " comma-separated; default all)."
            ),
            params={"host": NameKind.HOST, "journal": NameKind.JOURNAL_SELECTOR, **LOG_FILTERS},
            sources=_host_journal,
            kind=ChannelKind.STREAM,
            required=("host",),
        ),
        ChannelSpec(
            name="host.file",
            description=(
                "A host's log file while watched (for a host without a journal):"
                " `file` is its short name in the collector's allow-list"
                " (VIGIL_COLLECTOR_LOG_FILES), e.g. syslog; rotation is followed."
            ),
            params={"host": NameKind.HOST, "file": NameKind.LOG_FILE, **LOG_FILTERS},
            sources=_host_file,
            kind=ChannelKind.STREAM,
            required=("host", "file"),
        ),
        ChannelSpec(
            name="logs.merged",
            description=(
                "The lines of every container and pod a selector picks, merged in time"
                " order; they join and leave. Docker: `label` (key or key=value), `name`"
                " (a glob), on `host` or all. Kubernetes: `selector` (key=value,"
                " key!=value, key, !key; comma-separated) and/or `workload`"
                " (deployment/web, statefulset/db, daemonset/agent), in `namespace` and"
                " on `cluster` or in all and on every cluster the user may see. A host's"
                " journal: `journal` (unit=NAME or a glob, priority<=LEVEL, comma-separated;"
                " or all) with `host`. A host's log file: `file` (its short name in the"
                " collector's allow-list) with `host`. Several kinds given: all merged."
            ),
            params={
                "label": NameKind.LABEL,
                "name": NameKind.NAME_PATTERN,
                "host": NameKind.HOST,
                "selector": NameKind.LABEL_SELECTOR,
                "workload": NameKind.WORKLOAD,
                "namespace": NameKind.NAMESPACE,
                "cluster": NameKind.CLUSTER,
                "journal": NameKind.JOURNAL_SELECTOR,
                "file": NameKind.LOG_FILE,
                **LOG_FILTERS,
            },
            sources=_selected,
            kind=ChannelKind.STREAM,
            selects=True,
        ),
        ChannelSpec(
            name="docker_stats",
            description="Seed 000's view of docker.stats: `docker_stats` messages.",
            params={"host": NameKind.HOST},
            sources=_docker_stats,
            kind=ChannelKind.STATE,
            items="containers",
        ),
        ChannelSpec(
            name="k8s.metrics",
            description=(
                "Pod and node usage of one cluster with requests and limits, every 10 s"
                " (only `namespace`'s pods when given)."
            ),
            params={"cluster": NameKind.CLUSTER, "namespace": NameKind.NAMESPACE},
            sources=_k8s_metrics,
            kind=ChannelKind.STATE,
            required=("cluster",),
            items="pods",
        ),
        ChannelSpec(
            name="k8s.status",
            description="Pod phase, readiness, restarts and reason (CrashLoopBackOff...).",
            params={
                "cluster": NameKind.CLUSTER,
                "namespace": NameKind.NAMESPACE,
                "pod": NameKind.POD,
            },
            sources=_k8s_status,
            kind=ChannelKind.STATE,
            required=("cluster",),
        ),
        ChannelSpec(
            name="k8s.logs",
            description=(
                "A pod's log lines while watched (`container`: default the first); batches"
                " name their container, and a restart is marked by a line."
            ),
            params={
                "cluster": NameKind.CLUSTER,
                "namespace": NameKind.NAMESPACE,
                "pod": NameKind.POD,
                "container": NameKind.CONTAINER,
                **LOG_FILTERS,
            },
            sources=_k8s_logs,
            kind=ChannelKind.STREAM,
            required=("cluster", "namespace", "pod"),
        ),
        ChannelSpec(
            name="deploy",
            description=(
                "The journal of one deploy: its whole history, then live steps (a"
                " Kubernetes deploy's only to users granted its cluster)."
            ),
            params={"id": NameKind.DEPLOY_ID},
            sources=_deploy,
            kind=ChannelKind.JOURNAL,
            from_start=True,
            required=("id",),
        ),
    )
}


def resolve_channel(name: str, params: Mapping[str, str] | None = None) -> ChannelRef:
    """Validate a client's channel name and parameters; raise saying what was wrong."""
    spec = CHANNELS.get(name)
    if spec is None:
        known = ", ".join(sorted(CHANNELS))
        raise UnknownChannel(name[:80], f"no such channel (known: {known})")
    given = dict(params or {})
    unknown = sorted(set(given) - set(spec.params))
    if unknown:
        allowed = ", ".join(sorted(spec.params)) or "none"
        raise UnknownChannel(name, f"unknown parameter {unknown[0]!r} (allowed: {allowed})")
    missing = [key for key in spec.required if key not in given]
    if missing:
        raise UnknownChannel(name, f"parameter {missing[0]!r} is required")
    checked = {key: validate_name(spec.params[key], value) for key, value in given.items()}
    return ChannelRef(spec, tuple(sorted(checked.items())))
