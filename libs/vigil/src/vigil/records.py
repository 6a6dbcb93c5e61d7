"""Typed records in a JetStream key-value bucket, each read with its revision.

Every write that depends on a read is revision-checked, so replicas never overwrite
each other: `create` only when the key is absent, `update` only at the revision read,
and `mutate` reads, applies a change and writes, again on a conflict; the loser of a
race gets `RevisionConflict` and decides whether to read again. Services keep their
users, keys, sessions, deploys and locks this way.
"""

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue
from pydantic import BaseModel

from vigil.bus import Bus
from vigil.errors import RevisionConflict
from vigil.streams import BucketSpec

M = TypeVar("M", bound=BaseModel)

_LIST_WAIT_S = 5.0
_MUTATE_ATTEMPTS = 20
_PLAIN = re.compile(r"[A-Za-z0-9_-]")


def record_key(text: str) -> str:
    """A KV key for any text: letters, digits, '-' and '_' stay, the rest is `=XX` hex.

    Keys end up in subjects, so '.', '*', '>' and whitespace must never pass through
    (a username `a@b.c` becomes `a=40b=2Ec`). The mapping is one-to-one.
    """
    if not text:
        return "="
    return "".join(
        char if _PLAIN.fullmatch(char) else "".join(f"={byte:02X}" for byte in char.encode())
        for char in text
    )


@dataclass(frozen=True)
class Versioned(Generic[M]):
    key: str
    value: M
    revision: int


class Records(Generic[M]):
    """The records of one bucket, parsed as `model` — but for the keys `other`, which
    hold something else (a marker) and are not listed by `all`."""

    def __init__(
        self,
        kv: KeyValue,
        model: type[M],
        bucket: str,
        js: JetStreamContext,
        other: frozenset[str] = frozenset(),
    ) -> None:
        self._kv = kv
        self._model = model
        self._bucket = bucket
        self._js = js
        self._other = other

    @classmethod
    async def open(
        cls, bus: Bus, spec: BucketSpec, model: type[M], other: frozenset[str] = frozenset()
    ) -> "Records[M]":
        return cls(await bus.kv(spec), model, spec.base_name, bus.js, other)

    async def get(self, key: str) -> Versioned[M] | None:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value or entry.revision is None:
            return None
        return Versioned(key, self._model.model_validate_json(entry.value), entry.revision)

    async def create(self, key: str, value: M) -> int:
        """Write `value` only if `key` holds nothing; `RevisionConflict` otherwise."""
        try:
            return int(await self._kv.create(key, _encode(value)))
        except nats.js.errors.KeyWrongLastSequenceError:
            raise RevisionConflict(self._bucket, key) from None

    async def update(self, key: str, value: M, revision: int) -> int:
        """Write `value` only if `key` is still at `revision`; `RevisionConflict` otherwise."""
        try:
            return int(await self._kv.update(key, _encode(value), last=revision))
        except nats.js.errors.KeyWrongLastSequenceError:
            raise RevisionConflict(self._bucket, key) from None

    async def put(self, key: str, value: M) -> int:
        return int(await self._kv.put(key, _encode(value)))

    async def delete(self, key: str, revision: int | None = None) -> None:
        """Delete `key` (only at `revision`, when given); `RevisionConflict` otherwise."""
        try:
            await self._kv.delete(key, last=revision)
        except nats.js.errors.KeyWrongLastSequenceError:
            raise RevisionConflict(self._bucket, key) from None

    async def mutate(self, key: str, change: Callable[[M], M]) -> Versioned[M]:
        """Read `key`, apply `change`, write it at the revision read; again on a conflict.

        `change` may raise to give up (the exception passes through). `KeyError` when
        the key holds nothing.
        """
        for _ in range(_MUTATE_ATTEMPTS):
            current = await self.get(key)
            if current is None:
                raise KeyError(key)
            changed = change(current.value)
            try:
                revision = await self.update(key, changed, current.revision)
            except RevisionConflict:
                continue
            return Versioned(key, changed, revision)
        raise RevisionConflict(self._bucket, key)

    async def all(self) -> list[Versioned[M]]:
        """Every live record.

        Read from the bucket's stream by a pull consumer, which knows how many records
        there are before any is delivered: the KV watcher can say it has caught up while
        a record is still on its way to it (under load, a listing came back empty).
        """
        config = (await self._kv.status()).stream_info.config
        assert config.name is not None
        assert config.subjects
        prefix = config.subjects[0].removesuffix(">")
        reader = await self._js.pull_subscribe(
            config.subjects[0],
            stream=config.name,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=_LIST_WAIT_S * 2,
            ),
        )
        records: list[Versioned[M]] = []
        try:
            left = (await reader.consumer_info()).num_pending or 0
            while left > 0:
                try:
                    batch = await reader.fetch(min(left, 256), timeout=_LIST_WAIT_S)
                except nats.errors.TimeoutError:
                    raise TimeoutError(f"listing {self._bucket} took too long") from None
                for msg in batch:
                    left -= 1
                    key = msg.subject.removeprefix(prefix)
                    if key in self._other:
                        continue
                    if msg.data and (msg.headers or {}).get("KV-Operation") is None:
                        value = self._model.model_validate_json(msg.data)
                        records.append(Versioned(key, value, msg.metadata.sequence.stream))
        finally:
            with contextlib.suppress(nats.errors.Error):
                await reader.unsubscribe()
        return records

    async def is_empty(self) -> bool:
        try:
            await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return True
        return False


def _encode(value: BaseModel) -> bytes:
    return value.model_dump_json().encode()
