"""Kept pod logs: the retained pods of one cluster followed all the time, their lines
kept in LOGS_KEPT by workload.

A pod is retained when its namespace is in `k8s_logs_keep_namespaces` or it carries
the keep label (`logs_keep_label`, as a container's). The cluster follower hands over
each pod status; every running container of a retained pod gets a follower of its own,
no lease needed, whose lines go on `keptlogs.k8s.{cluster}.{namespace}.{workload}` in
compact `KeptPodLogBatch`es. The workload is the pod's stable key: a Deployment's pods
get new names at every rollout, so their Deployment's (ReplicaSet's, DaemonSet's, Job's)
name; a StatefulSet's pod keeps its name, and a bare pod has only its own. So the pods
that replace each other read as one history; the first batch of each generation (a new
pod uid, or a restart of the container) carries a `PodGeneration` marker. A container
that stops ends its follower; its restart is followed from its first line. A pod
container seen when the collector starts (or takes the cluster over) goes on after the
last line LOGS_KEPT holds of it when the workload's last kept batch is its own
(`logs.retention`); else a pod seen then is read from its last `logs_tail` lines. A pod
whose label is taken off is no longer followed. Redaction, batching, ordering
and acks are the lease followers' (`logs.followers`, `logs.batches`).
"""

import functools
import logging
from dataclasses import dataclass
from typing import Any

from kubernetes import client

from vigil.bus import Bus
from vigil.messages import KeptPodLogBatch, LogLine, PodGeneration, PodStatusChanged
from vigil.names import NameKind, is_name
from vigil_collector.handoff import Handoff
from vigil_collector.kubernetes.pod_log_reader import PodLogReader
from vigil_collector.logs.batches import Position, Read
from vigil_collector.logs.followers import Followers
from vigil_collector.logs.retention import KeepLabel, KeptEnd, compact, last_kept
from vigil_collector.settings import CollectorSettings

log = logging.getLogger(__name__)

_TARGETS_KEPT = 1000

Target = tuple[str, str, str]  # namespace, pod, container
_NAMED_BY_THEMSELVES = {"StatefulSet"}  # whose pods keep their names when replaced


@dataclass(frozen=True)
class _Kept:
    """Where a followed container's lines go, and which generation they are."""

    workload: str
    uid: str
    restarts: int


def workload_of(status: PodStatusChanged) -> str:
    """The pod's stable key: its workload's name, or its own (a StatefulSet's pod, a
    bare pod, or a workload whose name cannot be a subject's token)."""
    owner = status.owner
    if owner is None or owner.kind in _NAMED_BY_THEMSELVES:
        return status.pod
    return owner.name if is_name(NameKind.POD, owner.name) else status.pod


class KeptPodLogs(Followers[Target]):
    """The followers of one cluster's retained pod containers."""

    def __init__(self, settings: CollectorSettings, bus: Bus, cluster: str, api_client: Any):
        super().__init__(settings, bus)
        self._cluster = cluster
        self._core = client.CoreV1Api(api_client)
        self._label = KeepLabel(settings.logs_keep_label)
        self._namespaces = set(settings.k8s_logs_keep_namespaces)
        self._retained: set[tuple[str, str]] = set()  # namespace, pod
        self._kept: dict[Target, _Kept] = {}
        self._marked: dict[Target, tuple[str, int]] = {}  # the generation marked: uid, restarts

    def retained(self, status: PodStatusChanged) -> bool:
        return status.namespace in self._namespaces or self._label.on(status.labels)

    def keeps(self, target: Target) -> bool:
        """Whether the lines of this pod container are kept (its lease batches say so)."""
        return target[:2] in self._retained

    async def pod_changed(self, status: PodStatusChanged) -> None:
        """A pod's status: each running container of a retained pod is followed (a
        restarted one anew, after its last follower's lines are sent)."""
        pod = (status.namespace, status.pod)
        if status.event == "deleted":
            self._retained.discard(pod)  # its followers end with their streams
            return
        if not self.retained(status):
            if pod in self._retained:  # no longer (its label taken off)
                self._retained.discard(pod)
                async with self._lock:
                    for target in [t for t in self._followers if t[:2] == pod]:
                        await self._stop(target)
            return
        self._retained.add(pod)
        uid = status.uid or ""
        for container in status.containers:
            if container.state != "running":
                continue
            target = (status.namespace, status.pod, container.name)
            follower = self._followers.get(target)
            if (
                follower is not None
                and self._kept[target].uid == uid  # not a new pod under the name
                and follower.restarts >= container.restarts
            ):
                continue
            async with self._lock:
                await self._stop(target)  # the last restart's (or pod's), should it still run
                kept = _Kept(workload_of(status), uid, container.restarts)
                self._kept[target] = kept
                self._forget_old()
                position = self._positions.get(target)
                end = None if position is not None and position.nanos else await self._end(target)
                fresh = position is None and end is None
                tail = self._settings.logs_tail if status.event == "snapshot" and fresh else None
                await self._start(
                    target,
                    functools.partial(self._reader, target, tail),
                    restarts=container.restarts,
                    kept=end,
                )
            log.info("keeping the logs of %s in %s as %s", "/".join(target), self._cluster, kept)

    async def _end(self, target: Target) -> KeptEnd | None:
        """Where LOGS_KEPT's lines of this pod container end, when the last batch of its
        workload is its own (of another pod or container, it cannot tell: the workload's
        subject is read back no further than its last batch)."""
        last = await last_kept(self._bus, self._subject(target), KeptPodLogBatch)
        if last is None or (last.namespace, last.pod, last.container) != target:
            return None
        return KeptEnd.of(last)

    def _reader(
        self, target: Target, tail: int | None, handoff: Handoff[Read], position: Position
    ) -> PodLogReader:
        namespace, pod, container = target
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

    def _forget_old(self) -> None:
        """At most `_TARGETS_KEPT` containers not followed are remembered: pods come and
        go under new names."""
        for target in list(self._kept)[: max(0, len(self._kept) - _TARGETS_KEPT)]:
            if target not in self._followers:
                del self._kept[target]
                self._marked.pop(target, None)

    def _name(self, key: Target) -> str:
        return "/".join(key)

    def _subject(self, key: Target) -> str:
        return self._bus.subjects.kept_k8s_logs(self._cluster, key[0], self._kept[key].workload)

    def _batch(self, key: Target, lines: list[LogLine]) -> KeptPodLogBatch:
        namespace, pod, container = key
        kept = self._kept[key]
        marker = None
        if self._marked.get(key) != (kept.uid, kept.restarts):
            self._marked[key] = (kept.uid, kept.restarts)
            marker = PodGeneration(pod=pod, uid=kept.uid, restarts=kept.restarts)
        start, compacted = compact(lines)
        return KeptPodLogBatch(
            cluster=self._cluster,
            namespace=namespace,
            workload=kept.workload,
            pod=pod,
            container=container,
            generation=marker,
            start=start,
            lines=compacted,
        )

    def _task_name(self, key: Target) -> str:
        return f"kept-pod-logs-{'-'.join(key)}"
