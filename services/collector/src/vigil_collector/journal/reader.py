"""One selection of the host's journal, read from `journalctl --follow --output=json`
in a worker thread.

journalctl does the reading (the journal's file format, its rotation and vacuuming,
the unit and priority matches) and this reads its one JSON object per entry: the
message, cut at `max_line_bytes` with a marker and redacted line by line (a message
may hold several; a private key's block is redacted across them), handed to the loop
in order with its time in epoch nanoseconds; `None` follows the last one. A follower
after an earlier one starts after the cursor of the last line that one batched
(`--after-cursor`): nothing is read twice; of the entries written while nobody
followed, those older than `RESUME_WITHIN_NS` (5 minutes) are skipped, so a long gap
does not flood the stream. A first one starts with the last `tail` entries. `stop()`
ends journalctl, which ends the thread (the thread's start, stop and end are
`logs.reader`'s, shared with Docker's and the pods' log readers). A unit glob is
matched against the units in the journal when journalctl starts (journalctl's way).
"""

import contextlib
import json
import logging
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vigil.journal import JournalSelection
from vigil.messages import JournalLine
from vigil_collector.handoff import Handoff
from vigil_collector.logs.batches import RESUME_WITHIN_NS, Read
from vigil_collector.logs.lines import cut_text
from vigil_collector.logs.reader import StreamReader
from vigil_collector.logs.redaction import Redactor

log = logging.getLogger(__name__)

_FIELDS = "MESSAGE,PRIORITY,_SYSTEMD_UNIT,SYSLOG_IDENTIFIER"  # and the cursor and time
_PRIORITIES = frozenset("01234567")
_URGENT = 3  # err and more urgent go out as `stderr`
_EXIT_S = 5.0


def journalctl_command(
    journalctl: str,
    directory: Path | None,
    selection: JournalSelection,
    *,
    after: str,
    tail: int,
) -> list[str]:
    """journalctl following `selection` of the journal in `directory` (None: the
    system's), after the cursor `after` (empty: the last `tail` entries first)."""
    command = [
        journalctl,
        "--follow",
        "--output=json",
        f"--output-fields={_FIELDS}",
        "--all",  # long fields too (cut here), not left out
        "--no-pager",
        "--quiet",
    ]
    if directory is not None:
        command.append(f"--directory={directory}")
    if selection.unit is not None:
        command.append(f"--unit={selection.unit}")
    if selection.priority is not None:
        command.append(f"--priority={selection.priority}")
    command.append(f"--after-cursor={after}" if after else f"--lines={tail}")
    return command


def journal_line(
    raw: bytes, max_line_bytes: int, redactor: Redactor
) -> tuple[JournalLine, int] | None:
    """One entry of journalctl's JSON as a `JournalLine` (cut, redacted) and its time
    in epoch nanoseconds; None for what is not an entry."""
    try:
        entry = json.loads(raw)
        micros = int(entry["__REALTIME_TIMESTAMP"])
        cursor = str(entry["__CURSOR"])
    except (ValueError, KeyError, TypeError):
        return None
    message = entry.get("MESSAGE")
    if isinstance(message, list):  # not UTF-8: journalctl sends its bytes
        body = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256)
    else:
        body = str(message or "").encode()
    text = "\n".join(redactor.line(part) for part in cut_text(body, max_line_bytes).split("\n"))
    level = entry.get("PRIORITY")
    priority = int(level) if level in _PRIORITIES else None
    when = datetime.fromtimestamp(micros // 1_000_000, UTC).replace(microsecond=micros % 1_000_000)
    line = JournalLine(
        time=when,
        stream="stderr" if priority is not None and priority <= _URGENT else "stdout",
        text=text,
        priority=priority,
        unit=_text(entry.get("_SYSTEMD_UNIT")),
        identifier=_text(entry.get("SYSLOG_IDENTIFIER")),
        cursor=cursor,
    )
    return line, micros * 1000


def _text(value: object) -> str | None:
    return value[:256] if isinstance(value, str) and value else None


class JournalReader(StreamReader):
    broken = (OSError, ValueError)

    def __init__(
        self,
        command: list[str],
        *,
        resuming: bool,
        max_line_bytes: int,
        redactor: Redactor,
        handoff: Handoff[Read],
    ) -> None:
        self._command = command
        self._skip_before = time.time_ns() - RESUME_WITHIN_NS if resuming else 0
        self._max = max_line_bytes
        self._redactor = redactor
        super().__init__(handoff, thread_name="vigil-journal")

    def _open(self) -> Any:
        return subprocess.Popen(
            self._command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def _read(self, process: Any) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            if self._stopped.is_set():
                return
            parsed = journal_line(raw, self._max, self._redactor)
            if parsed is not None and parsed[1] >= self._skip_before:
                self._handoff.put(parsed)
        try:
            process.wait(_EXIT_S)
        except subprocess.TimeoutExpired:
            return
        if process.returncode and not self._stopped.is_set():
            said = process.stderr.read(2000).decode(errors="replace").strip()
            self.error = said or f"journalctl exited with {process.returncode}"
            log.warning("the journal reader ended: %s", self.error)

    def _shut(self, process: Any) -> None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()

    def _describe(self, exc: BaseException) -> str:
        return str(exc) or type(exc).__name__

    def _ended(self) -> None:
        process = self._response
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
