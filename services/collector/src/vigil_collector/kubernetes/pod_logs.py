"""Pod logs on demand, for one cluster: a follower per leased pod container.

The same lease protocol as Docker's (`vigil_collector.docker.followers`): `FollowPodLogs`
requests (`ctl.logs.k8s_follow`) renew a holder's lease; the first starts a
`PodLogReader` (the last `tail` lines first, then live) and a publisher that sends
`PodLogBatch`es to the LOGS stream in order; when every lease has lapsed the reader
is shut. A container that restarts ends its stream; while the lease lives, a new
reader follows the new container, after a marker line saying so.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from vigil import ctl
from vigil.bus import Bus
from vigil.lifecycle import stop_task
from vigil.messages import (
    ErrorCode,
    FollowPodLogs,
    LogLine,
    PodLogBatch,
    PodLogsFollowed,
    PodStatusChanged,
    utc_now,
)
from vigil_collector.handoff import Handoff
from vigil_collector.kubernetes import kube
from vigil_collector.kubernetes.pod_log_reader import PodLogReader
from vigil_collector.logs.batches import Position, Read, finish, publish_lines
from vigil_collector.logs.leases import Leases
from vigil_collector.logs.redaction import Redactor, compile_patterns
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

_CHECK_S = 0.25

Target = tuple[str, str, str]  # namespace, pod, container


def restart_marker(container: str, restarts: int) -> str:
    return f"[vigil] container {container} restarted (restarts: {restarts}); following it"


@dataclass
class _Follower:
    reader: PodLogReader
    publisher: asyncio.Task[None]
    restarts: int


class PodLogFollowers:
    def __init__(self, settings: CollectorSettings, bus: Bus, cluster: str, api_client: Any):
        self._settings = settings
        self._bus = bus
        self._cluster = cluster
        self._core = client.CoreV1Api(api_client)
        self._patterns = compile_patterns(settings.redact_patterns)
        self._leases = Leases()
        self._followers: dict[Target, _Follower] = {}
        self._positions: dict[Target, Position] = {}
        self._statuses: dict[tuple[str, str], PodStatusChanged] = {}
        self._lock = asyncio.Lock()

    async def follow(self, request: FollowPodLogs) -> PodLogsFollowed:
        """The `ctl.logs.k8s_follow` handler, for this cluster's lease holder."""
        pod, container = await pod_container(
            self._core,
            self._cluster,
            request.namespace,
            request.pod,
            request.container,
            self._settings.k8s_timeout_s,
        )
        target = (request.namespace, request.pod, container)
        key = "/".join(target)
        holders = self._leases.renew(key, request.holder, request.lease_s, time.monotonic())
        async with self._lock:
            if holders and target not in self._followers:
                await self._start(target, request.tail, _restarts(pod, container), marker=False)
        if not holders:
            await self._stop(target)
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

    async def watch_leases(self) -> None:
        """Stop followers whose leases lapsed; follow restarted containers again."""
        while True:
            await asyncio.sleep(_CHECK_S)
            now = time.monotonic()
            for key in self._leases.lapsed(now):
                namespace, pod, container = key.split("/")
                log.info("the log lease of %s lapsed; stopping its follower", key)
                await self._stop((namespace, pod, container))
            for target, follower in list(self._followers.items()):
                if follower.publisher.done():
                    await self._maybe_restart(target, follower)

    async def stop_all(self) -> None:
        for follower in self._followers.values():
            follower.reader.shut()
        for target in list(self._followers):
            await self._stop(target, flush=False)

    # -- one follower --------------------------------------------------------------------

    async def _maybe_restart(self, target: Target, ended: _Follower) -> None:
        """An ended follower whose lease lives: its container restarted (or will)."""
        if not self._leases.held("/".join(target), time.monotonic()):
            self._followers.pop(target, None)
            return
        status = self._statuses.get(target[:2])
        if status is None:
            return
        current = next((c for c in status.containers if c.name == target[2]), None)
        if current is None or current.state != "running" or current.restarts <= ended.restarts:
            return  # not back yet
        async with self._lock:
            self._followers.pop(target, None)
            await self._start(target, None, current.restarts, marker=True)

    async def _start(
        self, target: Target, tail: int | None, restarts: int, *, marker: bool
    ) -> None:
        settings = self._settings
        namespace, pod, container = target
        position = self._positions.setdefault(target, Position())
        await position.take_over()
        handoff: Handoff[Read] = Handoff(asyncio.get_running_loop(), settings.logs_buffer_lines)
        if marker:
            line = LogLine(
                time=utc_now(), stream="stdout", text=restart_marker(container, restarts)
            )
            handoff.put((line, 0))  # Vigil's own line: it moves no position
        reader = PodLogReader(
            self._core,
            namespace,
            pod,
            container,
            tail=tail,
            after=position,
            max_line_bytes=settings.logs_max_line_bytes,
            redactor=Redactor(self._patterns, defaults=settings.redact_defaults),
            handoff=handoff,
        )
        reader.start()
        publisher = asyncio.create_task(
            self._publish(target, handoff, position), name=f"pod-logs-{namespace}-{pod}"
        )
        position.publisher = publisher
        self._followers[target] = _Follower(reader, publisher, restarts)
        log.info("following the logs of %s/%s/%s in %s", namespace, pod, container, self._cluster)

    async def _stop(self, target: Target, *, flush: bool = True) -> None:
        follower = self._followers.pop(target, None)
        if follower is None:
            return
        await asyncio.to_thread(follower.reader.stop)
        if not flush:
            await stop_task(follower.publisher)
            return
        await finish(follower.publisher, self._settings.logs_finish_s, "/".join(target))

    async def _publish(self, target: Target, handoff: Handoff[Read], position: Position) -> None:
        namespace, pod, container = target
        cluster = self._cluster
        await publish_lines(
            self._bus,
            self._bus.subjects.k8s_logs(cluster, namespace, pod),
            handoff,
            self._settings,
            lambda lines: PodLogBatch(
                cluster=cluster, namespace=namespace, pod=pod, container=container, lines=lines
            ),
            position,
        )


async def pod_container(
    core: client.CoreV1Api,
    cluster: str,
    namespace: str,
    name: str,
    container: str | None,
    timeout_s: float,
) -> tuple[dict[str, Any], str]:
    """The pod (as the API's JSON) and its container `container`, by default its first;
    refused NOT_FOUND when either is missing, UNAVAILABLE when the API does not answer."""
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
