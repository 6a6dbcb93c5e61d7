"""Alert rules and what the alerter answers about them (`ctl.rules.*`).

A rule names a target (hosts, containers, pods, the gateway's replicas), a condition (a
metric against a threshold or against the target's own limit; a status event; a source
gone quiet) and
how it behaves: held for `hold_s` before it is raised, clear for `recovery_s` before it
is resolved, quiet for `cooldown_s` after a resolve, with a severity and labels carried
by every alert it raises. Rules live in the `ALERT_RULES` bucket; the alerter evaluates
them on the live flow and raises `AlertChanged` on `alerts.rule`.
"""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from vigil.messages.proposals import PROPOSALS_OF, Proposal
from vigil.model import Message

RULE_ID = r"^[0-9a-f]{16}$"
MAX_RULES = 5000

# A glob on names: letters, digits and the few characters names use, plus `*` and `?`.
_GLOB = re.compile(r"^[A-Za-z0-9_.:/*?-]{1,200}$")
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")
_LABEL_VALUE = re.compile(r"^[^\x00-\x1f]{0,200}$")
_CONTAINER_ID = re.compile(r"^[0-9a-f]{12,64}$")
_RULE_LABEL_KEY = re.compile(r"^[A-Za-z0-9_-]{1,63}$")


def checked_glob(value: str) -> str:
    """`value` if it is a glob of name characters; else a ValueError saying what is wanted."""
    if not _GLOB.fullmatch(value):
        raise ValueError(
            "a glob of letters, digits, '_', '.', ':', '/', '-' with '*' and '?' "
            "(1 to 200 characters)"
        )
    return value


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class HostTarget(Message):
    """Hosts whose name matches `hosts` (a glob)."""

    kind: Literal["host"] = "host"
    hosts: str = Field(default="*", description="A glob on the host name.")

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: str) -> str:
        return checked_glob(value)


class ContainerTarget(Message):
    """Docker containers on hosts matching `hosts`, chosen by name glob, label or id
    (every condition given must hold; none given: every container)."""

    kind: Literal["container"] = "container"
    hosts: str = Field(default="*", description="A glob on the host name.")
    name: str | None = Field(default=None, description="A glob on the container's name.")
    label: str | None = Field(
        default=None, description="`key` (the label is set) or `key=value` (it has that value)."
    )
    id: str | None = Field(default=None, description="The container id (12 to 64 hex).")

    @field_validator("hosts", "name")
    @classmethod
    def _globs(cls, value: str | None) -> str | None:
        return None if value is None else checked_glob(value)

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        if value is None:
            return None
        key, _, wanted = value.partition("=")
        if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(wanted):
            raise ValueError("`key` or `key=value`: a key of letters, digits, '_', '.', '/', '-'")
        return value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str | None) -> str | None:
        if value is not None and not _CONTAINER_ID.fullmatch(value):
            raise ValueError("a container id is 12 to 64 lowercase hex digits")
        return value


class PodTarget(Message):
    """Pods of clusters matching `clusters`, chosen by namespace, label selector or
    workload (the pod's owner, `Kind/name` or `name`); every condition given must hold."""

    kind: Literal["pod"] = "pod"
    clusters: str = Field(default="*", description="A glob on the cluster name.")
    namespace: str | None = Field(default=None, description="A glob on the namespace.")
    selector: dict[str, str] = Field(
        default_factory=dict, max_length=16, description="Labels the pod must all carry."
    )
    workload: str | None = Field(
        default=None, description="The pod's owner: `ReplicaSet/web-5d8f` or a glob on its name."
    )

    @field_validator("clusters", "namespace")
    @classmethod
    def _globs(cls, value: str | None) -> str | None:
        return None if value is None else checked_glob(value)

    @field_validator("workload")
    @classmethod
    def _workload(cls, value: str | None) -> str | None:
        if value is None:
            return None
        kind, slash, name = value.rpartition("/")
        if slash and not re.fullmatch(r"[A-Za-z]{1,63}", kind):
            raise ValueError("`Kind/name` with a kind of letters, or a glob on the name")
        checked_glob(name)
        return value

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, wanted in value.items():
            if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(wanted):
                raise ValueError(f"label {key!r}: keys of letters, digits, '_', '.', '/', '-'")
        return value


