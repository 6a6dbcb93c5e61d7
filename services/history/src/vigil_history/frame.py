"""One source's roll-ups of one window as one compact message (a frame).

Columns, not rows: for each column (the counts, then min, max, sum, last of each
series) the entries' integers packed at the narrowest width that holds them all
(1, 2, 4 or 8 bytes, signed only if one is negative), so an idle container's rates cost
a byte each; the keys and ids once, as text. One entry of a frame is read without
unpacking the rest (its column offsets are known from the widths).

    version u8 | window start i64 | step u32 | entries u16 | series u8
    keys: u32 length + '\n'-joined UTF-8 | ids: the same
    widths: one u8 code per column | the columns
"""

import functools
import struct

from vigil_history.rollup import STATS, Record

VERSION = 1
_HEAD = struct.Struct("<BqIHB")
_LENGTH = struct.Struct("<I")
_CODES = "BHIQbhiq"  # code k: struct format _CODES[k]
_SIZES = [struct.calcsize(code) for code in _CODES]
_BOUNDS = [(0, 0xFF), (0, 0xFFFF), (0, 0xFFFFFFFF), (0, 2**64 - 1)]
_SIGNED = [(-(2**7), 2**7 - 1), (-(2**15), 2**15 - 1), (-(2**31), 2**31 - 1), (-(2**63), 2**63 - 1)]


class FrameError(ValueError):
    """Not a frame this version reads."""


def _code(values: list[int]) -> int:
    low, high = min(values), max(values)
    bounds, offset = (_SIGNED, 4) if low < 0 else (_BOUNDS, 0)
    for k, (least, most) in enumerate(bounds):
        if least <= low and high <= most:
            return offset + k
    raise FrameError(f"a value out of 64 bits: {low}..{high}")


def encode(start: int, step: int, n_series: int, records: list[Record]) -> bytes:
    """The frame of window `[start, start + step)` holding `records` (keys sorted)."""
    if not records:
        raise FrameError("a frame holds at least one entry")
    if len(records) > 0xFFFF:
        raise FrameError(f"{len(records)} entries in one frame")
    keys = "\n".join(record.key for record in records).encode()
    ids = "\n".join(record.id for record in records).encode()
    columns = [[r.count for r in records], [r.rate_count for r in records]]
    columns += [[r.stats[c] for r in records] for c in range(STATS * n_series)]
    codes = [_code(column) for column in columns]
    parts = [
        _HEAD.pack(VERSION, start, step, len(records), n_series),
        _LENGTH.pack(len(keys)),
        keys,
        _LENGTH.pack(len(ids)),
        ids,
        bytes(codes),
    ]
    n = len(records)
    parts += [
        struct.pack(f"<{n}{_CODES[code]}", *column)
        for code, column in zip(codes, columns, strict=True)
    ]
    return b"".join(parts)


def window_of(frame: bytes) -> tuple[int, int]:
    """The frame's window start and step, read from its head only."""
    version, start, step, _, _ = _HEAD.unpack_from(frame)
    if version != VERSION:
        raise FrameError(f"frame version {version}, this reads {VERSION}")
    return int(start), int(step)


@functools.lru_cache(maxsize=256)
def _keys(blob: bytes) -> tuple[str, ...]:
    """A frame's keys: the same for most frames of a source, so shared, not repeated."""
    return tuple(blob.decode().split("\n"))


@functools.lru_cache(maxsize=4096)
def _entry_reader(codes: bytes, n: int, i: int) -> struct.Struct:
    """One struct that reads entry `i` of every column at once, skipping the rest (the
    same for every frame of the same layout: a day of one entry is 1,440 frames)."""
    parts = ["<"]
    for code in codes:
        size = _SIZES[code]
        parts.append(f"{i * size}x{_CODES[code]}{(n - i - 1) * size}x")
    return struct.Struct("".join(parts))


class Frame:
    """A frame's head, keys and column layout: entries are unpacked on demand."""

    def __init__(self, frame: bytes) -> None:
        version, self.start, self.step, n, self.n_series = _HEAD.unpack_from(frame)
        if version != VERSION:
            raise FrameError(f"frame version {version}, this reads {VERSION}")
        at = _HEAD.size
        (length,) = _LENGTH.unpack_from(frame, at)
        self.keys = _keys(frame[at + 4 : at + 4 + length])
        at += 4 + length
        (length,) = _LENGTH.unpack_from(frame, at)
        self._ids = (at + 4, at + 4 + length)
        at += 4 + length
        n_columns = 2 + STATS * self.n_series
        self.codes = frame[at : at + n_columns]
        self._columns_at = at + n_columns
        self.n = n
        self._frame = frame

    @property
    def size(self) -> int:
        return len(self._frame)

    @functools.cached_property
    def ids(self) -> list[str]:
        start, end = self._ids
        return self._frame[start:end].decode().split("\n")

    @functools.cached_property
    def offsets(self) -> list[int]:
        offsets, at = [], self._columns_at
        for code in self.codes:
            offsets.append(at)
            at += _SIZES[code] * self.n
        return offsets

    def _column(self, c: int) -> tuple[int, ...]:
        code = self.codes[c]
        return struct.unpack_from(f"<{self.n}{_CODES[code]}", self._frame, self.offsets[c])

    def columns(self) -> list[tuple[int, ...]]:
        """Every column: the counts, then min, max, sum and last of each series."""
        return [self._column(c) for c in range(len(self.codes))]

    def records(self) -> list[Record]:
        columns = self.columns()
        stats = columns[2:]
        ids = self.ids
        return [
            Record(key, ids[i], columns[0][i], columns[1][i], [column[i] for column in stats])
            for i, key in enumerate(self.keys)
        ]

    def record(self, key: str) -> Record | None:
        """The entry `key`, or None if the frame has none."""
        try:
            i = self.keys.index(key)
        except ValueError:
            return None
        values = _entry_reader(self.codes, self.n, i).unpack_from(self._frame, self._columns_at)
        return Record(key, self.ids[i], values[0], values[1], list(values[2:]))

    def key_of_id(self, container_id: str) -> str | None:
        """The key of the entry whose id is or starts with `container_id`."""
        for key, id_ in zip(self.keys, self.ids, strict=True):
            if id_ and (id_ == container_id or id_.startswith(container_id)):
                return key
        return None
