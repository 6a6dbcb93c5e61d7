"""Deploys: the spec a client sends, the deployer's journal events and records, and the
requests on `ctl.deploy.*` with their replies."""

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from vigil.model import Message
from vigil.names import ClusterName, ContainerName, DeployId, HostName, NamespaceName

_IMAGE = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?",
    re.ASCII,
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}", re.ASCII)


def _image(value: str) -> str:
    if len(value) > 255 or not _IMAGE.fullmatch(value):
        raise ValueError(f"{value[:80]!r} is not an image reference (registry/repo:tag)")
    return value


def _env(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _ENV_NAME.fullmatch(name):
            raise ValueError(f"environment variable name {name[:80]!r} is not valid")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not _LABEL.fullmatch(name) or name.startswith("vigil.deploy"):
            raise ValueError(f"label {name[:80]!r} is not valid (and vigil.deploy.* is ours)")
    return value


ImageRef = Annotated[str, AfterValidator(_image)]


# -- the spec --------------------------------------------------------------------------


class PortBinding(Message):
    """A container port published on the host; `host_port` 0 lets Docker choose."""

    container_port: int = Field(ge=1, le=65535)
    host_port: int = Field(default=0, ge=0, le=65535)
    host_ip: str = Field(default="127.0.0.1", pattern=r"^[0-9a-fA-F:.]{2,45}$")
    protocol: Literal["tcp", "udp"] = "tcp"


class VolumeMount(Message):
    source: str = Field(min_length=1, max_length=512, description="A volume name or host path.")
    target: str = Field(pattern=r"^/[^\x00]{0,511}$")
    read_only: bool = False


class DockerHealth(Message):
    """The image's (or this) HEALTHCHECK, until Docker says `healthy`."""

    kind: Literal["docker"]
    test: list[str] | None = Field(default=None, max_length=64)
    interval_s: float = Field(default=1.0, gt=0, le=300)
    timeout_s: float = Field(default=60.0, gt=0, le=3600, description="Healthy within this.")


class TcpHealth(Message):
    """A TCP connect to `port` (a container port) succeeds."""

    kind: Literal["tcp"]
    port: int = Field(ge=1, le=65535)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)


class HttpHealth(Message):
    """`GET path` on `port` (a container port) answers 2xx or 3xx."""

    kind: Literal["http"]
    port: int = Field(ge=1, le=65535)
    path: str = Field(default="/", pattern=r"^/[\x21-\x7e]{0,1023}$")
    timeout_s: float = Field(default=60.0, gt=0, le=3600)


class RunningHealth(Message):
    """The container stays running for `seconds`."""

    kind: Literal["running"]
    seconds: float = Field(default=5.0, ge=0, le=3600)

    @property
    def timeout_s(self) -> float:
        return self.seconds + 30.0


HealthCheck = Annotated[
    DockerHealth | TcpHealth | HttpHealth | RunningHealth, Field(discriminator="kind")
]


class Strategy(StrEnum):
    RECREATE = "recreate"  # stop the old container, start the new one
    START_FIRST = "start-first"  # start the new one beside the old, switch, stop the old


