"""State deltas at the gateway: each state subject's version, and the frames a delta
subscriber gets for it.

A feed numbers the values of each subject of a state channel (`seq`). A socket that
asked for deltas gets the newest value as a snapshot (the channel's usual frame, with
`key` and `seq`), then for each new value a `delta` from the one before (see
`vigil.deltas`), computed once per value for every such socket. A socket that missed a
value, because its backlog or its pace kept only the newest, gets that value's
snapshot instead (the `snapshot` that goes along with each delta in `put_state`).
"""

import json
from typing import Any

from vigil.channels import ChannelRef
from vigil.deltas import diff
from vigil.messages import Delta
from vigil.subjects import Subjects
from vigil_gateway.transport.backlog import Slot
from vigil_gateway.transport.wire import Frame, Frames

ENVELOPE = frozenset({"type", "channel", "data", "cursor", "key", "seq"})
"""Fields of a state frame that are not its value; any others (seed 000's `timestamp`)
go along in each delta as they are."""


class _Version:
    """One value: its frame, its number, and what was made of it when first asked."""

    __slots__ = ("delta", "frame", "parsed", "seq", "snapshot")

    def __init__(self, frame: Frame, seq: int) -> None:
        self.frame = frame
        self.seq = seq
        self.parsed: dict[str, Any] | None = None  # the frame as JSON, while a diff needs it
        self.snapshot: Frames | None = None
        self.delta: Frames | None = None

    def value(self) -> dict[str, Any]:
        if self.parsed is None:
            self.parsed = json.loads(self.frame.text)
        return self.parsed


class StateVersions:
    """The numbered values of a state channel's subjects, rendered for delta subscribers
    only when one asks (a feed with none pays a counter per value)."""

    def __init__(self, channel: ChannelRef, subjects: Subjects) -> None:
        self._channel = channel
        self._prefix = len(subjects.prefix) + 1
        self._current: dict[Slot, _Version] = {}
        self._previous: dict[Slot, _Version] = {}

    def record(self, slot: Slot, frame: Frame) -> None:
        """A new value of the slot's subject (its one rendered frame)."""
        current = self._current.get(slot)
        if current is not None:
            self._previous[slot] = current
        self._current[slot] = _Version(frame, current.seq + 1 if current else 1)

    def snapshot(self, slot: Slot) -> Frames:
        """The newest value, whole, with its `key` and `seq`."""
        version = self._current[slot]
        if version.snapshot is None:
            text = version.frame.text  # a JSON object: the two fields go before its end
            text = f'{text[:-1]},"key":{json.dumps(self._key(slot))},"seq":{version.seq}}}'
            version.snapshot = (Frame(text),)
        return version.snapshot

    def delta(self, slot: Slot) -> Frames:
        """What changed from the value before to the newest (its snapshot, if none)."""
        version = self._current[slot]
        previous = self._previous.get(slot)
        if previous is None:
            return self.snapshot(slot)
        if version.delta is None:
            new, old = version.value(), previous.value()
            extra = {field: value for field, value in new.items() if field not in ENVELOPE}
            patch = diff(old["data"], new["data"], self._channel.spec.items)
            delta = Delta(
                channel=self._channel.key, key=self._key(slot), seq=version.seq, **patch, **extra
            )
            version.delta = (Frame(delta.model_dump_json()),)
            previous.parsed = None  # the only diff it was needed for is made
        return version.delta

    def _key(self, slot: Slot) -> str:
        """Which state of the channel: its subject without the deployment's prefix."""
        return slot[1][self._prefix :]
