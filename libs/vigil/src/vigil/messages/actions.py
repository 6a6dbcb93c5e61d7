"""Actions on what runs: a Docker container's (start, stop, ...) and a Kubernetes
workload's (delete a pod, restart a rollout, scale), carried out by the deployer
replica serving the container's host or the workload's cluster (`ctl.deploy.*.{host}`).

Destructive actions (`DESTRUCTIVE`: kill, remove; delete a pod), and any action an
alert proposed (`alert`: the alerter carries out a proposal an operator confirmed), are
asked of the user first, with the one-time question the deploys use; a no (or no answer
in time) does nothing and is answered `declined`. `stop` is not asked: the container and its data
stay, and `start` undoes it.
"""

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from vigil.messages.ctl import CtlFailure
from vigil.messages.docker import ContainerState
from vigil.model import Message
from vigil.names import (
    ClusterName,
    ContainerName,
    HostName,
    NamespaceName,
    PodName,
)


class ContainerAction(StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    KILL = "kill"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    REMOVE = "remove"


class WorkloadAction(StrEnum):
    DELETE = "delete"  # a pod: its controller (if any) makes a new one
    ROLLOUT_RESTART = "rollout-restart"  # a Deployment's (or StatefulSet's) pods, one by one
    SCALE = "scale"  # a Deployment's or StatefulSet's replicas


DESTRUCTIVE: frozenset[str] = frozenset(
    {ContainerAction.KILL, ContainerAction.REMOVE, WorkloadAction.DELETE}
)
"""Actions asked of the user before they are done."""

# The signals `docker kill` sends by name (Linux), without their `SIG`.
SIGNALS = frozenset(
    {
        "HUP",
        "INT",
        "QUIT",
        "ILL",
        "TRAP",
        "ABRT",
        "BUS",
        "FPE",
        "KILL",
        "USR1",
        "SEGV",
        "USR2",
        "PIPE",
        "ALRM",
        "TERM",
        "STKFLT",
        "CHLD",
        "CONT",
        "STOP",
        "TSTP",
        "TTIN",
        "TTOU",
        "URG",
        "XCPU",
        "XFSZ",
        "VTALRM",
        "PROF",
        "WINCH",
        "IO",
        "PWR",
        "SYS",
    }
)
_MAX_SIGNAL = 64  # SIGRTMAX


def signal_name(value: str) -> str:
    """`value` (`KILL`, `SIGKILL`, `sigkill` or a number 1..64) as the engine takes it:
    `SIGKILL` or the number; `ValueError` saying why not."""
    text = value.strip().upper()
    if text.isdigit():
        if not 1 <= int(text) <= _MAX_SIGNAL:
            raise ValueError(f"signal {value!r}: a number is 1 to {_MAX_SIGNAL}")
        return str(int(text))
    name = text.removeprefix("SIG")
    if name not in SIGNALS:
        raise ValueError(f"signal {value[:20]!r}: not a signal (e.g. SIGTERM, SIGKILL, HUP, 9)")
    return f"SIG{name}"


def proposed_by() -> Any:
    """The `alert` field of an action an alert may propose."""
    return Field(
        default=None,
        max_length=300,
        description=(
            "The alert that proposed it (`AlertChanged.proposal`, sent by the alerter):"
            " asked first whatever the action, and named in the audit trail."
        ),
    )


class ActOnContainer(Message):
    """Do `action` to a container of `host`: its name, or its id (at least the 12
    characters `docker ps` shows; a shorter prefix is NOT_FOUND, not a guess).
    Only `kill` takes a `signal` (SIGKILL without); only `remove` takes `volumes` (its
    anonymous volumes go too) and `force` (a running container is killed first);
    `stop` and `restart` wait `timeout_s` before SIGKILL (the deployer's default without)."""

    host: HostName
    container: ContainerName
    action: ContainerAction
    signal: str | None = Field(default=None, max_length=20)
    volumes: bool = False
    force: bool = False
    timeout_s: int | None = Field(default=None, ge=0, le=300)
    alert: str | None = proposed_by()

    @field_validator("signal")
    @classmethod
    def _a_signal(cls, value: str | None) -> str | None:
        return None if value is None else signal_name(value)

    @model_validator(mode="after")
    def _options_of_the_action(self) -> "ActOnContainer":
        if self.signal is not None and self.action is not ContainerAction.KILL:
            raise ValueError(f"signal: only kill takes one, not {self.action}")
        if (self.volumes or self.force) and self.action is not ContainerAction.REMOVE:
            raise ValueError(f"volumes, force: only remove takes them, not {self.action}")
        restarts = (ContainerAction.STOP, ContainerAction.RESTART)
        if self.timeout_s is not None and self.action not in restarts:
            raise ValueError(f"timeout_s: only stop and restart take one, not {self.action}")
        return self


ActionOutcome = Literal["done", "declined"]


class ContainerActed(Message):
    """What an `ActOnContainer` did: `done` (`state` is the container's after it,
    `removed` once gone), or `declined` (asked first, and not confirmed: nothing done)."""

    host: HostName
    container: str = Field(description="the container's full id")
    name: str
    action: ContainerAction
    outcome: ActionOutcome
    state: ContainerState
    detail: str = ""


WorkloadKind = Literal["pod", "deployment", "statefulset"]


class ActOnWorkload(Message):
    """Do `action` to a Kubernetes object of `cluster`: `delete` a pod, `rollout-restart`
    a Deployment or StatefulSet (its pod template's `kubectl.kubernetes.io/restartedAt`,
    as `kubectl rollout restart`), `scale` one to `replicas`."""

    cluster: ClusterName
    namespace: NamespaceName
    kind: WorkloadKind
    name: PodName
    action: WorkloadAction
    replicas: int | None = Field(default=None, ge=0, le=10_000)
    alert: str | None = proposed_by()

    @model_validator(mode="after")
    def _fits_the_kind(self) -> "ActOnWorkload":
        if self.action is WorkloadAction.DELETE and self.kind != "pod":
            raise ValueError(f"delete: pods only, not a {self.kind}")
        if self.action is not WorkloadAction.DELETE and self.kind == "pod":
            raise ValueError(f"{self.action}: a deployment or statefulset, not a pod")
        if (self.action is WorkloadAction.SCALE) != (self.replicas is not None):
            raise ValueError("replicas: scale needs it, and only scale takes it")
        return self


class WorkloadActed(Message):
    """What an `ActOnWorkload` did: `done` or `declined` (asked first, not confirmed);
    `replicas`: the workload's wanted count after it (none for a pod)."""

    cluster: ClusterName
    namespace: NamespaceName
    kind: WorkloadKind
    name: str
    action: WorkloadAction
    outcome: ActionOutcome
    replicas: int | None = None
    detail: str = ""


# -- what a client sends the gateway (the path names the object) -------------------------


class ContainerActionAsked(Message):
    """The body of `POST /api/docker/{host}/containers/{container}/actions`."""

    action: ContainerAction
    signal: str | None = Field(default=None, max_length=20)
    volumes: bool = False
    force: bool = False
    timeout_s: int | None = Field(default=None, ge=0, le=300)


class ContainerRef(Message):
    host: HostName
    container: ContainerName


MAX_BULK = 50
"""Containers one bulk action may name."""


class BulkContainerAction(ContainerActionAsked):
    """The body of `POST /api/docker/actions`: one action on each of `containers`
    (each asked first, when destructive), carried out side by side."""

    containers: list[ContainerRef] = Field(min_length=1, max_length=MAX_BULK)


class ContainerActionResult(Message):
    """One container's result in a bulk action: what was done, or why not."""

    host: str
    container: str
    ok: bool
    acted: ContainerActed | None = None
    error: CtlFailure | None = None


class BulkContainerActed(Message):
    results: list[ContainerActionResult]


class WorkloadActionAsked(Message):
    """The body of `POST /api/k8s/{cluster}/{namespace}/{kind}/{name}/actions`."""

    action: WorkloadAction
    replicas: int | None = Field(default=None, ge=0, le=10_000)