class DeploySpec(Message):
    """What to run where (`POST /api/deploys`). `host` defaults to the only Docker host
    a deployer serves, when there is exactly one.

    With `target: "kubernetes"`, `cluster` and `namespace` name where the Deployment
    `name` is; its `container` (default: the first) gets `image` (and `command`, `env`
    and the fields of `patch` when given), and each container named in `images` gets
    its image; `host` is the cluster. Ports, volumes, labels, restart policy and
    strategy are the Deployment's own and must be left unset; `health` is its rollout."""

    target: Literal["docker", "kubernetes"] = "docker"
    host: HostName | None = None
    cluster: ClusterName | None = None
    namespace: NamespaceName | None = None
    container: ContainerName | None = Field(
        default=None, description="Kubernetes: the Deployment's container to change."
    )
    progress_deadline_s: int | None = Field(
        default=None,
        ge=1,
        le=3600,
        description="Kubernetes: the Deployment's progressDeadlineSeconds for this rollout.",
    )
    images: dict[ContainerName, ImageRef] = Field(
        default_factory=dict,
        max_length=32,
        description="Kubernetes: other containers of the Deployment, each with its new image.",
    )
    patch: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "Kubernetes: more fields of `container` (resources, probes, args...), merged into "
            "it as a strategic-merge patch."
        ),
    )
    name: ContainerName = Field(
        description="The service: its container gets this name (Kubernetes: the Deployment)."
    )
    image: ImageRef
    command: list[str] | None = Field(default=None, max_length=256)
    env: dict[str, str] = Field(default_factory=dict, max_length=256)
    ports: list[PortBinding] = Field(default_factory=list, max_length=64)
    volumes: list[VolumeMount] = Field(default_factory=list, max_length=64)
    restart_policy: Literal["no", "always", "unless-stopped", "on-failure"] = "unless-stopped"
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    health: HealthCheck = Field(default_factory=lambda: RunningHealth(kind="running"))
    strategy: Strategy = Strategy.RECREATE
    pull: Literal["missing", "always"] = "missing"
    confirm: bool = Field(default=False, description="Ask the user before the switch.")
    confirm_timeout_s: float = Field(default=300.0, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _cluster_is_host(cls, data: Any) -> Any:
        """A Kubernetes deploy is routed like a Docker one: to the cluster's deployers."""
        if isinstance(data, dict) and data.get("target") == "kubernetes" and not data.get("host"):
            return {**data, "host": data.get("cluster")}
        return data

    @model_validator(mode="after")
    def _checked(self) -> "DeploySpec":
        _env(self.env)
        _labels(self.labels)
        if self.target == "kubernetes":
            if self.cluster is None or self.namespace is None:
                raise ValueError("a kubernetes deploy needs cluster and namespace")
            if self.host not in (None, self.cluster):
                raise ValueError("a kubernetes deploy's host is its cluster")
            if self.ports or self.volumes or self.strategy is not Strategy.RECREATE:
                raise ValueError("ports, volumes and strategy are the Deployment's own")
            if self.labels:
                raise ValueError("labels are the Deployment's own (its selector uses them)")
            if {"name", "image"} & self.patch.keys():
                raise ValueError("patch: the container's name and image are set by the spec")
        elif (
            self.cluster
            or self.namespace
            or self.container
            or self.progress_deadline_s
            or self.images
            or self.patch
        ):
            raise ValueError(
                "cluster, namespace, container, progress_deadline_s, images, patch: kubernetes only"
            )
        if self.strategy is Strategy.START_FIRST:
            fixed = [p.host_port for p in self.ports if p.host_port]
            if fixed:
                raise ValueError(
                    f"start-first runs two containers at once, so they cannot both publish "
                    f"host port {fixed[0]}: use host_port 0 (Docker chooses) or recreate"
                )
        return self

    def redacted(self) -> "DeploySpec":
        """The spec as shown to readers: environment values hidden."""
        return self.model_copy(update={"env": dict.fromkeys(self.env, "***")})


# -- the journal -----------------------------------------------------------------------


class DeployState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in {DeployState.SUCCEEDED, DeployState.FAILED, DeployState.CANCELLED}


class DeployStep(StrEnum):
    QUEUE = "queue"
    VALIDATE = "validate"
    PULL = "pull"
    CREATE = "create"
    START = "start"
    HEALTH = "health"
    CONFIRM = "confirm"
    SWITCH = "switch"
    CLEANUP = "cleanup"
    ROLLBACK = "rollback"
    DONE = "done"


class StepState(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    FINISHED = "finished"
    SKIPPED = "skipped"
    FAILED = "failed"


class LayerProgress(Message):
    id: str
    status: str = Field(description="Docker's word: Downloading, Extracting, Pull complete…")
    current: int = Field(default=0, ge=0, description="Bytes downloaded.")
    total: int | None = Field(default=None, description="Bytes in the layer, once known.")
    percent: float = Field(ge=0, le=100)


class PullProgress(Message):
    layers: list[LayerProgress]
    current: int = Field(description="Bytes downloaded over every layer of known size.")
    total: int = Field(description="Bytes of every layer whose size is known.")
    percent: float = Field(
        ge=0, le=100, description="The mean of the layers' percents; it never goes back."
    )


class Requester(Message):
    """Who started a deploy: asked to confirm it, shown in the record."""

    kind: Literal["user", "api_key"]
    id: str
    name: str
    token: str = Field(description="`Principal.token`: where `ask.user` reaches them.")


class DeployEvent(Message):
    """On `deploy.{id}.events`: one step of a deploy started, progressed, finished,
    was skipped or failed; `state` is the deploy's state after it."""

    deploy_id: DeployId
    step: DeployStep
    status: StepState
    state: DeployState
    message: str = Field(max_length=4000)
    progress: PullProgress | None = None
    percent: float | None = Field(default=None, description="The step's progress, 0-100.")
    worker: str | None = Field(default=None, description="The deployer replica.")
    time: datetime


# -- records and requests on ctl.deploy.* ------------------------------------------------


class DeployRecord(Message):
    """A deploy in the `DEPLOYS` bucket: spec, who, when, where it stands. The worker
    holds it with a lease it renews; another replica takes over a lapsed one."""

    id: DeployId
    spec: DeploySpec
    requested_by: Requester
    created_at: datetime
    updated_at: datetime
    state: DeployState
    step: DeployStep
    reason: str | None = None
    worker: str | None = None
    lease_until: datetime | None = None
    cancel_requested_by: str | None = None
    previous_container: str | None = Field(default=None, description="Serving before.")
    new_container: str | None = Field(default=None, description="Created by this deploy.")
    target_state: dict[str, Any] = Field(
        default_factory=dict, description="What the target needs to roll back after a crash."
    )

    def view(self) -> "DeployRecord":
        """The record as readers see it: environment values and the requester's routing
        token left out."""
        requester = self.requested_by.model_copy(update={"token": ""})
        return self.model_copy(update={"spec": self.spec.redacted(), "requested_by": requester})


class DeployQueued(Message):
    """On `work.deploy.{host}` (a work queue): a deploy waiting for a replica."""

    deploy_id: DeployId


class CreateDeploy(Message):
    """On `ctl.deploy.create`: who asks is the request's token (the record's `requested_by`)."""

    spec: DeploySpec


class CancelDeploy(Message):
    deploy_id: DeployId


class GetDeploy(Message):
    deploy_id: DeployId


class ListDeploys(Message):
    state: DeployState | None = None
    name: ContainerName | None = None
    host: HostName | None = None
    limit: int = Field(default=50, ge=1, le=500)
    offset: int = Field(default=0, ge=0)


class DeployList(Message):
    deploys: list[DeployRecord]
    total: int = Field(description="Deploys matching the filters, over every page.")
    offset: int
    limit: int


class ListDeployHosts(Message):
    pass


class DeployHosts(Message):
    hosts: list[str] = Field(description="The Docker hosts some deployer replica serves.")


class DeployerAnnounced(Message):
    """In the `DEPLOYERS` bucket, renewed while a replica runs: the host it serves."""

    host: HostName = Field(description="The Docker host, or the Kubernetes cluster.")
    replica: str
    target: Literal["docker", "kubernetes"] = "docker"
    time: datetime
