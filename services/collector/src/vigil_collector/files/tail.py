"""A log file followed by its path across its rotations, as `tail -F` does, read in
whole lines with where each ends (`<inode>:<offset>`, the cursor a next follower
resumes from).

Rotation is seen when the file at the path is another one (`logrotate`'s default: the
file renamed, a new one created: another inode) or the same one grown shorter than
what was read (`copytruncate`: copied, then cut to nothing). Either way what is left of
the old file is read first, then its unfinished last line sent as it is, then the new
file from its start. After a rename the rest is in the file still open, whatever its
name now; after a truncation it is in logrotate's copy (`<name>.1` or
`<name>-<date>`, uncompressed, beside it), read from where this had read to once it
ends with the same bytes as what was read did (without a copy that fits, the rest is
lost). A file gone with nothing in its place yet is waited for. Between a copy and a
truncation the writer may add lines that the copy has not got and the truncation
drops: copytruncate loses them, for any reader. A file truncated and then written
past where it was read, between two looks, reads as not truncated (as for `tail -F`):
the poll interval is short to make that unlikely.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_BLOCK = 64 * 1024
_RECENT = 256  # bytes before the offset read, to tell logrotate's copy by
_COMPRESSED = (".gz", ".xz", ".bz2", ".zst", ".lz4")


@dataclass(frozen=True)
class Line:
    body: bytes  # without its newline; at most `max_line_bytes`
    left_out: int  # bytes of it past `max_line_bytes`, not kept
    cursor: str  # `<inode>:<offset>` just after it


class FileTail:
    def __init__(self, path: Path, max_line_bytes: int) -> None:
        self._path = path
        self._max = max_line_bytes
        self._file: BinaryIO | None = None
        self._inode = 0
        self._offset = 0  # read up to here
        self._pending = bytearray()  # an unfinished line (kept up to `max`)
        self._left_out = 0  # of the unfinished line, past `max`
        self._recent = b""  # the last bytes read, up to `_offset`

    def open(self, after: str, tail: int) -> None:
        """Open the file after the cursor `after` if it is still this file's and not
        past its end (a follower resuming), else at its last `tail` lines; raises
        OSError if it cannot be read."""
        file = self._path.open("rb")
        stat = os.fstat(file.fileno())
        inode, _, offset = after.partition(":")
        if inode == str(stat.st_ino) and offset.isdigit() and int(offset) <= stat.st_size:
            start = int(offset)
        else:
            start = _last_lines_start(file, stat.st_size, tail)
        self._switch(file, stat.st_ino, start)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def read(self) -> list[Line]:
        """The whole lines written since the last read, the old file's rest first
        after a rotation."""
        lines = self._read_open_file()
        rotated = self._rotated()
        if rotated is None:
            return lines
        new_file, inode, truncated = rotated
        if not truncated or self._open_copy():
            lines += self._read_open_file()  # the old file's rest
        if self._pending or self._left_out:  # the old file's unfinished last line
            lines.append(self._line())
        self._switch(new_file, inode, 0)
        return lines + self._read_open_file()

    def _rotated(self) -> tuple[BinaryIO, int, bool] | None:
        """The file to go on with when the path's is another, or was cut shorter (True)."""
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            return None  # renamed, its successor not there yet: wait
        if stat.st_ino != self._inode:
            try:
                return self._path.open("rb"), stat.st_ino, False
            except FileNotFoundError:
                return None
        if stat.st_size < self._offset:  # copytruncate
            assert self._file is not None
            return os.fdopen(os.dup(self._file.fileno()), "rb"), stat.st_ino, True
        return None

    def _open_copy(self) -> bool:
        """Go on in logrotate's copy of the file just truncated, where this had read to,
        if there is one that fits (the newest first); False if none."""
        name = self._path.name
        siblings = [*self._path.parent.glob(f"{name}.1"), *self._path.parent.glob(f"{name}-*")]
        candidates = [path for path in siblings if not path.name.endswith(_COMPRESSED)]
        for path in sorted(candidates, key=_modified, reverse=True)[:5]:
            try:
                copy = path.open("rb")
            except OSError:
                continue
            copy.seek(self._offset - len(self._recent))
            fits = os.fstat(copy.fileno()).st_size >= self._offset
            if fits and copy.read(len(self._recent)) == self._recent:
                assert self._file is not None
                self._file.close()
                self._file = copy
                return True
            copy.close()
        return False

    def _switch(self, file: BinaryIO, inode: int, start: int) -> None:
        self.close()
        file.seek(max(0, start - _RECENT))
        self._recent = file.read(min(start, _RECENT))
        self._file, self._inode, self._offset = file, inode, start
        self._pending.clear()
        self._left_out = 0

    def _read_open_file(self) -> list[Line]:
        assert self._file is not None
        lines: list[Line] = []
        while chunk := self._file.read(_BLOCK):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                self._keep(chunk[start:end])
                self._offset += end - start + 1
                lines.append(self._line())
                start = end + 1
            self._keep(chunk[start:])
            self._offset += len(chunk) - start
            self._recent = (self._recent + chunk)[-_RECENT:]
        return lines

    def _keep(self, part: bytes) -> None:
        room = self._max - len(self._pending)
        self._pending += part[:room]
        self._left_out += max(0, len(part) - room)

    def _line(self) -> Line:
        body = bytes(self._pending).removesuffix(b"\r")
        line = Line(body, self._left_out, f"{self._inode}:{self._offset}")
        self._pending.clear()
        self._left_out = 0
        return line


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _last_lines_start(file: BinaryIO, size: int, tail: int) -> int:
    """Where the last `tail` whole lines of `file` start (an unfinished last line is
    read with them)."""
    if tail == 0 or size == 0:
        return size
    file.seek(size - 1)
    needed = tail + 1 if file.read(1) == b"\n" else tail  # newlines to go back past
    position = size
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        file.seek(position)
        block = file.read(step)
        end = len(block)
        while (newline := block.rfind(b"\n", 0, end)) >= 0:
            needed -= 1
            if needed == 0:
                return position + newline + 1
            end = newline
    return 0
