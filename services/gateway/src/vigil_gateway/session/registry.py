"""The live connections of one gateway, by id and by principal."""

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vigil_gateway.session.connection import Connection


class Registry:
    def __init__(self) -> None:
        self._by_id: dict[str, Connection] = {}
        self._by_principal: defaultdict[str, set[Connection]] = defaultdict(set)
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, connection: "Connection") -> None:
        self._by_id[connection.id] = connection
        self._by_principal[connection.principal_token].add(connection)
        self._empty.clear()

    def remove(self, connection: "Connection") -> None:
        self._by_id.pop(connection.id, None)
        others = self._by_principal.get(connection.principal_token)
        if others is not None:
            others.discard(connection)
            if not others:
                del self._by_principal[connection.principal_token]
        if not self._by_id:
            self._empty.set()

    async def wait_empty(self, timeout_s: float) -> None:
        """Until every connection is gone, or `timeout_s` has passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout_s)

    def get(self, connection_id: str) -> "Connection | None":
        return self._by_id.get(connection_id)

    def of(self, principal_token: str) -> list["Connection"]:
        return list(self._by_principal.get(principal_token, ()))

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator["Connection"]:
        return iter(list(self._by_id.values()))
