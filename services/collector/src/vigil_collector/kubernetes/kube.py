"""The Kubernetes API: which clusters to follow, a client for each, and the small
translations every Kubernetes part needs (quantities, failures).

The `kubernetes` client blocks, so its calls run in worker threads; a failure to reach
the API server becomes `KubernetesUnavailable`, a missing object stays `ApiException`
with status 404 for the caller.
"""

import contextlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import urllib3.exceptions
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.utils import parse_quantity

from vigil.errors import InvalidName
from vigil.names import NameKind, validate_name
from vigil_collector.errors import KubernetesUnavailable
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

UNREACHABLE: tuple[type[BaseException], ...] = (
    ApiException,
    urllib3.exceptions.HTTPError,
    OSError,
)


@dataclass(frozen=True)
class ClusterConfig:
    """One cluster to follow: its id (the context name) and how to build its client."""

    name: str
    kubeconfig: str | None
    context: str | None

    def api_client(self) -> Any:
        if self.kubeconfig is None:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        return config.new_client_from_config(self.kubeconfig, context=self.context)


def clusters_of(settings: CollectorSettings) -> list[ClusterConfig]:
    """The clusters the settings name: the kubeconfig's contexts (all, or those listed)
    and the one this runs in. Of all the contexts (a kubeconfig followed as it is, as
    `vigil up` follows `~/.kube/config`), one whose name is no valid cluster id is left
    out with a warning (listed ones are cluster ids: the settings check them)."""
    found: list[ClusterConfig] = []
    if settings.kubeconfig is not None:
        contexts, _ = config.list_kube_config_contexts(settings.kubeconfig)
        names = [context["name"] for context in contexts]
        wanted = settings.k8s_contexts or names
        for name in wanted:
            if name not in names:
                raise ValueError(f"kubeconfig {settings.kubeconfig} has no context {name!r}")
            try:
                validate_name(NameKind.CLUSTER, name)
            except InvalidName as exc:
                log.warning(
                    "context %r of %s is not followed: it cannot be a cluster id (%s); "
                    "rename it (kubectl config rename-context) to follow it",
                    name,
                    settings.kubeconfig,
                    exc,
                )
                continue
            found.append(ClusterConfig(name, settings.kubeconfig, name))
    if settings.k8s_in_cluster is not None:
        found.append(ClusterConfig(settings.k8s_in_cluster, None, None))
    return found


# What reading a stream raises once it is shut under it.
STREAM_BROKEN: tuple[type[BaseException], ...] = (*UNREACHABLE, ValueError, AttributeError)


def is_gone(exc: BaseException) -> bool:
    """A watch's resourceVersion expired (410 Gone): list again."""
    return isinstance(exc, ApiException) and exc.status == 410


def is_missing(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404


def describe(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        text = f"{exc.status} {exc.reason}"
    else:
        text = str(exc) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def unavailable(exc: BaseException) -> KubernetesUnavailable:
    return KubernetesUnavailable(describe(exc))


def millicores(quantity: str | None) -> float | None:
    if quantity is None:
        return None
    return float(parse_quantity(quantity) * 1000)


def bytes_of(quantity: str | None) -> int | None:
    if quantity is None:
        return None
    return int(parse_quantity(quantity).to_integral_value())


def total(values: list[Decimal | float | int | None]) -> Any:
    """The sum of figures that are all known; None when any is unknown (no limit)."""
    if not values or any(value is None for value in values):
        return None
    return sum(values)


def shut(response: Any) -> None:
    """End a streaming response from another thread: a blocked read returns at once."""
    with contextlib.suppress(Exception):  # closed already, or never connected
        response.shutdown()
    with contextlib.suppress(Exception):
        response.release_conn()