class GatewayTarget(Message):
    """Gateway replicas whose name matches `replicas` (a glob), by the samples each
    publishes of itself (`GatewaySampled`)."""

    kind: Literal["gateway"] = "gateway"
    replicas: str = Field(default="*", description="A glob on the gateway replica's name.")

    @field_validator("replicas")
    @classmethod
    def _replicas(cls, value: str) -> str:
        return checked_glob(value)


RuleTarget = Annotated[
    HostTarget | ContainerTarget | PodTarget | GatewayTarget, Field(discriminator="kind")
]


class Metric(StrEnum):
    """What a metric condition reads; which target kinds carry it is `METRICS_OF`."""

    CPU_PERCENT = "cpu_percent"  # host: all cores 0-100; container: 100 = one CPU
    MEMORY_PERCENT = "memory_percent"
    MEMORY_BYTES = "memory_bytes"
    SWAP_PERCENT = "swap_percent"
    DISK_PERCENT = "disk_percent"  # the fullest filesystem of the host
    LOAD_1 = "load_1"
    CPU_MILLICORES = "cpu_millicores"
    CPU_OF_LIMIT = "cpu_of_limit"  # percent of the target's own CPU limit
    MEMORY_OF_LIMIT = "memory_of_limit"  # percent of the target's own memory limit
    SOCKETS = "sockets"  # a gateway replica's open WebSockets
    SOCKETS_PERCENT = "sockets_percent"  # ... against its limit (max_connections)
    SEND_FAILURES_PER_S = "send_failures_per_s"  # its failed sends to clients


METRICS_OF: dict[str, frozenset[Metric]] = {
    "host": frozenset(
        {
            Metric.CPU_PERCENT,
            Metric.MEMORY_PERCENT,
            Metric.SWAP_PERCENT,
            Metric.DISK_PERCENT,
            Metric.LOAD_1,
        }
    ),
    "container": frozenset(
        {
            Metric.CPU_PERCENT,
            Metric.MEMORY_PERCENT,
            Metric.MEMORY_BYTES,
            Metric.CPU_OF_LIMIT,
            Metric.MEMORY_OF_LIMIT,
        }
    ),
    "pod": frozenset(
        {Metric.CPU_MILLICORES, Metric.MEMORY_BYTES, Metric.CPU_OF_LIMIT, Metric.MEMORY_OF_LIMIT}
    ),
    "gateway": frozenset({Metric.SOCKETS, Metric.SOCKETS_PERCENT, Metric.SEND_FAILURES_PER_S}),
}


class MetricCondition(Message):
    """The metric against `threshold` (`above`: raised while over it, `below`: under)."""

    kind: Literal["metric"] = "metric"
    metric: Metric
    threshold: float = Field(ge=0, le=1e15)
    below: bool = Field(default=False, description="Raised while under the threshold.")


class StatusEvent(StrEnum):
    EXITED_NONZERO = "exited_nonzero"  # died with an exit code other than 0
    OOM_KILLED = "oom_killed"
    UNHEALTHY = "unhealthy"  # its health check fails (containers)
    RESTART_LOOP = "restart_loop"  # `restarts` restarts within `window_s`
    CRASH_LOOP = "crash_loop"  # a pod's container waiting in CrashLoopBackOff


class StatusCondition(Message):
    """A status of the target, raised while it holds: exited non-zero or OOM-killed
    until running again, unhealthy until healthy, a restart loop while the window holds
    `restarts` restarts."""

    kind: Literal["status"] = "status"
    event: StatusEvent
    restarts: int = Field(default=3, ge=1, le=1000, description="For restart_loop.")
    window_s: float = Field(default=300, gt=0, le=86_400, description="For restart_loop.")


