"""Scroll-back for pods: a page of a pod container's older log lines, read from the API.

`ctl.logs.k8s_page` asks the collector following a cluster for up to `limit` lines
from before a time (the oldest line a client holds; without one, the newest lines).
The API has `tailLines` and `sinceTime` but no "until", so the page reads the last
lines of the log, widening `tailLines` until enough of them are older than `before`
or the log has no more. Lines stamped at `before` itself are the client's already and
are left out. Lines are cut and redacted as followed ones are.
"""

import asyncio
from typing import Any

from kubernetes import client

from vigil import ctl
from vigil.messages import ErrorCode, LogLine, LogPage, ReadPodLogs
from vigil_collector.kubernetes import kube
from vigil_collector.kubernetes.pod_log_reader import pod_line
from vigil_collector.kubernetes.pod_logs import pod_container
from vigil_collector.logs.redaction import Redactor, compile_patterns
from vigil_collector.settings import CollectorSettings

_WIDER = 8  # each read asks for this many times the lines of the one before
_MAX_TAIL = 1_000_000
_AT_BEFORE = 64  # lines read beyond a page: those stamped `before` itself are left out


class PodLogPages:
    def __init__(self, settings: CollectorSettings, cluster: str, api_client: Any) -> None:
        self._settings = settings
        self._cluster = cluster
        self._core = client.CoreV1Api(api_client)
        self._patterns = compile_patterns(settings.redact_patterns)

    async def read(self, request: ReadPodLogs) -> LogPage:
        """The `ctl.logs.k8s_page` handler, for this cluster's lease holder."""
        _, container = await pod_container(
            self._core, self._cluster, request, self._settings.k8s_timeout_s
        )
        try:
            lines, at_start = await asyncio.to_thread(self._page, request, container)
        except kube.UNREACHABLE as exc:
            raise ctl.Refused(ErrorCode.UNAVAILABLE, kube.describe(exc)) from exc
        page = lines[-request.limit :]
        more = len(lines) > request.limit or not at_start
        return LogPage(lines=page, next_before=page[0].time if more and page else None)

    def _page(self, request: ReadPodLogs, container: str) -> tuple[list[LogLine], bool]:
        """Runs in a worker thread: the lines before `before`, oldest first, and whether
        they reach the log's start."""
        tail = request.limit + _AT_BEFORE
        while True:
            read, count = self._read(request, container, tail)
            complete = count < tail  # the log has no more than this
            lines = [line for line in read if request.before is None or line.time < request.before]
            if len(lines) >= request.limit or complete or tail >= _MAX_TAIL:
                return lines, complete
            tail = min(tail * _WIDER, _MAX_TAIL)

    def _read(self, request: ReadPodLogs, container: str, tail: int) -> tuple[list[LogLine], int]:
        """The last `tail` lines of the log, and how many the API sent (with any of its
        own, unstamped, which are left out)."""
        redactor = Redactor(self._patterns, defaults=self._settings.redact_defaults)
        text = self._core.read_namespaced_pod_log(
            request.pod,
            request.namespace,
            container=container,
            timestamps=True,
            tail_lines=tail,
            _preload_content=False,
            _request_timeout=self._settings.k8s_timeout_s,
        )
        try:
            raw: bytes = text.data
        finally:
            text.release_conn()
        max_bytes = self._settings.logs_max_line_bytes
        sent = [line for line in raw.splitlines() if line]
        parsed = (pod_line(line, max_bytes, redactor) for line in sent)
        return [found[0] for found in parsed if found is not None], len(sent)
