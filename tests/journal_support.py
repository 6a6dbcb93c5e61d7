"""A real systemd journal in a test's own folder, with no journald running: entries
written in the journal's export format and stored by Debian's `systemd-journal-remote`
(package systemd-journal-remote) in `<folder>/test.journal`, which `journalctl
--directory=<folder>` reads (and follows: each write appends to the same file)."""

import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

JOURNAL_REMOTE = "/usr/lib/systemd/systemd-journal-remote"


@dataclass
class Entry:
    message: str
    unit: str = "demo.service"
    priority: int = 6  # info
    identifier: str | None = None  # default: the unit's name without its suffix
    age_s: float = 0  # stamped this long before it is written


@dataclass
class Journal:
    directory: Path
    boot: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, *entries: Entry) -> None:
        """Append `entries`, each stamped now (less its `age_s`)."""
        export = b"".join(self._export(entry) for entry in entries)
        subprocess.run(
            [JOURNAL_REMOTE, f"--output={self.directory / 'test.journal'}", "-"],
            input=export,
            check=True,
            capture_output=True,
            timeout=10,
        )

    def _export(self, entry: Entry) -> bytes:
        now = time.time_ns() // 1000 - round(entry.age_s * 1_000_000)
        fields = {
            "__REALTIME_TIMESTAMP": str(now),
            "__MONOTONIC_TIMESTAMP": str(time.monotonic_ns() // 1000),
            "_BOOT_ID": self.boot,
            "_SYSTEMD_UNIT": entry.unit,
            "SYSLOG_IDENTIFIER": entry.identifier or entry.unit.rsplit(".", 1)[0],
            "PRIORITY": str(entry.priority),
            "MESSAGE": entry.message,
        }
        return b"".join(_field(name, value) for name, value in fields.items()) + b"\n"


def _field(name: str, value: str) -> bytes:
    data = value.encode()
    if b"\n" in data:  # the export format's binary form: the length, then the bytes
        return name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
    return name.encode() + b"=" + data + b"\n"
