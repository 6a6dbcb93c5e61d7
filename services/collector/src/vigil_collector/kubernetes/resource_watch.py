"""One kind of object of a cluster (pods, events), listed then watched, in a worker
thread.

The thread lists every object (handing off `("LIST", [objects...])`), then watches
from that list's resourceVersion, handing off each `ADDED`/`MODIFIED`/`DELETED` one. When a
watch ends or its connection drops it resumes from the last resourceVersion it saw, so
nothing is sent twice; only when the server says that version is gone (410) does it
list again. While the API does not answer it hands off `("UNAVAILABLE", reason)` and
retries with backoff. `stop()` shuts the open response, which ends the thread.
"""

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import urllib3.exceptions
from kubernetes import client
from kubernetes.watch.watch import iter_resp_lines

from vigil_collector.handoff import Handoff
from vigil_collector.kubernetes import kube

log = logging.getLogger(__name__)

WatchEvent = tuple[str, Any]
# What reading a watch raises once its connection breaks (or `interrupt` shuts it).
_DROPPED = (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError)
_WATCH_S = 300  # the server ends a watch after this; it resumes at once


class ResourceWatch:
    def __init__(
        self,
        lister: Callable[..., Any],
        handoff: Handoff[WatchEvent],
        *,
        timeout_s: float,
        retry_max_s: float,
    ) -> None:
        """`lister`: a list call of the client for every namespace, such as
        `CoreV1Api.list_pod_for_all_namespaces`."""
        self._lister = lister
        self._handoff = handoff
        self._timeout_s = timeout_s
        self._retry_max_s = retry_max_s
        self._stopped = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()
        self._resume_from: str | None = None  # set by `resume_from`, taken by the thread
        self.resource_version: str | None = None
        self._thread = threading.Thread(target=self._run, name="k8s-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def interrupt(self) -> None:
        """Drop the open connection, as a network failure would: the watch resumes."""
        with self._lock:
            if self._response is not None:
                kube.shut(self._response)

    def resume_from(self, version: str) -> None:
        """Drop the connection and resume from `version`, as after a reconnect that comes
        back with an older version (one compacted away is answered 410: a relist). The
        thread takes it up itself, so an event read meanwhile cannot override it."""
        with self._lock:
            self._resume_from = version
            if self._response is not None:
                kube.shut(self._response)

    def stop(self) -> None:
        """Shut the stream and wait for the thread (call it from a worker thread)."""
        self._stopped.set()
        self._handoff.close()
        self.interrupt()
        self._thread.join()

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        delay = 1.0
        while not self._stopped.is_set():
            try:
                with self._lock:
                    if self._resume_from is not None:
                        self.resource_version, self._resume_from = self._resume_from, None
                if self.resource_version is None:
                    self._list()
                self._watch()
                delay = 1.0
            except kube.UNREACHABLE as exc:
                if self._stopped.is_set():
                    return
                if kube.is_gone(exc):
                    log.info("watch expired (410); listing again")
                    self.resource_version = None
                    continue
                log.warning("watch failed: %s; again in %.0f s", kube.describe(exc), delay)
                if not self._handoff.put(("UNAVAILABLE", kube.describe(exc))):
                    return
                if self._stopped.wait(delay):
                    return
                delay = min(delay * 2, self._retry_max_s)

    def _list(self) -> None:
        response = self._lister(_preload_content=False, _request_timeout=self._timeout_s)
        try:
            listed = json.loads(response.data)
        finally:
            response.release_conn()
        self.resource_version = listed["metadata"]["resourceVersion"]
        self._handoff.put(("LIST", listed.get("items") or []))

    def _watch(self) -> None:
        response = self._lister(
            watch=True,
            resource_version=self.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=_WATCH_S,
            _preload_content=False,
            _request_timeout=(self._timeout_s, _WATCH_S + self._timeout_s),
        )
        with self._lock:
            self._response = response
            if self._stopped.is_set() or self._resume_from is not None:
                kube.shut(response)  # asked before the response was there to shut
        try:
            for line in iter_resp_lines(response):
                if not line:
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    code = obj.get("code")
                    if code == 410:
                        raise client.ApiException(status=410, reason="Gone")
                    raise client.ApiException(status=code, reason=obj.get("message"))
                version = (obj.get("metadata") or {}).get("resourceVersion")
                if version:
                    self.resource_version = version
                if kind == "BOOKMARK":
                    continue
                if not self._handoff.put((str(kind), obj)):
                    return
        except _DROPPED as exc:  # the connection broke: resume where it was, at once
            if not self._stopped.is_set():
                log.info("watch dropped (%s); resuming", kube.describe(exc))
        finally:
            with self._lock:
                self._response = None
            kube.shut(response)
