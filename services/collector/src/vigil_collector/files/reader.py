"""One allow-listed log file read in a worker thread (`tail.FileTail`), its lines handed
to the loop in order: cut at `max_line_bytes` with a marker, redacted line by line (one
`Redactor` for the file: a private key's block is redacted across its lines), stamped
with the time a syslog line starts with, else when it was read (`timestamps`). The
thread looks at the file every `poll_s`; `stop()` ends it at its next look (the
thread's start, stop and end are `logs.reader`'s)."""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.messages import FileLine
from vigil_collector.files.tail import FileTail, Line
from vigil_collector.files.timestamps import syslog_stamp
from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import Read
from vigil_collector.logs.lines import cut_text
from vigil_collector.logs.reader import StreamReader
from vigil_collector.logs.redaction import Redactor

_URGENT = 3  # err and more urgent go out as `stderr`


def file_line(line: Line, max_line_bytes: int, redactor: Redactor) -> tuple[FileLine, int]:
    """A line of the file as a `FileLine` (cut, redacted, stamped) and its time in epoch
    nanoseconds."""
    now = datetime.now(UTC)
    stamped, severity = syslog_stamp(line.body, now.astimezone())
    when = stamped.astimezone(UTC) if stamped is not None else now
    text = redactor.line(cut_text(line.body, max_line_bytes, line.left_out))
    stream = "stderr" if severity is not None and severity <= _URGENT else "stdout"
    nanos = (int(when.timestamp()) * 1_000_000 + when.microsecond) * 1000
    return FileLine(time=when, stream=stream, text=text, cursor=line.cursor), nanos


class FileReader(StreamReader):
    broken = (OSError,)

    def __init__(
        self,
        path: Path,
        *,
        after: str,
        tail: int,
        poll_s: float,
        max_line_bytes: int,
        redactor: Redactor,
        handoff: Handoff[Read],
    ) -> None:
        self._path = path
        self._after = after
        self._tail = tail
        self._poll_s = poll_s
        self._max = max_line_bytes
        self._redactor = redactor
        super().__init__(handoff, thread_name="vigil-log-file")

    def _open(self) -> Any:
        tail = FileTail(self._path, self._max)
        tail.open(self._after, self._tail)
        return tail

    def _read(self, tail: Any) -> None:
        while not self._stopped.is_set():
            began = time.monotonic()
            for line in tail.read():
                if not self._handoff.put(file_line(line, self._max, self._redactor)):
                    return  # closed: the reader is stopping
            self._stopped.wait(max(0.0, self._poll_s - (time.monotonic() - began)))

    def _shut(self, tail: Any) -> None:
        """Nothing to cut: the thread sees `stopped` at its next look."""

    def _describe(self, exc: BaseException) -> str:
        return f"{self._path}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)

    def _ended(self) -> None:
        if self._response is not None:
            self._response.close()
