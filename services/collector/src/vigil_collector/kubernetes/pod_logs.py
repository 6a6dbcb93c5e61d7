"""Pod logs on demand, for one cluster: a follower per leased pod container.

The same lease protocol as Docker's (`vigil_collector.docker.followers`): `FollowPodLogs`
requests (`ctl.logs.k8s_follow`) renew a holder's lease; the first starts a
`PodLogReader` (the last `tail` lines first, then live) and a publisher that sends
`PodLogBatch`es to the LOGS stream in order; when every lease has lapsed the reader
is shut. A container that restarts ends its stream; while the lease lives, a new
reader follows the new container, after a marker line saying so. The lease bookkeeping
and a follower's start and stop are shared with Docker's (`logs.followers`).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from vigil import ctl
from vigil.bus import Bus
from vigil.messages import (
    ErrorCode,
    FollowPodLogs,
    LogLine,
    PodLogBatch,
    PodLogsFollowed,
    PodStatusChanged,
    ReadPodLogs,
    utc_now,
)
from vigil_collector.handoff import Handoff
from vigil_collector.kubernetes import kube
from vigil_collector.kubernetes.pod_log_reader import PodLogReader
from vigil_collector.logs.batches import Position, Read
from vigil_collector.logs.followers import Follower, Followers
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

Target = tuple[str, str, str]  # namespace, pod, container


def restart_marker(container: str, restarts: int) -> str:
    return f"[vigil] container {container} restarted (restarts: {restarts}); following it"


class PodLogFollowers(Followers[Target]):
    def __init__(self, settings: CollectorSettings, bus: Bus, cluster: str, api_client: Any):
        super().__init__(settings, bus)
        self._cluster = cluster
        self._core = client.CoreV1Api(api_client)
        self._statuses: dict[tuple[str, str], PodStatusChanged] = {}
        self.kept: Callable[[Target], bool] = lambda target: False
        """Whether a pod container's lines are kept too (`kept_pod_logs`): its batches say so."""

    async def follow(self, request: FollowPodLogs) -> PodLogsFollowed:
        """The `ctl.logs.k8s_follow` handler, for this cluster's lease holder."""
        pod, container = await pod_container(
            self._core, self._cluster, request, self._settings.k8s_timeout_s
        )
        target = (request.namespace, request.pod, container)
        holders = await self._renew(
            target,
            request.holder,
            request.lease_s,
            lambda: self._follow(target, request.tail, _restarts(pod, container), marker=False),
        )
        return PodLogsFollowed(
            cluster=self._cluster,
            namespace=request.namespace,
            pod=request.pod,
            container=container,
            following=target in self._followers,
            holders=holders,
        )

    async def pod_changed(self, status: PodStatusChanged) -> None:
        """The pod's latest status: a restarted container is followed again."""
        if status.event == "deleted":
            self._statuses.pop((status.namespace, status.pod), None)
        else:
            self._statuses[(status.namespace, status.pod)] = status

    # -- one follower --------------------------------------------------------------------

    async def _ended(self, key: Target, follower: Follower) -> None:
        """An ended follower whose lease lives: its container restarted (or will)."""
        if not self._leases.held(key, time.monotonic()):
            self._followers.pop(key, None)
            return
        status = self._statuses.get(key[:2])
        if status is None:
            return
        current = next((c for c in status.containers if c.name == key[2]), None)
        if current is None or current.state != "running" or current.restarts <= follower.restarts:
            return  # not back yet
        async with self._lock:
            self._followers.pop(key, None)
            await self._follow(key, None, current.restarts, marker=True)

    async def _follow(
        self, target: Target, tail: int | None, restarts: int, *, marker: bool
    ) -> None:
        namespace, pod, container = target

        def reader(handoff: Handoff[Read], position: Position) -> PodLogReader:
            if marker:
                line = LogLine(
                    time=utc_now(), stream="stdout", text=restart_marker(container, restarts)
                )
                handoff.put((line, 0))  # Vigil's own line: it moves no position
            return PodLogReader(
                self._core,
                namespace,
                pod,
                container,
                tail=tail,
                after=position,
                max_line_bytes=self._settings.logs_max_line_bytes,
                redactor=self._redactor(),
                handoff=handoff,
            )

        await self._start(target, reader, restarts=restarts)
        log.info("following the logs of %s/%s/%s in %s", namespace, pod, container, self._cluster)

    def _name(self, key: Target) -> str:
        return "/".join(key)

    def _subject(self, key: Target) -> str:
        namespace, pod, _ = key
        return self._bus.subjects.k8s_logs(self._cluster, namespace, pod)

    def _batch(self, key: Target, lines: list[LogLine]) -> PodLogBatch:
        namespace, pod, container = key
        return PodLogBatch(
            cluster=self._cluster,
            namespace=namespace,
            pod=pod,
            container=container,
            lines=lines,
            kept=self.kept(key) or None,
        )

    def _task_name(self, key: Target) -> str:
        namespace, pod, _ = key
        return f"pod-logs-{namespace}-{pod}"


async def pod_container(
    core: client.CoreV1Api,
    cluster: str,
    request: FollowPodLogs | ReadPodLogs,
    timeout_s: float,
) -> tuple[dict[str, Any], str]:
    """The pod a request names (as the API's JSON) and its container `request.container`,
    by default its first; refused NOT_FOUND when either is missing, UNAVAILABLE when the
    API does not answer."""
    namespace, name, container = request.namespace, request.pod, request.container
    try:
        found = await asyncio.to_thread(
            core.read_namespaced_pod, name, namespace, _request_timeout=timeout_s
        )
    except kube.UNREACHABLE as exc:
        if kube.is_missing(exc):
            raise ctl.Refused(
                ErrorCode.NOT_FOUND, f"no pod {namespace}/{name} in cluster {cluster}"
            ) from exc
        raise ctl.Refused(ErrorCode.UNAVAILABLE, kube.describe(exc)) from exc
    pod: dict[str, Any] = core.api_client.sanitize_for_serialization(found)
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    chosen = container or (names[0] if names else "")
    if chosen not in names:
        raise ctl.Refused(
            ErrorCode.NOT_FOUND,
            f"pod {namespace}/{name} has no container {chosen!r} (it has: {', '.join(names)})",
        )
    return pod, chosen


def _restarts(pod: dict[str, Any], container: str) -> int:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return int(status.get("restartCount") or 0)
    return 0
