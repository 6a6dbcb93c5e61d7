"""One container's log stream, read in a worker thread and cut into whole lines.

The engine sends frames (`[stream, 0, 0, 0, size]` then `<RFC3339Nano time> <text>`
with `timestamps=1`; a TTY container sends raw bytes). A line longer than the log
driver's 16 KiB arrives in several frames; they are joined, and a line longer than
`max_line_bytes` is cut there with a marker saying how much was left out — never
dropped. Each finished line is redacted and handed to the loop in order; `None`
follows the last one. `stop()` shuts the socket, which ends the thread (the thread's
start, stop and end are `logs.reader`'s, shared with the pod log reader).
"""

import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from vigil.messages import LogLine
from vigil_collector.docker.engine import STREAM_BROKEN, shut
from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import RESUME_WITHIN_NS, Position, Read
from vigil_collector.logs.lines import cut_marker, parse_time
from vigil_collector.logs.reader import StreamReader
from vigil_collector.logs.redaction import Redactor

_STREAMS: dict[int, Literal["stdout", "stderr"]] = {1: "stdout", 2: "stderr"}
_HEADER = struct.Struct(">BxxxL")
_TTY_HOLD = 1 << 20  # a TTY line without its newline yet: held up to this much


@dataclass
class _Partial:
    stamp: bytes
    data: bytearray = field(default_factory=bytearray)
    left_out: int = 0


Emit = Callable[[LogLine, int], None]  # a whole line and its stamp in epoch nanoseconds


class LineAssembler:
    """The bytes of one logs response, cut into whole lines: joined where the engine
    split them, cut with a marker past `max_line_bytes`, redacted; `emit` gets each."""

    def __init__(self, *, tty: bool, max_line_bytes: int, redactor: Redactor, emit: Emit) -> None:
        self._tty = tty
        self._max = max_line_bytes
        self._redactor = redactor
        self._emit = emit
        self._buffer = bytearray()
        self._partial: dict[Literal["stdout", "stderr"], _Partial] = {}

    def feed(self, chunk: bytes) -> None:
        buffer = self._buffer
        buffer += chunk
        if self._tty:  # raw lines, each with its stamp: hand on the whole ones
            end = buffer.rfind(b"\n") + 1 or (len(buffer) if len(buffer) > _TTY_HOLD else 0)
            if end:
                self._frame("stdout", bytes(buffer[:end]))
                del buffer[:end]
            return
        at = 0  # frames are taken from the front, the buffer cut once: not per frame
        while len(buffer) - at >= _HEADER.size:
            kind, size = _HEADER.unpack_from(buffer, at)
            end = at + _HEADER.size + size
            if len(buffer) < end:
                break
            payload = bytes(buffer[at + _HEADER.size : end])
            at = end
            self._frame(_STREAMS.get(kind, "stdout"), payload)
        del buffer[:at]

    def flush(self) -> None:
        """The lines still unfinished, as they are (the response ended)."""
        for stream, partial in list(self._partial.items()):
            self._line(stream, partial)
        self._partial.clear()

    def _frame(self, stream: Literal["stdout", "stderr"], payload: bytes) -> None:
        for piece in payload.splitlines(keepends=True) if self._tty else [payload]:
            stamp, _, text = piece.partition(b" ")
            partial = self._partial.get(stream)
            if partial is None and text.endswith(b"\n") and len(text) <= self._max:
                self._whole(stream, stamp, text[:-1], 0)  # most lines: whole in one frame
                continue
            if partial is None:
                partial = self._partial[stream] = _Partial(stamp)
            room = self._max - len(partial.data)
            body = text[:-1] if text.endswith(b"\n") else text
            partial.data += body[: max(0, room)]
            partial.left_out += max(0, len(body) - max(0, room))
            if text.endswith(b"\n"):
                del self._partial[stream]
                self._line(stream, partial)

    def _line(self, stream: Literal["stdout", "stderr"], partial: _Partial) -> None:
        self._whole(stream, partial.stamp, partial.data, partial.left_out)

    def _whole(
        self,
        stream: Literal["stdout", "stderr"],
        stamp: bytes,
        data: bytes | bytearray,
        left_out: int,
    ) -> None:
        try:
            when, nanos = parse_time(stamp)
        except ValueError:  # not a stamp: keep the line, timed now
            when, nanos = datetime.now(UTC), 0
        text = data.decode("utf-8", errors="replace")
        if left_out:
            text += cut_marker(left_out)
        # Made of checked parts (a parsed time, a stream name, decoded text): not validated
        # again, once per line.
        line = LogLine.model_construct(time=when, stream=stream, text=self._redactor.line(text))
        self._emit(line, nanos)


Tail = int | Literal["all"]  # the lines a reader starts with, when it does not resume


class LogReader(StreamReader):
    broken = STREAM_BROKEN

    def __init__(
        self,
        api: Any,
        container: str,
        *,
        tty: bool,
        tail: Tail,
        after: Position,
        resume_within_ns: int = RESUME_WITHIN_NS,
        max_line_bytes: int,
        redactor: Redactor,
        handoff: Handoff[Read],
    ) -> None:
        self._api = api
        self._container = container
        self._tail = tail
        # Lines at or before where an earlier follower stopped were batched by it (and
        # sent, or left in `after` to be sent); only those are skipped (stdout and
        # stderr stamps need not rise together).
        recent = bool(after.nanos) and time.time_ns() - after.nanos < resume_within_ns
        self._sent_until = after.nanos if recent else 0
        self._after_kept = after.after_kept()
        self._lines = LineAssembler(
            tty=tty, max_line_bytes=max_line_bytes, redactor=redactor, emit=self._emit
        )
        super().__init__(handoff, thread_name=f"vigil-logs-{container[:12]}")

    # -- the thread ------------------------------------------------------------------

    def _open(self) -> Any:
        params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 1}
        if self._sent_until:
            # From the last line already batched (whole seconds, inclusive): the lines at
            # or before it are skipped below, so a new follower repeats nothing.
            params["since"] = self._sent_until // 10**9
            params["tail"] = "all"
        elif self._after_kept is not None:
            params["since"] = self._after_kept.since_s
            params["tail"] = "all"
        else:
            params["tail"] = self._tail
        api = self._api
        # docker-py's `logs(stream=True)` drops which stream a frame came from; the same
        # request, read here, keeps it.
        url = api._url("/containers/{0}/logs", self._container)
        response = api._get(url, params=params, stream=True, timeout=None)
        api._raise_for_status(response)
        return response

    def _read(self, response: Any) -> None:
        for chunk in response.raw.stream(65536, decode_content=False):
            if self._stopped.is_set():
                return
            self._lines.feed(chunk)

    def _shut(self, response: Any) -> None:
        shut(response)

    def _describe(self, exc: BaseException) -> str:
        return str(exc) or type(exc).__name__

    def _ended(self) -> None:
        self._lines.flush()

    def _emit(self, line: LogLine, nanos: int) -> None:
        if nanos and nanos <= self._sent_until:
            return  # already batched by an earlier follower
        if self._after_kept is not None and not self._after_kept.new(nanos):
            return  # kept before this process followed it
        self._handoff.put((line, nanos))
