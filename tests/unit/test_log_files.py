"""A log file followed across its rotations (`files.tail`), and a syslog line's own time
(`files.timestamps`): on real files in the test's folder, rotated as logrotate does
(renamed and recreated, or copied and truncated)."""

import os
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from vigil_collector.files.tail import FileTail
from vigil_collector.files.timestamps import syslog_stamp
from vigil_collector.settings import CollectorSettings

NOW = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def texts(tail: FileTail) -> list[str]:
    return [line.body.decode() for line in tail.read()]


def append(path: Path, *lines: str, end: str = "\n") -> None:
    with path.open("a") as file:
        file.write("\n".join(lines) + end)


def test_a_renamed_file_is_read_to_its_end_then_the_new_one_from_its_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "syslog"
    append(path, "old 1", "old 2", "old 3")
    tail = FileTail(path, 1000)
    tail.open("", tail=2)
    assert texts(tail) == ["old 2", "old 3"]
    with path.open("a") as writer:  # the daemon holds its file open
        path.rename(tmp_path / "syslog.1")
        writer.write("old 4\nold 5, unfinished")  # written after the rename, before HUP
        writer.flush()
        assert texts(tail) == ["old 4"]  # the path is gone: the old file still read
        append(path, "new 1")
        writer.write(" at last\n")
    assert texts(tail) == ["old 5, unfinished at last", "new 1"]
    append(path, "new 2")
    assert texts(tail) == ["new 2"]
    tail.close()


def test_a_copied_and_truncated_file_is_read_to_its_end_in_the_copy_then_from_its_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "syslog"
    append(path, "one", "two")
    tail = FileTail(path, 1000)
    tail.open("", tail=10)
    assert texts(tail) == ["one", "two"]
    append(path, "three", "four, unfinished", end="")
    (tmp_path / "syslog-20261206.gz").write_bytes(b"not this one")
    (tmp_path / "syslog.2").write_bytes(b"nor this")
    shutil.copyfile(path, tmp_path / "syslog.1")
    os.truncate(path, 0)
    append(path, "five")
    # What was not read when the file was cut is read in the copy, before the new lines.
    assert texts(tail) == ["three", "four, unfinished", "five"]
    append(path, "six")
    assert texts(tail) == ["six"]
    tail.close()


def test_without_a_copy_that_fits_a_truncated_files_unread_rest_is_lost(tmp_path: Path) -> None:
    path = tmp_path / "syslog"
    append(path, "one")
    tail = FileTail(path, 1000)
    tail.open("", tail=10)
    assert texts(tail) == ["one"]
    (tmp_path / "syslog.1").write_text("another file altogether\n")
    append(path, "two")
    os.truncate(path, 0)
    append(path, "x")
    assert texts(tail) == ["x"]
    tail.close()


def test_a_follower_resumes_after_the_last_cursor_unless_the_file_was_rotated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "syslog"
    append(path, "a", "b")
    first = FileTail(path, 1000)
    first.open("", tail=0)
    append(path, "c", "d")
    lines = first.read()
    first.close()
    assert [line.body for line in lines] == [b"c", b"d"]
    append(path, "e")
    again = FileTail(path, 1000)
    again.open(lines[0].cursor, tail=100)  # batched up to "c"
    assert texts(again) == ["d", "e"]
    again.close()
    path.rename(tmp_path / "syslog.1")
    append(path, "f", "g")
    rotated = FileTail(path, 1000)
    rotated.open(lines[-1].cursor, tail=1)  # another inode: from the tail
    assert texts(rotated) == ["g"]
    rotated.close()


def test_a_long_line_is_kept_up_to_the_bound_and_says_how_much_was_left_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "syslog"
    path.write_bytes(b"x" * 300_000 + b"\r\nshort\n")
    tail = FileTail(path, 256)
    tail.open("", tail=10)
    long, short = tail.read()
    assert (len(long.body), long.left_out) == (256, 300_000 - 256 + 1)  # its \r too
    assert short.body == b"short"
    assert short.cursor.endswith(f":{300_000 + 8}")
    tail.close()


@pytest.mark.parametrize(
    ("line", "when", "severity"),
    [
        (b"Dec 31 23:59:10 web1 cron[12]: ran", datetime(2025, 12, 31, 23, 59, 10), None),
        (b"Jan  1 00:00:01 web1 kernel: up", datetime(2026, 1, 1, 0, 0, 1), None),
        (b"<13>Jan  1 00:04:00 web1 app: hi", datetime(2026, 1, 1, 0, 4), 5),
        (
            b"<34>1 2025-10-11T22:14:15.003Z web1 su - ID47 - bad",
            datetime(2025, 10, 11, 22, 14, 15, 3000),
            2,
        ),
        (
            b"2025-12-06T19:55:10.123456789+01:00 web1 sshd[1]: ok",
            datetime(2025, 12, 6, 18, 55, 10, 123456),
            None,
        ),
        (b"Feb 30 10:00:00 web1 app: no such day", None, None),
        (b"plain text", None, None),
        (b"<999>plain", None, None),
    ],
)
def test_a_syslog_lines_own_time(line: bytes, when: datetime | None, severity: int | None) -> None:
    stamped, level = syslog_stamp(line, NOW)
    assert (stamped.astimezone(UTC).replace(tzinfo=None) if stamped else None) == when
    assert level == severity


def test_rfc_3164_is_in_this_hosts_zone() -> None:
    east = NOW.astimezone(timezone(timedelta(hours=2)))
    stamped, _ = syslog_stamp(b"Jan  1 02:00:00 web1 app: x", east)
    assert stamped == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)


def test_only_absolute_paths_are_allowed() -> None:
    with pytest.raises(ValueError, match="syslog: var/log/syslog is not an absolute path"):
        CollectorSettings(log_files={"syslog": Path("var/log/syslog")})
    with pytest.raises(ValueError, match="short name"):
        CollectorSettings(log_files={"../etc": Path("/etc/shadow")})
