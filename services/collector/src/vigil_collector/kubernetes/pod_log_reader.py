"""One pod container's log stream, read in a worker thread.

The API server sends `<RFC3339Nano time> <text>` lines (`timestamps=true`). A line
longer than `max_line_bytes` is cut there with a marker; each line is redacted and
handed to the loop in order, lines at or before `after` (what an earlier reader of
the same container batched, or else what LOGS_KEPT holds of it) skipped, and lines
without a stamp (the API's, not the container's) logged instead; `None` follows the
last one. A container still being created is waited for; the stream ends by itself
when the container stops; `stop()` shuts it sooner (the thread's start, stop and end
are `logs.reader`'s, shared with Docker's log reader).
"""

import logging
import time
from typing import Any

from kubernetes import client

from vigil.messages import LogLine
from vigil_collector.handoff import Handoff
from vigil_collector.kubernetes import kube
from vigil_collector.logs.batches import Position, Read
from vigil_collector.logs.lines import cut_text, parse_time
from vigil_collector.logs.reader import StreamReader
from vigil_collector.logs.redaction import Redactor

log = logging.getLogger(__name__)


def pod_line(raw: bytes, max_line_bytes: int, redactor: Redactor) -> tuple[LogLine, int] | None:
    """One `<stamp> <text>` line of the API as a `LogLine` (cut, redacted) and its time
    in epoch nanoseconds; None for a line without a stamp, which is the API's own word
    about the stream (`rpc error: ... No such container` once a container is gone), not
    the container's."""
    stamp, _, body = raw.partition(b" ")
    try:
        when, nanos = parse_time(stamp)
    except ValueError:
        return None
    text = cut_text(body, max_line_bytes)
    return LogLine(time=when, stream="stdout", text=redactor.line(text)), nanos


_WAITING_TO_START = 400  # the API's answer while the container is being created
_START_POLL_S = 0.5


class PodLogReader(StreamReader):
    broken = kube.STREAM_BROKEN

    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        pod: str,
        container: str,
        *,
        tail: int | None,
        after: Position,
        max_line_bytes: int,
        redactor: Redactor,
        handoff: Handoff[Read],
    ) -> None:
        self._core = core
        self._namespace = namespace
        self._pod = pod
        self._container = container
        self._tail = tail
        self._sent_until = after.nanos  # what an earlier reader batched
        self._after_kept = after.after_kept()
        self._max = max_line_bytes
        self._redactor = redactor
        super().__init__(handoff, thread_name=f"vigil-pod-logs-{pod}")

    @property
    def ended(self) -> bool:
        return not self.thread.is_alive()

    def _open(self) -> Any:
        """The log stream, once the container has started (None if stopped before)."""
        after_kept = self._after_kept
        since = None if after_kept is None else after_kept.seconds_ago(time.time_ns())
        while True:
            try:
                return self._core.read_namespaced_pod_log(
                    self._pod,
                    self._namespace,
                    container=self._container,
                    follow=True,
                    timestamps=True,
                    tail_lines=self._tail if since is None else None,
                    since_seconds=since,
                    _preload_content=False,
                )
            except client.ApiException as exc:
                if exc.status != _WAITING_TO_START:
                    raise
            if self._stopped.wait(_START_POLL_S):
                return None

    def _read(self, response: Any) -> None:
        buffer = b""
        for chunk in response.stream(65536, decode_content=False):
            if self._stopped.is_set():
                return
            buffer += chunk
            *whole, buffer = buffer.split(b"\n")
            for raw in whole:
                self._emit(raw)
        if buffer:
            self._emit(buffer)

    def _shut(self, response: Any) -> None:
        kube.shut(response)

    def _describe(self, exc: BaseException) -> str:
        return kube.describe(exc)

    def _emit(self, raw: bytes) -> None:
        parsed = pod_line(raw, self._max, self._redactor)
        if parsed is None:
            target = f"{self._namespace}/{self._pod}/{self._container}"
            log.info("the logs API on %s: %s", target, raw[:500].decode(errors="replace"))
            return
        line, nanos = parsed
        if nanos <= self._sent_until:
            return  # already batched by an earlier reader
        if self._after_kept is not None and not self._after_kept.new(nanos):
            return  # kept before this process followed it
        self._handoff.put((line, nanos))
