"""The Docker engine's API: a client made from settings, and one error for "not answering".

docker-py blocks, so every call here runs in a worker thread. A failure to reach the
engine (socket gone, refused, timed out, a 5xx while it shuts down) becomes
`DockerUnavailable`; a missing container stays docker's `NotFound` for the caller.
"""

from typing import Any

import docker
import docker.errors
import docker.utils
import requests.exceptions
import urllib3.exceptions

from vigil_collector.errors import DockerUnavailable

UNREACHABLE: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
)


def connect(url: str | None, timeout_s: float, pool_size: int = 10) -> tuple[Any, str]:
    """An API client of the engine at `url` (or DOCKER_HOST, or the local socket) and
    the engine's version; `pool_size` connections are kept for calls at once. Raises
    `DockerUnavailable` when it does not answer."""
    try:
        options: dict[str, Any] = docker.utils.kwargs_from_env()
        if url is not None:
            options["base_url"] = url
        api = docker.APIClient(
            version="auto", timeout=timeout_s, max_pool_size=pool_size, **options
        )
        version = api.version()
    except UNREACHABLE as exc:
        raise DockerUnavailable(describe(exc)) from exc
    return api, str(version.get("Version", "unknown"))


def describe(exc: BaseException) -> str:
    """A short reason for an engine failure, for logs and the status message."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, docker.errors.NotFound)
