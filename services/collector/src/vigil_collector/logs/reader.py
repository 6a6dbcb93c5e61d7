"""A container's log stream read in a worker thread, whichever engine sends it.

Shared by the Docker and the pod log readers, which say how the stream is opened, read
and shut, and which errors mean it broke. The thread opens the stream, reads it to its
end and hands `None` to the loop after its last line; `shut()` (from any thread) shuts
the stream, which ends the thread, and `stop()` waits for it too. A stream that breaks
while the reader is not stopped leaves its reason in `error`.
"""

import threading
from typing import Any

from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import Read


class StreamReader:
    broken: tuple[type[BaseException], ...] = ()  # the errors of a stream cut mid-read

    def __init__(self, handoff: Handoff[Read], *, thread_name: str) -> None:
        self._handoff = handoff
        self._response: Any = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self.error: str | None = None

    def start(self) -> None:
        self.thread.start()

    def shut(self) -> None:
        """End the reader: its stream is shut, so the thread ends (does not block)."""
        self._stopped.set()
        self._handoff.close()
        with self._lock:
            response = self._response
        if response is not None:
            self._shut(response)

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the reader and wait for its thread to finish; call from a thread."""
        self.shut()
        self.thread.join(timeout_s)

    # -- what differs by engine --------------------------------------------------------

    def _open(self) -> Any:
        """The stream (None if the reader was stopped before it opened)."""
        raise NotImplementedError

    def _read(self, response: Any) -> None:
        raise NotImplementedError

    def _shut(self, response: Any) -> None:
        raise NotImplementedError

    def _describe(self, exc: BaseException) -> str:
        raise NotImplementedError

    def _ended(self) -> None:
        """The stream ended (or never opened): just before the `None`."""

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            response = self._open()
            if response is None:
                return
            with self._lock:
                self._response = response
            if self._stopped.is_set():
                self._shut(response)
                return
            self._read(response)
        except self.broken as exc:  # the engine went away mid-read, or `stop()`
            if not self._stopped.is_set():
                self.error = self._describe(exc)
        finally:
            self._ended()
            self._handoff.put(None)
