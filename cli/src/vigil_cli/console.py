"""The terminal: lines from many processes, each prefixed with the name of its source.

`Console.line` never blocks its caller (the event loop): lines go through a bounded
queue to a writer thread. When the reader of our output is too slow and the queue is
full, lines are dropped and counted, and the count is printed once there is room, so
the loss is never silent. A closed output (a closed terminal, `vigil up | head`) stops
the writing, not the stack.
"""

import queue
import threading
from typing import Final, TextIO

OWN_SOURCE: Final = "vigil"
"""The source name of the lines the command prints about the stack itself."""


class Console:
    def __init__(self, stream: TextIO, *, width: int, max_pending: int = 10_000) -> None:
        self._stream = stream
        self._width = width
        self._pending: queue.Queue[str | None] = queue.Queue(maxsize=max_pending)  # None: stop
        self._dropped = 0
        self._lock = threading.Lock()
        self._closed = False
        self._writer = threading.Thread(target=self._write_lines, name="console", daemon=True)
        self._writer.start()

    def line(self, source: str, text: str) -> None:
        """Queue `text` to be printed as `source    | text`; drop it if the queue is full."""
        try:
            self._pending.put_nowait(f"{source:<{self._width}} | {text}\n")
        except queue.Full:
            with self._lock:
                self._dropped += 1

    def close(self, timeout: float = 5.0) -> None:
        """Print what is queued (waiting at most `timeout` seconds) and stop the writer."""
        if self._closed:
            return
        self._closed = True
        try:
            self._pending.put(None, timeout=timeout)
        except queue.Full:
            return
        self._writer.join(timeout)

    def _take_dropped(self) -> int:
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        return dropped

    def _write_lines(self) -> None:
        broken = False
        while True:
            item = self._pending.get()
            if item is None:
                return
            if broken:
                continue
            try:
                if dropped := self._take_dropped():
                    self._stream.write(f"{OWN_SOURCE:<{self._width}} | ({dropped} lines dropped)\n")
                self._stream.write(item)
                if self._pending.empty():
                    self._stream.flush()
            except (OSError, ValueError):
                # The reader went away (EPIPE, EIO) or the stream was closed: keep
                # draining the queue so callers never block, but write nothing more.
                broken = True
