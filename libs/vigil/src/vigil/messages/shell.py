"""Interactive shells in containers (`exec`): the requests that open one on the deployer
serving the container's host (`ctl.deploy.exec.{host}`) or the pod's cluster
(`ctl.deploy.pod_exec.{cluster}`), their answer, and the control
messages that travel beside the terminal's bytes on the session's own subjects
(`exec.{session}.in`, gateway to deployer; `exec.{session}.out`, deployer to gateway).

Bytes flow by credit (`vigil.shell_stream`): each side may send only as many bytes as
the other has granted (`ShellCredit`), starting from the window each names when the
session opens, so a slow reader backs the flow up to its source (the process, or the
browser's socket) and no buffer between them grows past a window.
"""

from typing import Annotated, Literal

from pydantic import Field

from vigil.model import Message
from vigil.names import ClusterName, ContainerName, HostName, NamespaceName, PodName

SESSION_PATTERN = r"[0-9a-f]{32}"
"""A session id: 128 random bits in hex, chosen by the gateway; only the gateway and the
deployer may use the subjects it names."""

MAX_COMMAND_ARGS = 64
MAX_WINDOW = 1 << 20


class ShellSpec(Message):
    """What every shell's opening names: `command` run with a terminal (`cols` x
    `rows`), its input and output on the subjects of `session`; the deployer may send
    `window` bytes of output before the gateway grants more."""

    session: str = Field(pattern=SESSION_PATTERN)
    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        default_factory=lambda: ["sh"], min_length=1, max_length=MAX_COMMAND_ARGS
    )
    cols: int = Field(default=80, ge=1, le=1000)
    rows: int = Field(default=24, ge=1, le=1000)
    window: int = Field(default=65_536, ge=1024, le=MAX_WINDOW)


class OpenShell(ShellSpec):
    """Run the command in container `container` of Docker host `host`."""

    host: HostName
    container: ContainerName


class OpenPodShell(ShellSpec):
    """Run the command in container `container` of pod `namespace/pod` of `cluster` (its
    first container when none is named, as `kubectl exec` does)."""

    cluster: ClusterName
    namespace: NamespaceName
    pod: PodName
    container: ContainerName | None = None


class ShellOpened(Message):
    """The shell runs: on `host` (the Docker host, or the pod's cluster), in container
    `container` (a Docker container's id, or the pod's container), named `name` (the
    container's name, or `namespace/pod`); the gateway may send `window` bytes of input
    before the deployer grants more."""

    session: str = Field(pattern=SESSION_PATTERN)
    host: HostName
    container: str
    name: str
    window: int = Field(ge=1024, le=MAX_WINDOW)


class ShellCredit(Message):
    """The sender of this message took `size` more bytes off its queue: the other side
    may send that many more."""

    type: Literal["credit"] = "credit"
    size: int = Field(ge=1, le=MAX_WINDOW)


class ShellResize(Message):
    """The terminal is now `cols` x `rows` (gateway to deployer)."""

    type: Literal["resize"] = "resize"
    cols: int = Field(ge=1, le=1000)
    rows: int = Field(ge=1, le=1000)


ShellEndReason = Literal["exited", "closed", "idle", "failed"]


class ShellEnded(Message):
    """The session is over, for `reason`: the process `exited` (with `exit_code`, when the
    engine tells), a side `closed` it, no byte went either way for the idle limit, or it
    `failed` (`detail` says how)."""

    type: Literal["ended"] = "ended"
    reason: ShellEndReason
    exit_code: int | None = None
    detail: str = Field(default="", max_length=500)


ShellControl = Annotated[ShellCredit | ShellResize | ShellEnded, Field(discriminator="type")]
"""What travels on a session's subjects beside its bytes (a message with the
`Vigil-Shell: control` header)."""
