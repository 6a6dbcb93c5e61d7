"""The Docker engine's API: a client made from settings, and one error for "not answering".

docker-py blocks, so every call here runs in a worker thread. A failure to reach the
engine (socket gone, refused, timed out, a 5xx while it shuts down) becomes
`DockerUnavailable`; a missing container stays docker's `NotFound` for the caller.
"""

import contextlib
import socket
from typing import Any

import docker
import docker.errors
import docker.utils
import requests.adapters
import requests.exceptions
import urllib3.exceptions

from vigil_collector.errors import DockerUnavailable

_PROBE_VERSION = "1.24"  # the oldest API docker-py speaks; `/version` answers it

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
    options: dict[str, Any] = docker.utils.kwargs_from_env()
    if url is not None:
        options["base_url"] = url
    _knock(str(options.get("base_url") or "unix:///var/run/docker.sock"), timeout_s)
    try:
        # Ask the engine's API version with a client of our own (docker-py's "auto"
        # would leave its socket open when the engine does not answer), then talk it.
        with docker.APIClient(version=_PROBE_VERSION, timeout=timeout_s, **options) as probe:
            version = probe.version()
        api = docker.APIClient(
            version=str(version["ApiVersion"]),
            timeout=timeout_s,
            max_pool_size=pool_size,
            **options,
        )
    except UNREACHABLE as exc:
        raise DockerUnavailable(describe(exc)) from exc
    _size_tcp_pool(api, pool_size)
    return api, str(version.get("Version", "unknown"))


def _size_tcp_pool(api: Any, pool_size: int) -> None:
    """docker-py sizes its pool for a socket only: over TCP (a remote engine, compose's
    docker-proxy) requests' default keeps 10 connections, and the stats workers' calls
    beyond them would each open and throw away one of their own."""
    scheme = str(api.base_url).split("://", 1)[0]
    if scheme in ("http", "https"):
        api.mount(f"{scheme}://", requests.adapters.HTTPAdapter(pool_maxsize=pool_size))


def _knock(url: str, timeout_s: float) -> None:
    """For a local socket, see that it takes connections first: docker-py leaves the
    socket it made open when `connect()` fails (the engine is down)."""
    if not url.startswith(("unix://", "http+unix://")):
        return
    path = url.split("://", 1)[1]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout_s)
        try:
            probe.connect(path)
        except OSError as exc:
            raise DockerUnavailable(f"{path}: {exc.strerror or exc}") from exc


# What reading a stream raises once its socket is shut under it (by `shut`, or by the
# engine going away): urllib3 then parses an empty chunk size, or a released buffer.
STREAM_BROKEN: tuple[type[BaseException], ...] = (*UNREACHABLE, ValueError, AttributeError)


def describe(exc: BaseException) -> str:
    """A short reason for an engine failure, for logs and the status message."""
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, docker.errors.NotFound)


def shut(response: Any) -> None:
    """End a streaming response from another thread: shut and close its socket (a
    blocked read returns at once), then the response. Safe to call twice."""
    with contextlib.suppress(OSError, AttributeError):  # not a socket stream, or closed
        sock = response.raw._fp.fp.raw._sock
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    with contextlib.suppress(OSError):
        response.close()
