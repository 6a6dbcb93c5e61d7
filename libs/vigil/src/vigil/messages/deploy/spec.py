"""A deploy's spec: what to run where (`POST /api/deploys`), checked as it is parsed.

A spec's secrets are write-only: environment values (the spec's `env`, and the `value`
of each entry of a Kubernetes `patch`'s `env`) and command arguments given as
`{"secret": "..."}` (in `command`, or a `patch`'s `command` and `args`). The deployer
stores and uses them; every record it answers with (`DeployRecord.view`), every
journal event and every reason shows them as `***`.
"""

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from vigil.model import Message
from vigil.names import ClusterName, ContainerName, HostName, NamespaceName

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

SECRET_MASK = "***"
_MASKED_IN_TEXT_FROM = 4  # shorter secret values are not searched for in free text
_PATCH_ARGUMENTS = ("command", "args")


class SecretArg(Message):
    """A command argument kept secret, given as `{"secret": "..."}`: the deployer runs
    it; records and journals show `{"secret": "***"}`."""

    secret: str = Field(max_length=4096)


Argument = str | SecretArg


def _is_argument(value: Any) -> bool:
    """A plain argument, or a secret one as JSON gives it (`patch` is not parsed)."""
    if isinstance(value, str):
        return True
    return (
        isinstance(value, dict) and value.keys() == {"secret"} and isinstance(value["secret"], str)
    )


def _argument_in_clear(value: Any) -> str:
    if isinstance(value, SecretArg):
        return value.secret
    return value if isinstance(value, str) else str(value["secret"])


def _patch(value: dict[str, Any]) -> dict[str, Any]:
    """The parts of a patch that may hold secrets have a shape we can hide."""
    for key in _PATCH_ARGUMENTS:
        if key in value and not (
            isinstance(value[key], list) and all(_is_argument(item) for item in value[key])
        ):
            raise ValueError(f'patch.{key}: a list of strings or {{"secret": "..."}} objects')
    if "env" in value:
        env = value["env"]
        if not isinstance(env, list) or not all(
            isinstance(entry, dict)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("value", ""), str)
            for entry in env
        ):
            raise ValueError('patch.env: a list of {"name", "value"} (or "valueFrom") objects')
    return value


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
    command: list[Argument] | None = Field(
        default=None,
        max_length=256,
        description='Arguments; one given as {"secret": "..."} is never shown back.',
    )
    env: dict[str, str] = Field(
        default_factory=dict, max_length=256, description="Values are secrets: never shown back."
    )
    ports: list[PortBinding] = Field(default_factory=list, max_length=64)
    volumes: list[VolumeMount] = Field(default_factory=list, max_length=64)
    restart_policy: Literal["no", "always", "unless-stopped", "on-failure"] = "unless-stopped"
    labels: dict[str, str] = Field(default_factory=dict, max_length=64)
    health: HealthCheck = Field(default_factory=lambda: RunningHealth(kind="running"))
    strategy: Strategy = Strategy.RECREATE
    pull: Literal["missing", "always"] = "missing"
    confirm: bool = Field(
        default=False,
        description="Ask the user before the switch (recreate: before the old container stops).",
    )
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
        _patch(self.patch)
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

    # -- its secrets -----------------------------------------------------------------

    def argv(self) -> list[str] | None:
        """The command as it runs, secret arguments in clear: for the deployer only."""
        return None if self.command is None else [_argument_in_clear(a) for a in self.command]

    def patch_as_run(self) -> dict[str, Any]:
        """`patch` as it is sent to Kubernetes, secret arguments in clear."""
        return {
            key: [_argument_in_clear(a) for a in value] if key in _PATCH_ARGUMENTS else value
            for key, value in self.patch.items()
        }

    def secrets(self) -> list[str]:
        """Every secret value the spec holds, longest first."""
        found = set(self.env.values())
        found.update(a.secret for a in self.command or () if isinstance(a, SecretArg))
        for key in _PATCH_ARGUMENTS:
            found.update(a["secret"] for a in self.patch.get(key, ()) if isinstance(a, dict))
        found.update(entry["value"] for entry in self.patch.get("env", ()) if "value" in entry)
        return sorted(found - {""}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        """`text` with every secret value of the spec in it shown as `***` (a failure's
        reason quotes the container's last output, which may print one). Values shorter
        than 4 characters are left: they would garble every number in the text."""
        for secret in self.secrets():
            if len(secret) >= _MASKED_IN_TEXT_FROM:
                text = text.replace(secret, SECRET_MASK)
        return text

    def redacted(self) -> "DeploySpec":
        """The spec as shown to readers: the names of environment variables and where
        secret arguments go, never their values."""
        hidden = SecretArg(secret=SECRET_MASK)
        command = None
        if self.command is not None:
            command = [hidden if isinstance(a, SecretArg) else a for a in self.command]
        patch = dict(self.patch)
        for key in _PATCH_ARGUMENTS:
            if key in patch:
                patch[key] = [
                    {"secret": SECRET_MASK} if isinstance(a, dict) else a for a in patch[key]
                ]
        if "env" in patch:
            patch["env"] = [
                entry | {"value": SECRET_MASK} if "value" in entry else entry
                for entry in patch["env"]
            ]
        return self.model_copy(
            update={"env": dict.fromkeys(self.env, SECRET_MASK), "command": command, "patch": patch}
        )