class StaleCondition(Message):
    """The target's source (a host's samples, a cluster's, a gateway replica's) silent
    for `after_s`."""

    kind: Literal["stale"] = "stale"
    after_s: float = Field(default=60, ge=5, le=86_400)


class LogCondition(Message):
    """A container's log lines matching `pattern` (a regular expression run on RE2:
    linear time, no backreferences or lookaround) `count` times within `window_s`. The
    alerter follows the logs of the containers such rules target, while they do."""

    kind: Literal["log"] = "log"
    pattern: str = Field(min_length=1, max_length=200)
    count: int = Field(default=1, ge=1, le=100_000)
    window_s: float = Field(default=60, gt=0, le=86_400)


RuleCondition = Annotated[
    MetricCondition | StatusCondition | StaleCondition | LogCondition,
    Field(discriminator="kind"),
]


class RuleDraft(Message):
    name: str = Field(min_length=1, max_length=100)
    target: RuleTarget
    condition: RuleCondition
    severity: Severity = Severity.WARNING
    hold_s: float = Field(default=0, ge=0, le=86_400, description="Held this long to raise.")
    recovery_s: float = Field(default=0, ge=0, le=86_400, description="Clear this long to resolve.")
    cooldown_s: float = Field(
        default=0, ge=0, le=86_400, description="Not raised again this long after a resolve."
    )
    labels: dict[str, str] = Field(default_factory=dict, max_length=16)
    enabled: bool = True
    propose: Proposal | None = Field(
        default=None,
        description=(
            "An action its alerts propose, for an operator to confirm: restart or rollback"
            " (containers: the last deploy of the container's service on its host), scale"
            " with replicas (pods: their Deployment or StatefulSet)."
        ),
    )

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, text in value.items():
            if not _RULE_LABEL_KEY.fullmatch(key):
                raise ValueError(f"label {key!r}: 1-63 letters, digits, '_' or '-'")
            if len(text) > 200:
                raise ValueError(f"label {key!r}: a value of at most 200 characters")
        return value

    @model_validator(mode="after")
    def _condition_fits_the_target(self) -> "RuleDraft":
        kind = self.target.kind
        condition = self.condition
        if isinstance(condition, MetricCondition) and condition.metric not in METRICS_OF[kind]:
            offered = ", ".join(sorted(METRICS_OF[kind]))
            raise ValueError(
                f"condition.metric: {kind} targets carry {offered}, not {condition.metric.value}"
            )
        if isinstance(condition, LogCondition) and kind != "container":
            raise ValueError("condition: log patterns are of containers (for now)")
        if isinstance(condition, StatusCondition):
            if kind in ("host", "gateway"):
                raise ValueError(
                    f"condition: status events are of containers and pods, not {kind}s"
                )
            if kind == "pod" and condition.event is StatusEvent.UNHEALTHY:
                raise ValueError("condition.event: unhealthy is of containers (pods: crash_loop)")
            if kind == "container" and condition.event is StatusEvent.CRASH_LOOP:
                raise ValueError(
                    "condition.event: crash_loop is of pods (containers: restart_loop)"
                )
        if self.propose is not None:
            action = self.propose.action
            if action not in PROPOSALS_OF[kind]:
                fits = " or ".join(sorted(PROPOSALS_OF[kind])) or "nothing"
                raise ValueError(f"propose.action: a {kind} rule may propose {fits}, not {action}")
            if isinstance(condition, StaleCondition):
                raise ValueError(
                    f"propose: a stale condition is of a whole source, with no {kind} to {action}"
                )
        return self


class Rule(RuleDraft):
    id: str
    created_by: str
    created_at: datetime


class CreateRule(Message):
    rule: RuleDraft


class ListRules(Message):
    pass


class RuleList(Message):
    rules: list[Rule] = Field(description="Oldest first.")


class DeleteRule(Message):
    rule_id: str = Field(pattern=RULE_ID)
