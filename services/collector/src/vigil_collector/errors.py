"""Errors of the collector.

CollectorError             root
├── DockerUnavailable      the Docker engine does not answer (down, socket gone, timeout)
├── ContainerNotFound      no container with that id (or name) on this host
├── ContainerGone          its cgroup or process went away while read (it stopped)
└── KubernetesUnavailable  a cluster's API server does not answer
"""


class CollectorError(Exception):
    """Root of the collector's exceptions."""


class DockerUnavailable(CollectorError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the Docker engine is unavailable: {reason}")


class ContainerNotFound(CollectorError):
    def __init__(self, container: str) -> None:
        self.container = container
        super().__init__(f"no container {container!r} on this host")


class KubernetesUnavailable(CollectorError):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the Kubernetes API is unavailable: {reason}")


class ContainerGone(CollectorError):
    """A container's cgroup or process went away while it was being read."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the container is gone: {reason}")
